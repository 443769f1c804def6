"""The :class:`~._database.Database` of the embedded engine: one SQLite file in WAL mode.

Writes go through one connection per process, under a lock (SQLite has one writer at a
time anyway). Between processes, writers queue on a lock file of their own
(``<file>.writer-lock``, ``flock``) before ``BEGIN IMMEDIATE``: SQLite's busy handler would
make a writer that finds the file locked sleep and retry (1, 2, 5, 10 … 100 ms), which with
a few worker processes writing hundreds of times a second costs more than the writes — the
kernel instead wakes the next writer the moment the lock is released, and frees it if its
holder dies. The lock only orders writers; SQLite's own locking still guards the data.

``flock``, not a POSIX record lock (``lockf``): the kernel checks record locks for
deadlocks per *process*, so one thread of worker A holding one database's lock while
another of its threads waited for a second database's, and worker B the reverse, looked
circular, and a writer was refused with ``EDEADLK`` — HTTP 500s under load with two
workers (found by the load generator). ``flock`` has no such check; instead a thread may
hold the writer lock of one database at a time (a write transaction inside another
database's is refused with :class:`StorageError`), so no real cycle can form.

Reads use one connection per thread, beside the writer: WAL readers never block it, nor it
them. An in-memory database (tests) is one connection for both.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._database import (
    Database,
    DatabaseUnavailableError,
    IntegrityError,
    Rows,
    StorageError,
    Transaction,
)
from ._migrations import MIGRATIONS_TABLE, Migration, check_versions, statements_of
from ._sqlite import IN_MEMORY, connect_sqlite, immediate_transaction

__all__ = ["SqliteDatabase"]

#: ``writing``: the name of the database whose writer lock this thread holds, if any.
_THREAD = threading.local()

# sqlite3.OperationalError covers both "try again" and "your SQL is wrong"; these are the
# messages of the first kind (https://sqlite.org/rescode.html: BUSY, LOCKED, IOERR, FULL).
_UNAVAILABLE = ("locked", "busy", "disk i/o", "database or disk is full", "unable to open")


def translated(error: sqlite3.Error) -> StorageError:
    """``error`` as the engine-neutral error; SQLite's messages name no values."""
    if isinstance(error, sqlite3.IntegrityError):
        return IntegrityError(f"SQLite refused the write: {error}")
    message = str(error).lower()
    if isinstance(error, sqlite3.OperationalError) and any(m in message for m in _UNAVAILABLE):
        return DatabaseUnavailableError(f"SQLite database unavailable: {error}")
    return StorageError(f"SQLite error: {error}")


class _SqliteTransaction(Transaction):
    engine = "sqlite"
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as error:
            raise translated(error) from error

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as error:
            raise translated(error) from error

    def lock(self, name: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already made this the only writer."""


class SqliteDatabase(Database):
    """A store in one SQLite file (or in memory).

    ``timeout`` is how long a write waits for another process's lock (seconds);
    ``cache_kib`` sizes each connection's page cache; ``read_only`` opens the file so that
    nothing can be written (a resolver replica).
    """

    engine = "sqlite"

    def __init__(
        self,
        path: Path | str,
        *,
        timeout: float = 30.0,
        foreign_keys: bool = False,
        cache_kib: int | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = path
        self._memory = str(path) == IN_MEMORY
        self.name = "memory" if self._memory else Path(path).stem
        self.read_only = read_only
        self._options: dict[str, Any] = {
            "timeout": timeout,
            "check_same_thread": False,
            "foreign_keys": foreign_keys,
            "cache_kib": cache_kib,
        }
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._synchronous = "FULL"
        self._closed = False
        self._writer_lock: int | None = None
        try:
            self._writer = connect_sqlite(
                path, synchronous="FULL", read_only=read_only, **self._options
            )
        except sqlite3.Error as error:
            raise translated(error) from error
        if not self._memory and not read_only:
            self._writer_lock = os.open(
                f"{path}.writer-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Transaction]:
        if self.read_only:
            raise StorageError(f"the {self.name} database was opened read-only")
        with self._lock, self._between_processes():
            try:
                mode = "FULL" if durable else "NORMAL"
                if mode != self._synchronous:  # a PRAGMA cannot change inside a transaction
                    self._writer.execute(f"PRAGMA synchronous={mode}")
                    self._synchronous = mode
                with immediate_transaction(self._writer):
                    yield _SqliteTransaction(self._writer)
            except sqlite3.Error as error:  # BEGIN, COMMIT or the PRAGMA failed
                raise translated(error) from error

    @contextmanager
    def _between_processes(self) -> Iterator[None]:
        """This process is the only one about to write (the threads of one process are
        queued by ``self._lock``); a thread holds one database's writer lock at a time."""
        if self._writer_lock is None:
            yield
            return
        holding = getattr(_THREAD, "writing", None)
        if holding is not None:
            raise StorageError(
                f"a write transaction on the {self.name} database inside one on the {holding}"
                " database: write to one database at a time (two could deadlock across processes)"
            )
        fcntl.flock(self._writer_lock, fcntl.LOCK_EX)
        _THREAD.writing = self.name
        try:
            yield
        finally:
            _THREAD.writing = None
            fcntl.flock(self._writer_lock, fcntl.LOCK_UN)

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        if self._memory:
            with self._lock:
                yield _SqliteTransaction(self._writer)
            return
        yield _SqliteTransaction(self._reader())

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StorageError(f"the {self.name} database is closed")
            try:
                conn = connect_sqlite(
                    self.path, synchronous="NORMAL", read_only=self.read_only, **self._options
                )
            except sqlite3.Error as error:
                raise translated(error) from error
            with self._lock:
                self._readers.append(conn)
            self._local.conn = conn
        return conn

    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations this file lacks, all in one write transaction; which ran."""
        with self._lock:
            conn = self._writer
            if self.read_only:
                applied = self._applied(conn)
                check_versions(self.name, applied, migrations, read_only=True)
                return []
            try:
                with self._between_processes(), immediate_transaction(conn):
                    conn.execute(MIGRATIONS_TABLE)
                    applied = self._applied(conn)
                    pending = check_versions(self.name, applied, migrations, read_only=False)
                    for migration in pending:
                        for statement in statements_of(migration.sql):
                            conn.execute(statement)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                            (migration.version, migration.name),
                        )
            except sqlite3.Error as error:
                raise translated(error) from error
            return [m.version for m in pending]

    @staticmethod
    def _applied(conn: sqlite3.Connection) -> set[int]:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if exists is None:
            return set()
        return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in (*self._readers, self._writer):
                conn.close()
            self._readers.clear()
            if self._writer_lock is not None:
                os.close(self._writer_lock)
                self._writer_lock = None
