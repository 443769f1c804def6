"""Enrollment: residents and enterprises prove who they are and get their first credential.

* **resident** (:meth:`Enrollment.enroll`) — the application names an ID number, a name and
  a face capture. The number's form is checked (GB 11643-1999), then the register entry,
  the name and the face. On success one durable transaction writes the enrollment
  (superseding — and revoking — the resident's previous root DID), the escrow record (the
  DID-to-identity link, sealed to the trustees), and an offered RealName credential.
* **enterprise** (:meth:`Enrollment.enroll_business`) — the same against the business
  register, by unified social credit code, company name and legal representative.
* **site proof** (:meth:`Enrollment.request_site_proof`) — an enrolled resident, signing with
  the root DID, asks for a SiteProof for a per-site DID; the link goes to escrow too.

Failed identity checks do not reveal whether an ID number exists: an unknown number and a
wrong name give the same answer (``identity-mismatch``); the face is compared only once the
number and name match (against a dummy template when the number is unknown, so the timing
is the same), so ``face-mismatch`` tells nothing to someone who did not already know both.
The precise reason goes to the audit log, and each failure counts towards the lockouts.

A retry after a lost answer or a crash — the same DID for the same identity while the
credential is still offered — gets the same credential (same id, same status index) with a
fresh pre-authorized code.

Each flow reads the enrollments it decides on (the DID taken? the subject's current
enrollment? its offered credential?) and writes in one transaction under
:data:`~realdid.authority._store.ENROLLMENTS_LOCK`: on PostgreSQL two enrollments of one
resident at the same moment would otherwise both supersede the same enrollment.

Tables: ``enrollments``, ``escrow``, and the lookups of credentials an enrollment resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from realdid.clock import Clock
from realdid.credentials import BUSINESS_TYP, ENROLLMENT_TYP, SITE_PROOF_TYP
from realdid.randomness import Randomness
from realdid.storage import Transaction

from ._applications import MAX_NAME, Applications, claim_name, claim_text, normal_name
from ._audit import AuditLog
from ._business import BusinessRegister, validate_uscc
from ._claims import (
    BUSINESS,
    BUSINESS_SD,
    REAL_NAME,
    REAL_NAME_SD,
    SITE_PROOF,
    SITE_SD,
    business_claims,
    real_name_claims,
    resident_profile,
    site_claims,
    today,
)
from ._errors import AuthorityError, EnrollmentError
from ._escrow import EscrowSealer, seal_record
from ._face import FaceMatcher, decode_face
from ._id_numbers import validate_id_number
from ._issuance import Issuance, Offer
from ._lockouts import FailureLockouts
from ._register import PopulationRegister
from ._resolver import DidKeyResolver
from ._revocation import Revocation
from ._secrets import ServiceSecrets
from ._store import ENROLLMENTS_LOCK, RECORD_ID_BYTES, AuthorityDatabase

log = logging.getLogger(__name__)

_DUMMY_TEMPLATE = b"\x00\x00\x80\x3f" + bytes(252)  # unit vector: equalises unknown-ID timing


class EnrollmentStatements:
    """``enrollments`` and ``escrow`` rows, and the offered credentials an enrollment resumes."""

    def active_by_did(self, tx: Transaction, did: str) -> tuple[str, str] | None:
        """``(kind, subject_ref)`` of the DID's active enrollment."""
        row = tx.execute(
            "SELECT kind, subject_ref FROM enrollments WHERE did = ? AND state = 'active'",
            (did,),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def is_active_did(self, tx: Transaction, did: str) -> bool:
        return (
            tx.execute(
                "SELECT 1 FROM enrollments WHERE did = ? AND state = 'active'", (did,)
            ).fetchone()
            is not None
        )

    def revoked_for_death(self, tx: Transaction, kind: str, subject_ref: str) -> bool:
        return (
            tx.execute(
                "SELECT 1 FROM enrollments WHERE kind = ? AND subject_ref = ? AND state = 'revoked'"
                " AND end_reason = 'death'",
                (kind, subject_ref),
            ).fetchone()
            is not None
        )

    def active_of_subject(
        self, tx: Transaction, kind: str, subject_ref: str
    ) -> tuple[str, str] | None:
        """``(id, did)`` of the subject's active enrollment."""
        row = tx.execute(
            "SELECT id, did FROM enrollments WHERE kind = ? AND subject_ref = ? AND state = 'active'",
            (kind, subject_ref),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def active_resident_by_did(self, tx: Transaction, did: str) -> tuple[str, bytes] | None:
        """``(id, sealed profile)`` of the resident enrollment whose root DID is ``did``.

        A resident enrollment is always written with its profile (what site proofs need).
        """
        row = tx.execute(
            "SELECT id, profile FROM enrollments WHERE did = ? AND state = 'active' AND kind = 'resident'",
            (did,),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def insert(
        self,
        tx: Transaction,
        enrollment_id: str,
        kind: str,
        subject_ref: str,
        did: str,
        sealed_profile: bytes | None,
        escrow_id: str,
        now: int,
    ) -> None:
        tx.execute(
            "INSERT INTO enrollments (id, kind, subject_ref, did, state, profile, escrow_id,"
            " created_at) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)",
            (enrollment_id, kind, subject_ref, did, sealed_profile, escrow_id, now),
        )

    def set_profile(self, tx: Transaction, enrollment_id: str, sealed: bytes) -> None:
        tx.execute("UPDATE enrollments SET profile = ? WHERE id = ?", (sealed, enrollment_id))

    def insert_escrow(
        self, tx: Transaction, escrow_id: str, key_id: str, sealed: bytes, now: int
    ) -> None:
        tx.execute(
            "INSERT INTO escrow (id, key_id, sealed, created_at) VALUES (?, ?, ?, ?)",
            (escrow_id, key_id, sealed, now),
        )

    def offered_of_type(
        self, tx: Transaction, enrollment_id: str, credential_type: str
    ) -> str | None:
        row = tx.execute(
            "SELECT id FROM credentials WHERE enrollment_id = ? AND type = ? AND state = 'offered'",
            (enrollment_id, credential_type),
        ).fetchone()
        return None if row is None else str(row[0])

    def offered_to(self, tx: Transaction, subject_ref: str, enrollment_id: str) -> str | None:
        row = tx.execute(
            "SELECT id FROM credentials WHERE subject_ref = ? AND enrollment_id = ? AND state = 'offered'",
            (subject_ref, enrollment_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def issued_to(self, tx: Transaction, subject_ref: str, enrollment_id: str) -> list[str]:
        rows = tx.execute(
            "SELECT id FROM credentials WHERE subject_ref = ? AND enrollment_id = ?"
            " AND state = 'issued'",
            (subject_ref, enrollment_id),
        ).fetchall()
        return [str(row[0]) for row in rows]


@dataclass(frozen=True, slots=True)
class SealedEscrow:
    """An escrow record sealed to the trustees' key, ready to be written."""

    escrow_id: str
    key_id: str
    sealed: bytes
    at: int


@dataclass(slots=True)
class Enrollment:
    """The enrollment flows: resident, enterprise, and site proofs for an enrolled resident."""

    db: AuthorityDatabase
    secrets: ServiceSecrets
    escrow: EscrowSealer
    register: PopulationRegister
    business_register: BusinessRegister
    faces: FaceMatcher
    resolver: DidKeyResolver
    audit: AuditLog
    applications: Applications
    lockouts: FailureLockouts
    issuance: Issuance
    revocation: Revocation
    clock: Clock
    randomness: Randomness
    statements: EnrollmentStatements = field(init=False, default_factory=EnrollmentStatements)

    def enroll(self, application_jws: str, *, client: str) -> Offer:
        """Check a signed enrollment application; on success offer a RealName credential."""
        client_ref = self.secrets.reference("client", client)
        application = self.applications.verify(application_jws, ENROLLMENT_TYP, client_ref)
        id_text = claim_text(application.claims, "id_number", 32)
        name = claim_name(application.claims)
        capture = decode_face(claim_text(application.claims, "face", 4096))
        try:
            parsed = validate_id_number(id_text, clock=self.clock)
        except AuthorityError as e:
            self.lockouts.record(application.did, e.code, client_ref)
            raise
        subject = self.secrets.reference("id", parsed.id_number)
        self.lockouts.require_unlocked(subject)
        resident = self.register.lookup(parsed.id_number)
        template = resident.face_template if resident is not None else _DUMMY_TEMPLATE
        face = self.faces.compare(template, capture)
        if resident is None or normal_name(resident.family_name + resident.given_name) != name:
            reason = "unknown-id-number" if resident is None else "name-mismatch"
            self.lockouts.record(application.did, reason, client_ref, subject)
            raise EnrollmentError(
                "identity-mismatch",
                "the ID number and name do not match a register entry; check both and try again",
            )
        if not face.matched:
            self.lockouts.record(application.did, "face-mismatch", client_ref, subject)
            raise EnrollmentError("face-mismatch", "the face capture does not match the register")
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
            resident_profile(resident),
            REAL_NAME,
            real_name_claims(resident, today(self.clock)),
            REAL_NAME_SD,
        )

    def enroll_business(self, application_jws: str, *, client: str) -> Offer:
        """Check a signed business application against the business register; offer a Business credential."""
        client_ref = self.secrets.reference("client", client)
        application = self.applications.verify(application_jws, BUSINESS_TYP, client_ref)
        uscc_text = claim_text(application.claims, "uscc", 32)
        company = normal_name(claim_text(application.claims, "company_name", MAX_NAME))
        representative = normal_name(
            claim_text(application.claims, "legal_representative", MAX_NAME)
        )
        try:
            uscc = validate_uscc(uscc_text)
        except AuthorityError as e:
            self.lockouts.record(application.did, e.code, client_ref)
            raise
        subject = self.secrets.reference("uscc", uscc)
        self.lockouts.require_unlocked(subject)
        enterprise = self.business_register.lookup(uscc)
        if (
            enterprise is None
            or normal_name(enterprise.name) != company
            or normal_name(enterprise.legal_representative) != representative
        ):
            self.lockouts.record(application.did, "enterprise-mismatch", client_ref, subject)
            raise EnrollmentError(
                "enterprise-mismatch",
                "the credit code, company name and legal representative do not match the business register",
            )
        identity = {"uscc": enterprise.uscc}
        return self._enroll_subject(
            "enterprise",
            subject,
            application.did,
            identity,
            identity,  # the profile: RP registration looks the company up again by its code
            BUSINESS,
            business_claims(enterprise),
            BUSINESS_SD,
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
        selectively_disclosable: Set[str],
    ) -> Offer:
        """One durable transaction: the enrollment, its escrow record and the offered credential.

        Everything sealed (escrow record, profile, the credential's claims) is sealed before
        the transaction: the transaction holds the enrollment and audit-log locks every other
        enrollment waits for, so it does SQL only.
        """
        now = self.clock.now()
        new_enrollment = self.randomness.token(RECORD_ID_BYTES)  # used unless this is a resume
        escrow = self._seal_escrow(new_enrollment, {"did": did, "kind": kind, **identity})
        new_profile = (
            None if profile is None else self.secrets.seal_json(profile, new_enrollment.encode())
        )
        offered = self.issuance.seal_offer(credential_type, did, claims, selectively_disclosable)
        with self.audit.transaction() as tx:
            tx.lock(ENROLLMENTS_LOCK)
            taken = self.statements.active_by_did(tx, did)
            if taken is not None and taken != (kind, subject):
                raise EnrollmentError(
                    "did-already-enrolled",
                    "this DID is already enrolled for someone else",
                )
            if self.statements.revoked_for_death(tx, kind, subject):
                # Only reachable after register, name and face all matched: leaks nothing.
                raise EnrollmentError(
                    "enrollment-blocked",
                    "this identity cannot be enrolled online; visit an enrollment office",
                )
            current = self.statements.active_of_subject(tx, kind, subject)
            if current is not None and current[1] == did:
                enrollment_id = current[0]
                pending = self.statements.offered_of_type(tx, enrollment_id, credential_type)
                if pending is not None:  # a retry after a crash or a lost answer: same credential
                    self.audit.append(tx, "applicant", "enrollment.resumed", did, {"kind": kind})
                    return self.issuance.offer(tx, pending, credential_type)
                if profile is not None:  # enrollments from before a profile was kept get one
                    self.statements.set_profile(
                        tx, enrollment_id, self.secrets.seal_json(profile, enrollment_id.encode())
                    )
                self.revocation.revoke_credentials(
                    tx, enrollment_id, "superseded", types=(credential_type,)
                )
            else:
                if current is not None:
                    self.revocation.end_enrollment(tx, current[0], "superseded", "re-enrollment")
                enrollment_id = new_enrollment
                self._write_escrow(tx, escrow)
                self.statements.insert(
                    tx, enrollment_id, kind, subject, did, new_profile, escrow.escrow_id, now
                )
            credential_id = self.issuance.offer_credential(tx, enrollment_id, offered)
            self.audit.append(tx, "applicant", "enrollment.accepted", did, {"kind": kind})
            offer = self.issuance.offer(tx, credential_id, credential_type)
        log.info("enrollment accepted (%s)", kind)
        return offer

    def request_site_proof(self, application_jws: str, *, client: str) -> Offer:
        """A resident (signing with their enrolled root DID) asks for a site proof for another DID."""
        client_ref = self.secrets.reference("client", client)
        application = self.applications.verify(application_jws, SITE_PROOF_TYP, client_ref)
        site_did = claim_text(application.claims, "site_did", 256)
        if site_did == application.did:
            raise EnrollmentError(
                "invalid-application", "site_did must be a different DID from the root DID"
            )
        self.resolver.document(site_did)  # anchored and not deactivated, else DidKeyError
        with self.audit.transaction() as tx:
            tx.lock(ENROLLMENTS_LOCK)
            row = self.statements.active_resident_by_did(tx, application.did)
            if row is None:
                raise EnrollmentError(
                    "not-enrolled", "this DID is not an enrolled root DID: enroll first"
                )
            if self.statements.is_active_did(tx, site_did):
                raise EnrollmentError(
                    "invalid-application", "site_did is an enrolled root DID; use a per-site DID"
                )
            enrollment_id, sealed_profile = row
            subject = self.secrets.reference("did", site_did)
            pending = self.statements.offered_to(tx, subject, enrollment_id)
            if pending is not None:
                return self.issuance.offer(tx, pending, SITE_PROOF)
            # Only this resident's own earlier proof for the site DID is superseded: naming
            # someone else's (public) site DID must not revoke their credential.
            for old in self.statements.issued_to(tx, subject, enrollment_id):
                self.revocation.revoke_credential(tx, old, "superseded")
            profile = self.secrets.open_json(sealed_profile, enrollment_id.encode())
            escrow = self._seal_escrow(
                enrollment_id, {"site_did": site_did, "root_did": application.did, "kind": "site"}
            )
            self._write_escrow(tx, escrow)
            offered = self.issuance.seal_offer(
                SITE_PROOF, site_did, site_claims(profile, today(self.clock)), SITE_SD
            )
            credential_id = self.issuance.offer_credential(tx, enrollment_id, offered)
            self.audit.append(tx, "applicant", "site-proof.offered", application.did, {})
            return self.issuance.offer(tx, credential_id, SITE_PROOF)

    def _seal_escrow(self, enrollment_id: str, record: Mapping[str, str]) -> SealedEscrow:
        """Seal the DID-to-identity link to the trustees' key (the service cannot open it)."""
        escrow_id = self.randomness.token(RECORD_ID_BYTES)
        now = self.clock.now()
        sealed = seal_record(
            self.escrow,
            {**record, "enrollment": enrollment_id, "at": str(now)},
            associated_data=escrow_id.encode(),
        )
        return SealedEscrow(escrow_id, self.escrow.key_id, sealed, now)

    def _write_escrow(self, tx: Transaction, escrow: SealedEscrow) -> None:
        self.statements.insert_escrow(tx, escrow.escrow_id, escrow.key_id, escrow.sealed, escrow.at)
