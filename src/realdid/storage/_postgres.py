"""The :class:`~._database.Database` of the shared engine: one schema of a PostgreSQL database.

psycopg 3 with its connection pool (ADR 0014 says why not asyncpg): the stores are
synchronous code run in worker threads, and psycopg runs the same ``execute``/``fetchone``
code path as :mod:`sqlite3`, prepares a statement after a few executions, and pipelines
``executemany``. Every connection of the pool runs in autocommit with
``search_path`` set to the store's schema, so the SQL names tables without a schema and
each store has its own namespace in one database.

A connection that breaks (the server restarted, the network dropped) is discarded by the
pool when it is returned; the statement that saw the break fails with
:class:`~._database.DatabaseUnavailableError` and the next one gets a fresh connection, so
a service recovers from a database restart without being restarted itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from ._database import (
    Database,
    DatabaseUnavailableError,
    IntegrityError,
    Rows,
    StorageError,
    Transaction,
    store_name,
)
from ._migrations import MIGRATIONS_TABLE, Migration, check_versions

__all__ = ["PostgresDatabase", "advisory_key", "pyformat"]


@lru_cache(maxsize=4096)
def pyformat(sql: str) -> str:
    """``sql`` with SQLite's ``?`` placeholders as psycopg's ``%s`` (and ``%`` escaped).

    The project's SQL has no ``?`` inside string literals; the statements are constants of
    the code, so the cache is bounded by the program, not by its input.
    """
    return sql.replace("%", "%%").replace("?", "%s")


def advisory_key(schema: str, name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` (same in every process)."""
    digest = hashlib.blake2b(f"{schema}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def translated(error: psycopg.Error) -> StorageError:
    """``error`` as the engine-neutral error, with the primary message only: PostgreSQL's
    DETAIL line quotes the conflicting values, which may be personal data."""
    primary = error.diag.message_primary or type(error).__name__
    state = error.sqlstate or "-----"
    if isinstance(error, pg_errors.IntegrityError):
        return IntegrityError(f"PostgreSQL refused the write ({state}): {primary}")
    if isinstance(error, psycopg.OperationalError | PoolTimeout) or state.startswith(
        ("08", "57P", "53")  # connection exception, operator intervention, resources
    ):
        return DatabaseUnavailableError(f"PostgreSQL unavailable ({state}): {primary}")
    return StorageError(f"PostgreSQL error ({state}): {primary}")


class _PostgresTransaction(Transaction):
    engine = "postgresql"
    __slots__ = ("_conn", "_schema")

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self._conn = conn
        self._schema = schema

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        try:
            return self._conn.execute(pyformat(sql), params)
        except psycopg.Error as error:
            raise translated(error) from error

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self._conn.cursor() as cursor:
                cursor.executemany(pyformat(sql), rows)
        except psycopg.Error as error:
            raise translated(error) from error

    def lock(self, name: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (advisory_key(self._schema, name),))


class PostgresDatabase(Database):
    """A store as the schema ``name`` of the PostgreSQL database at ``url``.

    ``pool_size`` bounds the connections this process holds for the store; ``timeout`` is
    how long a request waits for one (then 503) and how long start-up waits for the server.
    """

    engine = "postgresql"

    def __init__(
        self,
        url: str,
        name: str,
        *,
        pool_size: int = 8,
        timeout: float = 10.0,
        read_only: bool = False,
    ) -> None:
        self.name = store_name(name)
        self.read_only = read_only
        options = f"-c search_path={self.name}"
        if read_only:
            options += " -c default_transaction_read_only=on"
        if not read_only:
            self._create_schema(url, timeout)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "options": options, "connect_timeout": int(timeout)},
            timeout=timeout,
            name=f"realdid-{self.name}",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as error:
            self._pool.close()
            raise DatabaseUnavailableError(
                f"PostgreSQL did not accept a connection for the {self.name} store within"
                f" {timeout:g} s; is the server running and the URL right?"
            ) from error

    def _create_schema(self, url: str, timeout: float) -> None:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=int(timeout)) as conn:
                # Two processes starting together may race on CREATE SCHEMA IF NOT EXISTS.
                conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key(self.name, "schema"),))
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.name}"')  # name is checked
        except psycopg.Error as error:
            raise translated(error) from error

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Transaction]:
        if self.read_only:
            raise StorageError(f"the {self.name} database was opened read-only")
        try:
            with self._pool.connection() as conn, conn.transaction():
                if not durable:
                    conn.execute("SET LOCAL synchronous_commit TO OFF")
                yield _PostgresTransaction(conn, self.name)
        except psycopg.Error as error:
            raise translated(error) from error

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        try:
            with self._pool.connection() as conn:
                yield _PostgresTransaction(conn, self.name)
        except psycopg.Error as error:
            raise translated(error) from error

    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply what the schema lacks, under an advisory lock, in one transaction."""
        try:
            with self._pool.connection() as conn:
                if self.read_only:
                    applied = self._applied(conn)
                    check_versions(self.name, applied, migrations, read_only=True)
                    return []
                with conn.transaction():
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(%s)", (advisory_key(self.name, "migrate"),)
                    )
                    conn.execute(MIGRATIONS_TABLE)
                    applied = self._applied(conn)
                    pending = check_versions(self.name, applied, migrations, read_only=False)
                    for migration in pending:
                        conn.execute(migration.sql.encode())  # several statements, no parameters
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
        except psycopg.Error as error:
            raise translated(error) from error
        return [m.version for m in pending]

    def _applied(self, conn: psycopg.Connection[Any]) -> set[int]:
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
            " AND table_name = 'schema_migrations'",
            (self.name,),
        ).fetchone()
        if exists is None:
            return set()
        return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}

    def close(self) -> None:
        self._pool.close()
