"""The follower's state file: confirmed anchors and how far the chain has been scanned.

ARCHITECTURE.md section 5. A small database per node (store ``evm_follower``: the SQLite
file ``evm-ledger.db``, or that schema of the node's PostgreSQL database) records every
confirmed ``Anchored`` event and the last scanned block (number, hash, when), so that a
restart resumes where it stopped instead of re-reading the chain. The file is pinned to one
contract and, on first contact, to one chain id. A page of anchors and the new scan position
are stored in one transaction, and only if the sequences continue the stored ones::

    state = FollowerState.open(Path("evm-ledger.db"), contract_address, 0, SystemClock())
    state.scan_position()            # ScanPosition(block_number=-1, block_hash=None, ...)
    state.anchors_after(-1, 100)     # [] until the follower stores a page
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

from realdid.clock import Clock
from realdid.ledger._interface import (
    Anchor,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
)
from realdid.storage import (
    Database,
    StorageError,
    StoreLocation,
    Transaction,
    migrations_of,
    open_database,
)

__all__ = ["FollowerState", "ScanPosition"]

log = logging.getLogger(__name__)

_FORMAT: Final = "realdid-evm-v1"

_SELECT_ANCHORS = """
SELECT sequence, batch_hash, merkle_root, operation_count, block_number, block_hash,
       transaction_id, timestamp, anchorer
FROM anchors WHERE sequence > ? ORDER BY sequence LIMIT ?
"""
_INSERT_ANCHOR = """
INSERT INTO anchors (sequence, batch_hash, merkle_root, operation_count, block_number,
                     block_hash, transaction_id, timestamp, anchorer)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True, slots=True)
class ScanPosition:
    """How far the follower has scanned: every ``Anchored`` log up to ``block_number``
    (inclusive) is in the state file. ``block_hash`` is ``None`` before the first scan;
    ``updated_at`` is the clock's time of the last page stored (0 before that)."""

    block_number: int
    block_hash: str | None
    updated_at: int


