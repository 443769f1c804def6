"""The authority's operational database, on SQLite (one file) or PostgreSQL (one schema).

:class:`AuthorityDatabase` is the store ``authority`` of :mod:`realdid.storage`: its schema
is the checked-in migrations in ``migrations/authority/<engine>/``, and every concern
module (``_enrollment.py``, ``_issuance.py``, …) runs its statements in the
:class:`~realdid.storage.Transaction` a flow opens, so the same SQL runs on both engines.

What it holds, and what it deliberately does not:

* enrollments link a DID to an opaque *reference* (HMAC under the service pepper) of an ID
  number or credit code — never the number, never a name;
* the DID-to-identity link itself is in ``escrow``, sealed to the trustees' escrow key
  (the service cannot open it);
* a credential that is offered but not yet collected keeps its claims sealed under the
  service data key, and drops them the moment it is issued;
* grants, nonces and operator tokens are stored as hashes.

Durability: enrollments, escrow records, issuance and revocation commit with
``durable=True`` (an enrollment answered 201 survives power loss); nonces, grants and
failure counters with ``durable=False`` (a power loss may forget them, which at worst
makes a user repeat a step).

Concurrency: SQLite has one writer at a time; PostgreSQL runs transactions side by side
(READ COMMITTED). So every read-decide-write here is one atomic statement (single-use
values are spent by ``DELETE … RETURNING``, status indexes counted by ``UPDATE …
RETURNING``) or runs under a named :meth:`~realdid.storage.Transaction.lock`:
:data:`ENROLLMENTS_LOCK` for decisions on an enrollment's state, and the audit log's own
lock (``_audit.py``), which a transaction that appends to the log takes first.

Example::

    >>> db = AuthorityDatabase(":memory:")
    >>> with db.reading() as tx:
    ...     tx.execute("SELECT count(*) FROM enrollments").fetchone()[0]
    0
    >>> db.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

from realdid.storage import (
    Database,
    Migration,
    StoreLocation,
    Transaction,
    migrations_of,
    open_database,
)

__all__ = ["ENROLLMENTS_LOCK", "RECORD_ID_BYTES", "STORE", "AuthorityDatabase"]

#: The store's name: the PostgreSQL schema, and the folder of its migrations.
STORE = "authority"
#: Primary keys of enrollments, escrow records and credentials: 128 random bits, base64url.
RECORD_ID_BYTES = 16
#: Held by every transaction that decides on an enrollment's state (enrol, supersede,
#: revoke, site proof, RP registration), so two of them never decide on a stale read.
ENROLLMENTS_LOCK = "enrollments"


class AuthorityDatabase(Database):
    """The authority's store, opened and migrated; ``where`` is a SQLite file (``":memory:"``
    for tests), a ``postgresql://`` URL (schema ``authority``), or an open :class:`Database`.

    It is a :class:`~realdid.storage.Database` itself (every call goes to the one it
    opened), so the type says "migrated to the authority's schema" wherever it is passed.
    """

    def __init__(self, where: Database | StoreLocation) -> None:
        self._database = open_database(
            where,
            store=STORE,
            migrations=migrations_of("realdid.authority", STORE),
            foreign_keys=True,
        )
        self.engine = self._database.engine
        self.name = self._database.name
        self.read_only = self._database.read_only

    def transaction(self, *, durable: bool = True) -> AbstractContextManager[Transaction]:
        return self._database.transaction(durable=durable)

    def reading(self) -> AbstractContextManager[Transaction]:
        return self._database.reading()

    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        return self._database.migrate(migrations)

    def close(self) -> None:
        self._database.close()
