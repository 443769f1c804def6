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

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from secrets import randbelow as system_randbelow
from secrets import token_bytes as system_token_bytes
from typing import Any

from realdid.clock import Clock, SystemClock
from realdid.credentials import CredentialConfiguration
from realdid.randomness import Randomness

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
from ._register import PopulationRegister
from ._resolver import DidKeyResolver
from ._revocation import Revocation
from ._rp_registration import RpRegistrar
from ._secrets import ServiceSecrets
from ._status_lists import SignedListCache, StatusLists
from ._store import AuthorityDatabase


@dataclass(frozen=True, slots=True)
class _Concerns:
    """The concern objects of one :class:`Authority`, wired to each other once."""

    lockouts: FailureLockouts
    status_lists: StatusLists
    issuance: Issuance
    revocation: Revocation
    applications: Applications
    enrollment: Enrollment
    rp_registrar: RpRegistrar


@dataclass(slots=True)
class Authority:
    """The service's public face: one method per operation, each delegating to its concern.

    The concern objects are built once, from the fields here, when the authority is made;
    a request costs no wiring. A collaborator replaced on a live authority (a register,
    the resolver, the clock: any field) rebuilds them at once, so no concern keeps a stale
    reference. The only state of their own, the signed status lists, lives in
    :attr:`_signed_lists` and survives a rebuild.
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
    _concerns: _Concerns = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._assemble()

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        # Until __post_init__ has assembled the concerns, __init__ is setting the fields.
        if name in _COLLABORATORS and hasattr(self, "_concerns"):
            self._assemble()

    def _assemble(self) -> None:
        """Build every concern from the fields (in dependency order)."""
        randomness = Randomness(token_bytes=self.token_bytes, randbelow=self.randbelow)
        self.audit = AuditLog(self.db, self.clock)
        self.operators = OperatorStore(self.db, self.clock, token_bytes=self.token_bytes)
        lockouts = FailureLockouts(self.db, self.config, self.secrets, self.audit, self.clock)
        status_lists = StatusLists(
            self.db, self.config, self.issuer, self.clock, randomness, self._signed_lists
        )
        issuance = Issuance(
            self.db,
            self.config,
            self.secrets,
            self.resolver,
            self.issuer,
            status_lists,
            self.clock,
            randomness,
            self.salt,
        )
        revocation = Revocation(
            self.db, self.secrets, self.audit, self.clock, status_lists, issuance
        )
        applications = Applications(
            self.db, self.config, self.resolver, lockouts, issuance, self.clock, randomness
        )
        enrollment = Enrollment(
            self.db,
            self.secrets,
            self.escrow,
            self.register,
            self.business_register,
            self.faces,
            self.resolver,
            self.audit,
            applications,
            lockouts,
            issuance,
            revocation,
            self.clock,
            randomness,
        )
        rp_registrar = RpRegistrar(
            self.db, self.secrets, self.business_register, self.audit, issuance, revocation
        )
        self._concerns = _Concerns(
            lockouts, status_lists, issuance, revocation, applications, enrollment, rp_registrar
        )

    # -- metadata ----------------------------------------------------------------------------
    @property
    def configurations(self) -> list[CredentialConfiguration]:
        return self._concerns.issuance.configurations

    def issuer_metadata(self) -> dict[str, Any]:
        return self._concerns.issuance.issuer_metadata()

    def authorization_server_metadata(self) -> dict[str, Any]:
        return self._concerns.issuance.authorization_server_metadata()

    def status_list_uri(self, list_id: int) -> str:
        return self._concerns.status_lists.uri(list_id)

    # -- applicants ----------------------------------------------------------------------------
    def challenge(self) -> tuple[str, int]:
        """A single-use nonce for one application, and when it expires."""
        return self._concerns.applications.challenge()

    def enroll(self, application_jws: str, *, client: str) -> Offer:
        """Check a signed enrollment application; on success offer a RealName credential."""
        return self._concerns.enrollment.enroll(application_jws, client=client)

    def enroll_business(self, application_jws: str, *, client: str) -> Offer:
        """Check a signed business application against the business register; offer a Business credential."""
        return self._concerns.enrollment.enroll_business(application_jws, client=client)

    def request_site_proof(self, application_jws: str, *, client: str) -> Offer:
        """A resident (signing with their enrolled root DID) asks for a site proof for another DID."""
        return self._concerns.enrollment.request_site_proof(application_jws, client=client)

    # -- OpenID4VCI ----------------------------------------------------------------------------
    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """OpenID4VCI section 6: exchange a pre-authorized code (single use) for an access token."""
        return self._concerns.issuance.token(form)

    def nonce(self) -> dict[str, Any]:
        """OpenID4VCI section 7: a fresh ``c_nonce`` for one proof of possession."""
        return self._concerns.issuance.nonce()

    def credential(self, access_token: str | None, body: Any) -> dict[str, Any]:
        """OpenID4VCI section 8: issue the offered credential to the holder of the offered DID."""
        return self._concerns.issuance.credential(access_token, body)

    def status_list_jwt(self, list_id: int) -> str | None:
        """The signed status list token (cached until half its TTL or a revocation)."""
        return self._concerns.status_lists.jwt(list_id)

    # -- operators ------------------------------------------------------------------------------
    def register_relying_party(
        self,
        operator: Operator,
        did: str,
        purpose: str,
        permitted: Mapping[str, Sequence[str]],
    ) -> Offer:
        """Offer an RpRegistration credential to the enrolled enterprise DID ``did``."""
        return self._concerns.rp_registrar.register(operator, did, purpose, permitted)

    def revoke(
        self,
        operator: Operator,
        *,
        reason: str,
        did: str | None = None,
        id_number: str | None = None,
    ) -> int:
        """Revoke every credential of the enrollment found by root DID or by ID number."""
        return self._concerns.revocation.revoke(
            operator, reason=reason, did=did, id_number=id_number
        )

    def clear_lockout(self, operator: Operator, id_number: str) -> bool:
        """After an in-person check, let a locked-out ID number try again."""
        return self._concerns.lockouts.clear(operator, id_number)

    def rotate_issuer_key(self, operator: Operator, rotate: Callable[[], str]) -> str:
        """Rotate the issuer's signing key (audited); status lists are re-signed with the new key."""
        key_id = rotate()
        with self.audit.transaction() as tx:
            self.audit.append(tx, operator.id, "issuer-key.rotated", key_id, {})
        self._signed_lists.clear()
        return key_id

    def authenticate(self, token: str | None, require: Role | set[Role]) -> Operator:
        return self.operators.authenticate(token, require=require)


#: The fields whose replacement on a live authority rebuilds its concerns: every field
#: given to the constructor.
_COLLABORATORS = frozenset(f.name for f in dataclasses.fields(Authority) if f.init)
