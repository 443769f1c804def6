"""The follower's state file: confirmed anchors and how far the chain has been scanned.

ARCHITECTURE.md section 5. A small SQLite file (``evm-ledger.db``) per node records every
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
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from realdid.clock import Clock
from realdid.ledger._interface import (
    Anchor,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
)
from realdid.storage import connect_sqlite, immediate_transaction

__all__ = ["FollowerState", "ScanPosition"]

log = logging.getLogger(__name__)

_FORMAT: Final = "realdid-evm-v1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS anchors (
    sequence        INTEGER PRIMARY KEY,
    batch_hash      TEXT    NOT NULL,
    merkle_root     TEXT    NOT NULL,
    operation_count INTEGER NOT NULL,
    block_number    INTEGER NOT NULL,
    block_hash      TEXT    NOT NULL,
    transaction_id  TEXT    NOT NULL,
    timestamp       INTEGER NOT NULL,
    anchorer        TEXT    NOT NULL
);
"""
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
    """The SQLite state file of one follower. Not locked: the follower serialises calls.

    Several processes may open the same file; SQLite's write lock (``BEGIN IMMEDIATE``)
    orders their pages, and a page whose start no longer follows the stored position is
    not stored (:meth:`store_page` returns ``False``).
    """

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock

    @classmethod
    def open(cls, path: Path, contract: str, from_block: int, clock: Clock) -> FollowerState:
        """Open or create the state file of ``contract``; a new file starts scanning at
        ``from_block``. ``clock`` stamps every stored page. Raises :class:`LedgerError` for a file of another format or
        contract, :class:`LedgerUnavailableError` when it cannot be opened."""
        try:
            # WAL + synchronous=FULL: a stored page and its scan position survive a crash.
            conn = connect_sqlite(path, synchronous="FULL", check_same_thread=False)
        except sqlite3.Error as e:
            raise LedgerUnavailableError(f"cannot open EVM follower state at {path}: {e}") from e
        try:
            conn.row_factory = sqlite3.Row
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            try:
                defaults = {
                    "format": _FORMAT,
                    "contract": contract,
                    "scanned_block": str(from_block - 1),
                    "scanned_at": "0",
                }
                for key, value in defaults.items():
                    conn.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value)
                    )
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            conn.close()
            raise LedgerUnavailableError(f"cannot open EVM follower state at {path}: {e}") from e
        if meta["format"] != _FORMAT:
            conn.close()
            raise LedgerError(f"{path} is not a {_FORMAT} state file")
        if meta["contract"] != contract:
            conn.close()
            raise LedgerError(f"{path} follows contract {meta['contract']}, not {contract}")
        return cls(conn, clock)

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def pin_chain(self, chain_id: int) -> None:
        """Record ``chain_id`` on first contact; afterwards refuse any other chain."""
        pinned = self._meta("chain_id")
        if pinned is not None and pinned != str(chain_id):
            raise LedgerIntegrityError(
                f"state file follows chain {pinned}, but the node serves chain {chain_id}"
            )
        if pinned is None:
            self._set_meta("chain_id", str(chain_id))

    def scan_position(self) -> ScanPosition:
        """The last block whose ``Anchored`` logs are in the file."""
        return ScanPosition(
            block_number=int(self._meta("scanned_block") or -1),
            block_hash=self._meta("scanned_block_hash"),
            updated_at=int(self._meta("scanned_at") or 0),
        )

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        """Stored anchors after ``sequence``, in order, at most ``limit``."""
        try:
            rows = self._conn.execute(_SELECT_ANCHORS, (sequence, limit)).fetchall()
        except sqlite3.Error as e:
            raise LedgerUnavailableError(f"EVM follower state could not be read: {e}") from e
        return [
            Anchor(
                sequence=row["sequence"],
                batch_hash=row["batch_hash"],
                merkle_root=row["merkle_root"],
                operation_count=row["operation_count"],
                block_number=row["block_number"],
                block_hash=row["block_hash"],
                transaction_id=row["transaction_id"],
                timestamp=row["timestamp"],
                anchorer=row["anchorer"],
            )
            for row in rows
        ]

    def store_page(self, start: int, anchors: list[Anchor], end: int, end_hash: str) -> bool:
        """Append a page of anchors and move the scan position, in one transaction.

        Sequences must continue the stored ones without a gap or repeat: the contract
        numbers anchors consecutively, so anything else means a missed or forged log.
        ``False`` when another writer moved the position past ``start - 1`` meanwhile.
        """
        try:
            with immediate_transaction(self._conn):
                if int(self._meta("scanned_block") or -1) != start - 1:
                    self._conn.execute("ROLLBACK")
                    return False
                row = self._conn.execute("SELECT MAX(sequence) FROM anchors").fetchone()
                expected = 0 if row[0] is None else int(row[0]) + 1
                for anchor in anchors:
                    if anchor.sequence != expected:
                        raise LedgerIntegrityError(
                            f"anchor sequence {anchor.sequence} in block {anchor.block_number} "
                            f"where {expected} was expected (missed or duplicated Anchored log)"
                        )
                    self._conn.execute(
                        _INSERT_ANCHOR,
                        (
                            anchor.sequence,
                            anchor.batch_hash,
                            anchor.merkle_root,
                            anchor.operation_count,
                            anchor.block_number,
                            anchor.block_hash,
                            anchor.transaction_id,
                            anchor.timestamp,
                            anchor.anchorer,
                        ),
                    )
                    expected += 1
                self._set_meta("scanned_block", str(end))
                self._set_meta("scanned_block_hash", end_hash)
                self._set_meta("scanned_at", str(self._clock.now()))
        except sqlite3.Error as e:
            raise LedgerUnavailableError(f"EVM follower state could not be written: {e}") from e
        if anchors:
            log.debug("stored anchors %d..%d", anchors[0].sequence, anchors[-1].sequence)
        return True

    def close(self) -> None:
        self._conn.close()
