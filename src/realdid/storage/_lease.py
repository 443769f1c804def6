"""Leases: which one of many processes runs a single-writer job.

A service runs its HTTP workers in many processes, but some jobs must run in exactly one
at a time — the registry node's batch cutting, anchoring and observing. Each process holds
a :class:`Lease` object and calls :meth:`Lease.try_acquire` from its job loop: the process
that gets it runs the job until it stops or dies; the others keep asking, and one of them
takes over within one poll interval of the holder's death, because the operating system
(or PostgreSQL) frees the lock of a process that is gone:

* on SQLite (one machine): ``flock`` on a lock file beside the store — the kernel releases
  it when the holder's file descriptor closes, which process death always does;
* on PostgreSQL (many machines): a session-level advisory lock held by a connection of its
  own — the server releases it when that session ends, and a killed process's session
  ends when its socket closes.

A lease is an optimisation, not the safety net: after a network partition two processes
may briefly both believe they hold it (the old holder learns of the loss only at its next
:meth:`Lease.try_acquire`). The jobs it guards are written to tolerate that — an anchor
cut twice is applied once, because the observer skips operations that already have an
outcome.
"""

from __future__ import annotations

import fcntl
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._database import StoreLocation, is_postgres_url, store_name

__all__ = ["FileLease", "Lease", "PostgresLease", "file_lock", "lease_for"]

log = logging.getLogger(__name__)


class Lease(ABC):
    """The right to run one single-writer job; held by at most one process at a time."""

    name: str

    @property
    @abstractmethod
    def held(self) -> bool:
        """Whether this process held the lease at the last :meth:`try_acquire`."""

    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lease if it is free, or confirm it is still ours; never blocks long.

        ``False`` means another process holds it (or, for a lease we held, that we lost it:
        the job must stop writing until this returns ``True`` again).
        """

    @abstractmethod
    def release(self) -> None:
        """Give the lease up (idempotent); another process may take it at once."""


class FileLease(Lease):
    """A lease as an exclusive ``flock`` on ``path`` (created 0600 if missing)."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True  # the kernel never takes a flock away from a living process
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class PostgresLease(Lease):
    """A lease as a session advisory lock on a connection to ``url`` kept for it alone.

    The connection is opened on the first attempt and re-opened after it breaks (the
    server restarted, the network dropped), at which point the lease counts as lost.
    """

    def __init__(self, url: str, name: str, *, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.name = store_name(name)
        self._connect_timeout = connect_timeout
        self._conn: Any = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        import psycopg  # noqa: PLC0415 - only PostgreSQL deployments load psycopg

        from ._postgres import advisory_key  # noqa: PLC0415

        try:
            if self._conn is None or self._conn.closed:
                self._held = False
                self._conn = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=max(1, int(self._connect_timeout))
                )
            if self._held:
                self._conn.execute("SELECT 1")  # still our session, so still our lock
                return True
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (advisory_key("lease", self.name),)
            ).fetchone()
        except psycopg.Error as error:
            if self._held:
                log.warning("lost the %s lease: %s", self.name, type(error).__name__)
            self._drop()
            return False
        self._held = bool(row[0])
        return self._held

    def release(self) -> None:
        self._drop()  # ending the session frees every advisory lock it held

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def lease_for(location: StoreLocation, name: str) -> Lease:
    """The lease ``name`` among the processes sharing the store at ``location``: a file
    lock beside a SQLite file, an advisory lock on a PostgreSQL database."""
    if is_postgres_url(location):
        return PostgresLease(str(location), name)
    return FileLease(Path(location).with_name(f"{store_name(name)}.lock"), name)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the block, waiting for it if need be:
    one-time set-up (a service's first start) that the processes of one machine must not
    run side by side. Freed when the block ends or the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
