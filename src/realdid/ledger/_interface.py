"""The small interface every ledger backend implements (solo SQLite log, EVM chain).

A ledger only *orders anchors*: ``(batch hash, Merkle root, operation count)`` triples.
Operations themselves live in content-addressed batch files; the observer joins the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class LedgerError(Exception):
    """Base of ledger errors. ``code`` maps onto an RFC 9457 problem ``type``."""

    code = "ledger-error"

    def diagnostics(self) -> str:
        return str(self)


class LedgerUnavailableError(LedgerError):
    """The ledger could not be reached or did not accept the anchor; retry later."""

    code = "ledger-unavailable"


class LedgerIntegrityError(LedgerError):
    """Stored ledger data is inconsistent (tampered block, broken hash chain, bad signature)."""

    code = "ledger-integrity"


@dataclass(frozen=True, slots=True)
class AnchorRequest:
    """What a node asks the ledger to order. Hashes are lowercase hex SHA-256 digests."""

    batch_hash: str
    merkle_root: str
    operation_count: int


@dataclass(frozen=True, slots=True)
class Anchor:
    """An anchor as ordered by the ledger.

    ``sequence`` numbers anchors 0, 1, 2, ... in ledger order; it is the order in which every
    node applies batches. ``block_number``/``block_hash``/``transaction_id`` locate the anchor
    on the ledger (solo: the block itself; EVM: block and transaction hash).
    """

    sequence: int
    batch_hash: str
    merkle_root: str
    operation_count: int
    block_number: int
    block_hash: str
    transaction_id: str
    timestamp: int
    anchorer: str

    def to_dict(self) -> dict[str, str | int]:
        return {
            "sequence": self.sequence,
            "batchHash": self.batch_hash,
            "merkleRoot": self.merkle_root,
            "operationCount": self.operation_count,
            "blockNumber": self.block_number,
            "blockHash": self.block_hash,
            "transactionId": self.transaction_id,
            "timestamp": self.timestamp,
            "anchorer": self.anchorer,
        }


@runtime_checkable
class Ledger(Protocol):
    """A ledger backend. Implementations must be safe to call from one thread at a time."""

    @property
    def name(self) -> str:
        """Backend name shown in resolution metadata, e.g. ``"solo"`` or ``"evm"``."""
        ...

    def anchor(self, request: AnchorRequest) -> Anchor:
        """Order an anchor durably and return it; raise :class:`LedgerUnavailableError`."""
        ...

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        """Confirmed anchors with ``sequence`` greater than the argument, in order.

        Pass ``-1`` to start from the first anchor.
        """
        ...

    def close(self) -> None: ...
