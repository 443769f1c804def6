"""The identity authority service: enrollment, issuance over OpenID4VCI, revocation.

Transport-free: the HTTP layer (``_app.py``) parses requests and calls these methods, the
benchmark calls them directly. Every method validates all of its input before it changes
anything, and every state change commits in one transaction together with its audit entry.

:class:`Authority` is the facade; each concern lives in its own module, with the SQL for
its tables in one small statements class over the shared :class:`AuthorityDatabase`:

* ``_applications.py`` — challenges and signed-application checks;
* ``_enrollment.py`` — resident and business enrollment, site proofs, the escrow write;
* ``_rp_registration.py`` — RpRegistration credentials for enrolled enterprises;
* ``_issuance.py`` — offers and the OpenID4VCI token, nonce and credential endpoints;
* ``_status_lists.py`` — status-index allocation and the signed Token Status Lists;
* ``_revocation.py`` — revoking credentials and ending enrollments;
* ``_lockouts.py`` — failure counters per ID number and per client;
* ``_claims.py`` — what each credential type says.

Flows (ARCHITECTURE.md section 7):

* **enrollment** — :meth:`Authority.challenge` hands out a single-use nonce; the applicant
  signs ``{aud, nonce, iat, id_number, name, face}`` with a key of their root DID
  (:data:`~realdid.credentials.ENROLLMENT_TYP`); :meth:`Authority.enroll` checks the
  signature against the registry, the ID number's form, then register + name + face, and
  writes, in one transaction: the enrollment (superseding — and revoking — the resident's
  previous root DID), the escrow record, and an offered RealName credential with its status
  index. It answers with an OpenID4VCI credential offer (pre-authorized code).
* **issuance** — :meth:`token`, :meth:`nonce`, :meth:`credential` are the OpenID4VCI 1.0
  token, nonce and credential endpoints. The proof JWT must be signed by a key of the DID
  the credential was offered to. A credential request that crashes before it commits can
  simply be retried: the offered credential and its status index are reused.
* **site proofs** and **business enrollment** follow the same pattern.
* **relying-party registration** — an ``rp-registrar`` operator has an RpRegistration
  credential offered to an enrolled enterprise DID (:meth:`register_relying_party`); it
  names the company (from the business register), the purpose shown to residents and the
  claims the RP may request, and supersedes the DID's previous registration.
* every credential carries ``sub`` = the DID it is issued to (ADR 0012).
* **revocation** flips Token Status List bits; the lists are published as signed JWTs.

Randomness is injected like the clock: ``token_bytes`` (every nonce, code, token and record
id) and ``randbelow`` (status indexes) default to :mod:`secrets`; tests pass seeded sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from secrets import randbelow as system_randbelow
from secrets import token_bytes as system_token_bytes
from typing import Any

from realdid.clock import Clock, SystemClock
from realdid.credentials import CredentialConfiguration

from ._applications import Applications
from ._audit import AuditLog
from ._business import BusinessRegister
from ._config import AuthorityConfig
from ._enrollment import Enrollment
from ._escrow import EscrowSealer
from ._face import FaceMatcher
from ._identity import IssuerIdentity
from ._issuance import Issuance, Offer
from ._lockouts import FailureLockouts
from ._operators import Operator, OperatorStore, Role
from ._randomness import Randomness
from ._register import PopulationRegister
from ._resolver import DidKeyResolver
from ._revocation import Revocation
from ._rp_registration import RpRegistrar
from ._secrets import ServiceSecrets
from ._status_lists import SignedListCache, StatusLists
from ._store import AuthorityDatabase


@dataclass(slots=True)
class Authority:
    """The service's public face: one method per operation, each delegating to its concern.

    The concern objects are built from the fields here on every call — a handful of
    attribute copies — so a collaborator replaced on a live authority (a register, the
    resolver) takes effect at once, and no concern keeps a stale reference. The only state
    of their own, the signed status lists, lives in :attr:`_signed_lists` across calls.
    """

    config: AuthorityConfig
    db: AuthorityDatabase
    secrets: ServiceSecrets
    escrow: EscrowSealer
    register: PopulationRegister
    business_register: BusinessRegister
    faces: FaceMatcher
    resolver: DidKeyResolver
    issuer: IssuerIdentity
    clock: Clock = field(default_factory=SystemClock)
    salt: Callable[[], bytes] = field(default=lambda: system_token_bytes(16))
    token_bytes: Callable[[int], bytes] = system_token_bytes
    randbelow: Callable[[int], int] = system_randbelow
    audit: AuditLog = field(init=False)
    operators: OperatorStore = field(init=False)
    _signed_lists: SignedListCache = field(init=False, default_factory=SignedListCache)

    def __post_init__(self) -> None:
        with self.db.lock:
            self.audit = AuditLog(self.db.connection, self.clock)
            self.operators = OperatorStore(
                self.db.connection, self.clock, token_bytes=self.token_bytes
            )

    # -- the concerns --------------------------------------------------------------------------
    def _randomness(self) -> Randomness:
        return Randomness(token_bytes=self.token_bytes, randbelow=self.randbelow)

    def _lockouts(self) -> FailureLockouts:
        return FailureLockouts(self.db, self.config, self.secrets, self.audit, self.clock)

    def _status_lists(self) -> StatusLists:
        return StatusLists(
            self.db, self.config, self.issuer, self.clock, self._randomness(), self._signed_lists
        )

    def _issuance(self) -> Issuance:
        return Issuance(
            self.db,
            self.config,
            self.secrets,
            self.resolver,
            self.issuer,
            self._status_lists(),
            self.clock,
            self._randomness(),
            self.salt,
        )

    def _revocation(self, issuance: Issuance) -> Revocation:
        return Revocation(
            self.db, self.secrets, self.audit, self.clock, issuance.status_lists, issuance
        )

    def _enrollment(self) -> Enrollment:
        issuance, lockouts, randomness = self._issuance(), self._lockouts(), self._randomness()
        return Enrollment(
            self.db,
            self.secrets,
            self.escrow,
            self.register,
            self.business_register,
            self.faces,
            self.resolver,
            self.audit,
            self._applications(issuance, lockouts),
            lockouts,
            issuance,
            self._revocation(issuance),
            self.clock,
            randomness,
        )

    def _applications(self, issuance: Issuance, lockouts: FailureLockouts) -> Applications:
        return Applications(
            self.db,
            self.config,
            self.resolver,
            lockouts,
            issuance,
            self.clock,
            self._randomness(),
        )

    def _rp_registrar(self) -> RpRegistrar:
        issuance = self._issuance()
        return RpRegistrar(
            self.db,
            self.secrets,
            self.business_register,
            self.audit,
            issuance,
            self._revocation(issuance),
        )

    # -- metadata ----------------------------------------------------------------------------
    @property
    def configurations(self) -> list[CredentialConfiguration]:
        return self._issuance().configurations

    def issuer_metadata(self) -> dict[str, Any]:
        return self._issuance().issuer_metadata()

    def authorization_server_metadata(self) -> dict[str, Any]:
        return self._issuance().authorization_server_metadata()

    def status_list_uri(self, list_id: int) -> str:
        return self._status_lists().uri(list_id)

    # -- applicants ----------------------------------------------------------------------------
    def challenge(self) -> tuple[str, int]:
        """A single-use nonce for one application, and when it expires."""
        return self._applications(self._issuance(), self._lockouts()).challenge()

    def enroll(self, application_jws: str, *, client: str) -> Offer:
        """Check a signed enrollment application; on success offer a RealName credential."""
        return self._enrollment().enroll(application_jws, client=client)

    def enroll_business(self, application_jws: str, *, client: str) -> Offer:
        """Check a signed business application against the business register; offer a Business credential."""
        return self._enrollment().enroll_business(application_jws, client=client)

    def request_site_proof(self, application_jws: str, *, client: str) -> Offer:
        """A resident (signing with their enrolled root DID) asks for a site proof for another DID."""
        return self._enrollment().request_site_proof(application_jws, client=client)

    # -- OpenID4VCI ----------------------------------------------------------------------------
    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """OpenID4VCI section 6: exchange a pre-authorized code (single use) for an access token."""
        return self._issuance().token(form)

    def nonce(self) -> dict[str, Any]:
        """OpenID4VCI section 7: a fresh ``c_nonce`` for one proof of possession."""
        return self._issuance().nonce()

    def credential(self, access_token: str | None, body: Any) -> dict[str, Any]:
        """OpenID4VCI section 8: issue the offered credential to the holder of the offered DID."""
        return self._issuance().credential(access_token, body)

    def status_list_jwt(self, list_id: int) -> str | None:
        """The signed status list token (cached until half its TTL or a revocation)."""
        return self._status_lists().jwt(list_id)

    # -- operators ------------------------------------------------------------------------------
    def register_relying_party(
        self,
        operator: Operator,
        did: str,
        purpose: str,
        permitted: Mapping[str, Sequence[str]],
    ) -> Offer:
        """Offer an RpRegistration credential to the enrolled enterprise DID ``did``."""
        return self._rp_registrar().register(operator, did, purpose, permitted)

    def revoke(
        self,
        operator: Operator,
        *,
        reason: str,
        did: str | None = None,
        id_number: str | None = None,
    ) -> int:
        """Revoke every credential of the enrollment found by root DID or by ID number."""
        revocation = self._revocation(self._issuance())
        return revocation.revoke(operator, reason=reason, did=did, id_number=id_number)

    def clear_lockout(self, operator: Operator, id_number: str) -> bool:
        """After an in-person check, let a locked-out ID number try again."""
        return self._lockouts().clear(operator, id_number)

    def rotate_issuer_key(self, operator: Operator, rotate: Callable[[], str]) -> str:
        """Rotate the issuer's signing key (audited); status lists are re-signed with the new key."""
        key_id = rotate()
        with self.db.transaction():
            self.audit.append(operator.id, "issuer-key.rotated", key_id, {})
        self._signed_lists.clear()
        return key_id

    def authenticate(self, token: str | None, require: Role | set[Role]) -> Operator:
        with self.db.lock:
            return self.operators.authenticate(token, require=require)
