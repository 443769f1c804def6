"""Local and shared storage done once: databases on SQLite or PostgreSQL, private files.

* :class:`Database` — what every store speaks to, on either engine
  (:func:`open_database` opens one from a file path or a ``postgresql://`` URL and applies
  the store's checked-in migrations); errors are :class:`StorageError` and its subclasses;
* :func:`connect_sqlite` — the connection setup of every SQLite file (autocommit, WAL,
  the store's durability choice), and :func:`immediate_transaction`, a write on it;
* :class:`Lease` (:func:`lease_for`) — which one of many processes runs a single-writer job;
* :class:`TemporaryPostgres` — a private PostgreSQL server for tests and benchmarks;
* :func:`write_private_file` — atomic, durable, 0600 files for keys and secrets.

This package sits below the services: it imports the standard library and psycopg only.
"""

from __future__ import annotations

from ._database import (
    Database,
    DatabaseUnavailableError,
    Engine,
    IntegrityError,
    Rows,
    StorageError,
    StoreLocation,
    Transaction,
    is_postgres_url,
    store_name,
)
from ._files import PRIVATE_FILE_MODE, fsync_directory, write_private_file
from ._lease import FileLease, Lease, PostgresLease, file_lock, lease_for
from ._migrations import Migration, load_migrations, migrations_of
from ._open import open_database
from ._postgres_server import PostgresNotInstalledError, TemporaryPostgres, postgres_binaries
from ._sqlite import IN_MEMORY, Synchronous, connect_sqlite, immediate_transaction
from ._sqlite_database import SqliteDatabase

__all__ = [
    "IN_MEMORY",
    "PRIVATE_FILE_MODE",
    "Database",
    "DatabaseUnavailableError",
    "Engine",
    "FileLease",
    "IntegrityError",
    "Lease",
    "Migration",
    "PostgresLease",
    "PostgresNotInstalledError",
    "Rows",
    "SqliteDatabase",
    "StorageError",
    "StoreLocation",
    "Synchronous",
    "TemporaryPostgres",
    "Transaction",
    "connect_sqlite",
    "file_lock",
    "fsync_directory",
    "immediate_transaction",
    "is_postgres_url",
    "lease_for",
    "load_migrations",
    "migrations_of",
    "open_database",
    "postgres_binaries",
    "store_name",
    "write_private_file",
]
