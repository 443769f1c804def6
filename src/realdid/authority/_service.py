"""The identity authority service: enrollment, issuance over OpenID4VCI, revocation.

Transport-free: the HTTP layer (``_app.py``) parses requests and calls these methods, the
benchmark calls them directly. Every method validates all of its input before it changes
anything, and every state change commits in one transaction together with its audit entry.

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

Failed identity checks do not reveal whether an ID number exists: an unknown number and a
wrong name give the same answer (``identity-mismatch``); the face is compared only once the
number and name match, so ``face-mismatch`` tells nothing to someone who did not already know
both. The precise internal reason goes to the audit log. Failures are rate-limited per ID
number and per client.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import secrets
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from realdid.clock import Clock, SystemClock
from realdid.credentials import (
    BUSINESS_TYP,
    ENROLLMENT_TYP,
    SITE_PROOF_TYP,
    Application,
    CredentialConfiguration,
    Oid4vciError,
    StatusList,
    StatusValue,
    authorization_server_metadata,
    credential_issuer_metadata,
    credential_offer,
    credential_offer_uri,
    credential_response,
    issue,
    parse_credential_request,
    parse_token_request,
    sign_status_list,
    status_reference,
    token_response,
    verify_application,
    verify_proof_jwt,
)
from realdid.crypto import DEFAULT_POLICY, AlgorithmPolicy, PublicKey

from ._audit import AuditLog
from ._business import BusinessRegister, validate_uscc
from ._escrow import EscrowSealer, seal_record
from ._identity import IssuerIdentity
from ._operators import Operator, OperatorStore, Role
from ._register import (
    AuthorityError,
    FaceMatcher,
    PopulationRegister,
    decode_face,
    validate_id_number,
)
from ._resolver import DidKeyError, DidKeyResolver
from ._secrets import ServiceSecrets
from ._store import AuthorityDatabase

log = logging.getLogger(__name__)

REAL_NAME = "RealName"
SITE_PROOF = "SiteProof"
BUSINESS = "Business"
RP_REGISTRATION = "RpRegistration"
VCT = {
    REAL_NAME: "urn:realdid:RealName",
    SITE_PROOF: "urn:realdid:SiteProof",
    BUSINESS: "urn:realdid:Business",
    RP_REGISTRATION: "urn:realdid:RpRegistration",
}
ASSURANCE_LEVEL = "high"  # register + name + face, bound to a DID key (eIDAS LoA "high" analogue)
REVOCATION_REASONS = (
    "death",
    "fraud",
    "lost-document",
    "court-order",
    "re-enrollment",
    "superseded",
)
_ADMIN_REASONS = frozenset(REVOCATION_REASONS) - {"re-enrollment", "superseded"}
_MAX_NAME = 128
_MAX_PURPOSE = 200
_DUMMY_TEMPLATE = b"\x00\x00\x80\x3f" + bytes(252)  # unit vector: equalises unknown-ID timing


# -- errors ---------------------------------------------------------------------------------
class EnrollmentError(AuthorityError):
    """An application was refused; ``code`` is the stable problem type, ``status`` the HTTP status."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _refused(code: str, message: str, status: int = 400) -> EnrollmentError:
    return EnrollmentError(code, message, status=status)


# -- configuration --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuthorityConfig:
    issuer_url: str
    real_name_lifetime: int = 365 * 86400
    site_proof_lifetime: int = 90 * 86400
    business_lifetime: int = 365 * 86400
    rp_registration_lifetime: int = 365 * 86400
    challenge_ttl: int = 300
    offer_ttl: int = 600
    token_ttl: int = 300
    application_max_age: int = 300
    status_list_size: int = 1 << 20
    status_list_ttl: int = 300
    status_list_validity: int = 86400
    max_failures_per_subject: int = 5
    max_failures_per_client: int = 20
    failure_window: int = 3600
    policy: AlgorithmPolicy = DEFAULT_POLICY


@dataclass(frozen=True, slots=True)
class Offer:
    """An OpenID4VCI credential offer (by value) for one offered credential."""

    credential_id: str
    offer: dict[str, Any]

    @property
    def uri(self) -> str:
        return credential_offer_uri(self.offer)


@dataclass(slots=True)
class _CachedList:
    revision: int
    expires_at: int
    jwt: str


