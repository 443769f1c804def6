"""Append-only, hash-chained audit log of the authority's administrative actions.

Every entry commits to its predecessor: ``entry_hash`` is the SHA-256 (hex) of the RFC 8785
canonical JSON of ``{seq, at, actor, action, target, detail, prev_hash}``, and ``prev_hash``
is the previous entry's ``entry_hash`` (:data:`GENESIS_HASH`, 64 zeros, for seq 1). So
editing, inserting or deleting any entry breaks every later link, and :meth:`AuditLog.verify`
names the first broken seq.

Threat model, in layers:

* Triggers (in the store's migrations, on SQLite and on PostgreSQL) refuse ``UPDATE`` and
  ``DELETE`` on ``audit_log`` and refuse an ``INSERT`` whose seq or prev_hash does not
  extend the head (which also stops an upsert from overwriting a row). This stops
  application bugs and misuse through the service's own connections.
* Anyone who can write the database can drop the triggers; the hash chain then shows
  any change to an entry that has a successor.
* Removing entries from the *end* leaves a valid, shorter chain. Only an external anchor of
  the head detects that: the service anchors ``head()`` (seq, entry_hash) on the ledger
  (ARCHITECTURE.md §7, lawful access), and the auditor compares.

Entries are public-facing evidence (anchored, shown to auditors and, for lawful access, to
the resident): ``actor``, ``target`` and ``detail`` must carry identifiers (operator ids,
DIDs, record ids), never personal data such as names or ID numbers.

Transaction contract: :meth:`AuditLog.append` never begins, commits or rolls back. It runs in
the caller's open transaction, so an administrative action and its audit entry commit (or
roll back) together. The reads (:meth:`~AuditLog.entries`, :meth:`~AuditLog.head`,
:meth:`~AuditLog.verify`) see what is committed, or, given a transaction, what it sees.

Concurrency: on PostgreSQL transactions run side by side, so the head is read, hashed over
and extended under the lock :data:`AUDIT_LOCK`, held until the transaction ends: two
appends can never link to the same head. (seq is the primary key and the insert trigger
checks the head, so even a writer without the lock fails instead of forking the chain.)
A transaction that appends should take the lock *first*, before any row lock — which
:meth:`AuditLog.transaction` does — so that it never holds a row another appender waits
for while waiting for the log itself (a deadlock). On SQLite the lock is a no-op: its
writers are serialised anyway.

Example::

    >>> from realdid.clock import FixedClock
    >>> from realdid.authority import AuthorityDatabase
    >>> log = AuditLog(AuthorityDatabase(":memory:"), FixedClock(1_800_000_000))
    >>> with log.transaction() as tx:
    ...     log.append(tx, "op_1", "revocation", "did:realdid:x", {"reason": "fraud"}).seq
    1
    >>> log.verify()
    1
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from realdid.clock import Clock
from realdid.crypto import canonicalize
from realdid.storage import Transaction

from ._errors import AuthorityError
from ._store import AuthorityDatabase

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first entry."""
MAX_FIELD_CHARS = 256
"""Cap on ``actor``, ``action``, ``target``, detail keys and detail string values."""
MAX_DETAIL_ITEMS = 32
MAX_PAGE = 1000
"""Most entries one :meth:`AuditLog.entries` call returns."""

DetailValue = str | int | bool | None
_SAFE_INTEGER = 2**53 - 1  # RFC 8785 numbers are IEEE doubles: larger ints are not exact
_HEX64 = re.compile(r"[0-9a-f]{64}")

#: The lock that serialises appends (:meth:`realdid.storage.Transaction.lock`).
AUDIT_LOCK = "audit"


class AuditChainError(AuthorityError):
    """The stored chain does not verify; ``seq`` is the first entry at fault."""

    code = "audit-chain-broken"

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"audit chain broken at seq {seq}: {reason}")
        self.seq = seq


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit log entry. ``at`` is ISO 8601 UTC to the second, e.g. ``2027-01-15T08:00:00Z``."""

    seq: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, DetailValue]
    prev_hash: str
    entry_hash: str

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (the hashed fields plus ``entry_hash``)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": dict(self.detail),
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }

    def computed_hash(self) -> str:
        """The hash this entry's fields commit to (equal to ``entry_hash`` when intact)."""
        return entry_hash(
            seq=self.seq,
            at=self.at,
            actor=self.actor,
            action=self.action,
            target=self.target,
            detail=self.detail,
            prev_hash=self.prev_hash,
        )


def entry_hash(
    *,
    seq: int,
    at: str,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, DetailValue],
    prev_hash: str,
) -> str:
    """SHA-256 hex of the canonical JSON (RFC 8785) of an entry's fields."""
    body = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "target": target,
        "detail": dict(detail),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonicalize(body)).hexdigest()