class FollowerState:
    """The state database of one follower. Not locked: the follower serialises calls.

    Several processes may open the same database; a page is stored under the
    ``follower-page`` lock (SQLite's write lock; a PostgreSQL advisory lock), and a page
    whose start no longer follows the stored position is not stored (:meth:`store_page`
    returns ``False``).
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @classmethod
    def open(
        cls, where: Database | StoreLocation, contract: str, from_block: int, clock: Clock
    ) -> FollowerState:
        """Open or create the state of ``contract`` (a SQLite file, a ``postgresql://``
        URL or an open database); a new one starts scanning at ``from_block``. ``clock``
        stamps every stored page. Raises :class:`LedgerError` for a database of another
        format or contract, :class:`LedgerUnavailableError` when it cannot be opened."""
        defaults = {
            "format": _FORMAT,
            "contract": contract,
            "scanned_block": str(from_block - 1),
            "scanned_at": "0",
        }
        try:
            db = open_database(
                where,
                store="evm_follower",
                migrations=migrations_of("realdid.ledger.evm", "evm_follower"),
            )
        except StorageError as e:
            raise LedgerUnavailableError(f"cannot open the EVM follower state: {e}") from e
        try:
            with db.transaction() as tx:
                tx.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    list(defaults.items()),
                )
                meta = dict(tx.execute("SELECT key, value FROM meta").fetchall())
        except StorageError as e:
            db.close()
            raise LedgerUnavailableError(f"cannot open the EVM follower state: {e}") from e
        if meta["format"] != _FORMAT:
            db.close()
            raise LedgerError(f"the database is not a {_FORMAT} state file")
        if meta["contract"] != contract:
            db.close()
            raise LedgerError(f"the state follows contract {meta['contract']}, not {contract}")
        return cls(db, clock)

    def _meta(self, key: str) -> str | None:
        try:
            with self._db.reading() as tx:
                return _meta(tx, key)
        except StorageError as e:
            raise LedgerUnavailableError(f"EVM follower state could not be read: {e}") from e

    def pin_chain(self, chain_id: int) -> None:
        """Record ``chain_id`` on first contact; afterwards refuse any other chain."""
        try:
            with self._db.transaction() as tx:
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('chain_id', ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (str(chain_id),),
                )
                pinned = _meta(tx, "chain_id")
        except StorageError as e:
            raise LedgerUnavailableError(f"EVM follower state could not be written: {e}") from e
        if pinned != str(chain_id):
            raise LedgerIntegrityError(
                f"state file follows chain {pinned}, but the node serves chain {chain_id}"
            )

    def scan_position(self) -> ScanPosition:
        """The last block whose ``Anchored`` logs are in the database."""
        try:
            with self._db.reading() as tx:
                meta = dict(tx.execute("SELECT key, value FROM meta").fetchall())
        except StorageError as e:
            raise LedgerUnavailableError(f"EVM follower state could not be read: {e}") from e
        return ScanPosition(
            block_number=int(meta.get("scanned_block") or -1),
            block_hash=meta.get("scanned_block_hash"),
            updated_at=int(meta.get("scanned_at") or 0),
        )

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        """Stored anchors after ``sequence``, in order, at most ``limit``."""
        try:
            with self._db.reading() as tx:
                rows = tx.execute(_SELECT_ANCHORS, (sequence, limit)).fetchall()
        except StorageError as e:
            raise LedgerUnavailableError(f"EVM follower state could not be read: {e}") from e
        return [_anchor_of(row) for row in rows]

    def store_page(self, start: int, anchors: list[Anchor], end: int, end_hash: str) -> bool:
        """Append a page of anchors and move the scan position, in one transaction.

        Sequences must continue the stored ones without a gap or repeat: the contract
        numbers anchors consecutively, so anything else means a missed or forged log.
        ``False`` when another writer moved the position past ``start - 1`` meanwhile.
        """
        try:
            with self._db.transaction() as tx:
                tx.lock("follower-page")
                if int(_meta(tx, "scanned_block") or -1) != start - 1:
                    return False
                _append_anchors(tx, anchors)
                for key, value in (
                    ("scanned_block", str(end)),
                    ("scanned_block_hash", end_hash),
                    ("scanned_at", str(self._clock.now())),
                ):
                    _set_meta(tx, key, value)
        except StorageError as e:
            raise LedgerUnavailableError(f"EVM follower state could not be written: {e}") from e
        if anchors:
            log.debug("stored anchors %d..%d", anchors[0].sequence, anchors[-1].sequence)
        return True

    def close(self) -> None:
        self._db.close()


def _meta(tx: Transaction, key: str) -> str | None:
    row = tx.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(tx: Transaction, key: str, value: str) -> None:
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _append_anchors(tx: Transaction, anchors: list[Anchor]) -> None:
    """Insert ``anchors`` after the stored ones, refusing any gap or repeat."""
    row = tx.execute("SELECT MAX(sequence) FROM anchors").fetchone()
    expected = 0 if row[0] is None else int(row[0]) + 1
    for anchor in anchors:
        if anchor.sequence != expected:
            raise LedgerIntegrityError(
                f"anchor sequence {anchor.sequence} in block {anchor.block_number} "
                f"where {expected} was expected (missed or duplicated Anchored log)"
            )
        expected += 1
    tx.executemany(
        _INSERT_ANCHOR,
        [
            (
                a.sequence,
                a.batch_hash,
                a.merkle_root,
                a.operation_count,
                a.block_number,
                a.block_hash,
                a.transaction_id,
                a.timestamp,
                a.anchorer,
            )
            for a in anchors
        ],
    )


def _anchor_of(row: tuple[Any, ...]) -> Anchor:
    return Anchor(
        sequence=row[0],
        batch_hash=row[1],
        merkle_root=row[2],
        operation_count=row[3],
        block_number=row[4],
        block_hash=row[5],
        transaction_id=row[6],
        timestamp=row[7],
        anchorer=row[8],
    )
