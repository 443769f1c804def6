"""Opening a store's database on the engine its location names, migrated to this release."""

from __future__ import annotations

from importlib.resources.abc import Traversable

from ._database import Database, StoreLocation, is_postgres_url, store_name
from ._migrations import load_migrations
from ._sqlite_database import SqliteDatabase

__all__ = ["open_database"]


def open_database(
    where: Database | StoreLocation,
    *,
    store: str,
    migrations: Traversable,
    read_only: bool = False,
    foreign_keys: bool = False,
    cache_kib: int | None = None,
    pool_size: int = 8,
    timeout: float = 30.0,
) -> Database:
    """The database of ``store``, migrated with the files in ``migrations``
    (:func:`~._migrations.migrations_of` finds a package's).

    ``where`` is an open :class:`Database` (migrated and used as it is), a
    ``postgresql://`` URL (the store is the schema ``store`` there), or the path of a
    SQLite file (``:memory:`` for a private in-memory one). ``foreign_keys`` and
    ``cache_kib`` matter to SQLite only (PostgreSQL always enforces foreign keys).
    """
    store_name(store)
    database: Database
    if isinstance(where, Database):
        database = where
    elif is_postgres_url(where):
        from ._postgres import PostgresDatabase  # noqa: PLC0415 - only PostgreSQL users load psycopg

        database = PostgresDatabase(
            str(where), store, pool_size=pool_size, timeout=min(timeout, 10.0), read_only=read_only
        )
    else:
        database = SqliteDatabase(
            where,
            timeout=timeout,
            foreign_keys=foreign_keys,
            cache_kib=cache_kib,
            read_only=read_only,
        )
    try:
        database.migrate(load_migrations(migrations, database.engine))
    except BaseException:
        if not isinstance(where, Database):
            database.close()
        raise
    return database
