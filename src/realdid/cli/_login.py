"""``realdid wallet login`` and ``realdid wallet history``: private login at a website.

``login`` answers one OpenID4VP request (an ``openid4vp://`` URL, the site's code URL, or a
typed code with ``--site``), asking for consent unless ``--consent`` says otherwise; progress
goes to stderr and one summary line to stdout. ``history`` lists the wallet's disclosure log.
"""

from __future__ import annotations

import enum
import json
import sys
from typing import Annotated

import typer

from realdid.crypto import KeyType
from realdid.wallet import ConsentPolicy, ConsentSummary, login

from ._conventions import DEFAULT_NODE_URL, NodeUrl, WalletDir, fail, user_errors
from ._network import network
from ._wallet import open_wallet

login_commands = typer.Typer()


class SiteKeyType(enum.StrEnum):
    ED25519 = "ed25519"
    P256 = "p256"


_KEY_TYPES = {SiteKeyType.ED25519: KeyType.ED25519, SiteKeyType.P256: KeyType.P256}


class Consent(enum.StrEnum):
    ASK = "ask"
    ALLOW = "allow"
    DENY = "deny"


def _progress(message: str) -> None:
    typer.echo(message, err=True)


def _ask(summary: ConsentSummary) -> bool:
    """Show what would be released and ask; without a terminal the answer is no."""
    for line in summary.lines():
        typer.echo(line, err=True)
    if not sys.stdin.isatty():
        typer.echo("no terminal to ask on: declining (use --consent allow in scripts)", err=True)
        return False
    try:
        return bool(typer.confirm("Release these claims and log in?", default=False, err=True))
    except typer.Abort:
        return False


@login_commands.command("login")
def wallet_login(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="CODE_OR_URL",
            help="openid4vp://… URL, the site's code URL, or the code XXXX-XXXX (with --site).",
        ),
    ],
    wallet_dir: WalletDir,
    node: NodeUrl = DEFAULT_NODE_URL,
    site: Annotated[
        str | None,
        typer.Option("--site", help="The site's base URL, when you typed its login code."),
    ] = None,
    consent: Annotated[
        Consent,
        typer.Option("--consent", help="ask (default), allow (yes, for scripts) or deny."),
    ] = Consent.ASK,
    key_type: Annotated[
        SiteKeyType, typer.Option("--key-type", help="Key type of a new per-site DID.")
    ] = SiteKeyType.ED25519,
) -> None:
    """Log in to a website with your wallet: a per-site DID and only the claims you agree to."""
    with user_errors():
        wallet = open_wallet(wallet_dir)
        net = network(ctx)
        client, http = net.node(node), net.http(timeout=30.0)
        try:
            result = login(
                wallet,
                client,
                target,
                site=site,
                consent=ConsentPolicy(consent.value),
                confirm=_ask,
                key_type=_KEY_TYPES[key_type].value,
                http=http,
                site_proof=net.site_proof,
                progress=_progress,
            )
        finally:
            http.close()
            client.close()
    if not result.released:
        fail(f"login declined: nothing was released to {result.rp_name}")
    if result.redirect_uri:
        typer.echo(f"continue at {result.redirect_uri}", err=True)
    typer.echo(f"logged in to {result.rp_name} as {result.holder_did}")


@login_commands.command("history")
def wallet_history(
    wallet_dir: WalletDir,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List every login answer: time (UTC), site, your DID there, type, claims, outcome."""
    with user_errors():
        wallet = open_wallet(wallet_dir)
        entries = wallet.disclosures
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(entry.to_dict(), ensure_ascii=False, sort_keys=True))
        return
    if not entries:
        typer.echo("no logins yet", err=True)
        return
    typer.echo("\t".join(("time (UTC)", "site", "site DID", "type", "claims", "outcome")))
    for entry in entries:
        typer.echo(
            "\t".join(
                (
                    entry.when(),
                    f"{entry.rp_name or '?'} ({entry.rp_did})",
                    entry.site_did or "-",
                    entry.credential_type.rsplit(":", 1)[-1],
                    ",".join(entry.claims) or "-",
                    entry.outcome,
                )
            )
        )
