"""Revocation: ending an enrollment, and revoking credentials by flipping their status bits.

A credential is revoked by setting its state to ``revoked`` (its sealed claims, if it was
still offered, are dropped), bumping its status list's revision so the signed list is
re-published with the bit set, and deleting its grants so an uncollected offer cannot be
redeemed any more. An enrollment ends as ``superseded`` (the resident re-enrolled with a new
DID) or ``revoked`` (by an operator, for one of :data:`REVOCATION_REASONS`); either way
every credential issued from it is revoked in the same transaction, with one audit entry.

Everything here runs inside the caller's transaction except :meth:`Revocation.revoke`, the
operator action, which commits durably. Revoking one credential is one ``UPDATE … WHERE
state != 'revoked' RETURNING``, so of two transactions revoking it exactly one does (and
bumps its list's revision); finding and ending an enrollment runs under
:data:`~realdid.authority._store.ENROLLMENTS_LOCK`, like every decision on an enrollment.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from realdid.clock import Clock
from realdid.storage import Transaction

from ._audit import AuditLog
from ._errors import EnrollmentError
from ._id_numbers import validate_id_number
from ._issuance import Issuance
from ._operators import Operator
from ._secrets import ServiceSecrets
from ._status_lists import StatusLists
from ._store import ENROLLMENTS_LOCK, AuthorityDatabase

REVOCATION_REASONS = (
    "death",
    "fraud",
    "lost-document",
    "court-order",
    "re-enrollment",
    "superseded",
)
# What an operator may give; the other two are the service's own.
_ADMIN_REASONS = frozenset(REVOCATION_REASONS) - {"re-enrollment", "superseded"}


class RevocationStatements:
    """Ending ``enrollments`` rows and revoking ``credentials`` rows."""

    def revoke(self, tx: Transaction, credential_id: str, reason: str, now: int) -> int | None:
        """The status list of the credential revoked now; None if it already was."""
        row = tx.execute(
            "UPDATE credentials SET state = 'revoked', pending = NULL, revoked_at = ?,"
            " revocation_reason = ? WHERE id = ? AND state != 'revoked' RETURNING status_list",
            (now, reason, credential_id),
        ).fetchone()
        return None if row is None else int(row[0])

    def unrevoked(self, tx: Transaction, enrollment_id: str) -> list[tuple[str, str]]:
        """``(id, type)`` of the enrollment's credentials that are not revoked."""
        rows = tx.execute(
            "SELECT id, type FROM credentials WHERE enrollment_id = ? AND state != 'revoked'",
            (enrollment_id,),
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def end_enrollment(
        self, tx: Transaction, enrollment_id: str, state: str, reason: str, now: int
    ) -> None:
        tx.execute(
            "UPDATE enrollments SET state = ?, ended_at = ?, end_reason = ? WHERE id = ?",
            (state, now, reason, enrollment_id),
        )

    def active_by_did(self, tx: Transaction, did: str) -> str | None:
        row = tx.execute(
            "SELECT id FROM enrollments WHERE did = ? AND state = 'active'", (did,)
        ).fetchone()
        return None if row is None else str(row[0])

    def active_resident(self, tx: Transaction, subject_ref: str) -> str | None:
        row = tx.execute(
            "SELECT id FROM enrollments WHERE kind = 'resident' AND subject_ref = ?"
            " AND state = 'active'",
            (subject_ref,),
        ).fetchone()
        return None if row is None else str(row[0])


@dataclass(slots=True)
class Revocation:
    """Revokes credentials and ends enrollments; the operator's revocation action."""

    db: AuthorityDatabase
    secrets: ServiceSecrets
    audit: AuditLog
    clock: Clock
    status_lists: StatusLists
    issuance: Issuance
    statements: RevocationStatements = field(init=False, default_factory=RevocationStatements)

    def revoke_credential(self, tx: Transaction, credential_id: str, reason: str) -> bool:
        """Revoke one credential in ``tx``; False if it already was."""
        list_id = self.statements.revoke(tx, credential_id, reason, self.clock.now())
        if list_id is None:
            return False
        self.status_lists.revise(tx, list_id)
        self.issuance.drop_grants(tx, credential_id)
        return True

    def revoke_credentials(
        self,
        tx: Transaction,
        enrollment_id: str,
        reason: str,
        *,
        types: Collection[str] | None = None,
    ) -> int:
        """Revoke the enrollment's credentials (of ``types``, or all); how many were."""
        return sum(
            self.revoke_credential(tx, credential_id, reason)
            for credential_id, credential_type in self.statements.unrevoked(tx, enrollment_id)
            if types is None or credential_type in types
        )

    def end_enrollment(self, tx: Transaction, enrollment_id: str, state: str, reason: str) -> int:
        """End the enrollment as ``state`` and revoke all its credentials, audited together."""
        self.statements.end_enrollment(tx, enrollment_id, state, reason, self.clock.now())
        count = self.revoke_credentials(tx, enrollment_id, reason)
        self.audit.append(
            tx,
            "authority",
            "credentials.revoked",
            enrollment_id,
            {"reason": reason, "count": count},
        )
        return count

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
            raise EnrollmentError(
                "invalid-reason", f"reason must be one of {', '.join(sorted(_ADMIN_REASONS))}"
            )
        if (did is None) == (id_number is None):
            raise EnrollmentError("invalid-request", "give exactly one of did or id_number")
        with self.audit.transaction() as tx:
            tx.lock(ENROLLMENTS_LOCK)
            if did is not None:
                enrollment_id = self.statements.active_by_did(tx, did)
            else:
                parsed = validate_id_number(id_number or "", clock=self.clock)
                enrollment_id = self.statements.active_resident(
                    tx, self.secrets.reference("id", parsed.id_number)
                )
            if enrollment_id is None:
                raise EnrollmentError("enrollment-not-found", "no active enrollment matches")
            count = self.end_enrollment(tx, enrollment_id, "revoked", reason)
            self.audit.append(
                tx, operator.id, "revocation", enrollment_id, {"reason": reason, "count": count}
            )
        return count
