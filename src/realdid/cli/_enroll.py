"""``realdid wallet enroll|site-proof|business-enroll|redeem|credentials``: the wallet's
credentials from the identity authority (OpenID4VCI), and the list of those it holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from realdid.credentials import CredentialError, CredentialOffer
from realdid.wallet import (
    AuthorityClient,
    StoredCredential,
    Wallet,
    enroll,
    enroll_business,
    redeem_offer,
    request_site_proof,
)

from ._conventions import AuthorityUrl, WalletDir, fail, user_errors
from ._network import Network, network
from ._wallet import open_wallet

enroll_commands = typer.Typer()


def _root_did(wallet: Wallet, did: str | None) -> str:
    if did is not None:
        return did
    if not wallet.dids:
        fail("the wallet has no DID yet: run 'realdid wallet did create --wait' first")
    return wallet.dids[0].did


def _collect(
    net: Network,
    wallet_dir: Path,
    authority: str,
    flow: Callable[[Wallet, AuthorityClient], StoredCredential],
) -> None:
    """Run one authority flow with the wallet; print the credential it stored."""
    with user_errors():
        wallet = open_wallet(wallet_dir)
        client = net.authority(authority)
        try:
            entry = flow(wallet, client)
        finally:
            client.close()
    typer.echo(f"received {entry.type} credential for {entry.did}", err=True)
    typer.echo(entry.credential)


@enroll_commands.command("enroll")
def wallet_enroll(
    ctx: typer.Context,
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
        network(ctx),
        wallet_dir,
        authority,
        lambda wallet, client: enroll(
            wallet, client, _root_did(wallet, did), id_number=id_number, name=name, face=capture
        ),
    )


@enroll_commands.command("site-proof")
def wallet_site_proof(
    ctx: typer.Context,
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
        network(ctx),
        wallet_dir,
        authority,
        lambda wallet, client: request_site_proof(
            wallet, client, _root_did(wallet, root_did), site_did
        ),
    )


@enroll_commands.command("business-enroll")
def wallet_business_enroll(
    ctx: typer.Context,
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
        network(ctx),
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


@enroll_commands.command("redeem")
def wallet_redeem(
    ctx: typer.Context,
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
        network(ctx),
        wallet_dir,
        authority,
        lambda wallet, client: redeem_offer(wallet, client, offer, did, credential_type),
    )


@enroll_commands.command("credentials")
def wallet_credentials(wallet_dir: WalletDir) -> None:
    """List the credentials in the wallet: type, DID, issuer, when received."""
    with user_errors():
        wallet = open_wallet(wallet_dir)
        for entry in wallet.credentials:
            typer.echo(f"{entry.type}\t{entry.did}\t{entry.issuer}\t{entry.received_at}")
