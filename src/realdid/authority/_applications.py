"""Signed applications: the single-use challenge, and checking an application before its flow.

Every application (enrollment, business enrollment, site proof) is a JWS over
``{aud, nonce, iat, ...}`` signed with a key of the applicant's DID (ARCHITECTURE.md
section 7). :meth:`Applications.verify` refuses a locked-out client first, then checks the
signature against the registry, the audience, the age and the algorithm policy, and only then
spends the nonce — so a replayed application fails on the nonce, and a forged one never
reaches it. The nonce table is short-lived state (``durable=False``); issuing a challenge
purges expired protocol state now and then (one in 256 calls), so no background job is needed.

The claim parsers here (:func:`claim_text`, :func:`claim_name`) turn an application's
untrusted claims into bounded strings with the stable ``invalid-<claim>`` refusal codes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from realdid.clock import Clock
from realdid.credentials import Application, verify_application
from realdid.crypto import PublicKey
from realdid.randomness import Randomness
from realdid.storage import Transaction

from ._config import AuthorityConfig
from ._errors import EnrollmentError
from ._issuance import Issuance
from ._lockouts import FailureLockouts
from ._resolver import DidKeyResolver
from ._store import AuthorityDatabase

_CHALLENGE_BYTES = 24
_PURGE_ODDS = 256  # one challenge in this many also purges expired nonces, grants, counters
MAX_NAME = 128


class ChallengeStatements:
    """The ``challenges`` table: one row ``(nonce, expires_at)`` per unspent challenge."""

    def insert(self, tx: Transaction, nonce: str, expires_at: int) -> None:
        tx.execute("INSERT INTO challenges (nonce, expires_at) VALUES (?, ?)", (nonce, expires_at))

    def spend(self, tx: Transaction, nonce: str) -> int | None:
        """When the challenge would have expired; it is gone from now on."""
        row = tx.execute(
            "DELETE FROM challenges WHERE nonce = ? RETURNING expires_at", (nonce,)
        ).fetchone()
        return None if row is None else int(row[0])

    def purge(self, tx: Transaction, now: int) -> None:
        tx.execute("DELETE FROM challenges WHERE expires_at < ?", (now,))


@dataclass(slots=True)
class Applications:
    """Hands out challenges and verifies the applications that answer them."""

    db: AuthorityDatabase
    config: AuthorityConfig
    resolver: DidKeyResolver
    lockouts: FailureLockouts
    issuance: Issuance
    clock: Clock
    randomness: Randomness
    statements: ChallengeStatements = field(init=False, default_factory=ChallengeStatements)

    def challenge(self) -> tuple[str, int]:
        """A single-use nonce for one application, and when it expires."""
        nonce = self.randomness.token(_CHALLENGE_BYTES)
        expires_at = self.clock.now() + self.config.challenge_ttl
        with self.db.transaction(durable=False) as tx:
            self.statements.insert(tx, nonce, expires_at)
            if self.randomness.randbelow(_PURGE_ODDS) == 0:
                self._purge_expired(tx)
        return nonce, expires_at

    def _purge_expired(self, tx: Transaction) -> None:
        now = self.clock.now()
        self.statements.purge(tx, now)
        self.issuance.purge_expired(tx, now)
        self.lockouts.purge_expired(tx, now)

    def verify(self, jws: str, typ: str, client_ref: str) -> Application:
        """A verified application whose nonce is now spent, from a client not locked out."""
        self.lockouts.require_unlocked(client_ref, client=True)

        def key(kid: str) -> PublicKey:
            return self.resolver.key(kid, purpose="authentication")

        application = verify_application(
            jws,
            typ=typ,
            resolve_key=key,
            expected_audience=self.config.issuer_url,
            now=self.clock.now(),
            max_age=self.config.application_max_age,
            policy=self.config.policy,
        )
        self._spend_challenge(application.nonce)
        return application

    def _spend_challenge(self, nonce: str) -> None:
        with self.db.transaction(durable=False) as tx:
            expires_at = self.statements.spend(tx, nonce)
        if expires_at is None or expires_at < self.clock.now():
            raise EnrollmentError(
                "invalid-nonce", "the nonce is unknown, used or expired: get a new challenge"
            )


def claim_text(claims: Mapping[str, Any], name: str, limit: int) -> str:
    """The claim ``name`` as a string of 1 to ``limit`` characters, else ``invalid-<name>``."""
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise EnrollmentError(
            f"invalid-{name.replace('_', '-')}",
            f"{name} must be a string of 1 to {limit} characters",
        )
    return value


def claim_name(claims: Mapping[str, Any]) -> str:
    """The applicant's ``name`` claim, without control characters, in :func:`normal_name` form."""
    value = claim_text(claims, "name", MAX_NAME)
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise EnrollmentError("invalid-name", "name must not contain control characters")
    return normal_name(value)


def normal_name(text: str) -> str:
    """Names compare after Unicode NFC and with all whitespace removed ("王 伟" == "王伟")."""
    return "".join(unicodedata.normalize("NFC", text).split())
