"""``realdid wallet enroll|site-proof|business-enroll|redeem|credentials`` and the authority's
admin commands (``realdid authority operator|rp|revoke|rotate-key|audit|serve``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from realdid.authority import REAL_NAME, SITE_PROOF, VCT, AuthorityError
from realdid.controller import read_passphrase
from realdid.credentials import CredentialError, CredentialOffer
from realdid.http import parse_problem
from realdid.wallet import (
    AuthorityClient,
    StoredCredential,
    Wallet,
    enroll,
    enroll_business,
    redeem_offer,
    request_site_proof,
)

from ._app import WalletDir, fail, user_errors, wallet_app
from ._authority import authority_app

AuthorityUrl = Annotated[
    str,
    typer.Option("--authority", help="Identity authority base URL, e.g. http://127.0.0.1:8081."),
]
TOKEN_ENV = "REALDID_OPERATOR_TOKEN"  # noqa: S105 - a variable name


def _open_wallet(wallet_dir: Path) -> Wallet:
    return Wallet.open(wallet_dir, read_passphrase("Wallet passphrase: ", confirm=False))


def _root_did(wallet: Wallet, did: str | None) -> str:
    if did is not None:
        return did
    if not wallet.dids:
        fail("the wallet has no DID yet: run 'realdid wallet did create --wait' first")
    return wallet.dids[0].did


def _collect(
    wallet_dir: Path, authority: str, flow: Callable[[Wallet, AuthorityClient], StoredCredential]
) -> None:
    """Run one authority flow with the wallet; print the credential it stored."""
    with user_errors():
        wallet = _open_wallet(wallet_dir)
        client = AuthorityClient(authority)
        try:
            entry = flow(wallet, client)
        finally:
            client.close()
    typer.echo(f"received {entry.type} credential for {entry.did}", err=True)
    typer.echo(entry.credential)


@wallet_app.command("enroll")
def wallet_enroll(
    wallet_dir: WalletDir,
    authority: AuthorityUrl,
    id_number: Annotated[
        str, typer.Option("--id-number", help="Your 18-character resident ID number.")
    ],
    name: Annotated[str, typer.Option("--name", help="Your name as in the population register.")],
    face: Annotated[
        Path, typer.Option("--face", help="File holding your face capture (base64url).")
    ],
    did: Annotated[
        str | None,
        typer.Option("--did", help="Root DID to enroll (default: the wallet's first DID)."),
    ] = None,
) -> None:
    """Prove your identity to the authority once; receive a RealName credential for your root DID."""
    try:
        capture = face.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        fail(f"--face: cannot read a base64url face capture from {face}")
    _collect(
        wallet_dir,
        authority,
        lambda wallet, client: enroll(
            wallet, client, _root_did(wallet, did), id_number=id_number, name=name, face=capture
        ),
    )


@wallet_app.command("site-proof")
def wallet_site_proof(
    wallet_dir: WalletDir,
    authority: AuthorityUrl,
    site_did: Annotated[
        str, typer.Option("--site-did", help="The per-site DID to obtain a proof for.")
    ],
    root_did: Annotated[
        str | None,
        typer.Option("--root-did", help="Your enrolled root DID (default: the first DID)."),
    ] = None,
) -> None:
    """Obtain a site proof ("verified real person", no name, no ID number) for a per-site DID."""
    _collect(
        wallet_dir,
        authority,
        lambda wallet, client: request_site_proof(
            wallet, client, _root_did(wallet, root_did), site_did
        ),
    )


@wallet_app.command("business-enroll")
def wallet_business_enroll(
    wallet_dir: WalletDir,
    authority: AuthorityUrl,
    uscc: Annotated[
        str, typer.Option("--uscc", help="The enterprise's unified social credit code.")
    ],
    company_name: Annotated[str, typer.Option("--company-name", help="Registered company name.")],
    legal_representative: Annotated[
        str, typer.Option("--legal-representative", help="Name of the legal representative.")
    ],
    did: Annotated[
        str | None, typer.Option("--did", help="Enterprise DID (default: the first DID).")
    ] = None,
) -> None:
    """Enroll an enterprise DID against the business register; receive a Business credential."""
    _collect(
        wallet_dir,
        authority,
        lambda wallet, client: enroll_business(
            wallet,
            client,
            _root_did(wallet, did),
            uscc=uscc,
            company_name=company_name,
            legal_representative=legal_representative,
        ),
    )


@wallet_app.command("redeem")
def wallet_redeem(
    offer_uri: Annotated[
        str,
        typer.Argument(help="The credential offer: openid-credential-offer://?credential_offer=…"),
    ],
    wallet_dir: WalletDir,
    authority: AuthorityUrl,
    did: Annotated[str, typer.Option("--did", help="The wallet's DID the offer was made to.")],
) -> None:
    """Redeem a credential offer made to one of your DIDs (e.g. an RP registration); store it."""
    try:
        parsed = CredentialOffer.parse(offer_uri)
    except CredentialError as e:
        fail(f"OFFER_URI: {e}")
    offer = parsed.to_dict()
    credential_type = parsed.configuration_ids[0]
    _collect(
        wallet_dir,
        authority,
        lambda wallet, client: redeem_offer(wallet, client, offer, did, credential_type),
    )


@wallet_app.command("credentials")
def wallet_credentials(wallet_dir: WalletDir) -> None:
    """List the credentials in the wallet: type, DID, issuer, when received."""
    with user_errors():
        wallet = _open_wallet(wallet_dir)
        for entry in wallet.credentials:
            typer.echo(f"{entry.type}\t{entry.did}\t{entry.issuer}\t{entry.received_at}")


# -- operators --------------------------------------------------------------------------------------
operator_app = typer.Typer(help="Operator accounts of the admin API.", no_args_is_help=True)
authority_app.add_typer(operator_app, name="operator")


@operator_app.command("add")
def operator_add(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Authority data directory.")],
    name: Annotated[
        str, typer.Option("--name", help="Who the operator is (shown in the audit log).")
    ],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="enrollment-officer, revocation-officer, auditor, security-officer"
            " or rp-registrar.",
        ),
    ],
) -> None:
    """Create an operator; prints its bearer token once (only its hash is stored)."""
    from realdid.authority import AuthorityDatabase, OperatorStore, Role  # noqa: PLC0415
    from realdid.clock import SystemClock  # noqa: PLC0415

    try:
        chosen = Role(role)
    except ValueError:
        fail(f"--role must be one of {', '.join(r.value for r in Role)}")
    with user_errors():
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            db = AuthorityDatabase(data_dir / "authority.db")
            try:
                with db.transaction() as conn:
                    operator, token = OperatorStore(conn, SystemClock()).add(name, chosen)
            finally:
                db.close()
        except AuthorityError as e:
            fail(e.diagnostics())
    typer.echo(
        f"operator {operator.id} ({operator.role.value}) created; its token is shown once:",
        err=True,
    )
    typer.echo(token)


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            return token_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            fail(f"--token-file: cannot read {token_file}")
    token = os.environ.get(TOKEN_ENV)
    if not token:
        fail(f"give --token-file or set {TOKEN_ENV} to an operator token")
    return token


TokenFile = Annotated[
    Path | None,
    typer.Option("--token-file", help=f"File holding the operator token (or set {TOKEN_ENV})."),
]


def _admin(
    authority: str, token: str, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    if not authority.startswith(("http://", "https://")):
        fail(f"--authority must be an http(s) URL, got '{authority}'")
    try:
        response = httpx.request(
            method,
            authority.rstrip("/") + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    except httpx.HTTPError as e:
        fail(f"cannot reach the authority at {authority}: {type(e).__name__}")
    if response.status_code >= 400:
        problem = parse_problem(response.status_code, response.content)
        if problem.type is None:
            fail(f"the authority answered HTTP {response.status_code}")
        fail(f"{problem.code}: {problem.detail or ''}")
    try:
        return response.json()
    except ValueError:
        fail(f"the authority answered HTTP {response.status_code}")


@authority_app.command("revoke")
def authority_revoke(
    authority: AuthorityUrl,
    reason: Annotated[
        str, typer.Option("--reason", help="death, fraud, lost-document or court-order.")
    ],
    did: Annotated[
        str | None, typer.Option("--did", help="Enrolled root DID whose credentials to revoke.")
    ] = None,
    id_number: Annotated[
        str | None, typer.Option("--id-number", help="Resident whose credentials to revoke.")
    ] = None,
    token_file: TokenFile = None,
) -> None:
    """Revoke every credential of one enrollment (revocation-officer role)."""
    if (did is None) == (id_number is None):
        fail("give exactly one of --did or --id-number")
    body = {"reason": reason, **({"did": did} if did else {"id_number": id_number})}
    answer = _admin(authority, _token(token_file), "POST", "/admin/revocations", body)
    typer.echo(f"revoked {answer['revoked']} credential(s)")


rp_app = typer.Typer(help="Relying parties (websites that log residents in).", no_args_is_help=True)
authority_app.add_typer(rp_app, name="rp")
_PERMIT_TYPES = {REAL_NAME: VCT[REAL_NAME], SITE_PROOF: VCT[SITE_PROOF]}


def _permitted(permits: list[str] | None) -> dict[str, list[str]]:
    """``["SiteProof:a,b", "RealName:c"]`` -> ``{vct: [claim, ...]}``."""
    if not permits:
        fail("give at least one --permit TYPE:CLAIM[,CLAIM...], e.g. SiteProof:verified_person")
    permitted: dict[str, list[str]] = {}
    for permit in permits:
        short, _, names = permit.partition(":")
        vct = _PERMIT_TYPES.get(short.strip())
        claims = [name.strip() for name in names.split(",")]
        if vct is None:
            fail(f"--permit: the credential type must be {' or '.join(_PERMIT_TYPES)}")
        if not all(claims):
            fail("--permit: write TYPE:CLAIM[,CLAIM...] with no empty claim names")
        if vct in permitted:
            fail(f"--permit: {short.strip()} is given twice; list all its claims in one --permit")
        permitted[vct] = claims
    return permitted


@rp_app.command("register")
def rp_register(
    authority: AuthorityUrl,
    did: Annotated[str, typer.Option("--did", help="The RP's enrolled enterprise DID.")],
    purpose: Annotated[
        str, typer.Option("--purpose", help="Why the RP asks (shown to residents; <= 200 chars).")
    ],
    permit: Annotated[
        list[str] | None,
        typer.Option(
            "--permit",
            help="TYPE:CLAIM[,CLAIM...] the RP may request, TYPE SiteProof or RealName;"
            " repeat for both.",
        ),
    ] = None,
    token_file: TokenFile = None,
) -> None:
    """Register a relying party (rp-registrar role); prints the credential offer URI for its wallet.

    Registering the same DID again supersedes (revokes) its previous registration.
    """
    body = {"did": did, "purpose": purpose, "permitted": _permitted(permit)}
    answer = _admin(authority, _token(token_file), "POST", "/admin/rp-registrations", body)
    typer.echo(
        f"offered an RpRegistration credential to {did}; redeem it with 'realdid wallet redeem'",
        err=True,
    )
    typer.echo(answer["credential_offer_uri"])


@authority_app.command("rotate-key")
def authority_rotate_key(authority: AuthorityUrl, token_file: TokenFile = None) -> None:
    """Add a new signing key to the authority's DID and sign with it (security-officer role)."""
    answer = _admin(authority, _token(token_file), "POST", "/admin/issuer-key/rotations")
    typer.echo(f"the authority now signs with {answer['keyId']}")


