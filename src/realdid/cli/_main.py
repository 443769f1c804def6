from __future__ import annotations

import enum
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from realdid.crypto import CryptoError, KeyType, LocalSigner, PublicKey
from realdid.did import DidError, MalformedOperationError, ServiceEntry
from realdid.ledger import LedgerError, verify_registry, verify_resolution_evidence
from realdid.wallet import PASSPHRASE_ENV, KeystoreError, read_passphrase
from realdid.wallet._client import NodeClient, NodeClientError
from realdid.wallet._seed import InvalidMnemonicError
from realdid.wallet._wallet import Submitted, Wallet, WalletError

from ._evm import open_evm_ledger, read_key_file

app = typer.Typer(
    name="realdid",
    help="RealDID: real-name decentralized identity. Run a registry node, manage DIDs, resolve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
wallet_app = typer.Typer(help="Resident wallet: keys, DIDs, recovery phrase.", no_args_is_help=True)
did_app = typer.Typer(help="Create and control the wallet's DIDs.", no_args_is_help=True)
ledger_app = typer.Typer(help="Inspect and verify the registry ledger.", no_args_is_help=True)
app.add_typer(wallet_app, name="wallet")
wallet_app.add_typer(did_app, name="did")
app.add_typer(ledger_app, name="ledger")

MNEMONIC_ENV = "REALDID_MNEMONIC"


class AnchorerAction(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"


class LedgerKind(enum.StrEnum):
    SOLO = "solo"
    EVM = "evm"


_EXPECTED = (
    DidError,
    LedgerError,
    KeystoreError,
    NodeClientError,
    WalletError,
    InvalidMnemonicError,
    OSError,
)

WalletDir = Annotated[
    Path, typer.Option("--wallet-dir", help="Wallet directory (holds the encrypted wallet.json).")
]
NodeUrl = Annotated[
    str, typer.Option("--node", help="Registry node base URL, e.g. http://127.0.0.1:8080.")
]
Wait = Annotated[
    bool, typer.Option("--wait", help="Return only once the operation is anchored and resolvable.")
]


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn every expected failure into one clear line and exit code 1."""
    try:
        yield
    except _EXPECTED as e:
        text = e.diagnostics() if hasattr(e, "diagnostics") else str(e)
        if isinstance(e, OSError):
            text = f"{e.strerror or type(e).__name__}: {e.filename or ''}".rstrip(": ")
        fail(text)


def _open_wallet(wallet_dir: Path) -> Wallet:
    return Wallet.open(wallet_dir, read_passphrase("Wallet passphrase: ", confirm=False))


def _finish(client: NodeClient, submitted: Submitted, wait: bool, verb: str) -> None:
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
    wallet_dir: Path,
    node: str,
    action: Callable[[Wallet, NodeClient], Submitted],
    wait: bool,
    verb: str,
) -> None:
    with user_errors():
        wallet = _open_wallet(wallet_dir)
        client = NodeClient(node)
        try:
            submitted = action(wallet, client)
            _finish(client, submitted, wait, verb)
            typer.echo(submitted.did)
        finally:
            client.close()


# -- serve -----------------------------------------------------------------------------------------
@app.command()
def serve(
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir", help="Where the node keeps its database, batch files and ledger."
        ),
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8080,
    batch_interval: Annotated[
        float, typer.Option(help="Seconds between batch cuts.", min=0.01, max=3600)
    ] = 0.5,
    max_batch: Annotated[
        int, typer.Option(help="Operations per batch at most.", min=1, max=100_000)
    ] = 10_000,
    ledger: Annotated[
        LedgerKind,
        typer.Option(help="solo: embedded signed block log; evm: anchor contract on an EVM chain."),
    ] = LedgerKind.SOLO,
    evm_url: Annotated[
        str | None, typer.Option("--evm-url", help="JSON-RPC URL of the EVM chain (--ledger evm).")
    ] = None,
    anchor_contract: Annotated[
        str | None, typer.Option("--anchor-contract", help="Address of the RealDIDAnchor contract.")
    ] = None,
    anchorer_key_file: Annotated[
        Path | None,
        typer.Option(
            "--anchorer-key-file",
            help="secp256k1 key (hex) of a permitted anchorer; without it the node only follows.",
        ),
    ] = None,
    confirmations: Annotated[
        int,
        typer.Option(
            help="Blocks an anchor must be buried under before it is applied.", min=0, max=1000
        ),
    ] = 2,
    peers: Annotated[
        str,
        typer.Option(
            help="Comma-separated base URLs of consortium nodes to fetch batch files from."
        ),
    ] = "",
) -> None:
    """Run a registry node (default: embedded SQLite + the solo ledger)."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from realdid.node import NodeConfig, NodeSetupError, RegistryNode, create_app  # noqa: PLC0415

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    peer_urls = tuple(p.strip() for p in peers.split(",") if p.strip())
    for url in peer_urls:
        if not url.startswith(("http://", "https://")):
            fail(f"--peers: '{url}' is not an http(s) URL")
    with user_errors():
        chain = None
        if ledger is LedgerKind.EVM:
            chain = open_evm_ledger(
                data_dir, evm_url, anchor_contract, anchorer_key_file, confirmations
            )
        elif evm_url or anchor_contract or anchorer_key_file:
            fail("--evm-url, --anchor-contract and --anchorer-key-file need --ledger evm")
        config = NodeConfig(
            data_dir=data_dir,
            batch_interval=batch_interval,
            max_batch_operations=max_batch,
            peers=peer_urls,
            accepts_operations=chain is None or anchorer_key_file is not None,
        )
        try:
            node = RegistryNode(config, ledger=chain)
        except NodeSetupError as e:
            fail(str(e))
    uvicorn.run(create_app(node), host=host, port=port, log_level="info", access_log=False)


# -- wallet ----------------------------------------------------------------------------------------
@wallet_app.command("init")
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


@wallet_app.command("restore")
def wallet_restore(wallet_dir: WalletDir, node: NodeUrl) -> None:
    """Recreate a wallet from its recovery phrase and find its DIDs on the registry."""
    with user_errors():
        phrase = os.environ.get(MNEMONIC_ENV) or typer.prompt("Recovery phrase", hide_input=True)
        passphrase = read_passphrase("New wallet passphrase: ", confirm=True)
        wallet, _ = Wallet.init(wallet_dir, passphrase, mnemonic=phrase)
        client = NodeClient(node)
        try:
            found = wallet.restore(client)
        finally:
            client.close()
    typer.echo(f"restored {len(found)} DID(s)", err=True)
    for record in found:
        typer.echo(f"{record.did}\t{'deactivated' if record.deactivated else 'active'}")


@did_app.command("create")
def did_create(
    wallet_dir: WalletDir,
    node: NodeUrl,
    wait: Wait = False,
    key_type: Annotated[
        KeyType, typer.Option("--key-type", help="Key type of the DID's keys.")
    ] = KeyType.ED25519,
) -> None:
    """Create a new DID and print it."""
    _with_wallet_and_node(
        wallet_dir, node, lambda w, c: w.create(c, key_type.value), wait, "created"
    )


@did_app.command("rotate")
def did_rotate(did: str, wallet_dir: WalletDir, node: NodeUrl, wait: Wait = False) -> None:
    """Replace the DID's signing key with a fresh one (and move to the next update key)."""
    _with_wallet_and_node(wallet_dir, node, lambda w, c: w.rotate(c, did), wait, "rotated")


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
def did_recover(did: str, wallet_dir: WalletDir, node: NodeUrl, wait: Wait = False) -> None:
    """Take back control with the recovery key: new document key, new update and recovery keys."""
    _with_wallet_and_node(wallet_dir, node, lambda w, c: w.recover(c, did), wait, "recovered")


@did_app.command("deactivate")
def did_deactivate(did: str, wallet_dir: WalletDir, node: NodeUrl, wait: Wait = False) -> None:
    """Deactivate the DID permanently."""
    _with_wallet_and_node(wallet_dir, node, lambda w, c: w.deactivate(c, did), wait, "deactivated")


@did_app.command("list")
def did_list(wallet_dir: WalletDir) -> None:
    """List the wallet's DIDs."""
    with user_errors():
        wallet = _open_wallet(wallet_dir)
    for record in wallet.dids:
        typer.echo(
            f"{record.did}\t{'deactivated' if record.deactivated else 'active'}\t{record.key_type}"
        )


# -- resolve / ledger ----------------------------------------------------------------------------------
@app.command()
def resolve(
    did: str,
    node: NodeUrl,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the inclusion-proof check.")
    ] = False,
) -> None:
    """Resolve a DID, print the resolution result and verify its Merkle inclusion proof."""
    with user_errors():
        client = NodeClient(node)
        try:
            _, result = client.resolve(did)
        finally:
            client.close()
        if not no_verify:
            evidence = verify_resolution_evidence(result["didDocumentMetadata"])
            typer.echo(
                f"inclusion proof verified: version {evidence.version_id[:16]}… is in anchor "
                f"{evidence.sequence} (Merkle root {evidence.merkle_root[:16]}…, {evidence.ledger} ledger)",
                err=True,
            )
    typer.echo(json.dumps(result, indent=2))


@ledger_app.command("verify")
def ledger_verify(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")],
    expected_signer: Annotated[
        str | None,
        typer.Option(
            "--expected-signer",
            help="publicKeyMultibase the solo ledger must be signed by (detects a ledger re-signed under another key).",
        ),
    ] = None,
    ledger: Annotated[
        LedgerKind, typer.Option(help="The node's ledger backend.")
    ] = LedgerKind.SOLO,
    evm_url: Annotated[
        str | None, typer.Option("--evm-url", help="JSON-RPC URL of the EVM chain (--ledger evm).")
    ] = None,
    anchor_contract: Annotated[
        str | None, typer.Option("--anchor-contract", help="Address of the RealDIDAnchor contract.")
    ] = None,
) -> None:
    """Re-verify the ledger, every batch file and the index derived from them.

    With --ledger evm the anchors are read afresh from the chain (not from the node's own
    follower state), so the check does not trust the node's view of the chain.
    """
    with user_errors():
        if not data_dir.is_dir():
            fail(f"no data directory at {data_dir}")
        signer = None
        if expected_signer is not None:
            try:
                signer = PublicKey.from_multibase(expected_signer)
            except CryptoError as e:
                fail(f"--expected-signer: {e}")
        if ledger is LedgerKind.SOLO:
            report = verify_registry(data_dir, expected_signer=signer)
        else:
            with tempfile.TemporaryDirectory(prefix="realdid-verify-chain-") as scratch:
                chain = open_evm_ledger(
                    Path(scratch), evm_url, anchor_contract, None, confirmations=0
                )
                try:
                    report = verify_registry(data_dir, ledger=chain)
                finally:
                    chain.close()
    typer.echo(
        f"ok: {report.blocks} anchors, {report.operations} operations, {report.dids} DIDs verified"
    )


EvmUrl = Annotated[str, typer.Option("--evm-url", help="JSON-RPC URL of the EVM chain.")]
AdminKeyFile = Annotated[
    Path, typer.Option("--admin-key-file", help="secp256k1 key (hex) of the contract admin.")
]


@ledger_app.command("keygen")
def ledger_keygen(
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the new key (hex, mode 0600).")
    ],
) -> None:
    """Create a secp256k1 key for an anchorer or admin and print its Ethereum address."""
    from eth_account import Account  # noqa: PLC0415 - web3 stack loads only for EVM commands

    if out.exists():
        fail(f"{out} exists; refusing to overwrite a key")
    signer = LocalSigner.generate(KeyType.SECP256K1)
    with user_errors():
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(signer.secret_bytes().hex() + "\n")
    typer.echo(Account.from_key(signer.secret_bytes()).address)


