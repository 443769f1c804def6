"""``realdid wallet init|restore`` and ``realdid wallet did …``: the wallet and its DIDs.

The other ``realdid wallet`` commands (credentials in ``_enroll``, login in ``_login``)
open the wallet the same way, through :func:`open_wallet`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from realdid.controller import Submitted, read_passphrase
from realdid.crypto import KeyType
from realdid.did import MalformedOperationError, ServiceEntry
from realdid.registry import RegistryClient
from realdid.wallet import Wallet

from ._conventions import NodeUrl, Wait, WalletDir, fail, user_errors
from ._network import Network, network

wallet_commands = typer.Typer()
did_app = typer.Typer(help="Create and control the wallet's DIDs.", no_args_is_help=True)
MNEMONIC_ENV = "REALDID_MNEMONIC"


def open_wallet(wallet_dir: Path) -> Wallet:
    """The wallet in ``wallet_dir``, unlocked with ``$REALDID_PASSPHRASE`` or a prompt."""
    return Wallet.open(wallet_dir, read_passphrase("Wallet passphrase: ", confirm=False))


def _finish(client: RegistryClient, submitted: Submitted, wait: bool, verb: str) -> None:
    if wait:
        status = client.wait_anchored(submitted.operation_hash)
        typer.echo(
            f"{verb} {submitted.did} (anchored at sequence {status['anchor']['sequence']})",
            err=True,
        )
    else:
        typer.echo(
            f"{verb} {submitted.did} (operation {submitted.operation_hash} pending)", err=True
        )


def _with_wallet_and_node(
    net: Network,
    wallet_dir: Path,
    node: str,
    action: Callable[[Wallet, RegistryClient], Submitted],
    wait: bool,
    verb: str,
) -> None:
    with user_errors():
        wallet = open_wallet(wallet_dir)
        client = net.node(node)
        try:
            submitted = action(wallet, client)
            _finish(client, submitted, wait, verb)
            typer.echo(submitted.did)
        finally:
            client.close()


@wallet_commands.command("init")
def wallet_init(wallet_dir: WalletDir) -> None:
    """Create a wallet: a new seed, shown once as a 24-word recovery phrase."""
    with user_errors():
        passphrase = read_passphrase("New wallet passphrase: ", confirm=True)
        _, mnemonic = Wallet.init(wallet_dir, passphrase)
    typer.echo(
        "Write down this recovery phrase and keep it offline; it restores every DID of this wallet:",
        err=True,
    )
    typer.echo(mnemonic)


@wallet_commands.command("restore")
def wallet_restore(ctx: typer.Context, wallet_dir: WalletDir, node: NodeUrl) -> None:
    """Recreate a wallet from its recovery phrase and find its DIDs on the registry."""
    with user_errors():
        phrase = os.environ.get(MNEMONIC_ENV) or typer.prompt("Recovery phrase", hide_input=True)
        passphrase = read_passphrase("New wallet passphrase: ", confirm=True)
        wallet, _ = Wallet.init(wallet_dir, passphrase, mnemonic=phrase)
        client = network(ctx).node(node)
        try:
            found = wallet.restore(client)
        finally:
            client.close()
    typer.echo(f"restored {len(found)} DID(s)", err=True)
    for record in found:
        typer.echo(f"{record.did}\t{'deactivated' if record.deactivated else 'active'}")


@did_app.command("create")
def did_create(
    ctx: typer.Context,
    wallet_dir: WalletDir,
    node: NodeUrl,
    wait: Wait = False,
    key_type: Annotated[
        KeyType, typer.Option("--key-type", help="Key type of the DID's keys.")
    ] = KeyType.ED25519,
) -> None:
    """Create a new DID and print it."""
    _with_wallet_and_node(
        network(ctx), wallet_dir, node, lambda w, c: w.create(c, key_type.value), wait, "created"
    )


@did_app.command("rotate")
def did_rotate(
    ctx: typer.Context, did: str, wallet_dir: WalletDir, node: NodeUrl, wait: Wait = False
) -> None:
    """Replace the DID's signing key with a fresh one (and move to the next update key)."""
    _with_wallet_and_node(
        network(ctx), wallet_dir, node, lambda w, c: w.rotate(c, did), wait, "rotated"
    )


def _parse_service(text: str) -> ServiceEntry:
    parts = text.split(",", 2)
    if len(parts) != 3:
        fail(f"--add-service wants ID,TYPE,URL, got '{text}'")
    try:
        return ServiceEntry.from_dict(
            {"id": parts[0], "type": parts[1], "serviceEndpoint": parts[2]}
        )
    except MalformedOperationError as e:
        fail(str(e))


@did_app.command("update")
def did_update(
    ctx: typer.Context,
    did: str,
    wallet_dir: WalletDir,
    node: NodeUrl,
    wait: Wait = False,
    add_service: Annotated[
        list[str] | None, typer.Option("--add-service", help="ID,TYPE,URL")
    ] = None,
    remove_service: Annotated[
        list[str] | None, typer.Option("--remove-service", help="service id")
    ] = None,
    add_key: Annotated[bool, typer.Option("--add-key", help="Add a new signing key.")] = False,
    remove_key: Annotated[
        list[str] | None, typer.Option("--remove-key", help="key id, e.g. key-1")
    ] = None,
) -> None:
    """Add or remove keys and services."""
    services = tuple(_parse_service(s) for s in add_service or [])
    _with_wallet_and_node(
        network(ctx),
        wallet_dir,
        node,
        lambda w, c: w.update(
            c,
            did,
            add_services=services,
            remove_services=tuple(remove_service or []),
            add_key=add_key,
            remove_keys=tuple(remove_key or []),
        ),
        wait,
        "updated",
    )


@did_app.command("recover")
def did_recover(
    ctx: typer.Context, did: str, wallet_dir: WalletDir, node: NodeUrl, wait: Wait = False
) -> None:
    """Take back control with the recovery key: new document key, new update and recovery keys."""
    _with_wallet_and_node(
        network(ctx), wallet_dir, node, lambda w, c: w.recover(c, did), wait, "recovered"
    )


@did_app.command("deactivate")
def did_deactivate(
    ctx: typer.Context, did: str, wallet_dir: WalletDir, node: NodeUrl, wait: Wait = False
) -> None:
    """Deactivate the DID permanently."""
    _with_wallet_and_node(
        network(ctx), wallet_dir, node, lambda w, c: w.deactivate(c, did), wait, "deactivated"
    )


@did_app.command("list")
def did_list(wallet_dir: WalletDir) -> None:
    """List the wallet's DIDs."""
    with user_errors():
        wallet = open_wallet(wallet_dir)
    for record in wallet.dids:
        line = (
            f"{record.did}\t{'deactivated' if record.deactivated else 'active'}\t{record.key_type}"
        )
        # A per-site DID (created by 'realdid wallet login') names the site it is for.
        typer.echo(f"{line}\tsite {record.site}" if record.site else line)
