"""The one way RealDID opens a SQLite database.

Every store runs in autocommit mode (``isolation_level=None``) and writes with explicit
``BEGIN IMMEDIATE`` … ``COMMIT``, so the write lock is taken up front: a deferred
transaction that reads first and writes later fails with ``SQLITE_BUSY`` at once, without
waiting, when another connection wrote in between.
Files use write-ahead logging: readers never block the writer.

What differs between stores is a choice about durability and sharing, so it is a
required or explicit argument here:

* ``synchronous``: ``"FULL"`` fsyncs the WAL on every commit, so what a service
  acknowledged survives power loss (the ledger, the node index, enrollments);
  ``"NORMAL"`` survives a process crash but may lose the last commits on power loss
  (login requests, sessions: at worst a user repeats a step).
  https://sqlite.org/pragma.html#pragma_synchronous
* ``check_same_thread``: False for one connection shared by threads under the caller's
  lock; True (SQLite's own default) for one connection per thread.
* ``read_only``: opens ``file:…?mode=ro`` — no schema, no WAL switch, no writes possible.

Example::

    >>> conn = connect_sqlite(":memory:", synchronous="NORMAL")
    >>> conn.execute("PRAGMA synchronous").fetchone()[0]  # 1 = NORMAL
    1
    >>> conn.close()
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

__all__ = ["IN_MEMORY", "Synchronous", "connect_sqlite", "immediate_transaction"]

#: SQLite's name for a private, in-memory database (tests).
IN_MEMORY = ":memory:"

Synchronous = Literal["FULL", "NORMAL"]


def connect_sqlite(
    path: Path | str,
    *,
    synchronous: Synchronous,
    timeout: float = 5.0,
    check_same_thread: bool = True,
    read_only: bool = False,
    foreign_keys: bool = False,
    cache_kib: int | None = None,
) -> sqlite3.Connection:
    """Open ``path`` (or :data:`IN_MEMORY`) in autocommit mode with the store's settings.

    ``timeout`` is how long a statement waits for another connection's lock (seconds)
    before ``database is locked``. ``cache_kib`` sizes the page cache (SQLite's default is
    2 MiB per connection). Errors are :class:`sqlite3.Error`; callers wrap them in their
    package's error. ``synchronous`` is ignored for ``read_only`` (nothing is written).
    """
    if read_only:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=check_same_thread,
        )
    else:
        conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=check_same_thread
        )
    try:
        if not read_only:
            if str(path) != IN_MEMORY:  # an in-memory database has no WAL
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={_checked(synchronous)}")
        if foreign_keys:
            conn.execute("PRAGMA foreign_keys=ON")
        if cache_kib is not None:
            if cache_kib <= 0:
                raise ValueError(f"cache_kib must be positive, not {cache_kib}")
            conn.execute(f"PRAGMA cache_size=-{cache_kib:d}")  # negative: KiB, not pages
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on an autocommit connection; ``ROLLBACK`` on any
    exception, even ``KeyboardInterrupt``, so no half-written transaction stays open.

    SQLite rolls some failed statements back itself (a full disk, an I/O error): then there
    is nothing left to roll back, and the original error is the one raised. A body that
    decides to give up may ``ROLLBACK`` itself and leave the block; nothing is committed.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        if conn.in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _checked(synchronous: str) -> str:
    # The value is interpolated into a PRAGMA (they take no parameters): allow only these.
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    return synchronous
