"""The authority's operational database (SQLite, WAL): one file, one lock, short transactions.

What it holds, and what it deliberately does not:

* enrollments link a DID to an opaque *reference* (HMAC under the service pepper) of an ID
  number or credit code — never the number, never a name;
* the DID-to-identity link itself is in ``escrow``, sealed to the trustees' escrow key
  (the service cannot open it);
* a credential that is offered but not yet collected keeps its claims sealed under the
  service data key, and drops them the moment it is issued;
* grants, nonces and operator tokens are stored as hashes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from realdid.storage import connect_sqlite

SCHEMA_VERSION = 1
#: Primary keys of enrollments, escrow records and credentials: 128 random bits, base64url.
RECORD_ID_BYTES = 16

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS challenges (
    nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS c_nonces (
    nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failures (
    subject TEXT PRIMARY KEY, window_start INTEGER NOT NULL, count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS enrollments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'resident' | 'enterprise'
    subject_ref TEXT NOT NULL,       -- HMAC of the ID number / credit code
    did TEXT NOT NULL,
    state TEXT NOT NULL,             -- 'active' | 'superseded' | 'revoked'
    profile BLOB,                    -- sealed (data key): what later site proofs need
    escrow_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS enrollments_active_subject
    ON enrollments(kind, subject_ref) WHERE state = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS enrollments_active_did
    ON enrollments(did) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS enrollments_subject ON enrollments(subject_ref);
CREATE TABLE IF NOT EXISTS escrow (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL, sealed BLOB NOT NULL, created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS credentials (
    id TEXT PRIMARY KEY,
    enrollment_id TEXT NOT NULL,
    type TEXT NOT NULL,
    subject_ref TEXT NOT NULL,       -- HMAC of the holder DID
    state TEXT NOT NULL,             -- 'offered' | 'issued' | 'revoked'
    pending BLOB,                    -- sealed (data key) claims until issued, then NULL
    status_list INTEGER NOT NULL,
    status_index INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    issued_at INTEGER,
    expires_at INTEGER,
    revoked_at INTEGER,
    revocation_reason TEXT,
    UNIQUE (status_list, status_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS credentials_enrollment ON credentials(enrollment_id);
CREATE INDEX IF NOT EXISTS credentials_subject ON credentials(subject_ref);
CREATE TABLE IF NOT EXISTS grants (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'pre-authorized-code' | 'access-token'
    credential_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS grants_credential ON grants(credential_id);
CREATE TABLE IF NOT EXISTS status_lists (
    id INTEGER PRIMARY KEY, size INTEGER NOT NULL, allocated INTEGER NOT NULL,
    revision INTEGER NOT NULL
);
"""


class AuthorityDatabase:
    """One SQLite connection shared by the service's threads, serialised by a lock."""

    def __init__(self, path: Path | str) -> None:
        self.lock = threading.RLock()
        # FULL: an enrollment answered 201 survives power loss (nothing accepted is lost).
        self.connection = connect_sqlite(
            path, synchronous="FULL", check_same_thread=False, foreign_keys=True
        )
        self._synchronous = "FULL"
        self.connection.executescript(_SCHEMA)
        self.connection.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on any exception).

        ``durable=False`` is for short-lived protocol state (nonces, grants, failure
        counters): in WAL mode its commit survives a process crash (kill -9) but is not
        fsynced, so a power loss may forget it — which at worst makes a user repeat a step.
        Enrollments, escrow, issuance and revocation always commit with a full fsync; a
        durable commit also makes every earlier WAL frame durable.
        """
        with self.lock:
            mode = "FULL" if durable else "NORMAL"
            if self._synchronous != mode:
                self.connection.execute(f"PRAGMA synchronous={mode}")
                self._synchronous = mode
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.connection.close()