@authority_app.command("audit")
def authority_audit(
    authority: AuthorityUrl,
    after: Annotated[
        int, typer.Option("--after", min=0, help="Show entries after this sequence number.")
    ] = 0,
    token_file: TokenFile = None,
) -> None:
    """Print the audit log as JSON lines (auditor role)."""
    answer = _admin(authority, _token(token_file), "GET", f"/admin/audit?after={after}&limit=1000")
    for entry in answer["entries"]:
        typer.echo(json.dumps(entry, ensure_ascii=False, sort_keys=True))


@authority_app.command("serve")
def authority_serve(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Authority data directory.")],
    node: Annotated[
        str, typer.Option("--node", help="Registry node base URL the authority resolves through.")
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8081,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url",
            help="Public base URL (credential issuer identifier); default http://HOST:PORT.",
        ),
    ] = None,
) -> None:
    """Run the identity authority alone, against a registry node elsewhere (multi-host deployments)."""
    import asyncio  # noqa: PLC0415
    import logging  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415 - only the server needs it

    from realdid.authority import AuthorityRuntime, AuthoritySettings, create_authority_app  # noqa: PLC0415

    from ._node import _listen, _serve_all, _server  # noqa: PLC0415

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not node.startswith(("http://", "https://")):
        fail(f"--node must be an http(s) URL, got '{node}'")
    public = (issuer_url or f"http://{host}:{port}").rstrip("/")
    if not public.startswith(("http://", "https://")):
        fail(f"--issuer-url must be an http(s) URL, got '{public}'")
    sock = _listen(host, port, "the identity authority", "--port")
    with user_errors():
        try:
            runtime = AuthorityRuntime(
                AuthoritySettings(data_dir=data_dir, issuer_url=public, node_url=node)
            )
        except AuthorityError as e:
            fail(e.diagnostics())
    runtime.start()
    logging.getLogger(__name__).warning(
        "identity authority on %s — face matching is SIMULATED (development only)", public
    )
    try:
        asyncio.run(
            _serve_all([(_server(uvicorn, create_authority_app(runtime.get), host, port), sock)])
        )
    finally:
        runtime.close()