class AuditLog:
    """The ``audit_log`` table of the authority's database; see the module docstring for
    the transaction contract (the caller commits) and concurrency."""

    def __init__(self, db: AuthorityDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Transaction]:
        """A write transaction that will append: :data:`AUDIT_LOCK` is its first lock.

        Taking the log's lock before any row lock keeps the lock order the same in every
        appending transaction, so two of them cannot deadlock (module docstring).
        """
        with self._db.transaction(durable=durable) as tx:
            tx.lock(AUDIT_LOCK)
            yield tx

    def append(
        self,
        tx: Transaction,
        actor: str,
        action: str,
        target: str,
        detail: Mapping[str, DetailValue],
    ) -> AuditEntry:
        """Add an entry after the head, in the caller's transaction (this does not commit)."""
        _check_field("actor", actor)
        _check_field("action", action)
        _check_field("target", target)
        clean = _check_detail(detail)
        tx.lock(AUDIT_LOCK)  # the head read below must still be the head at commit
        head = _head(tx)
        seq = 1 if head is None else head.seq + 1
        prev = GENESIS_HASH if head is None else head.entry_hash
        at = _iso_utc(self._clock.now())
        digest = entry_hash(
            seq=seq, at=at, actor=actor, action=action, target=target, detail=clean, prev_hash=prev
        )
        tx.execute(
            "INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash,"
            " entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at, actor, action, target, canonicalize(clean).decode("utf-8"), prev, digest),
        )
        return AuditEntry(seq, at, actor, action, target, clean, prev, digest)

    def entries(
        self, after: int = 0, limit: int = 100, *, tx: Transaction | None = None
    ) -> list[AuditEntry]:
        """Up to ``limit`` (1..:data:`MAX_PAGE`) entries with seq > ``after``, in order."""
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ValueError("after is a non-negative integer")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit is an integer from 1 to {MAX_PAGE}")
        with self._reading(tx) as reader:
            rows = reader.execute(
                f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (after, limit),
            ).fetchall()
        return [_entry_from_row(row) for row in rows]

    def head(self, *, tx: Transaction | None = None) -> AuditEntry | None:
        """The latest entry (the value to anchor externally), or None for an empty log."""
        with self._reading(tx) as reader:
            return _head(reader)

    def verify(self, *, tx: Transaction | None = None) -> int:
        """Recompute the whole chain; return the number of entries.

        Raises :class:`AuditChainError` at the first entry whose seq is out of sequence,
        whose fields are malformed, whose ``prev_hash`` is not its predecessor's hash, or
        whose ``entry_hash`` does not match its fields. Truncation of the tail is not
        detectable here: compare :meth:`head` with the externally anchored head.
        """
        prev = GENESIS_HASH
        count = 0
        with self._reading(tx) as reader:
            for row in reader.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq"):  # noqa: S608
                count += 1
                entry = _entry_from_row(row, expected_seq=count)
                if entry.seq != count:
                    raise AuditChainError(count, "sequence number missing")
                if entry.prev_hash != prev:
                    raise AuditChainError(entry.seq, "prev_hash does not match the previous entry")
                if entry.entry_hash != entry.computed_hash():
                    raise AuditChainError(entry.seq, "entry_hash does not match the entry")
                prev = entry.entry_hash
        return count

    @contextmanager
    def _reading(self, tx: Transaction | None) -> Iterator[Transaction]:
        """``tx`` itself (to see its own uncommitted entries), else a read of what is committed."""
        if tx is not None:
            yield tx
            return
        with self._db.reading() as reader:
            yield reader


_COLUMNS = "seq, at, actor, action, target, detail, prev_hash, entry_hash"


def _head(tx: Transaction) -> AuditEntry | None:
    row = tx.execute(
        f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"  # noqa: S608
    ).fetchone()
    return None if row is None else _entry_from_row(row)


def _entry_from_row(row: tuple[Any, ...], *, expected_seq: int | None = None) -> AuditEntry:
    seq, at, actor, action, target, detail_text, prev_hash, digest = row
    if not isinstance(seq, int):
        raise AuditChainError(expected_seq or 0, "seq is not an integer")
    if not all(isinstance(v, str) for v in (at, actor, action, target, detail_text)):
        raise AuditChainError(seq, "a field is not text")
    if not all(isinstance(h, str) and _HEX64.fullmatch(h) for h in (prev_hash, digest)):
        raise AuditChainError(seq, "a hash is not 64 lowercase hex digits")
    try:
        detail = json.loads(detail_text)
    except (ValueError, RecursionError) as e:
        raise AuditChainError(seq, "detail is not JSON") from e
    if not isinstance(detail, dict) or canonicalize(detail).decode("utf-8") != detail_text:
        raise AuditChainError(seq, "detail is not a canonical JSON object")
    return AuditEntry(seq, at, actor, action, target, detail, prev_hash, digest)


def _check_field(name: str, value: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_FIELD_CHARS:
        raise ValueError(f"audit {name} must be a string of 1 to {MAX_FIELD_CHARS} characters")
    if not value.isprintable():
        raise ValueError(f"audit {name} must not contain control characters")


def _check_detail(detail: Mapping[str, DetailValue]) -> dict[str, DetailValue]:
    if not isinstance(detail, Mapping) or len(detail) > MAX_DETAIL_ITEMS:
        raise ValueError(f"audit detail must be a mapping of at most {MAX_DETAIL_ITEMS} items")
    clean: dict[str, DetailValue] = {}
    for key, value in detail.items():
        _check_field("detail key", key)
        if isinstance(value, str):
            if len(value) > MAX_FIELD_CHARS:
                raise ValueError(f"audit detail values are at most {MAX_FIELD_CHARS} characters")
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > _SAFE_INTEGER:
                raise ValueError("audit detail integers must be within +/-(2**53 - 1)")
        elif value is not None and not isinstance(value, bool):
            raise ValueError("audit detail values are str, int, bool or None")
        clean[key] = value
    return clean


def _iso_utc(seconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
