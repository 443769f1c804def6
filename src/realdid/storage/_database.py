"""One interface to a store's database, on SQLite (embedded) or PostgreSQL (shared).

Every RealDID store — the node's queue and index, the authority's records, a relying
party's login requests, the bridge's sessions — speaks to a :class:`Database`, so the same
code path runs on both engines:

* :meth:`Database.transaction` is a write: ``BEGIN IMMEDIATE`` … ``COMMIT`` on SQLite,
  ``BEGIN`` … ``COMMIT`` on PostgreSQL, rolled back on any exception. ``durable=False`` is
  for short-lived protocol state (nonces, counters): its commit survives a process crash
  but not a power loss (SQLite ``synchronous=NORMAL``; PostgreSQL
  ``synchronous_commit=off``), which at worst makes a user repeat a step.
* :meth:`Database.reading` is a read with no write lock (SQLite readers run beside the
  writer in WAL mode; PostgreSQL reads in autocommit).
* :meth:`Transaction.lock` serialises one critical section across every process: a
  transaction-scoped advisory lock on PostgreSQL; a no-op on SQLite, whose writers are
  already serialised by ``BEGIN IMMEDIATE``. A store that reads, decides and writes takes
  one (or writes with one atomic ``UPDATE … RETURNING``), because PostgreSQL runs
  transactions concurrently under READ COMMITTED.

SQL is written once, in the subset both engines share: ``?`` placeholders (rewritten to
psycopg's ``%s`` here), ``INSERT … ON CONFLICT … DO NOTHING``/``DO UPDATE``, ``RETURNING``,
integers for booleans, ``BLOB``/``BYTEA`` columns both read back as :class:`bytes`. Only
the schema differs, in per-engine migration files (:mod:`._migrations`).

Errors are :class:`StorageError` and its subclasses, whatever the engine: a unique or
foreign-key violation is :class:`IntegrityError`; a lost or refused connection is
:class:`DatabaseUnavailableError` (HTTP 503: retry later).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ._migrations import Migration

__all__ = [
    "Database",
    "DatabaseUnavailableError",
    "Engine",
    "IntegrityError",
    "Rows",
    "StorageError",
    "StoreLocation",
    "Transaction",
    "is_postgres_url",
    "store_name",
]

Engine = Literal["sqlite", "postgresql"]

#: Where a service keeps its stores: a data directory (one SQLite file per store) or the
#: URL of a PostgreSQL database (one schema per store).
StoreLocation = Path | str

_STORE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


class StorageError(Exception):
    """A database operation failed; ``code`` and ``http_status`` as every RealDID error."""

    code = "storage-error"
    http_status = 500


class IntegrityError(StorageError):
    """A unique, primary-key, foreign-key or check constraint refused the write."""

    code = "storage-conflict"
    http_status = 409


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached, is locked too long, or went away mid-statement."""

    code = "storage-unavailable"
    http_status = 503


class Rows(Protocol):
    """What a statement returns: sqlite3's and psycopg's cursors both fit."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Transaction(ABC):
    """The statements of one transaction (or of one read), on either engine."""

    engine: Engine

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement with ``?`` placeholders."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""

    @abstractmethod
    def lock(self, name: str) -> None:
        """Hold the lock ``name`` of this database until the transaction ends."""


class Database(ABC):
    """A store's database: writes in transactions, reads without a write lock."""

    engine: Engine
    #: The store's name: the SQLite file's stem, or the PostgreSQL schema.
    name: str
    read_only: bool

    @abstractmethod
    def transaction(self, *, durable: bool = True) -> AbstractContextManager[Transaction]:
        """A write transaction; committed when the block ends, rolled back on an exception."""

    @abstractmethod
    def reading(self) -> AbstractContextManager[Transaction]:
        """Statements that only read, outside any write transaction."""

    @abstractmethod
    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations the database lacks (:mod:`._migrations`); the versions run."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection; the object is unusable afterwards."""


def is_postgres_url(location: StoreLocation) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a data directory."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def store_name(name: str) -> str:
    """``name`` checked as a store name: a SQLite file stem and a PostgreSQL schema."""
    if not _STORE_NAME.fullmatch(name):
        raise ValueError(f"a store name is lower-case letters, digits and _, not {name!r}")
    return name
