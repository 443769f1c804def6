"""Local storage done once: SQLite connections and private files.

* :func:`connect_sqlite` — the connection setup of every SQLite store (autocommit, WAL,
  the store's durability choice), and :func:`immediate_transaction`, a write on it;
* :func:`write_private_file` — atomic, durable, 0600 files for keys and secrets.

This package sits below the services: it imports only the standard library.
"""

from __future__ import annotations

from ._files import PRIVATE_FILE_MODE, fsync_directory, write_private_file
from ._sqlite import IN_MEMORY, Synchronous, connect_sqlite, immediate_transaction

__all__ = [
    "IN_MEMORY",
    "PRIVATE_FILE_MODE",
    "Synchronous",
    "connect_sqlite",
    "fsync_directory",
    "immediate_transaction",
    "write_private_file",
]
