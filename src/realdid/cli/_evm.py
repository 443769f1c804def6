"""Helpers shared by the commands that talk to an EVM chain (keys, the ledger backend)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from realdid.ledger import EvmLedger

_HEX_KEY = re.compile(r"(0x)?([0-9a-fA-F]{64})")


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def read_key_file(path: Path, what: str) -> bytes:
    """A secp256k1 secret from a file holding 64 hex digits (optionally ``0x``-prefixed)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise fail(f"{what}: cannot read {path} ({type(e).__name__})") from e
    match = _HEX_KEY.fullmatch(text)
    if match is None:
        raise fail(f"{what}: {path} must hold a 32-byte key as 64 hex digits")
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
        raise fail("--ledger evm needs --evm-url and --anchor-contract")
    key = None if key_file is None else read_key_file(key_file, "--anchorer-key-file")
    data_dir.mkdir(parents=True, exist_ok=True)
    return EvmLedger(
        evm_url, contract, key, data_dir / "evm-ledger.db", confirmations=confirmations
    )
