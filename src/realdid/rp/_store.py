"""Server-side state of login requests: nonce, state, code, expiry, single use, outcome.

One table (``migrations/logins``), on SQLite or PostgreSQL (:mod:`realdid.storage`), so
several worker threads, processes (or a restart) see the same requests. The single-use mark
is one ``UPDATE ... WHERE answered = 0`` that also records the outcome: on either engine
the row lock makes exactly one of two responses posted at the same moment see
``rowcount == 1``.

Rows are kept :data:`KEEP_AFTER_EXPIRY` seconds after their request expires (so the page
that polls learns the outcome, and the site backend can read the verified login), then
purged. The outcome of a successful login holds the released claims: they are personal
data of the site's user, kept only that long.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from realdid.storage import Database, IntegrityError, StoreLocation, migrations_of, open_database

from ._errors import RpError

#: Seconds a row outlives its request's expiry before it is purged.
KEEP_AFTER_EXPIRY = 600
#: Purge at most this often (seconds); purging runs on the write path.
PURGE_INTERVAL = 60

_COLUMNS = (
    "request_id, transaction_id, code, nonce, state, query, created_at, expires_at, answered, "
    "outcome"
)


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """One row of ``login_requests``; ``query`` is the DCQL query JSON."""

    request_id: str
    transaction: str
    code: str
    nonce: str
    state: str
    query: dict[str, Any]
    created_at: int
    expires_at: int
    answered: bool = False
    outcome: dict[str, Any] | None = None


class DuplicateRequestError(RpError):
    """An id, transaction, code or state collided with a stored row (draw again)."""

    code = "duplicate-request"


class LoginRequestStore:
    """Thread-safe store of login requests: a SQLite file (``":memory:"`` for tests), a
    ``postgresql://`` URL (schema ``name``), or an open :class:`Database`.

    ``name`` tells apart the stores of several relying parties on one PostgreSQL database
    (``forum_logins``, ``hotel_logins``, …). Every write is ``durable=False``: a request
    lost to power loss only makes the person start the login again.
    """

    def __init__(self, where: Database | StoreLocation, *, name: str = "logins") -> None:
        self._db = open_database(
            where, store=name, migrations=migrations_of("realdid.rp", "logins")
        )
        self._purge_lock = threading.Lock()
        self._last_purge = 0

    def close(self) -> None:
        self._db.close()

    def insert(self, request: StoredRequest) -> None:
        """Store a new request; :class:`DuplicateRequestError` if any unique value is taken."""
        try:
            with self._db.transaction(durable=False) as tx:
                tx.execute(
                    f"INSERT INTO login_requests ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,0,NULL)",  # noqa: S608
                    (
                        request.request_id,
                        request.transaction,
                        request.code,
                        request.nonce,
                        request.state,
                        json.dumps(request.query, separators=(",", ":")),
                        request.created_at,
                        request.expires_at,
                    ),
                )
        except IntegrityError as e:
            raise DuplicateRequestError(str(e)) from e

    def _one(self, column: str, value: str) -> StoredRequest | None:
        with self._db.reading() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM login_requests WHERE {column} = ?",  # noqa: S608
                (value,),
            ).fetchone()
        return None if row is None else _row(row)

    def by_id(self, request_id: str) -> StoredRequest | None:
        return self._one("request_id", request_id)

    def by_state(self, state: str) -> StoredRequest | None:
        return self._one("state", state)

    def by_code(self, code: str) -> StoredRequest | None:
        return self._one("code", code)

    def by_transaction(self, transaction: str) -> StoredRequest | None:
        return self._one("transaction_id", transaction)

    def finish(self, request_id: str, outcome: dict[str, Any]) -> bool:
        """Mark the request answered with ``outcome``; False if it was answered already."""
        with self._db.transaction(durable=False) as tx:
            cursor = tx.execute(
                "UPDATE login_requests SET answered = 1, outcome = ?"
                " WHERE request_id = ? AND answered = 0",
                # orjson: the same compact UTF-8 text, an eighth of json.dumps' time (this
                # runs once per login, inside the transaction).
                (orjson.dumps(outcome).decode(), request_id),
            )
            return cursor.rowcount == 1

    def purge(self, now: int, *, force: bool = False) -> int:
        """Delete rows expired more than :data:`KEEP_AFTER_EXPIRY` ago (at most once a minute)."""
        with self._purge_lock:
            if not force and now - self._last_purge < PURGE_INTERVAL:
                return 0
            self._last_purge = now
        with self._db.transaction(durable=False) as tx:
            cursor = tx.execute(
                "DELETE FROM login_requests WHERE expires_at < ?", (now - KEEP_AFTER_EXPIRY,)
            )
            return cursor.rowcount

    def count(self) -> int:
        with self._db.reading() as tx:
            return int(tx.execute("SELECT count(*) FROM login_requests").fetchone()[0])


def _row(row: tuple[Any, ...]) -> StoredRequest:
    return StoredRequest(
        request_id=row[0],
        transaction=row[1],
        code=row[2],
        nonce=row[3],
        state=row[4],
        query=json.loads(row[5]),
        created_at=row[6],
        expires_at=row[7],
        answered=bool(row[8]),
        outcome=None if row[9] is None else json.loads(row[9]),
    )
