"""The claims of an RP registration credential (ADR 0012 "Registration").

The authority issues a :data:`~realdid.credentials.CredentialType.RP_REGISTRATION`
credential to a relying party's DID. Its subject claims say who the RP is and what it may
ask for; wallets refuse requests beyond ``permitted`` and show ``rp_name`` and ``purpose``
to the resident, so the authority, the RP and the wallet must read them the same way.
Example::

    >>> claims = {"rp_name": "Example Forum Ltd", "purpose": "Adults-only forum",
    ...     "permitted": {"urn:realdid:SiteProof": ["age_over_18"]}}
    >>> registration = RpRegistration.from_dict(claims)
    >>> registration.permitted_claims("urn:realdid:SiteProof")
    frozenset({'age_over_18'})
    >>> registration.to_dict() == claims
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import CredentialError

_MEMBERS = frozenset({"rp_name", "purpose", "permitted"})


class MalformedRpRegistrationError(CredentialError):
    """The claims are not an RP registration: a member is missing, unknown or mistyped."""

    code = "malformed-rp-registration"


@dataclass(frozen=True, slots=True)
class RpRegistration:
    """``rp_name``, ``purpose`` and ``permitted`` (credential type -> claim names).

    Claim names keep the issuer's order (the authority sorts them) so that
    ``from_dict(d).to_dict() == d`` holds exactly. Which types and claims may be permitted
    at all is the authority's issuing policy, not part of the format.
    """

    rp_name: str
    purpose: str
    permitted: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_dict(cls, claims: Mapping[str, Any]) -> RpRegistration:
        """Parse the subject claims of a registration credential; unknown members refused."""
        unknown = set(claims) - _MEMBERS
        if unknown:
            raise MalformedRpRegistrationError(
                f"registration has unknown members {sorted(map(str, unknown))}"
            )
        name, purpose, permitted = (
            claims.get("rp_name"),
            claims.get("purpose"),
            claims.get("permitted"),
        )
        if (
            not isinstance(name, str)
            or not isinstance(purpose, str)
            or not isinstance(permitted, dict)
        ):
            raise MalformedRpRegistrationError(
                "registration must carry rp_name, purpose and permitted"
            )
        allowed: dict[str, tuple[str, ...]] = {}
        for vct, names in permitted.items():
            if (
                not isinstance(vct, str)
                or not isinstance(names, list)
                or not all(isinstance(n, str) for n in names)
            ):
                raise MalformedRpRegistrationError(
                    "registration permitted must map types to lists of claim names"
                )
            allowed[vct] = tuple(names)
        return cls(name, purpose, allowed)

    def to_dict(self) -> dict[str, Any]:
        """The subject claims the authority issues (JSON arrays for the claim names)."""
        return {
            "rp_name": self.rp_name,
            "purpose": self.purpose,
            "permitted": {vct: list(names) for vct, names in self.permitted.items()},
        }

    def permitted_claims(self, vct: str) -> frozenset[str]:
        """The claims this RP may request of credential type ``vct`` (empty if none)."""
        return frozenset(self.permitted.get(vct, ()))
