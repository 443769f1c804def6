"""Batching, Merkle proofs, content-addressed batch files, ledger backends, the observer."""

from ._interface import (
    Anchor,
    AnchorRequest,
    Ledger,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
)

__all__ = [
    "Anchor",
    "AnchorRequest",
    "Ledger",
    "LedgerError",
    "LedgerIntegrityError",
    "LedgerUnavailableError",
]
