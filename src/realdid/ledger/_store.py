"""The registry node's database: operation queue, resolution index, operation outcomes.

A :class:`~realdid.storage.Database` (store ``node``): one SQLite file in WAL mode, or the
schema ``node`` of a PostgreSQL database shared by the node's processes. Every write is
durable (SQLite ``synchronous=FULL``; PostgreSQL's synchronous commit): a commit is on disk
when it returns, so an operation is acknowledged only once it is durable. The index is a cache — it can
always be rebuilt from the ledger plus the batch files (``realdid ledger verify``).

Tables:

* ``queue`` — accepted operations not yet seen in an anchored batch, in arrival order;
* ``operations`` — the outcome of every anchored operation: applied or rejected (+reason);
* ``dids`` — the current :class:`~realdid.did.DidState` of each DID, keyed by the suffix's
  32-byte digest, in the compact encoding of :mod:`._state_codec`;
* ``anchors`` — every processed anchor with its operations' hashes (for Merkle proofs);
* ``cursor`` — the sequence of the last processed anchor;
* ``meta`` — the index schema version and ``did_count``, the number of rows of ``dids``
  (kept by each anchor's commit).

On PostgreSQL ``dids`` and ``operations`` are hash-partitioned (ADR 0016).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from realdid.did import DidState, ParsedOperation
from realdid.storage import Database, StoreLocation, Transaction, migrations_of, open_database

from ._interface import Anchor, LedgerIntegrityError
from ._state_codec import (
    EncodedState,
    decode_state,
    encoded_row,
    suffix_from_key,
    suffix_key,
)

#: The index encoding this release reads (2: compact binary entries keyed by suffix digest),
#: recorded in ``meta`` by the first migration.
SCHEMA_VERSION = 2
#: Rows per query when many keys are looked up at once, and per page of a full scan.
_CHUNK = 500
_PAGE = 10_000

_T = TypeVar("_T")


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


@dataclass(frozen=True, slots=True)
class WriterHealth:
    """What the writer process last reported: its error (``None``: healthy) since when,
    the peers that served it wrong batch files, and when it reported (node clock)."""

    pid: int
    error: str | None
    since: int
    bad_peers: dict[str, str]
    reported_at: int


class RegistryStore:
    """Thread-safe access to the node database, on SQLite or PostgreSQL.

    ``where`` is the SQLite file, a ``postgresql://`` URL or an open
    :class:`~realdid.storage.Database`. ``read_only`` is a resolver replica's view: it
    writes nothing and refuses a database its writer has not migrated yet.
    """

    def __init__(self, where: Database | StoreLocation, *, read_only: bool = False) -> None:
        self._db = open_database(
            where,
            store="node",
            migrations=migrations_of("realdid.ledger", "node"),
            read_only=read_only,
            cache_kib=65536,
        )
        with self._db.reading() as tx:
            found = tx.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        if found != str(SCHEMA_VERSION):
            self._db.close()
            raise LedgerIntegrityError(
                f"the node database has index schema {found}, this version needs"
                f" {SCHEMA_VERSION}; move it aside and restart to rebuild the index from the ledger"
            )

    @property
    def database(self) -> Database:
        return self._db

    def close(self) -> None:
        self._db.close()

    # -- intake -------------------------------------------------------------------------------
    def enqueue(self, operations: Sequence[ParsedOperation], received: int) -> None:
        """Append operations to the queue durably in one transaction (duplicates ignored).

        The ``queue`` lock makes sequence numbers commit in the order they are drawn: on
        PostgreSQL two intakes could otherwise commit seq 11 before seq 10, and the writer,
        which reads the queue past the last sequence it claimed, would never see 10.
        """
        rows = [(bytes.fromhex(p.hash), p.did.suffix, p.canonical, received) for p in operations]
        with self._db.transaction() as tx:
            tx.lock("queue")
            tx.executemany(
                "INSERT INTO queue (hash, suffix, body, received) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (hash) DO NOTHING",
                rows,
            )

    def is_queued(self, operation_hash: str) -> bool:
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT 1 FROM queue WHERE hash = ?", (bytes.fromhex(operation_hash),)
            ).fetchone()
        return row is not None

    def has_queued_for(self, suffix: str) -> bool:
        with self._db.reading() as tx:
            row = tx.execute("SELECT 1 FROM queue WHERE suffix = ? LIMIT 1", (suffix,)).fetchone()
        return row is not None

    def queue_length(self) -> int:
        with self._db.reading() as tx:
            return int(tx.execute("SELECT count(*) FROM queue").fetchone()[0])

    def queued_after(self, seq: int, limit: int) -> list[QueuedOperation]:
        with self._db.reading() as tx:
            rows = tx.execute(
                "SELECT seq, hash, suffix, body FROM queue WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [QueuedOperation(r[0], bytes(r[1]).hex(), r[2], bytes(r[3])) for r in rows]

    # -- observer -----------------------------------------------------------------------------
    def cursor(self) -> int:
        with self._db.reading() as tx:
            row = tx.execute("SELECT max(sequence) FROM anchors").fetchone()
        return -1 if row[0] is None else int(row[0])

    def processed(self, hashes: Iterable[bytes]) -> set[bytes]:
        """Which of ``hashes`` already have an outcome (their operations are never re-applied)."""
        found: set[bytes] = set()
        with self._db.reading() as tx:
            for chunk in _chunks(list(hashes)):
                rows = tx.execute(
                    f"SELECT hash FROM operations WHERE hash IN ({_marks(chunk)})",  # noqa: S608 - only placeholders are interpolated
                    chunk,
                )
                found.update(bytes(r[0]) for r in rows)
        return found

    def states(self, suffixes: Iterable[str]) -> dict[str, DidState]:
        return {
            suffix: decode_state(suffix, data)
            for suffix, data in self.encoded_states(suffixes).items()
        }

    def encoded_states(self, suffixes: Iterable[str]) -> dict[str, bytes]:
        """The stored state of each of ``suffixes`` that has one, as :func:`encode_state`
        wrote it (what a process that applies operations elsewhere is sent)."""
        result: dict[str, bytes] = {}
        unique = [suffix_key(s) for s in dict.fromkeys(suffixes)]
        with self._db.reading() as tx:
            for chunk in _chunks(unique):
                rows = tx.execute(
                    f"SELECT suffix, state FROM dids WHERE suffix IN ({_marks(chunk)})",  # noqa: S608 - only placeholders are interpolated
                    chunk,
                )
                for key, data in rows:
                    result[suffix_from_key(bytes(key))] = bytes(data)
        return result

    def commit_anchor(
        self,
        record: AnchorRecord,
        outcomes: Sequence[OperationOutcome],
        states: Iterable[DidState],
    ) -> None:
        """:meth:`commit_anchor_encoded` of ``states`` (new states of DIDs)."""
        self.commit_anchor_encoded(record, outcomes, [encoded_row(s) for s in states])

    def commit_anchor_encoded(
        self,
        record: AnchorRecord,
        outcomes: Sequence[OperationOutcome],
        states: Sequence[EncodedState],
    ) -> None:
        """Record one processed anchor atomically: outcomes, new states (rows of
        :func:`encoded_row`), queue cleanup, cursor.

        Atomicity is what makes the observer crash-safe: after a kill it either sees the
        anchor as processed (everything here committed) or not at all, and re-does it. Two
        observers committing the same anchor (a take-over racing a dying writer) cannot
        both succeed: the anchor's sequence is the primary key of ``anchors``.
        """
        with self._db.transaction() as tx:
            _insert_anchor(tx, record)
            tx.executemany(
                "INSERT INTO operations (hash, sequence, leaf, applied, reason) VALUES (?, ?, ?, ?, ?)",
                [
                    (bytes.fromhex(o.hash), o.sequence, o.leaf, int(o.applied), o.reason)
                    for o in outcomes
                ],
            )
            created = len(states) - _indexed(tx, [key for key, _ in states])
            tx.executemany(
                "INSERT INTO dids (suffix, state) VALUES (?, ?)"
                " ON CONFLICT (suffix) DO UPDATE SET state = excluded.state",
                states,
            )
            if created:
                tx.execute(
                    "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + ? AS TEXT)"
                    " WHERE key = 'did_count'",
                    (created,),
                )
            # Every operation of a valid anchor leaves the queue, including those skipped
            # because they already had an outcome: a copy queued again after its first
            # anchor (a resubmission racing the observer) would otherwise stay forever.
            tx.executemany("DELETE FROM queue WHERE hash = ?", [(h,) for h in record.leaves])

    # -- the writer's health ---------------------------------------------------------------------
    def report_health(self, health: WriterHealth) -> None:
        """Record the writer's health for every process's ``/healthz`` (not fsynced: a
        report lost to power loss is replaced by the next one)."""
        with self._db.transaction(durable=False) as tx:
            tx.execute(
                "INSERT INTO writer_health (id, pid, error, since, bad_peers, reported_at)"
                " VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET pid = excluded.pid,"
                " error = excluded.error, since = excluded.since,"
                " bad_peers = excluded.bad_peers, reported_at = excluded.reported_at",
                (
                    health.pid,
                    health.error,
                    health.since,
                    json.dumps(health.bad_peers, sort_keys=True),
                    health.reported_at,
                ),
            )

    def writer_health(self) -> WriterHealth | None:
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT pid, error, since, bad_peers, reported_at FROM writer_health WHERE id = 1"
            ).fetchone()
        if row is None:
            return None
        return WriterHealth(int(row[0]), row[1], int(row[2]), json.loads(row[3]), int(row[4]))

    # -- reads --------------------------------------------------------------------------------
    def state(self, suffix: str) -> DidState | None:
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT state FROM dids WHERE suffix = ?", (suffix_key(suffix),)
            ).fetchone()
        return None if row is None else decode_state(suffix, bytes(row[0]))

    def outcomes(self, operation_hashes: Sequence[str]) -> dict[str, OperationOutcome]:
        """Outcomes of many operations in a few queries (intake checks whole submissions:
        one query per operation would hand the GIL back and forth once per operation)."""
        found: dict[str, OperationOutcome] = {}
        with self._db.reading() as tx:
            for chunk in _chunks([bytes.fromhex(h) for h in operation_hashes]):
                sql = "SELECT hash, sequence, leaf, applied, reason FROM operations WHERE hash IN "
                rows = tx.execute(f"{sql}({_marks(chunk)})", chunk)
                for digest, sequence, leaf, applied, reason in rows:
                    key = bytes(digest).hex()
                    found[key] = OperationOutcome(key, sequence, leaf, bool(applied), reason)
        return found

    def outcome(self, operation_hash: str) -> OperationOutcome | None:
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT sequence, leaf, applied, reason FROM operations WHERE hash = ?",
                (bytes.fromhex(operation_hash),),
            ).fetchone()
        if row is None:
            return None
        return OperationOutcome(operation_hash, row[0], row[1], bool(row[2]), row[3])

    def anchor_record(self, sequence: int) -> AnchorRecord | None:
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT anchor, leaves, valid, reason FROM anchors WHERE sequence = ?", (sequence,)
            ).fetchone()
        if row is None:
            return None
        leaves = bytes(row[1])
        return AnchorRecord(
            anchor_from_dict(json.loads(row[0])),
            tuple(leaves[i : i + 32] for i in range(0, len(leaves), 32)),
            bool(row[2]),
            row[3],
        )

    def anchor(self, sequence: int) -> Anchor | None:
        """The processed anchor at ``sequence`` without its leaves (cheap; for evidence)."""
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT anchor FROM anchors WHERE sequence = ?", (sequence,)
            ).fetchone()
        return None if row is None else anchor_from_dict(json.loads(row[0]))

    def recent_anchors(self, limit: int, before: int | None = None) -> list[AnchorRecord]:
        """Newest processed anchors first (the explorer's front page); leaves not loaded."""
        bound = (1 << 62) if before is None else before
        with self._db.reading() as tx:
            rows = tx.execute(
                "SELECT anchor, valid, reason FROM anchors WHERE sequence < ?"
                " ORDER BY sequence DESC LIMIT ?",
                (bound, limit),
            ).fetchall()
        return [
            AnchorRecord(anchor_from_dict(json.loads(r[0])), (), bool(r[1]), r[2]) for r in rows
        ]

    def did_count(self) -> int:
        """How many DIDs the index holds: a counter kept with every anchor's commit (counting
        the rows would read the whole index, on a page anyone may load)."""
        with self._db.reading() as tx:
            row = tx.execute("SELECT value FROM meta WHERE key = 'did_count'").fetchone()
        return int(row[0])

    def all_states(self) -> Iterator[DidState]:
        """Every DID's state in key order, a page at a time (a PostgreSQL cursor would
        otherwise bring the whole index into memory at once)."""
        after = b""
        while True:
            with self._db.reading() as tx:
                rows = tx.execute(
                    "SELECT suffix, state FROM dids WHERE suffix > ? ORDER BY suffix LIMIT ?",
                    (after, _PAGE),
                ).fetchall()
            for key, data in rows:
                suffix = suffix_from_key(bytes(key))
                yield decode_state(suffix, bytes(data))
            if len(rows) < _PAGE:
                return
            after = bytes(rows[-1][0])


def _indexed(tx: Transaction, keys: Sequence[bytes]) -> int:
    """How many of ``keys`` (distinct suffix keys) the index already holds."""
    found = 0
    for chunk in _chunks(list(keys)):
        sql = f"SELECT count(*) FROM dids WHERE suffix IN ({_marks(chunk)})"  # noqa: S608 - only placeholders are interpolated
        found += int(tx.execute(sql, chunk).fetchone()[0])
    return found


def _insert_anchor(tx: Transaction, record: AnchorRecord) -> None:
    tx.execute(
        "INSERT INTO anchors (sequence, anchor, leaves, valid, reason) VALUES (?, ?, ?, ?, ?)",
        (
            record.anchor.sequence,
            json.dumps(record.anchor.to_dict(), separators=(",", ":")),
            b"".join(record.leaves),
            int(record.valid),
            record.reason,
        ),
    )


def _chunks(values: list[_T]) -> Iterator[list[_T]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))


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
