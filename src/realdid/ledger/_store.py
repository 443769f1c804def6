"""The registry node's database: operation queue, resolution index, operation outcomes.

One SQLite file in WAL mode with ``synchronous=FULL``: a commit is on disk when it returns,
so an operation is acknowledged only once it is durable. The index is a cache — it can
always be rebuilt from the ledger plus the batch files (``realdid ledger verify``).

Tables:

* ``queue`` — accepted operations not yet seen in an anchored batch, in arrival order;
* ``operations`` — the outcome of every anchored operation: applied or rejected (+reason);
* ``dids`` — the current :class:`~realdid.did.DidState` of each DID, keyed by the suffix's
  32-byte digest, in the compact encoding of :mod:`._state_codec`;
* ``anchors`` — every processed anchor with its operations' hashes (for Merkle proofs);
* ``cursor`` — the sequence of the last processed anchor.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realdid.did import DidState, ParsedOperation
from realdid.storage import connect_sqlite

from ._interface import Anchor, LedgerIntegrityError
from ._state_codec import decode_state, encode_state, suffix_from_key, suffix_key

SCHEMA_VERSION = 2  # 2: compact binary index entries keyed by suffix digest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash BLOB NOT NULL UNIQUE,
    suffix TEXT NOT NULL,
    body BLOB NOT NULL,
    received INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_suffix ON queue (suffix);
CREATE TABLE IF NOT EXISTS operations (
    hash BLOB PRIMARY KEY,
    sequence INTEGER NOT NULL,
    leaf INTEGER NOT NULL,
    applied INTEGER NOT NULL,
    reason TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dids (suffix BLOB PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anchors (
    sequence INTEGER PRIMARY KEY,
    anchor TEXT NOT NULL,
    leaves BLOB NOT NULL,
    valid INTEGER NOT NULL,
    reason TEXT
);
"""


@dataclass(frozen=True, slots=True)
class QueuedOperation:
    seq: int
    hash: str
    suffix: str
    body: bytes


@dataclass(frozen=True, slots=True)
class OperationOutcome:
    """What happened to an anchored operation (``reason`` is a rejection code)."""

    hash: str
    sequence: int
    leaf: int
    applied: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    """A processed anchor. ``valid`` is false for anchors every node ignores (bad batch)."""

    anchor: Anchor
    leaves: tuple[bytes, ...]
    valid: bool
    reason: str | None