@ledger_app.command("deploy")
def ledger_deploy(
    evm_url: EvmUrl,
    admin_key_file: AdminKeyFile,
    anchorer: Annotated[
        list[str] | None,
        typer.Option("--anchorer", help="Address permitted to anchor (repeatable)."),
    ] = None,
) -> None:
    """Deploy the RealDIDAnchor contract and permit the given anchorers; prints its address."""
    from realdid.ledger import EvmLedger  # noqa: PLC0415 - web3 loads only for EVM commands

    key = read_key_file(admin_key_file, "--admin-key-file")
    with user_errors():
        address = EvmLedger.deploy(evm_url, key, list(anchorer or []))
    typer.echo(address)


@ledger_app.command("anchorer")
def ledger_anchorer(
    action: Annotated[AnchorerAction, typer.Argument(help="add or remove")],
    address: Annotated[str, typer.Argument(help="The anchorer's Ethereum address.")],
    evm_url: EvmUrl,
    anchor_contract: Annotated[
        str, typer.Option("--anchor-contract", help="Address of the RealDIDAnchor contract.")
    ],
    admin_key_file: AdminKeyFile,
) -> None:
    """Permit or revoke a consortium member's anchorer address (admin only)."""
    from realdid.ledger import EvmAnchorAdmin  # noqa: PLC0415 - web3 loads only for EVM commands

    key = read_key_file(admin_key_file, "--admin-key-file")
    with user_errors(), EvmAnchorAdmin(evm_url, anchor_contract, key) as admin:
        if action is AnchorerAction.ADD:
            admin.add_anchorer(address)
        else:
            admin.remove_anchorer(address)
        permitted = admin.is_anchorer(address)
    typer.echo(f"{address} {'is' if permitted else 'is not'} a permitted anchorer")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["PASSPHRASE_ENV", "app", "main"]
_ = Any
