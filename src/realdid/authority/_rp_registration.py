"""Relying-party registration: an RpRegistration credential for an enrolled enterprise DID.

An ``rp-registrar`` operator registers a relying party by its enterprise DID, the purpose it
shows residents, and the claims it may request from each credential type. The credential
names the company as the business register has it *now* (looked up again by the credit code
kept, sealed, with the business enrollment), so a company cannot register under a name it
chose. Registering again supersedes — revokes — the DID's previous registration, issued or
still offered, in the same durable transaction as the new offer and its audit entry (which
records the permitted claims, never the company or purpose text).

Table: ``enrollments`` (read).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from realdid.credentials import RpRegistration
from realdid.storage import Transaction

from ._audit import AuditLog
from ._business import BusinessRegister
from ._claims import RP_REGISTRATION, parse_permitted, parse_purpose
from ._errors import EnrollmentError
from ._issuance import Issuance, Offer
from ._operators import Operator
from ._revocation import Revocation
from ._secrets import ServiceSecrets
from ._store import ENROLLMENTS_LOCK, AuthorityDatabase

log = logging.getLogger(__name__)


class RpRegistrationStatements:
    """The one lookup registration needs: the DID's active enrollment."""

    def active_by_did(self, tx: Transaction, did: str) -> tuple[str, str, bytes | None] | None:
        """``(id, kind, sealed profile)``; the profile is None for pre-RP business enrollments."""
        row = tx.execute(
            "SELECT id, kind, profile FROM enrollments WHERE did = ? AND state = 'active'",
            (did,),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])


@dataclass(slots=True)
class RpRegistrar:
    """Offers RpRegistration credentials to enrolled enterprises."""

    db: AuthorityDatabase
    secrets: ServiceSecrets
    business_register: BusinessRegister
    audit: AuditLog
    issuance: Issuance
    revocation: Revocation
    statements: RpRegistrationStatements = field(
        init=False, default_factory=RpRegistrationStatements
    )

    def register(
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
        text = parse_purpose(purpose)
        allowed = parse_permitted(permitted)
        with self.audit.transaction() as tx:
            tx.lock(ENROLLMENTS_LOCK)  # the registration superseded is the one revoked
            row = self.statements.active_by_did(tx, did)
            if row is None or row[1] != "enterprise":
                raise EnrollmentError(
                    "not-an-enterprise",
                    "this DID has no active business enrollment: enroll the enterprise first",
                )
            enrollment_id, _, sealed_profile = row
            if sealed_profile is None:
                raise EnrollmentError(
                    "re-enrollment-required",
                    "this enterprise enrolled before RP registration existed: enroll it again",
                )
            profile = self.secrets.open_json(sealed_profile, enrollment_id.encode())
            enterprise = self.business_register.lookup(profile["uscc"])
            if enterprise is None:
                raise EnrollmentError(
                    "enterprise-not-found",
                    "the enterprise is no longer in the business register",
                )
            self.revocation.revoke_credentials(
                tx, enrollment_id, "superseded", types=(RP_REGISTRATION,)
            )
            offered = self.issuance.seal_offer(
                RP_REGISTRATION,
                did,
                RpRegistration(enterprise.name, text, allowed).to_dict(),
                frozenset(),
            )
            credential_id = self.issuance.offer_credential(tx, enrollment_id, offered)
            self.audit.append(
                tx,
                operator.id,
                "rp.registered",
                did,
                {vct: ",".join(names) for vct, names in allowed.items()},
            )
            offer = self.issuance.offer(tx, credential_id, RP_REGISTRATION)
        log.info("relying party registered")
        return offer