class RegistryStore:
    """Thread-safe access to the node database: one SQLite connection per thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        conn = self._conn()
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
        )
        conn.commit()
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        if found != str(SCHEMA_VERSION):
            conn.close()
            self._local.conn = None
            raise LedgerIntegrityError(
                f"{path} has database schema {found}, this version needs {SCHEMA_VERSION}; "
                "move it aside and restart to rebuild the index from the ledger"
            )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # FULL: an operation acknowledged 202 is in the queue after a power loss.
            conn = connect_sqlite(self._path, synchronous="FULL", timeout=30.0, cache_kib=65536)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- intake -------------------------------------------------------------------------------
    def enqueue(self, operations: Sequence[ParsedOperation], received: int) -> None:
        """Append operations to the queue durably in one transaction (duplicates ignored)."""
        conn = self._conn()
        rows = [(bytes.fromhex(p.hash), p.did.suffix, p.canonical, received) for p in operations]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO queue (hash, suffix, body, received) VALUES (?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def is_queued(self, operation_hash: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM queue WHERE hash = ?", (bytes.fromhex(operation_hash),))
            .fetchone()
        )
        return row is not None

    def has_queued_for(self, suffix: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM queue WHERE suffix = ? LIMIT 1", (suffix,))
            .fetchone()
        )
        return row is not None

    def queue_length(self) -> int:
        row = self._conn().execute("SELECT count(*) FROM queue").fetchone()
        return int(row[0])

    def queued_after(self, seq: int, limit: int) -> list[QueuedOperation]:
        rows = (
            self._conn()
            .execute(
                "SELECT seq, hash, suffix, body FROM queue WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            )
            .fetchall()
        )
        return [QueuedOperation(r[0], r[1].hex(), r[2], r[3]) for r in rows]

    # -- observer -----------------------------------------------------------------------------
    def cursor(self) -> int:
        row = self._conn().execute("SELECT max(sequence) FROM anchors").fetchone()
        return -1 if row[0] is None else int(row[0])

    def processed(self, hashes: Iterable[bytes]) -> set[bytes]:
        """Which of ``hashes`` already have an outcome (their operations are never re-applied)."""
        conn = self._conn()
        found: set[bytes] = set()
        chunk: list[bytes] = []
        for h in hashes:
            chunk.append(h)
            if len(chunk) == 500:
                found.update(self._processed_chunk(conn, chunk))
                chunk = []
        if chunk:
            found.update(self._processed_chunk(conn, chunk))
        return found

    @staticmethod
    def _processed_chunk(conn: sqlite3.Connection, chunk: list[bytes]) -> list[bytes]:
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT hash FROM operations WHERE hash IN ({marks})", chunk)  # noqa: S608 - only placeholders are interpolated
        return [r[0] for r in rows]

    def states(self, suffixes: Iterable[str]) -> dict[str, DidState]:
        conn = self._conn()
        result: dict[str, DidState] = {}
        unique = [suffix_key(s) for s in dict.fromkeys(suffixes)]
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT suffix, state FROM dids WHERE suffix IN ({marks})", chunk)  # noqa: S608 - only placeholders are interpolated
            for key, data in rows:
                suffix = suffix_from_key(key)
                result[suffix] = decode_state(suffix, data)
        return result

    def commit_anchor(
        self,
        record: AnchorRecord,
        outcomes: Sequence[OperationOutcome],
        states: Iterable[DidState],
    ) -> None:
        """Record one processed anchor atomically: outcomes, new states, queue cleanup, cursor.

        Atomicity is what makes the observer crash-safe: after a kill it either sees the
        anchor as processed (everything here committed) or not at all, and re-does it.
        """
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO anchors (sequence, anchor, leaves, valid, reason) VALUES (?, ?, ?, ?, ?)",
                (
                    record.anchor.sequence,
                    json.dumps(record.anchor.to_dict(), separators=(",", ":")),
                    b"".join(record.leaves),
                    int(record.valid),
                    record.reason,
                ),
            )
            conn.executemany(
                "INSERT INTO operations (hash, sequence, leaf, applied, reason) VALUES (?, ?, ?, ?, ?)",
                [
                    (bytes.fromhex(o.hash), o.sequence, o.leaf, int(o.applied), o.reason)
                    for o in outcomes
                ],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO dids (suffix, state) VALUES (?, ?)",
                [(suffix_key(s.suffix), encode_state(s)) for s in states],
            )
            # Every operation of a valid anchor leaves the queue, including those skipped
            # because they already had an outcome: a copy queued again after its first
            # anchor (a resubmission racing the observer) would otherwise stay forever.
            conn.executemany("DELETE FROM queue WHERE hash = ?", [(h,) for h in record.leaves])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- reads --------------------------------------------------------------------------------
    def state(self, suffix: str) -> DidState | None:
        row = (
            self._conn()
            .execute("SELECT state FROM dids WHERE suffix = ?", (suffix_key(suffix),))
            .fetchone()
        )
        return None if row is None else decode_state(suffix, row[0])

    def outcomes(self, operation_hashes: Sequence[str]) -> dict[str, OperationOutcome]:
        """Outcomes of many operations in a few queries (intake checks whole submissions:
        one query per operation would hand the GIL back and forth once per operation)."""
        conn = self._conn()
        found: dict[str, OperationOutcome] = {}
        for i in range(0, len(operation_hashes), 500):
            chunk = [bytes.fromhex(h) for h in operation_hashes[i : i + 500]]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT hash, sequence, leaf, applied, reason FROM operations WHERE hash IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                chunk,
            )
            for digest, sequence, leaf, applied, reason in rows:
                found[digest.hex()] = OperationOutcome(
                    digest.hex(), sequence, leaf, bool(applied), reason
                )
        return found

    def outcome(self, operation_hash: str) -> OperationOutcome | None:
        row = (
            self._conn()
            .execute(
                "SELECT sequence, leaf, applied, reason FROM operations WHERE hash = ?",
                (bytes.fromhex(operation_hash),),
            )
            .fetchone()
        )
        if row is None:
            return None
        return OperationOutcome(operation_hash, row[0], row[1], bool(row[2]), row[3])

    def anchor_record(self, sequence: int) -> AnchorRecord | None:
        row = (
            self._conn()
            .execute(
                "SELECT anchor, leaves, valid, reason FROM anchors WHERE sequence = ?", (sequence,)
            )
            .fetchone()
        )
        if row is None:
            return None
        leaves = row[1]
        return AnchorRecord(
            anchor_from_dict(json.loads(row[0])),
            tuple(leaves[i : i + 32] for i in range(0, len(leaves), 32)),
            bool(row[2]),
            row[3],
        )

    def anchor(self, sequence: int) -> Anchor | None:
        """The processed anchor at ``sequence`` without its leaves (cheap; for evidence)."""
        row = (
            self._conn()
            .execute("SELECT anchor FROM anchors WHERE sequence = ?", (sequence,))
            .fetchone()
        )
        return None if row is None else anchor_from_dict(json.loads(row[0]))

    def recent_anchors(self, limit: int, before: int | None = None) -> list[AnchorRecord]:
        """Newest processed anchors first (the explorer's front page); leaves not loaded."""
        bound = (1 << 62) if before is None else before
        rows = (
            self._conn()
            .execute(
                "SELECT anchor, valid, reason FROM anchors WHERE sequence < ? ORDER BY sequence DESC LIMIT ?",
                (bound, limit),
            )
            .fetchall()
        )
        return [
            AnchorRecord(anchor_from_dict(json.loads(r[0])), (), bool(r[1]), r[2]) for r in rows
        ]

    def did_count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM dids").fetchone()[0])

    def all_states(self) -> Iterable[DidState]:
        for key, data in self._conn().execute("SELECT suffix, state FROM dids ORDER BY suffix"):
            suffix = suffix_from_key(key)
            yield decode_state(suffix, data)


def anchor_from_dict(value: dict[str, Any]) -> Anchor:
    return Anchor(
        sequence=value["sequence"],
        batch_hash=value["batchHash"],
        merkle_root=value["merkleRoot"],
        operation_count=value["operationCount"],
        block_number=value["blockNumber"],
        block_hash=value["blockHash"],
        transaction_id=value["transactionId"],
        timestamp=value["timestamp"],
        anchorer=value["anchorer"],
    )
