"""Storage of the bridge (SQLite or PostgreSQL, :mod:`realdid.storage`): authorizations in progress, authorization codes, tokens.

Codes and access tokens are bearer secrets, so only their SHA-256 is stored: a copy of the
database lets nobody redeem a code or call ``/userinfo``. Codes and tokens carry the
*pairwise* subject already computed for their client, never the per-site DID, so the
database links nothing across client sites either. Every row expires; expired rows are
purged as new ones are written. Single use (of an authorization and of a code) is an atomic
``UPDATE ... WHERE used = 0``, so two concurrent requests can never both succeed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from realdid.storage import (
    Database,
    DatabaseUnavailableError,
    StoreLocation,
    migrations_of,
    open_database,
)


def secret_hash(secret: str) -> str:
    """How a code or token is looked up: hex SHA-256 (the secrets are 256-bit random)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredAuthorization:
    """An authorization request waiting for the person's wallet."""

    id: str
    client_id: str
    params: tuple[tuple[str, str], ...]  # the client's request, re-validated on completion
    transaction: str  # the RP SDK's secret handle for the OpenID4VP login
    pending: Mapping[str, Any]  # the PendingLogin fields, to show the login page again
    expires_at: int
    used: bool


@dataclass(frozen=True, slots=True)
class StoredCode:
    """An issued authorization code (by hash) and what redeeming it yields."""

    code_hash: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    subject: str  # pairwise sub for client_id's sector
    claims: Mapping[str, Any]
    auth_time: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class StoredToken:
    token_hash: str
    client_id: str
    scope: str
    subject: str
    claims: Mapping[str, Any]
    auth_time: int
    issued_at: int
    expires_at: int
    revoked: bool


_Record = TypeVar("_Record", StoredCode, StoredToken)


def _columns(record: type[Any]) -> str:
    """The ``SELECT`` list for a record: its fields, which are its table's column names."""
    return ", ".join(f.name for f in fields(record))


def _record(record: type[_Record], row: Sequence[Any]) -> _Record:
    """``record`` from a row selected with :func:`_columns`: ``claims`` is stored as JSON,
    ``revoked`` as SQLite's 0 or 1."""
    values = dict(zip((f.name for f in fields(record)), row, strict=True))
    values["claims"] = json.loads(values["claims"])
    if "revoked" in values:
        values["revoked"] = bool(values["revoked"])
    return record(**values)


_CODE_COLUMNS = _columns(StoredCode)
_TOKEN_COLUMNS = _columns(StoredToken)


