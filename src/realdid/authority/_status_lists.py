"""Status-list publishing: index allocation, revocation bits, and the signed lists.

Every credential gets one bit in a Token Status List (draft-ietf-oauth-status-list) when it
is offered. The index is drawn at random from the newest list, so indexes reveal nothing
about issuance order; a list takes new credentials until it is half full, which keeps the
retry loop short, and then the next list is started.

Allocation is safe with concurrent transactions (PostgreSQL runs them side by side): one
``UPDATE … SET allocated = allocated + 1 WHERE … allocated * 2 < size RETURNING`` both
checks that the newest list has room and counts the allocation, and its row lock, held to
commit, makes the allocations of one list take turns — so each draw sees the indexes of
the credentials offered before it. Only a transaction that found list *n* full creates
list *n* + 1, with ``INSERT … ON CONFLICT DO NOTHING``: of two starting the same list, one
creates it and the other allocates in it.

A revoked credential's bit is set (``INVALID``) the moment the revocation commits: the
list's ``revision`` is bumped in the same transaction, and :meth:`StatusLists.jwt` re-signs
a list whose revision moved.

The signed lists are cached for half their ``ttl`` (or until a revocation, or an issuer key
rotation) so that relying parties polling them cost one dictionary lookup.

Tables: ``status_lists``, and the status columns (``status_list``, ``status_index``,
``state``) of ``credentials`` — the list's view of the credentials it carries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from realdid.clock import Clock
from realdid.credentials import StatusList, StatusValue, sign_status_list
from realdid.randomness import Randomness
from realdid.storage import Transaction

from ._config import AuthorityConfig
from ._identity import IssuerIdentity
from ._store import AuthorityDatabase


class StatusListStatements:
    """``status_lists`` rows ``(id, size, allocated, revision)`` and the indexes in use."""

    def __init__(self, db: AuthorityDatabase) -> None:
        self._db = db

    def newest(self, tx: Transaction) -> int:
        """The id of the newest list (0 before the first)."""
        return int(tx.execute("SELECT coalesce(max(id), 0) FROM status_lists").fetchone()[0])

    def count_allocation(self, tx: Transaction, list_id: int) -> int | None:
        """The size of ``list_id``, its allocation counted, if it is under half full; else
        None (start the next list)."""
        row = tx.execute(
            "UPDATE status_lists SET allocated = allocated + 1"
            " WHERE id = ? AND allocated * 2 < size RETURNING size",
            (list_id,),
        ).fetchone()
        return None if row is None else int(row[0])

    def create(self, tx: Transaction, list_id: int, size: int) -> bool:
        """Start ``list_id`` holding this allocation; False if another transaction did first."""
        row = tx.execute(
            "INSERT INTO status_lists (id, size, allocated, revision) VALUES (?, ?, 1, 0)"
            " ON CONFLICT (id) DO NOTHING RETURNING id",
            (list_id, size),
        ).fetchone()
        return row is not None

    def index_taken(self, tx: Transaction, list_id: int, index: int) -> bool:
        return (
            tx.execute(
                "SELECT 1 FROM credentials WHERE status_list = ? AND status_index = ?",
                (list_id, index),
            ).fetchone()
            is not None
        )

    def revise(self, tx: Transaction, list_id: int) -> None:
        tx.execute("UPDATE status_lists SET revision = revision + 1 WHERE id = ?", (list_id,))

    def size_and_revision(self, list_id: int) -> tuple[int, int] | None:
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT size, revision FROM status_lists WHERE id = ?", (list_id,)
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def revoked_indexes(self, list_id: int) -> list[int]:
        with self._db.reading() as tx:
            rows = tx.execute(
                "SELECT status_index FROM credentials WHERE status_list = ? AND state = 'revoked'",
                (list_id,),
            ).fetchall()
        return [index for (index,) in rows]


@dataclass(slots=True)
class _SignedList:
    revision: int
    expires_at: int
    jwt: str


@dataclass(slots=True)
class SignedListCache:
    """The signed lists served lately, by list id; shared by the service's threads."""

    _signed: dict[int, _SignedList] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, list_id: int, revision: int, now: int) -> str | None:
        """The cached token, if it was signed at ``revision`` and is not yet due for re-signing."""
        with self._lock:
            cached = self._signed.get(list_id)
        if cached is not None and cached.revision == revision and cached.expires_at > now:
            return cached.jwt
        return None

    def put(self, list_id: int, revision: int, expires_at: int, jwt: str) -> None:
        with self._lock:
            self._signed[list_id] = _SignedList(revision, expires_at, jwt)

    def clear(self) -> None:
        with self._lock:
            self._signed.clear()


@dataclass(slots=True)
class StatusLists:
    """Allocates status indexes, marks revocations, and publishes the signed lists."""

    db: AuthorityDatabase
    config: AuthorityConfig
    issuer: IssuerIdentity
    clock: Clock
    randomness: Randomness
    signed: SignedListCache
    statements: StatusListStatements = field(init=False)

    def __post_init__(self) -> None:
        self.statements = StatusListStatements(self.db)

    def uri(self, list_id: int) -> str:
        return f"{self.config.issuer_url}/status-lists/{list_id}"

    def allocate(self, tx: Transaction) -> tuple[int, int]:
        """A random free ``(list, index)`` (so indices reveal nothing about issuance order).

        The caller records the index (a ``credentials`` row) in ``tx``: until that commits,
        the list's row lock keeps every other allocation in the list waiting.
        """
        list_id, size = self._count_allocation(tx)
        while True:  # at most half full: a free index is found in two draws on average
            index = self.randomness.randbelow(size)
            if not self.statements.index_taken(tx, list_id, index):
                return list_id, index

    def _count_allocation(self, tx: Transaction) -> tuple[int, int]:
        """``(id, size)`` of the list that counted this allocation: the newest, or the next."""
        while True:  # a retry only follows another transaction's new list, so it ends
            newest = self.statements.newest(tx)
            size = self.statements.count_allocation(tx, newest) if newest else None
            if size is not None:
                return newest, size
            size = self.config.status_list_size
            if self.statements.create(tx, newest + 1, size):
                return newest + 1, size

    def revise(self, tx: Transaction, list_id: int) -> None:
        """A credential on ``list_id`` was revoked in ``tx``: its signed list is out of date."""
        self.statements.revise(tx, list_id)

    def jwt(self, list_id: int) -> str | None:
        """The signed status list token (cached until half its TTL or a revocation)."""
        row = self.statements.size_and_revision(list_id)
        if row is None:
            return None
        size, revision = row
        now = self.clock.now()
        cached = self.signed.get(list_id, revision, now)
        if cached is not None:
            return cached
        status_list = StatusList(size)
        for index in self.statements.revoked_indexes(list_id):
            status_list.set(index, StatusValue.INVALID)
        jwt = sign_status_list(
            status_list,
            uri=self.uri(list_id),
            issuer=self.issuer.did,
            signer=self.issuer.signer,
            key_id=self.issuer.key_id,
            issued_at=now,
            expires_at=now + self.config.status_list_validity,
            ttl=self.config.status_list_ttl,
        )
        self.signed.put(list_id, revision, now + self.config.status_list_ttl // 2, jwt)
        return jwt

    def forget_signatures(self) -> None:
        """The issuer key rotated: every list is signed again, with the new key, on next fetch."""
        self.signed.clear()