@dataclass(slots=True)
class Authority:
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
    salt: Callable[[], bytes] = field(default=lambda: secrets.token_bytes(16))
    audit: AuditLog = field(init=False)
    operators: OperatorStore = field(init=False)
    _status_cache: dict[int, _CachedList] = field(init=False, default_factory=dict)
    _cache_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        with self.db.lock:
            self.audit = AuditLog(self.db.connection, self.clock)
            self.operators = OperatorStore(self.db.connection, self.clock)

    # -- metadata ----------------------------------------------------------------------------
    @property
    def configurations(self) -> list[CredentialConfiguration]:
        algs = tuple(sorted(self.config.policy.allowed))
        return [
            CredentialConfiguration(
                REAL_NAME, VCT[REAL_NAME], "Real-name identity", _REAL_NAME_CLAIMS, ("ES256",), algs
            ),
            CredentialConfiguration(
                SITE_PROOF,
                VCT[SITE_PROOF],
                "Verified person (per site)",
                _SITE_CLAIMS,
                ("ES256",),
                algs,
            ),
            CredentialConfiguration(
                BUSINESS, VCT[BUSINESS], "Business identity", _BUSINESS_CLAIMS, ("ES256",), algs
            ),
            CredentialConfiguration(
                RP_REGISTRATION,
                VCT[RP_REGISTRATION],
                "Relying party registration",
                _RP_CLAIMS,
                ("ES256",),
                algs,
            ),
        ]

    def issuer_metadata(self) -> dict[str, Any]:
        base = self.config.issuer_url
        return credential_issuer_metadata(
            base,
            credential_endpoint=f"{base}/oid4vci/credential",
            nonce_endpoint=f"{base}/oid4vci/nonce",
            configurations=self.configurations,
            display_name="RealDID identity authority",
        )

    def authorization_server_metadata(self) -> dict[str, Any]:
        base = self.config.issuer_url
        return authorization_server_metadata(base, token_endpoint=f"{base}/oid4vci/token")

    def status_list_uri(self, list_id: int) -> str:
        return f"{self.config.issuer_url}/status-lists/{list_id}"

    # -- challenges ----------------------------------------------------------------------------
    def challenge(self) -> tuple[str, int]:
        """A single-use nonce for one application, and when it expires."""
        nonce = secrets.token_urlsafe(24)
        expires_at = self.clock.now() + self.config.challenge_ttl
        with self.db.transaction(durable=False) as db:
            db.execute("INSERT INTO challenges VALUES (?, ?)", (nonce, expires_at))
            if secrets.randbelow(256) == 0:
                self._purge_expired(db)
        return nonce, expires_at

    def _purge_expired(self, db: sqlite3.Connection) -> None:
        now = self.clock.now()
        for table in ("challenges", "c_nonces", "grants"):
            db.execute(f"DELETE FROM {table} WHERE expires_at < ?", (now,))  # noqa: S608 - fixed names
        db.execute(
            "DELETE FROM failures WHERE window_start + ? <= ?", (self.config.failure_window, now)
        )

    def _spend_challenge(self, nonce: str) -> None:
        with self.db.transaction(durable=False) as db:
            row = db.execute(
                "DELETE FROM challenges WHERE nonce = ? RETURNING expires_at", (nonce,)
            ).fetchone()
        if row is None or row[0] < self.clock.now():
            raise _refused(
                "invalid-nonce", "the nonce is unknown, used or expired: get a new challenge"
            )

    # -- applications ---------------------------------------------------------------------------
    def _application(self, jws: str, typ: str, client_ref: str) -> Application:
        """A verified application whose nonce is now spent, from a client not locked out."""
        self._require_unlocked(client_ref, client=True)

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

    def enroll(self, application_jws: str, *, client: str) -> Offer:
        """Check a signed enrollment application; on success offer a RealName credential."""
        client_ref = self.secrets.reference("client", client)
        application = self._application(application_jws, ENROLLMENT_TYP, client_ref)
        id_text = _string(application.claims, "id_number", 32)
        name = _name(application.claims)
        capture = decode_face(_string(application.claims, "face", 4096))
        try:
            parsed = validate_id_number(id_text, clock=self.clock)
        except AuthorityError as e:
            self._fail(application.did, e.code, client_ref)
            raise
        subject = self.secrets.reference("id", parsed.id_number)
        self._require_unlocked(subject)
        resident = self.register.lookup(parsed.id_number)
        template = resident.face_template if resident is not None else _DUMMY_TEMPLATE
        face = self.faces.compare(template, capture)
        if resident is None or _normal(resident.family_name + resident.given_name) != name:
            reason = "unknown-id-number" if resident is None else "name-mismatch"
            self._fail(application.did, reason, client_ref, subject)
            raise _refused(
                "identity-mismatch",
                "the ID number and name do not match a register entry; check both and try again",
                422,
            )
        if not face.matched:
            self._fail(application.did, "face-mismatch", client_ref, subject)
            raise _refused("face-mismatch", "the face capture does not match the register", 422)
        claims = _real_name_claims(resident, self._today())
        profile = {
            "birth_date": resident.birth_date.isoformat(),
            "province": resident.region_code[:2] + "0000",
        }
        identity = {
            "id_number": resident.id_number,
            "family_name": resident.family_name,
            "given_name": resident.given_name,
        }
        return self._enroll_subject(
            "resident",
            subject,
            application.did,
            identity,
            profile,
            REAL_NAME,
            claims,
            _REAL_NAME_SD,
        )

    def enroll_business(self, application_jws: str, *, client: str) -> Offer:
        """Check a signed business application against the business register; offer a Business credential."""
        client_ref = self.secrets.reference("client", client)
        application = self._application(application_jws, BUSINESS_TYP, client_ref)
        uscc_text = _string(application.claims, "uscc", 32)
        company = _normal(_string(application.claims, "company_name", _MAX_NAME))
        representative = _normal(_string(application.claims, "legal_representative", _MAX_NAME))
        try:
            uscc = validate_uscc(uscc_text)
        except AuthorityError as e:
            self._fail(application.did, e.code, client_ref)
            raise
        subject = self.secrets.reference("uscc", uscc)
        self._require_unlocked(subject)
        enterprise = self.business_register.lookup(uscc)
        if (
            enterprise is None
            or _normal(enterprise.name) != company
            or _normal(enterprise.legal_representative) != representative
        ):
            self._fail(application.did, "enterprise-mismatch", client_ref, subject)
            raise _refused(
                "enterprise-mismatch",
                "the credit code, company name and legal representative do not match the business register",
                422,
            )
        claims = {
            "company_name": enterprise.name,
            "unified_social_credit_code": enterprise.uscc,
            "legal_representative": enterprise.legal_representative,
            "region": enterprise.region_code,
        }
        identity = {"uscc": enterprise.uscc}
        return self._enroll_subject(
            "enterprise",
            subject,
            application.did,
            identity,
            identity,  # the profile: RP registration looks the company up again by its code
            BUSINESS,
            claims,
            {"legal_representative"},
        )

    def _enroll_subject(
        self,
        kind: str,
        subject: str,
        did: str,
        identity: Mapping[str, str],
        profile: Mapping[str, str] | None,
        credential_type: str,
        claims: Mapping[str, Any],
        selectively_disclosable: set[str],
    ) -> Offer:
        now = self.clock.now()
        with self.db.transaction() as db:
            taken = db.execute(
                "SELECT kind, subject_ref FROM enrollments WHERE did = ? AND state = 'active'",
                (did,),
            ).fetchone()
            if taken is not None and (taken[0], taken[1]) != (kind, subject):
                raise _refused(
                    "did-already-enrolled", "this DID is already enrolled for someone else", 409
                )
            if db.execute(
                "SELECT 1 FROM enrollments WHERE kind = ? AND subject_ref = ? AND state = 'revoked'"
                " AND end_reason = 'death'",
                (kind, subject),
            ).fetchone():
                # Only reachable after register, name and face all matched: leaks nothing.
                raise _refused(
                    "enrollment-blocked",
                    "this identity cannot be enrolled online; visit an enrollment office",
                    403,
                )
            current = db.execute(
                "SELECT id, did FROM enrollments WHERE kind = ? AND subject_ref = ? AND state = 'active'",
                (kind, subject),
            ).fetchone()
            if current is not None and current[1] == did:
                pending = db.execute(
                    "SELECT id FROM credentials WHERE enrollment_id = ? AND type = ? AND state = 'offered'",
                    (current[0], credential_type),
                ).fetchone()
                if pending is not None:  # a retry after a crash or a lost answer: same credential
                    self.audit.append("applicant", "enrollment.resumed", did, {"kind": kind})
                    return self._offer(db, pending[0], credential_type)
                enrollment_id = current[0]
                if profile is not None:  # enrollments from before a profile was kept get one
                    db.execute(
                        "UPDATE enrollments SET profile = ? WHERE id = ?",
                        (self.secrets.seal(_json(profile), enrollment_id.encode()), enrollment_id),
                    )
                self._revoke_credentials(db, enrollment_id, "superseded", types=(credential_type,))
            else:
                if current is not None:
                    self._end_enrollment(db, current[0], "superseded", "re-enrollment")
                enrollment_id = _new_id()
                escrow_id = self._write_escrow(
                    db, enrollment_id, {"did": did, "kind": kind, **identity}
                )
                sealed_profile = (
                    None
                    if profile is None
                    else self.secrets.seal(_json(profile), enrollment_id.encode())
                )
                db.execute(
                    "INSERT INTO enrollments (id, kind, subject_ref, did, state, profile, escrow_id,"
                    " created_at) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)",
                    (enrollment_id, kind, subject, did, sealed_profile, escrow_id, now),
                )
            credential_id = self._offer_credential(
                db, enrollment_id, credential_type, did, claims, selectively_disclosable
            )
            self.audit.append("applicant", "enrollment.accepted", did, {"kind": kind})
            offer = self._offer(db, credential_id, credential_type)
        log.info("enrollment accepted (%s)", kind)
        return offer

    def request_site_proof(self, application_jws: str, *, client: str) -> Offer:
        """A resident (signing with their enrolled root DID) asks for a site proof for another DID."""
        client_ref = self.secrets.reference("client", client)
        application = self._application(application_jws, SITE_PROOF_TYP, client_ref)
        site_did = _string(application.claims, "site_did", 256)
        if site_did == application.did:
            raise _refused(
                "invalid-application", "site_did must be a different DID from the root DID"
            )
        self.resolver.document(site_did)  # anchored and not deactivated, else DidKeyError
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT id, profile FROM enrollments WHERE did = ? AND state = 'active' AND kind = 'resident'",
                (application.did,),
            ).fetchone()
            if row is None:
                raise _refused(
                    "not-enrolled", "this DID is not an enrolled root DID: enroll first", 403
                )
            if db.execute(
                "SELECT 1 FROM enrollments WHERE did = ? AND state = 'active'", (site_did,)
            ).fetchone():
                raise _refused(
                    "invalid-application", "site_did is an enrolled root DID; use a per-site DID"
                )
            enrollment_id, sealed_profile = row
            subject = self.secrets.reference("did", site_did)
            pending = db.execute(
                "SELECT id FROM credentials WHERE subject_ref = ? AND enrollment_id = ? AND state = 'offered'",
                (subject, enrollment_id),
            ).fetchone()
            if pending is not None:
                return self._offer(db, pending[0], SITE_PROOF)
            # Only this resident's own earlier proof for the site DID is superseded: naming
            # someone else's (public) site DID must not revoke their credential.
            for (old,) in db.execute(
                "SELECT id FROM credentials WHERE subject_ref = ? AND enrollment_id = ?"
                " AND state = 'issued'",
                (subject, enrollment_id),
            ).fetchall():
                self._revoke(db, old, "superseded")
            profile = json.loads(self.secrets.open(sealed_profile, enrollment_id.encode()))
            claims = _site_claims(profile, self._today())
            self._write_escrow(
                db,
                enrollment_id,
                {"site_did": site_did, "root_did": application.did, "kind": "site"},
            )
            credential_id = self._offer_credential(
                db, enrollment_id, SITE_PROOF, site_did, claims, _SITE_SD
            )
            self.audit.append("applicant", "site-proof.offered", application.did, {})
            return self._offer(db, credential_id, SITE_PROOF)

    # -- relying parties ------------------------------------------------------------------------
    def register_relying_party(
        self,
        operator: Operator,
        did: str,
        purpose: str,
        permitted: Mapping[str, Sequence[str]],
    ) -> Offer:
        """Offer an RpRegistration credential to the enrolled enterprise DID ``did``.

        ``permitted`` maps a credential ``vct`` (SiteProof or RealName) to the claims the RP
        may request from it. The DID's previous registration, issued or still offered, is
        revoked (``superseded``). The company name comes from the business register.
        """
        text = _purpose(purpose)
        allowed = _permitted(permitted)
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT id, kind, profile FROM enrollments WHERE did = ? AND state = 'active'",
                (did,),
            ).fetchone()
            if row is None or row[1] != "enterprise":
                raise _refused(
                    "not-an-enterprise",
                    "this DID has no active business enrollment: enroll the enterprise first",
                    409,
                )
            enrollment_id, _, sealed_profile = row
            if sealed_profile is None:
                raise _refused(
                    "re-enrollment-required",
                    "this enterprise enrolled before RP registration existed: enroll it again",
                    409,
                )
            profile = json.loads(self.secrets.open(sealed_profile, enrollment_id.encode()))
            enterprise = self.business_register.lookup(profile["uscc"])
            if enterprise is None:
                raise _refused(
                    "enterprise-not-found",
                    "the enterprise is no longer in the business register",
                    409,
                )
            self._revoke_credentials(db, enrollment_id, "superseded", types=(RP_REGISTRATION,))
            claims = {"rp_name": enterprise.name, "purpose": text, "permitted": allowed}
            credential_id = self._offer_credential(
                db, enrollment_id, RP_REGISTRATION, did, claims, set()
            )
            self.audit.append(
                operator.id,
                "rp.registered",
                did,
                {vct: ",".join(names) for vct, names in allowed.items()},
            )
            offer = self._offer(db, credential_id, RP_REGISTRATION)
        log.info("relying party registered")
        return offer

    # -- rate limiting ----------------------------------------------------------------------------
    def _require_unlocked(self, subject: str, *, client: bool = False) -> None:
        config = self.config
        limit = config.max_failures_per_client if client else config.max_failures_per_subject
        with self.db.lock:
            row = self.db.connection.execute(
                "SELECT window_start, count FROM failures WHERE subject = ?", (subject,)
            ).fetchone()
        if (
            row is not None
            and row[0] + self.config.failure_window > self.clock.now()
            and row[1] >= limit
        ):
            raise _refused(
                "too-many-attempts",
                "too many failed attempts; try again later or visit an enrollment office",
                429,
            )

    def _fail(self, did: str, reason: str, *subjects: str) -> None:
        now = self.clock.now()
        with self.db.transaction(durable=False) as db:
            for subject in subjects:
                db.execute(
                    "INSERT INTO failures VALUES (?, ?, 1) ON CONFLICT(subject) DO UPDATE SET"
                    " count = CASE WHEN window_start + ? <= ? THEN 1 ELSE count + 1 END,"
                    " window_start = CASE WHEN window_start + ? <= ? THEN ? ELSE window_start END",
                    (
                        subject,
                        now,
                        self.config.failure_window,
                        now,
                        self.config.failure_window,
                        now,
                        now,
                    ),
                )
            self.audit.append("applicant", "enrollment.refused", did, {"reason": reason})

    # -- offers and OpenID4VCI -----------------------------------------------------------------
    def _offer_credential(
        self,
        db: sqlite3.Connection,
        enrollment_id: str,
        credential_type: str,
        holder_did: str,
        claims: Mapping[str, Any],
        selectively_disclosable: set[str],
    ) -> str:
        credential_id = _new_id()
        list_id, index = self._allocate_status(db)
        pending = {
            "holder": holder_did,
            "claims": dict(claims),
            "sd": sorted(selectively_disclosable),
        }
        db.execute(
            "INSERT INTO credentials (id, enrollment_id, type, subject_ref, state, pending,"
            " status_list, status_index, created_at) VALUES (?, ?, ?, ?, 'offered', ?, ?, ?, ?)",
            (
                credential_id,
                enrollment_id,
                credential_type,
                self.secrets.reference("did", holder_did),
                self.secrets.seal(_json(pending), credential_id.encode()),
                list_id,
                index,
                self.clock.now(),
            ),
        )
        return credential_id

    def _offer(self, db: sqlite3.Connection, credential_id: str, credential_type: str) -> Offer:
        code = secrets.token_urlsafe(32)
        db.execute("DELETE FROM grants WHERE credential_id = ?", (credential_id,))
        db.execute(
            "INSERT INTO grants VALUES (?, 'pre-authorized-code', ?, ?)",
            (_token_hash(code), credential_id, self.clock.now() + self.config.offer_ttl),
        )
        return Offer(
            credential_id, credential_offer(self.config.issuer_url, [credential_type], code)
        )

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """OpenID4VCI section 6: exchange a pre-authorized code (single use) for an access token."""
        code = parse_token_request(form)
        access_token = secrets.token_urlsafe(32)
        now = self.clock.now()
        with self.db.transaction(durable=False) as db:
            row = db.execute(
                "DELETE FROM grants WHERE token_hash = ? AND kind = 'pre-authorized-code'"
                " RETURNING credential_id, expires_at",
                (_token_hash(code),),
            ).fetchone()
            if row is None or row[1] < now:
                raise Oid4vciError(
                    "invalid_grant", "the pre-authorized code is unknown, used or expired"
                )
            db.execute(
                "INSERT INTO grants VALUES (?, 'access-token', ?, ?)",
                (_token_hash(access_token), row[0], now + self.config.token_ttl),
            )
        return token_response(access_token, self.config.token_ttl)

    def nonce(self) -> dict[str, Any]:
        """OpenID4VCI section 7: a fresh ``c_nonce`` for one proof of possession."""
        nonce = secrets.token_urlsafe(24)
        with self.db.transaction(durable=False) as db:
            db.execute(
                "INSERT INTO c_nonces VALUES (?, ?)",
                (nonce, self.clock.now() + self.config.challenge_ttl),
            )
        return {"c_nonce": nonce}

    def credential(self, access_token: str | None, body: Any) -> dict[str, Any]:
        """OpenID4VCI section 8: issue the offered credential to the holder of the offered DID."""
        if not access_token or len(access_token) > 256:
            raise Oid4vciError(
                "invalid_token", "a Bearer access token from the token endpoint is required"
            )
        request = parse_credential_request(body)
        now = self.clock.now()
        with self.db.lock:
            row = self.db.connection.execute(
                "SELECT c.id, c.type, c.pending, c.status_list, c.status_index FROM grants g"
                " JOIN credentials c ON c.id = g.credential_id WHERE g.token_hash = ?"
                " AND g.kind = 'access-token' AND g.expires_at >= ? AND c.state = 'offered'",
                (_token_hash(access_token), now),
            ).fetchone()
        if row is None:
            raise Oid4vciError("invalid_token", "the access token is unknown, used or expired")
        credential_id, credential_type, sealed, list_id, index = row
        if request.configuration_id != credential_type:
            raise Oid4vciError(
                "invalid_credential_request",
                f"this access token is for credential configuration '{credential_type}'",
            )
        pending = json.loads(self.secrets.open(sealed, credential_id.encode()))
        holder_did: str = pending["holder"]

        def holder_key(kid: str) -> PublicKey:
            if kid.split("#", 1)[0] != holder_did:
                raise Oid4vciError(
                    "invalid_proof",
                    "the proof must be signed by a key of the DID the credential is for",
                )
            try:
                return self.resolver.key(kid, purpose="authentication")
            except DidKeyError as e:
                raise Oid4vciError("invalid_proof", f"proof key: {e}") from e

        proof = verify_proof_jwt(
            request.proof_jwts[0],
            resolve_key=holder_key,
            expected_audience=self.config.issuer_url,
            now=now,
            max_age=self.config.application_max_age,
            policy=self.config.policy,
        )
        with self.db.transaction(durable=False) as db:
            spent = db.execute(
                "DELETE FROM c_nonces WHERE nonce = ? RETURNING expires_at", (proof.nonce,)
            ).fetchone()
        if spent is None or spent[0] < now:
            raise Oid4vciError(
                "invalid_nonce", "the proof's nonce is unknown, used or expired: get a new c_nonce"
            )
        lifetime = {
            REAL_NAME: self.config.real_name_lifetime,
            SITE_PROOF: self.config.site_proof_lifetime,
            BUSINESS: self.config.business_lifetime,
            RP_REGISTRATION: self.config.rp_registration_lifetime,
        }[credential_type]
        signer, key_id = self.issuer.signer, self.issuer.key_id
        sd_jwt = issue(
            pending["claims"],
            selectively_disclosable=set(pending["sd"]),
            issuer=self.issuer.did,
            signer=signer,
            key_id=key_id,
            holder_jwk=proof.public_key.to_jwk(),
            vct=VCT[credential_type],
            issued_at=now,
            expires_at=now + lifetime,
            salt=self.salt,
            status=status_reference(self.status_list_uri(list_id), index),
            subject=holder_did,
        )
        with self.db.transaction() as db:
            updated = db.execute(
                "UPDATE credentials SET state = 'issued', pending = NULL, issued_at = ?, expires_at = ?"
                " WHERE id = ? AND state = 'offered'",
                (now, now + lifetime, credential_id),
            ).rowcount
            if updated != 1:
                raise Oid4vciError(
                    "invalid_token", "this credential was issued or revoked meanwhile"
                )
            db.execute("DELETE FROM grants WHERE credential_id = ?", (credential_id,))
        return credential_response([sd_jwt])

    # -- status lists and revocation ----------------------------------------------------------
    def _allocate_status(self, db: sqlite3.Connection) -> tuple[int, int]:
        """A random free index (so indices reveal nothing about issuance order)."""
        row = db.execute(
            "SELECT id, size, allocated FROM status_lists ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None or row[2] * 2 >= row[1]:  # keep lists at most half full: cheap retries
            list_id = 1 if row is None else row[0] + 1
            db.execute(
                "INSERT INTO status_lists VALUES (?, ?, 0, 0)",
                (list_id, self.config.status_list_size),
            )
            size = self.config.status_list_size
        else:
            list_id, size = row[0], row[1]
        while True:
            index = secrets.randbelow(size)
            taken = db.execute(
                "SELECT 1 FROM credentials WHERE status_list = ? AND status_index = ?",
                (list_id, index),
            ).fetchone()
            if taken is None:
                break
        db.execute("UPDATE status_lists SET allocated = allocated + 1 WHERE id = ?", (list_id,))
        return list_id, index

    def status_list_jwt(self, list_id: int) -> str | None:
        """The signed status list token (cached until half its TTL or a revocation)."""
        with self.db.lock:
            row = self.db.connection.execute(
                "SELECT size, revision FROM status_lists WHERE id = ?", (list_id,)
            ).fetchone()
        if row is None:
            return None
        size, revision = row
        now = self.clock.now()
        with self._cache_lock:
            cached = self._status_cache.get(list_id)
            if cached is not None and cached.revision == revision and cached.expires_at > now:
                return cached.jwt
        with self.db.lock:
            revoked = self.db.connection.execute(
                "SELECT status_index FROM credentials WHERE status_list = ? AND state = 'revoked'",
                (list_id,),
            ).fetchall()
        status_list = StatusList(size)
        for (index,) in revoked:
            status_list.set(index, StatusValue.INVALID)
        jwt = sign_status_list(
            status_list,
            uri=self.status_list_uri(list_id),
            issuer=self.issuer.did,
            signer=self.issuer.signer,
            key_id=self.issuer.key_id,
            issued_at=now,
            expires_at=now + self.config.status_list_validity,
            ttl=self.config.status_list_ttl,
        )
        with self._cache_lock:
            self._status_cache[list_id] = _CachedList(
                revision, now + self.config.status_list_ttl // 2, jwt
            )
        return jwt

    def _revoke(self, db: sqlite3.Connection, credential_id: str, reason: str) -> bool:
        row = db.execute(
            "UPDATE credentials SET state = 'revoked', pending = NULL, revoked_at = ?,"
            " revocation_reason = ? WHERE id = ? AND state != 'revoked' RETURNING status_list",
            (self.clock.now(), reason, credential_id),
        ).fetchone()
        if row is None:
            return False
        db.execute("UPDATE status_lists SET revision = revision + 1 WHERE id = ?", (row[0],))
        db.execute("DELETE FROM grants WHERE credential_id = ?", (credential_id,))
        return True

    def _revoke_credentials(
        self,
        db: sqlite3.Connection,
        enrollment_id: str,
        reason: str,
        *,
        types: tuple[str, ...] | None = None,
    ) -> int:
        rows = db.execute(
            "SELECT id, type FROM credentials WHERE enrollment_id = ? AND state != 'revoked'",
            (enrollment_id,),
        ).fetchall()
        return sum(
            self._revoke(db, cid, reason) for cid, ctype in rows if types is None or ctype in types
        )

    def _end_enrollment(
        self, db: sqlite3.Connection, enrollment_id: str, state: str, reason: str
    ) -> int:
        db.execute(
            "UPDATE enrollments SET state = ?, ended_at = ?, end_reason = ? WHERE id = ?",
            (state, self.clock.now(), reason, enrollment_id),
        )
        count = self._revoke_credentials(db, enrollment_id, reason)
        self.audit.append(
            "authority", "credentials.revoked", enrollment_id, {"reason": reason, "count": count}
        )
        return count

    # -- operators ------------------------------------------------------------------------------
    def revoke(
        self,
        operator: Operator,
        *,
        reason: str,
        did: str | None = None,
        id_number: str | None = None,
    ) -> int:
        """Revoke every credential of the enrollment found by root DID or by ID number."""
        if reason not in _ADMIN_REASONS:
            raise _refused(
                "invalid-reason", f"reason must be one of {', '.join(sorted(_ADMIN_REASONS))}"
            )
        if (did is None) == (id_number is None):
            raise _refused("invalid-request", "give exactly one of did or id_number")
        with self.db.transaction() as db:
            if did is not None:
                row = db.execute(
                    "SELECT id FROM enrollments WHERE did = ? AND state = 'active'", (did,)
                ).fetchone()
            else:
                parsed = validate_id_number(id_number or "", clock=self.clock)
                row = db.execute(
                    "SELECT id FROM enrollments WHERE kind = 'resident' AND subject_ref = ?"
                    " AND state = 'active'",
                    (self.secrets.reference("id", parsed.id_number),),
                ).fetchone()
            if row is None:
                raise _refused("enrollment-not-found", "no active enrollment matches", 404)
            count = self._end_enrollment(db, row[0], "revoked", reason)
            self.audit.append(operator.id, "revocation", row[0], {"reason": reason, "count": count})
        return count

    def clear_lockout(self, operator: Operator, id_number: str) -> bool:
        """After an in-person check, let a locked-out ID number try again."""
        parsed = validate_id_number(id_number, clock=self.clock)
        subject = self.secrets.reference("id", parsed.id_number)
        with self.db.transaction() as db:
            cleared = db.execute("DELETE FROM failures WHERE subject = ?", (subject,)).rowcount
            self.audit.append(
                operator.id, "lockout.cleared", subject[:16], {"cleared": bool(cleared)}
            )
        return bool(cleared)

    def rotate_issuer_key(self, operator: Operator, rotate: Callable[[], str]) -> str:
        key_id = rotate()
        with self.db.transaction():
            self.audit.append(operator.id, "issuer-key.rotated", key_id, {})
        with self._cache_lock:
            self._status_cache.clear()
        return key_id

    def authenticate(self, token: str | None, require: Role | set[Role]) -> Operator:
        with self.db.lock:
            return self.operators.authenticate(token, require=require)

    # -- helpers -------------------------------------------------------------------------------
    def _write_escrow(
        self, db: sqlite3.Connection, enrollment_id: str, record: Mapping[str, str]
    ) -> str:
        escrow_id = _new_id()
        sealed = seal_record(
            self.escrow,
            {**record, "enrollment": enrollment_id, "at": str(self.clock.now())},
            associated_data=escrow_id.encode(),
        )
        db.execute(
            "INSERT INTO escrow VALUES (?, ?, ?, ?)",
            (escrow_id, self.escrow.key_id, sealed, self.clock.now()),
        )
        return escrow_id

    def _today(self) -> datetime.date:
        return datetime.datetime.fromtimestamp(self.clock.now(), tz=datetime.UTC).date()


# -- claims ---------------------------------------------------------------------------------------
_REAL_NAME_CLAIMS = (
    "family_name",
    "given_name",
    "id_number",
    "birth_date",
    "sex",
    "region",
    "age_over_18",
    "age_over_60",
    "verified_person",
    "assurance_level",
)
_REAL_NAME_SD = {
    "family_name",
    "given_name",
    "id_number",
    "birth_date",
    "sex",
    "region",
    "age_over_18",
    "age_over_60",
}
_SITE_CLAIMS = ("verified_person", "age_over_18", "age_over_60", "province", "assurance_level")
_SITE_SD = {"age_over_18", "age_over_60", "province"}
_BUSINESS_CLAIMS = ("company_name", "unified_social_credit_code", "legal_representative", "region")
_RP_CLAIMS = ("rp_name", "purpose", "permitted")
# What an RP may be permitted to request: credential vct -> its claims.
_PERMITTABLE = {VCT[SITE_PROOF]: _SITE_CLAIMS, VCT[REAL_NAME]: _REAL_NAME_CLAIMS}


def _age(birth: datetime.date, today: datetime.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _real_name_claims(resident: Any, today: datetime.date) -> dict[str, Any]:
    age = _age(resident.birth_date, today)
    return {
        "family_name": resident.family_name,
        "given_name": resident.given_name,
        "id_number": resident.id_number,
        "birth_date": resident.birth_date.isoformat(),
        "sex": resident.sex,
        "region": resident.region_code,
        "age_over_18": age >= 18,
        "age_over_60": age >= 60,
        "verified_person": True,
        "assurance_level": ASSURANCE_LEVEL,
    }


def _site_claims(profile: Mapping[str, str], today: datetime.date) -> dict[str, Any]:
    age = _age(datetime.date.fromisoformat(profile["birth_date"]), today)
    return {
        "verified_person": True,
        "assurance_level": ASSURANCE_LEVEL,
        "age_over_18": age >= 18,
        "age_over_60": age >= 60,
        "province": profile["province"],
    }


def _string(claims: Mapping[str, Any], name: str, limit: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _refused(
            f"invalid-{name.replace('_', '-')}",
            f"{name} must be a string of 1 to {limit} characters",
        )
    return value


def _name(claims: Mapping[str, Any]) -> str:
    value = _string(claims, "name", _MAX_NAME)
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise _refused("invalid-name", "name must not contain control characters")
    return _normal(value)


def _purpose(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= _MAX_PURPOSE
        or any(unicodedata.category(c).startswith("C") for c in value)
    ):
        raise _refused(
            "invalid-purpose",
            f"purpose must be 1 to {_MAX_PURPOSE} characters without control characters",
        )
    return value


def _permitted(value: Any) -> dict[str, list[str]]:
    """``{vct: sorted unique claim names}``, each name a claim of that credential type."""
    if not isinstance(value, Mapping) or not value:
        raise _refused(
            "invalid-permitted-claims",
            "permitted must map at least one credential type to the claims the RP may request",
        )
    allowed: dict[str, list[str]] = {}
    for vct, names in value.items():
        claims = _PERMITTABLE.get(vct) if isinstance(vct, str) else None
        if claims is None:
            raise _refused(
                "invalid-permitted-claims",
                f"permitted credential types are {' and '.join(sorted(_PERMITTABLE))}",
            )
        if (
            isinstance(names, str)
            or not isinstance(names, Sequence)
            or not names
            or not all(isinstance(n, str) and n in claims for n in names)
        ):
            raise _refused(
                "invalid-permitted-claims",
                f"{vct} needs a non-empty list of claims from: {', '.join(claims)}",
            )
        allowed[vct] = sorted(set(names))
    return dict(sorted(allowed.items()))


def _normal(text: str) -> str:
    """Names compare after Unicode NFC and with all whitespace removed ("王 伟" == "王伟")."""
    return "".join(unicodedata.normalize("NFC", text).split())


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _new_id() -> str:
    return secrets.token_urlsafe(16)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
