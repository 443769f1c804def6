"""Operators of the authority's admin API: bearer tokens and roles.

Each operator has one role (:class:`Role`) and one bearer token, shown once by
:meth:`OperatorStore.add`. A token is ``rdop_`` followed by 32 random bytes from
:mod:`secrets` in unpadded base64url (43 characters). Only its SHA-256 is stored: a
256-bit uniformly random secret cannot be guessed or brute-forced from its hash, so a slow
password KDF (scrypt, Argon2) would add cost and nothing else. A stolen database yields no
usable token.

Threat model for :meth:`OperatorStore.authenticate`: the token is attacker-controlled input.
It is length-capped and checked against the exact token alphabet before anything else
(non-ASCII, huge, empty and wrongly-shaped tokens are refused without touching the
database), then looked up by its hash. Looking up a hash needs no constant-time compare:
what the index compares is the SHA-256 of the guess, which tells an attacker nothing about
the stored token. Missing, malformed, unknown and revoked tokens all raise the same
:class:`OperatorAuthError` (one message, so the API is no oracle for which case it was);
a valid token with the wrong role raises :class:`OperatorForbiddenError`. Tokens are never
logged, stored or echoed in messages.

Transaction contract (the same as :class:`realdid.authority._audit.AuditLog`): no method
begins, commits or rolls back. :meth:`~OperatorStore.add` and :meth:`~OperatorStore.revoke`
write in the caller's open transaction, so the change and its audit entry commit together;
the caller commits. The reads see what is committed. Each write is one statement, so two
concurrent changes to one operator need no lock (on PostgreSQL as on SQLite); the table is
in the authority's migrations (``_store.py``).
"""

from __future__ import annotations

import builtins
import datetime
import enum
import hashlib
import re
import secrets
from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import Any, TypeGuard

from realdid.clock import Clock
from realdid.crypto import b64url_encode
from realdid.storage import Transaction

from ._errors import AuthorityError
from ._store import AuthorityDatabase

TOKEN_PREFIX = "rdop_"  # noqa: S105 (a public prefix, not a secret)
MAX_TOKEN_CHARS = 100
"""Tokens longer than this are refused before any other check."""
MAX_OPERATOR_NAME_CHARS = 64
_TOKEN_BYTES = 32
_TOKEN = re.compile(r"rdop_[A-Za-z0-9_-]{43}")
_OPERATOR_ID = re.compile(r"op_[0-9a-f]{16}")


class Role(enum.StrEnum):
    """What an operator may do on the admin API."""

    ENROLLMENT_OFFICER = "enrollment-officer"
    REVOCATION_OFFICER = "revocation-officer"
    AUDITOR = "auditor"
    SECURITY_OFFICER = "security-officer"  # rotates the authority's signing key
    RP_REGISTRAR = "rp-registrar"  # registers relying parties (RpRegistration credentials)


class OperatorAuthError(AuthorityError):
    """No usable operator token: missing, malformed, unknown or revoked (HTTP 401)."""

    code = "unauthenticated"


class OperatorForbiddenError(AuthorityError):
    """A valid operator whose role does not allow the action (HTTP 403)."""

    code = "forbidden"


class OperatorNotFoundError(AuthorityError):
    """No operator has this id (HTTP 404)."""

    code = "operator-not-found"


