"""The disclosure log: what the wallet told which relying party, and when.

Every answer to a login request — released, refused, or failed after the request was
authenticated — is appended to the encrypted wallet (payload key ``disclosures``), so the
resident can later see which site learnt what (ADR 0012 "Consent and the disclosure log").
Only claim *names* are logged, never their values: the log must not become a second copy
of the credentials, and the resident already holds those.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass
from typing import Any

RELEASED = "released"
REFUSED = "refused"
FAILED_PREFIX = "failed:"


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One logged answer.

    ``claims`` are the names of the claims released (``outcome == "released"``) or, for a
    refusal or failure, the names that were asked for and withheld. ``site_did`` is the
    holder DID the answer was (or would have been) given with; ``credential_type`` the
    requested ``vct``.
    """

    at: int
    rp_did: str
    rp_name: str
    purpose: str
    site_did: str
    credential_type: str
    claims: tuple[str, ...]
    outcome: str

    @property
    def released(self) -> bool:
        return self.outcome == RELEASED

    def to_dict(self) -> dict[str, Any]:
        value = asdict(self)
        value["claims"] = list(self.claims)
        return value

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Disclosure:
        return cls(
            at=int(value["at"]),
            rp_did=str(value["rp_did"]),
            rp_name=str(value.get("rp_name", "")),
            purpose=str(value.get("purpose", "")),
            site_did=str(value.get("site_did", "")),
            credential_type=str(value.get("credential_type", "")),
            claims=tuple(str(c) for c in value.get("claims", ())),
            outcome=str(value["outcome"]),
        )

    def when(self) -> str:
        """``at`` as an ISO 8601 UTC timestamp (what ``realdid wallet history`` prints)."""
        return datetime.datetime.fromtimestamp(self.at, tz=datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