class BridgeStore:
    """Thread-safe store: a SQLite file (WAL; ``":memory:"`` for tests), a
    ``postgresql://`` URL (schema ``bridge``), or an open :class:`Database`.

    Writes are ``durable=False``: what power loss can take is a sign-in in progress, which
    the person repeats.
    """

    def __init__(self, where: Database | StoreLocation) -> None:
        self._db = open_database(
            where, store="bridge", migrations=migrations_of("realdid.rp.bridge", "bridge")
        )

    def close(self) -> None:
        self._db.close()

    def reachable(self) -> bool:
        """Whether the database answers now (for ``/healthz``)."""
        try:
            with self._db.reading() as tx:
                tx.execute("SELECT 1").fetchone()
        except DatabaseUnavailableError:
            return False
        return True

    # -- authorizations ---------------------------------------------------------------------
    def add_authorization(self, item: StoredAuthorization) -> None:
        with self._db.transaction(durable=False) as tx:
            tx.execute(
                "INSERT INTO authorizations"
                " (id, client_id, params, transaction_handle, pending, expires_at, used)"
                " VALUES (?, ?, ?, ?, ?, ?, 0)",
                (
                    item.id,
                    item.client_id,
                    json.dumps([list(p) for p in item.params]),
                    item.transaction,
                    json.dumps(dict(item.pending)),
                    item.expires_at,
                ),
            )

    def authorization(self, authorization_id: str) -> StoredAuthorization | None:
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT id, client_id, params, transaction_handle, pending, expires_at, used"
                " FROM authorizations WHERE id = ?",
                (authorization_id,),
            ).fetchone()
        if row is None:
            return None
        return StoredAuthorization(
            id=row[0],
            client_id=row[1],
            params=tuple((str(k), str(v)) for k, v in json.loads(row[2])),
            transaction=row[3],
            pending=json.loads(row[4]),
            expires_at=row[5],
            used=bool(row[6]),
        )

    def use_authorization(self, authorization_id: str) -> bool:
        """Mark the authorization completed; False if it already was (exactly one wins)."""
        with self._db.transaction(durable=False) as tx:
            cursor = tx.execute(
                "UPDATE authorizations SET used = 1 WHERE id = ? AND used = 0",
                (authorization_id,),
            )
            return cursor.rowcount == 1

    # -- codes --------------------------------------------------------------------------------
    def add_code(self, code: str, item: StoredCode) -> None:
        with self._db.transaction(durable=False) as tx:
            tx.execute(
                "INSERT INTO codes (code_hash, client_id, redirect_uri, scope, nonce,"
                " code_challenge, code_challenge_method, subject, claims, auth_time,"
                " expires_at, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    secret_hash(code),
                    item.client_id,
                    item.redirect_uri,
                    item.scope,
                    item.nonce,
                    item.code_challenge,
                    item.code_challenge_method,
                    item.subject,
                    json.dumps(dict(item.claims)),
                    item.auth_time,
                    item.expires_at,
                ),
            )

    def take_code(self, code: str, client_id: str, now: int) -> StoredCode | None:
        """Redeem ``code`` for ``client_id``: the first call wins, every later one fails.

        A second redemption of a code is the RFC 6749 section 4.1.2 signal that the code
        leaked, so the tokens issued from it are revoked. A code of another client is not
        consumed (that client cannot burn it) and simply does not exist for the caller.
        """
        digest = secret_hash(code)
        with self._db.transaction(durable=False) as tx:
            row = tx.execute(
                f"SELECT {_CODE_COLUMNS} FROM codes WHERE code_hash = ? AND client_id = ?",  # noqa: S608
                (digest, client_id),
            ).fetchone()
            if row is None:
                return None
            taken = tx.execute(
                "UPDATE codes SET used = 1 WHERE code_hash = ? AND used = 0", (digest,)
            ).rowcount
            if taken != 1:
                tx.execute("UPDATE tokens SET revoked = 1 WHERE code_hash = ?", (digest,))
                return None
        stored = _record(StoredCode, row)
        return None if now >= stored.expires_at else stored

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        """Whether a code was already issued to ``client_id`` for this ``nonce`` (replay)."""
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT 1 FROM codes WHERE client_id = ? AND nonce = ? LIMIT 1",
                (client_id, nonce),
            ).fetchone()
        return row is not None

    # -- tokens -------------------------------------------------------------------------------
    def add_token(self, access_token: str, item: StoredToken, code_hash: str) -> None:
        with self._db.transaction(durable=False) as tx:
            tx.execute(
                "INSERT INTO tokens (token_hash, client_id, scope, subject, claims, auth_time,"
                " issued_at, expires_at, code_hash, revoked)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    secret_hash(access_token),
                    item.client_id,
                    item.scope,
                    item.subject,
                    json.dumps(dict(item.claims)),
                    item.auth_time,
                    item.issued_at,
                    item.expires_at,
                    code_hash,
                ),
            )

    def token(self, access_token: str) -> StoredToken | None:
        with self._db.reading() as tx:
            row = tx.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?",  # noqa: S608
                (secret_hash(access_token),),
            ).fetchone()
        return None if row is None else _record(StoredToken, row)

    # -- housekeeping -------------------------------------------------------------------------
    def purge(self, now: int, keep_codes_for: int) -> None:
        """Delete expired rows. Used codes stay ``keep_codes_for`` seconds past expiry, so a
        late replay is still recognised and revokes the tokens it produced."""
        with self._db.transaction(durable=False) as tx:
            tx.execute("DELETE FROM authorizations WHERE expires_at < ?", (now,))
            tx.execute("DELETE FROM codes WHERE expires_at < ?", (now - keep_codes_for,))
            tx.execute("DELETE FROM tokens WHERE expires_at < ?", (now,))

    def counts(self) -> Mapping[str, int]:
        """Row counts per table (tests and diagnostics)."""
        tables: Sequence[str] = ("authorizations", "codes", "tokens")
        with self._db.reading() as tx:
            return {
                t: int(tx.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])  # noqa: S608
                for t in tables
            }
