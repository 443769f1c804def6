"""The small interface every ledger backend implements (solo SQLite log, EVM chain).

A ledger only *orders anchors*: ``(batch hash, Merkle root, operation count)`` triples.
Operations themselves live in content-addressed batch files; the observer joins the two.
Every backend checks a request the same way before ordering it::

    >>> AnchorRequest("ab" * 32, "cd" * 32, 3).check()
    >>> AnchorRequest("ab" * 32, "cd" * 32, 2**32).check(operation_count_bits=32)
    Traceback (most recent call last):
    ...
    realdid.ledger._interface.InvalidAnchorRequestError: operation_count must be an integer in 0..2**32-1
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

_HEX64 = re.compile(r"[0-9a-f]{64}")


class ClosedOnExit(ABC):
    """A backend holding a connection (SQLite file, JSON-RPC client): ``with`` closes it.

    The ledgers and the anchor admin are opened by commands and tests for one block of
    work; leaving the block, however it ends, must release the file or the socket.
    """

    @abstractmethod
    def close(self) -> None:
        """Release the connection; the object is unusable afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def is_hex_digest(value: object) -> bool:
    """Whether ``value`` is a SHA-256 digest as ledgers store it: 64 lowercase hex digits."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def is_unsigned(value: object) -> bool:
    """Whether ``value`` is a non-negative ``int`` (``bool`` is not accepted as one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class LedgerError(Exception):
    """Base of ledger errors. ``code`` maps onto an RFC 9457 problem ``type``."""

    code = "ledger-error"
    http_status = 500  # the ledger is the service's own state

    def diagnostics(self) -> str:
        return str(self)


class LedgerUnavailableError(LedgerError):
    """The ledger could not be reached or did not accept the anchor; retry later."""

    code = "ledger-unavailable"
    http_status = 503


class LedgerIntegrityError(LedgerError):
    """Stored ledger data is inconsistent (tampered block, broken hash chain, bad signature)."""

    code = "ledger-integrity"


class InvalidAnchorRequestError(LedgerError):
    """The anchor request is malformed (hashes not lowercase hex SHA-256, bad count)."""

    code = "invalid-anchor-request"
    http_status = 400


@dataclass(frozen=True, slots=True)
class AnchorRequest:
    """What a node asks the ledger to order. Hashes are lowercase hex SHA-256 digests."""

    batch_hash: str
    merkle_root: str
    operation_count: int

    def check(self, *, operation_count_bits: int | None = None) -> None:
        """Raise :class:`InvalidAnchorRequestError` unless the request is well formed.

        Both hashes must be 64 lowercase hex digits (what batch files are addressed by and
        Merkle roots are rendered as), the count a non-negative integer. A backend whose
        ledger stores the count in a fixed width (the EVM contract's ``uint32``) passes
        ``operation_count_bits`` so that an oversized count is refused before anything is
        sent, rather than by the ABI encoder.
        """
        if not is_hex_digest(self.batch_hash):
            raise InvalidAnchorRequestError("batch_hash must be 64 lowercase hex characters")
        if not is_hex_digest(self.merkle_root):
            raise InvalidAnchorRequestError("merkle_root must be 64 lowercase hex characters")
        count = self.operation_count
        if operation_count_bits is None:
            if not is_unsigned(count):
                raise InvalidAnchorRequestError("operation_count must be a non-negative integer")
        elif not is_unsigned(count) or count >= 2**operation_count_bits:
            raise InvalidAnchorRequestError(
                f"operation_count must be an integer in 0..2**{operation_count_bits}-1"
            )


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
