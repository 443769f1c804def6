"""Failure lockouts: failed identity checks are counted per subject and per client.

A *subject* is the HMAC reference of an ID number or credit code (so a lockout follows the
identity being tried, whoever tries it); a *client* is the HMAC reference of the caller's
address. Each has one fixed window of :attr:`~AuthorityConfig.failure_window` seconds that
starts at its first failure; once a window holds the configured number of failures, every
further attempt is refused with ``too-many-attempts`` (429) — even with correct data — until
the window ends or an operator clears it after an in-person check.

Counters are short-lived protocol state: they commit with ``durable=False`` (they survive a
crash, a power loss may forget them), the refusal's audit entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from realdid.clock import Clock
from realdid.storage import Transaction

from ._audit import AuditLog
from ._config import AuthorityConfig
from ._errors import EnrollmentError
from ._id_numbers import validate_id_number
from ._operators import Operator
from ._secrets import ServiceSecrets
from ._store import AuthorityDatabase


class FailureStatements:
    """The ``failures`` table: one row ``(subject, window_start, count)`` per subject or client."""

    def __init__(self, db: AuthorityDatabase) -> None:
        self._db = db

    def window(self, subject: str) -> tuple[int, int] | None:
        """``(window_start, count)`` of ``subject``, read outside any transaction."""
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT window_start, count FROM failures WHERE subject = ?", (subject,)
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def count(self, tx: Transaction, subject: str, now: int, window: int) -> None:
        """One more failure: the count restarts at 1 in a new window once the old one ended.

        One upsert, so concurrent failures against one subject all count (on PostgreSQL
        the second waits for the first's row and updates it).
        """
        tx.execute(
            "INSERT INTO failures (subject, window_start, count) VALUES (?, ?, 1)"
            " ON CONFLICT (subject) DO UPDATE SET"
            " count = CASE WHEN failures.window_start + ? <= ? THEN 1 ELSE failures.count + 1 END,"
            " window_start = CASE WHEN failures.window_start + ? <= ? THEN ?"
            " ELSE failures.window_start END",
            (subject, now, window, now, window, now, now),
        )

    def delete(self, tx: Transaction, subject: str) -> int:
        return tx.execute("DELETE FROM failures WHERE subject = ?", (subject,)).rowcount

    def purge(self, tx: Transaction, now: int, window: int) -> None:
        tx.execute("DELETE FROM failures WHERE window_start + ? <= ?", (window, now))


@dataclass(slots=True)
class FailureLockouts:
    """Counts failures, refuses locked-out subjects and clients, lets an operator clear one."""

    db: AuthorityDatabase
    config: AuthorityConfig
    secrets: ServiceSecrets
    audit: AuditLog
    clock: Clock
    statements: FailureStatements = field(init=False)

    def __post_init__(self) -> None:
        self.statements = FailureStatements(self.db)

    def require_unlocked(self, subject: str, *, client: bool = False) -> None:
        """Raise ``too-many-attempts`` (429) while ``subject``'s window is full."""
        config = self.config
        limit = config.max_failures_per_client if client else config.max_failures_per_subject
        row = self.statements.window(subject)
        if (
            row is not None
            and row[0] + config.failure_window > self.clock.now()
            and row[1] >= limit
        ):
            raise EnrollmentError(
                "too-many-attempts",
                "too many failed attempts; try again later or visit an enrollment office",
            )

    def record(self, did: str, reason: str, *subjects: str) -> None:
        """Count one failure against each of ``subjects``; audit the precise ``reason``."""
        now = self.clock.now()
        with self.audit.transaction(durable=False) as tx:
            for subject in subjects:
                self.statements.count(tx, subject, now, self.config.failure_window)
            self.audit.append(tx, "applicant", "enrollment.refused", did, {"reason": reason})

    def purge_expired(self, tx: Transaction, now: int) -> None:
        """Drop counters whose window had ended at ``now``, in the caller's transaction."""
        self.statements.purge(tx, now, self.config.failure_window)

    def clear(self, operator: Operator, id_number: str) -> bool:
        """After an in-person check, let a locked-out ID number try again."""
        parsed = validate_id_number(id_number, clock=self.clock)
        subject = self.secrets.reference("id", parsed.id_number)
        with self.audit.transaction() as tx:
            cleared = self.statements.delete(tx, subject)
            self.audit.append(
                tx, operator.id, "lockout.cleared", subject[:16], {"cleared": bool(cleared)}
            )
        return bool(cleared)
