"""Where the services a test starts as child processes keep their databases.

``REALDID_TEST_ENGINE=postgresql`` runs the integration and end-to-end suites with every
service on PostgreSQL: each data directory gets a fresh database of the session's private
server, passed to the child through ``REALDID_NODE__DATABASE`` (the authority and the demo
sites of ``realdid serve`` follow the node's database), and the same database again when the
process is restarted on that directory. On SQLite (the default) nothing is passed and the
stores are the files in the data directory.

Tests that look inside a store use :meth:`ServiceDatabases.open`, which opens it read-only on
whichever engine the run uses.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from realdid.storage import (
    Database,
    StoreLocation,
    TemporaryPostgres,
    migrations_of,
    open_database,
)

#: The migrations of each store a test may read: (package, store folder).
_MIGRATIONS = {
    "node": ("realdid.ledger", "node"),
    "solo": ("realdid.ledger", "solo"),
    "authority": ("realdid.authority", "authority"),
    "register": ("realdid.authority", "register"),
}
_numbers = itertools.count(1)


class ServiceDatabases:
    """The databases of one test session's child processes, one per data directory."""

    def __init__(self, server: TemporaryPostgres | None) -> None:
        self.server = server
        self._urls: dict[Path, str] = {}

    @property
    def engine(self) -> str:
        return "sqlite" if self.server is None else "postgresql"

    def url(self, data_dir: Path) -> str | None:
        """The PostgreSQL database of ``data_dir`` (created on first use); None on SQLite."""
        if self.server is None:
            return None
        key = data_dir.resolve()
        if key not in self._urls:
            self._urls[key] = self.server.create_database(f"service_{os.getpid()}_{next(_numbers)}")
        return self._urls[key]

    def env(self, data_dir: Path) -> dict[str, str]:
        """Environment variables that put a service on ``data_dir``'s database."""
        url = self.url(data_dir)
        return {} if url is None else {"REALDID_NODE__DATABASE": url}

    def location(self, data_dir: Path, file: str) -> StoreLocation:
        """Where a store of the service on ``data_dir`` is: its database, or ``file`` (a
        path relative to the data directory, e.g. ``authority/authority.db``)."""
        return self.url(data_dir) or data_dir / file

    def open(self, data_dir: Path, store: str, file: str, *, read_only: bool = True) -> Database:
        """The store ``store`` of the service on ``data_dir`` (see :meth:`location`)."""
        package, folder = _MIGRATIONS[store]
        return open_database(
            self.location(data_dir, file),
            store=store,
            migrations=migrations_of(package, folder),
            read_only=read_only,
        )
