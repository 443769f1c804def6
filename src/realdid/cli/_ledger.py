"""``realdid ledger …``: verify the registry ledger and govern an EVM anchor contract.

The EVM pieces shared with ``realdid serve --ledger evm`` (reading a key file, opening the
chain) live here too: they are about the ledger, and web3 loads only when they run.
"""

from __future__ import annotations

import enum
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from realdid.crypto import CryptoError, KeyType, LocalSigner, PublicKey
from realdid.ledger import verify_registry
from realdid.settings import LedgerKind
from realdid.storage import write_private_file

from ._conventions import ChainAnchorContract, ChainUrl, fail, user_errors

if TYPE_CHECKING:
    from realdid.ledger import EvmLedger

ledger_app = typer.Typer(help="Inspect and verify the registry ledger.", no_args_is_help=True)

EvmUrl = Annotated[str, typer.Option("--evm-url", help="JSON-RPC URL of the EVM chain.")]
AdminKeyFile = Annotated[
    Path, typer.Option("--admin-key-file", help="secp256k1 key (hex) of the contract admin.")
]
_HEX_KEY = re.compile(r"(0x)?([0-9a-fA-F]{64})")


def read_key_file(path: Path, what: str) -> bytes:
    """A secp256k1 secret from a file holding 64 hex digits (optionally ``0x``-prefixed)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        fail(f"{what}: cannot read {path} ({type(e).__name__})")
    match = _HEX_KEY.fullmatch(text)
    if match is None:
        fail(f"{what}: {path} must hold a 32-byte key as 64 hex digits")
    return bytes.fromhex(match.group(2))


def open_evm_ledger(
    data_dir: Path,
    database: str | None,
    evm_url: str | None,
    contract: str | None,
    key_file: Path | None,
    confirmations: int,
) -> EvmLedger:
    from realdid.ledger import EvmLedger  # noqa: PLC0415 - web3 loads only for --ledger evm

    if not evm_url or not contract:
        fail("--ledger evm needs --evm-url and --anchor-contract")
    key = None if key_file is None else read_key_file(key_file, "--anchorer-key-file")
    data_dir.mkdir(parents=True, exist_ok=True)
    state = database or data_dir / "evm-ledger.db"
    return EvmLedger(evm_url, contract, key, state, confirmations=confirmations)


class AnchorerAction(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"


@ledger_app.command("verify")
def ledger_verify(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")],
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            envvar="REALDID_NODE__DATABASE",
            help="The node's postgresql:// database, if it runs on PostgreSQL.",
        ),
    ] = None,
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
    evm_url: ChainUrl = None,
    anchor_contract: ChainAnchorContract = None,
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
            report = verify_registry(data_dir, database, expected_signer=signer)
        else:
            with tempfile.TemporaryDirectory(prefix="realdid-verify-chain-") as scratch:
                chain = open_evm_ledger(
                    Path(scratch), None, evm_url, anchor_contract, None, confirmations=0
                )
                try:
                    report = verify_registry(data_dir, database, ledger=chain)
                finally:
                    chain.close()
    unit = "blocks" if ledger is LedgerKind.SOLO else "anchors"
    typer.echo(
        f"ok: {report.blocks} {unit}, {report.operations} operations, {report.dids} DIDs verified"
    )


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
        write_private_file(out, (signer.secret_bytes().hex() + "\n").encode(), exclusive=True)
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
