"""The ``realdid`` command tree, shared options and the one-line error convention.

Every failure prints one line ``error: <what went wrong and what to do>`` to stderr and
exits with status 1; no stack trace reaches the user.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from realdid.controller import ControllerError, InvalidMnemonicError, KeystoreError
from realdid.did import DidError
from realdid.ledger import LedgerError
from realdid.registry import NodeClientError

if TYPE_CHECKING:
    from realdid.ledger import EvmLedger

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


class LedgerKind(enum.StrEnum):
    SOLO = "solo"
    EVM = "evm"


_EXPECTED = (
    DidError,
    LedgerError,
    KeystoreError,
    NodeClientError,
    ControllerError,
    InvalidMnemonicError,
    OSError,
)

WalletDir = Annotated[
    Path, typer.Option("--wallet-dir", help="Wallet directory (holds the encrypted wallet.json).")
]
DEFAULT_NODE_URL = "http://127.0.0.1:8080"  # what `make run` starts
NodeUrl = Annotated[
    str,
    typer.Option(
        "--node",
        envvar="REALDID_NODE",
        help="Registry node base URL, e.g. http://127.0.0.1:8080 (env REALDID_NODE).",
    ),
]
Wait = Annotated[
    bool, typer.Option("--wait", help="Return only once the operation is anchored and resolvable.")
]
EvmUrl = Annotated[str, typer.Option("--evm-url", help="JSON-RPC URL of the EVM chain.")]
AdminKeyFile = Annotated[
    Path, typer.Option("--admin-key-file", help="secp256k1 key (hex) of the contract admin.")
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
    return EvmLedger(
        evm_url, contract, key, data_dir / "evm-ledger.db", confirmations=confirmations
    )
