"""What every ``realdid`` command shares: its common options and the one-line error exit.

Every failure prints one line ``error: <what went wrong and what to do>`` to stderr and
exits with status 1; no stack trace reaches the user. Commands raise nothing else: they
call :func:`fail` for what they check themselves and run library calls inside
:func:`user_errors`, which turns the library's expected errors into that line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from realdid.controller import ControllerError, InvalidMnemonicError, KeystoreError
from realdid.did import DidError
from realdid.ledger import LedgerError
from realdid.registry import NodeClientError
from realdid.settings import SettingsError

_EXPECTED = (
    DidError,
    LedgerError,
    KeystoreError,
    NodeClientError,
    ControllerError,
    InvalidMnemonicError,
    SettingsError,
    OSError,
)


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
AuthorityUrl = Annotated[
    str,
    typer.Option("--authority", help="Identity authority base URL, e.g. http://127.0.0.1:8081."),
]
Wait = Annotated[
    bool, typer.Option("--wait", help="Return only once the operation is anchored and resolvable.")
]
# The chain a node follows or anchors on with ``--ledger evm`` (``serve``, ``ledger verify``).
ChainUrl = Annotated[
    str | None, typer.Option("--evm-url", help="JSON-RPC URL of the EVM chain (--ledger evm).")
]
ChainAnchorContract = Annotated[
    str | None, typer.Option("--anchor-contract", help="Address of the RealDIDAnchor contract.")
]
