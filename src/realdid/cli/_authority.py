"""``realdid authority …``: the identity authority's registers, operators and admin API.

Three kinds of command, by what they act on: ``register`` / ``business`` (the register
CSV files and their SQLite imports) and ``operator add`` work on the authority's data
directory; ``revoke``, ``rp register``, ``rotate-key`` and ``audit`` call a running
authority's admin API with an operator's bearer token; ``serve`` runs the authority alone.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from realdid import ijson
from realdid.authority import (
    REAL_NAME,
    SITE_PROOF,
    VCT,
    AuthorityError,
    CsvBackedRegister,
    SqliteBusinessRegister,
    SqliteRegister,
    write_business_register,
    write_register,
)
from realdid.http import RateLimiter, parse_problem
from realdid.serving import default_workers
from realdid.settings import RealDIDSettings
from realdid.storage import StoreLocation, is_postgres_url

from ._conventions import AuthorityUrl, fail, user_errors
from ._network import Network, network
from ._serve import (
    METRICS_DIR,
    ConfigFile,
    Workers,
    _listen,
    _run,
    _server,
    _warn_if_simulated,
    authority_runtime,
    serve_all,
    serve_settings,
)

authority_app = typer.Typer(help="Identity authority: population register.", no_args_is_help=True)
register_app = typer.Typer(help="The population register.", no_args_is_help=True)
authority_app.add_typer(register_app, name="register")
TOKEN_ENV = "REALDID_OPERATOR_TOKEN"  # noqa: S105 - a variable name
AuthorityDataDir = Annotated[Path, typer.Option("--data-dir", help="Authority data directory.")]
AuthorityDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar=["REALDID_AUTHORITY__DATABASE", "REALDID_NODE__DATABASE"],
        show_envvar=False,
        help="postgresql:// URL of the authority's stores, if it runs on PostgreSQL (default:"
        " $REALDID_AUTHORITY__DATABASE, else $REALDID_NODE__DATABASE, as realdid serve).",
    ),
]
Seed = Annotated[int | None, typer.Option("--seed", help="Seed for a reproducible file.")]


# -- the registers ---------------------------------------------------------------------------------
@register_app.command("generate")
def register_generate(
    count: Annotated[int, typer.Option("--count", min=0, help="Number of residents.")],
    out: Annotated[Path, typer.Option("--out", help="Register CSV to write.")],
    captures: Annotated[
        Path | None, typer.Option("--captures", help="Sidecar of id_number,capture lines.")
    ] = None,
    seed: Seed = None,
) -> None:
    """Write COUNT synthetic residents (never real people) as a register CSV."""
    rng = _rng(seed)
    with user_errors():
        n = write_register(count, rng, out, captures)
    typer.echo(f"generated {n} residents into {out}")


@register_app.command("import")
def register_import(
    file: Annotated[Path, typer.Argument(help="Register CSV.")],
    data_dir: AuthorityDataDir,
    database: AuthorityDatabaseUrl = None,
) -> None:
    """Import a register CSV into DATA_DIR/register.db (or the database); all or nothing."""
    n, total = _import(SqliteRegister, _store(database, data_dir / "register.db"), file)
    typer.echo(f"imported {n} residents; register holds {total}")


business_app = typer.Typer(help="The enterprise (business) register.", no_args_is_help=True)
authority_app.add_typer(business_app, name="business")


@business_app.command("generate")
def business_generate(
    count: Annotated[int, typer.Option("--count", min=0, help="Number of enterprises.")],
    out: Annotated[Path, typer.Option("--out", help="Business register CSV to write.")],
    seed: Seed = None,
) -> None:
    """Write COUNT synthetic enterprises (never real ones) as a business register CSV."""
    rng = _rng(seed)
    with user_errors():
        n = write_business_register(count, rng, out)
    typer.echo(f"generated {n} enterprises into {out}")


@business_app.command("import")
def business_import(
    file: Annotated[Path, typer.Argument(help="Business register CSV.")],
    data_dir: AuthorityDataDir,
    database: AuthorityDatabaseUrl = None,
) -> None:
    """Import a business register CSV into DATA_DIR/business.db (or the database); all or
    nothing."""
    n, total = _import(SqliteBusinessRegister, _store(database, data_dir / "business.db"), file)
    typer.echo(f"imported {n} enterprises; business register holds {total}")


def _rng(seed: int | None) -> random.Random:
    return random.Random(secrets.randbits(64) if seed is None else seed)  # noqa: S311 - synthetic data


def _store(database: str | None, file: Path) -> StoreLocation:
    """Where an authority store is: ``database`` (checked to be a PostgreSQL URL) or the
    SQLite ``file`` in the data directory (its directory created)."""
    if database is None:
        file.parent.mkdir(parents=True, exist_ok=True)
        return file
    if not is_postgres_url(database):
        fail("--database must be a postgresql:// URL (leave it unset for the data directory)")
    return database


def _import(kind: type[CsvBackedRegister], where: StoreLocation, file: Path) -> tuple[int, int]:
    """Import ``file`` into the register at ``where``; (rows imported, rows held)."""
    with user_errors():
        try:
            with kind(where) as register:
                return register.import_csv(file), register.count()
        except AuthorityError as e:
            # Import errors already name the line and the precise cause's code.
            fail(e.diagnostics())


# -- operators -------------------------------------------------------------------------------------
operator_app = typer.Typer(help="Operator accounts of the admin API.", no_args_is_help=True)
authority_app.add_typer(operator_app, name="operator")


@operator_app.command("add")
def operator_add(
    data_dir: AuthorityDataDir,
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
    database: AuthorityDatabaseUrl = None,
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
            db = AuthorityDatabase(_store(database, data_dir / "authority.db"))
            try:
                with db.transaction() as tx:
                    operator, token = OperatorStore(db, SystemClock()).add(tx, name, chosen)
            finally:
                db.close()
        except AuthorityError as e:
            fail(e.diagnostics())
    typer.echo(
        f"operator {operator.id} ({operator.role.value}) created; its token is shown once:",
        err=True,
    )
    typer.echo(token)


# -- the admin API (a running authority, an operator's token) --------------------------------------
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
    net: Network,
    authority: str,
    token: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> Any:
    """One call to the authority's admin API; its refusal or silence becomes one error line."""
    if not authority.startswith(("http://", "https://")):
        fail(f"--authority must be an http(s) URL, got '{authority}'")
    try:
        with net.http(timeout=60) as http:
            response = http.request(
                method,
                authority.rstrip("/") + path,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as e:
        fail(f"cannot reach the authority at {authority}: {type(e).__name__}")
    if response.status_code >= 400:
        problem = parse_problem(response.status_code, response.content)
        if problem.type is None:
            fail(f"the authority answered HTTP {response.status_code}")
        fail(f"{problem.code}: {problem.detail or ''}")
    try:
        return ijson.loads(response.content)
    except ValueError:
        fail(f"the authority answered HTTP {response.status_code}")


@authority_app.command("revoke")
def authority_revoke(
    ctx: typer.Context,
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
    answer = _admin(network(ctx), authority, _token(token_file), "POST", "/admin/revocations", body)
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
    ctx: typer.Context,
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
    answer = _admin(
        network(ctx), authority, _token(token_file), "POST", "/admin/rp-registrations", body
    )
    typer.echo(
        f"offered an RpRegistration credential to {did}; redeem it with 'realdid wallet redeem'",
        err=True,
    )
    typer.echo(answer["credential_offer_uri"])


@authority_app.command("rotate-key")
def authority_rotate_key(
    ctx: typer.Context, authority: AuthorityUrl, token_file: TokenFile = None
) -> None:
    """Add a new signing key to the authority's DID and sign with it (security-officer role)."""
    answer = _admin(
        network(ctx), authority, _token(token_file), "POST", "/admin/issuer-key/rotations"
    )
    typer.echo(f"the authority now signs with {answer['keyId']}")


@authority_app.command("audit")
def authority_audit(
    ctx: typer.Context,
    authority: AuthorityUrl,
    after: Annotated[
        int, typer.Option("--after", min=0, help="Show entries after this sequence number.")
    ] = 0,
    token_file: TokenFile = None,
) -> None:
    """Print the audit log as JSON lines (auditor role)."""
    answer = _admin(
        network(ctx), authority, _token(token_file), "GET", f"/admin/audit?after={after}&limit=1000"
    )
    for entry in answer["entries"]:
        typer.echo(json.dumps(entry, ensure_ascii=False, sort_keys=True))


# -- the authority alone ---------------------------------------------------------------------------
AUTHORITY_SERVE_OPTIONS = {  # setting -> the option of `realdid authority serve` that sets it
    "authority.data_dir": "--data-dir",
    "authority.database": "--database",
    "authority.node_url": "--node",
    "authority.host": "--host",
    "authority.port": "--port",
    "authority.issuer_url": "--issuer-url",
    "authority.workers": "--workers",
}


@authority_app.command("serve")
def authority_serve(
    ctx: typer.Context,
    data_dir: AuthorityDataDir,
    node: Annotated[
        str, typer.Option("--node", help="Registry node base URL the authority resolves through.")
    ],
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="postgresql://user:password@host/db of the authority's stores (default:"
            " SQLite files in the data directory). Prefer $REALDID_AUTHORITY__DATABASE: a"
            " flag is visible in ps.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8081,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url",
            help="Public base URL (credential issuer identifier); default http://HOST:PORT.",
        ),
    ] = None,
    workers: Workers = None,
    config: ConfigFile = None,
) -> None:
    """Run the identity authority alone, against a registry node elsewhere (multi-host deployments)."""
    # The parameters declare the options; serve_settings reads the typed ones (see there).
    settings = serve_settings(ctx, AUTHORITY_SERVE_OPTIONS)
    served = settings.authority
    if not served.port:
        fail("authority.port is 0: the authority alone needs a TCP port (give --port)")
    settings.log.configure()
    with user_errors():
        metrics = settings.authority_settings().data_dir / METRICS_DIR
    sock = _listen(served.host, served.port, "the identity authority", "--port")
    rate_limits = settings.rate_limits.limiter()  # before the fork: the workers share it
    with sock:  # closed also when the set-up fails after the port was bound
        _run(
            served.workers or default_workers(),
            lambda: authority_runtime(settings).close(),
            lambda _: _serve_authority(settings, sock, rate_limits),
            metrics,
        )


def _serve_authority(
    settings: RealDIDSettings, sock: socket.socket, rate_limits: RateLimiter
) -> int:
    """The identity authority alone, in this process, on ``sock``."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from realdid.authority import create_authority_app  # noqa: PLC0415

    served = settings.authority
    runtime = authority_runtime(settings)
    runtime.start()
    _warn_if_simulated(settings, settings.issuer_url())
    app = create_authority_app(runtime.get, rate_limits=rate_limits)
    try:
        serve_all([(_server(uvicorn, app, served.host, served.port, settings.http), sock, None)])
    finally:
        runtime.close()
    return 0