@dataclass(frozen=True, slots=True)
class Operator:
    """An operator record; times are ISO 8601 UTC to the second (``...Z``)."""

    id: str
    name: str
    role: Role
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class OperatorStore:
    """The ``operators`` table of the authority's database (the caller commits writes)."""

    def __init__(
        self,
        db: AuthorityDatabase,
        clock: Clock,
        *,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        """``token_bytes`` draws tokens and operator ids (a CSPRNG; tests pass a seeded one)."""
        self._db = db
        self._clock = clock
        self._token_bytes = token_bytes

    def add(self, tx: Transaction, name: str, role: Role) -> tuple[Operator, str]:
        """Create an operator in ``tx``; return it and its bearer token, which is not stored
        and cannot be shown again. Does not commit."""
        _check_name(name)
        role = Role(role)
        token = TOKEN_PREFIX + b64url_encode(self._token_bytes(_TOKEN_BYTES))
        operator = Operator(
            id="op_" + self._token_bytes(8).hex(),
            name=name,
            role=role,
            created_at=_iso_utc(self._clock.now()),
        )
        tx.execute(
            "INSERT INTO operators (id, name, role, token_hash, created_at, revoked_at)"
            " VALUES (?, ?, ?, ?, ?, NULL)",
            (operator.id, name, role.value, _token_hash(token), operator.created_at),
        )
        return operator, token

    def authenticate(self, token: str | None, *, require: Role | Set[Role]) -> Operator:
        """The active operator holding ``token``, if its role is in ``require``.

        Raises :class:`OperatorAuthError` or :class:`OperatorForbiddenError`.
        """
        allowed = frozenset({require}) if isinstance(require, Role) else frozenset(require)
        if not allowed or not all(isinstance(r, Role) for r in allowed):
            raise ValueError("require names at least one Role")
        if not _well_formed(token):
            raise OperatorAuthError(_UNAUTHENTICATED)
        with self._db.reading() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM operators WHERE token_hash = ?",  # noqa: S608
                (_token_hash(token),),
            ).fetchone()
        if row is None:
            raise OperatorAuthError(_UNAUTHENTICATED)
        operator = _operator_from_row(row)
        if not operator.active:
            raise OperatorAuthError(_UNAUTHENTICATED)
        if operator.role not in allowed:
            needed = ", ".join(sorted(allowed))
            raise OperatorForbiddenError(
                f"operator role {operator.role.value} may not do this; requires one of: {needed}"
            )
        return operator

    def revoke(self, tx: Transaction, operator_id: str) -> None:
        """Revoke an operator's token for good, in ``tx``; a no-op if already revoked (the
        first revocation time is kept). :class:`OperatorNotFoundError` if no such id. Does
        not commit.

        One statement finds and revokes: a revocation racing another cannot lose the
        first revocation time, nor report "not found" for an operator that exists.
        """
        if not isinstance(operator_id, str) or not _OPERATOR_ID.fullmatch(operator_id):
            raise OperatorNotFoundError("no operator has this id")
        found = tx.execute(
            "UPDATE operators SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING id",
            (_iso_utc(self._clock.now()), operator_id),
        ).fetchone()
        if found is None:
            raise OperatorNotFoundError("no operator has this id")

    def get(self, operator_id: str) -> Operator | None:
        with self._db.reading() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM operators WHERE id = ?",  # noqa: S608
                (operator_id,),
            ).fetchone()
        return None if row is None else _operator_from_row(row)

    def list(self) -> builtins.list[Operator]:
        """All operators, revoked ones included, in the order they were added."""
        with self._db.reading() as tx:
            rows = tx.execute(
                f"SELECT {_COLUMNS} FROM operators ORDER BY seq"  # noqa: S608
            ).fetchall()
        return [_operator_from_row(row) for row in rows]


_COLUMNS = "id, name, role, created_at, revoked_at"
_UNAUTHENTICATED = "missing, malformed, unknown or revoked operator token"


def _well_formed(token: str | None) -> TypeGuard[str]:
    # Length first, so the pattern never runs on a huge input.
    return (
        isinstance(token, str)
        and len(token) <= MAX_TOKEN_CHARS
        and _TOKEN.fullmatch(token) is not None
    )


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def _operator_from_row(row: tuple[Any, ...]) -> Operator:
    op_id, name, role, created_at, revoked_at = row
    return Operator(
        id=op_id, name=name, role=Role(role), created_at=created_at, revoked_at=revoked_at
    )


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_OPERATOR_NAME_CHARS:
        raise ValueError(f"operator name must be 1 to {MAX_OPERATOR_NAME_CHARS} characters")
    if name != name.strip() or not name.isprintable():
        raise ValueError("operator name must not contain control characters or surrounding spaces")


def _iso_utc(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
