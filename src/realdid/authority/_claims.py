"""What each credential the authority issues says: types, claim sets, and how claims are built.

Four credential configurations (OpenID4VCI section 12.2.4), all SD-JWT VCs (``dc+sd-jwt``):

* **RealName** — the resident's register identity, every personal claim selectively
  disclosable; ``verified_person`` and ``assurance_level`` are always visible.
* **SiteProof** — for one per-site DID: only coarse claims (age flags, province), derived
  from the profile kept with the enrollment, never the name or number.
* **Business** — the enterprise as the business register has it.
* **RpRegistration** — a relying party's name (from the business register), the purpose it
  shows residents and the claims it may request (:func:`parse_permitted`).

The functions here are pure: they take register records and validated input and return
claims; the concerns that issue credentials decide when.
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from realdid.clock import Clock
from realdid.credentials import CredentialConfiguration
from realdid.crypto import AlgorithmPolicy

from ._business import Enterprise
from ._errors import EnrollmentError
from ._register import Resident

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
_MAX_PURPOSE = 200

REAL_NAME_CLAIMS = (
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
# Always visible: that a verified person holds it, and how sure the authority is.
REAL_NAME_SD = frozenset(REAL_NAME_CLAIMS) - {"verified_person", "assurance_level"}
SITE_CLAIMS = ("verified_person", "age_over_18", "age_over_60", "province", "assurance_level")
SITE_SD = frozenset({"age_over_18", "age_over_60", "province"})
BUSINESS_CLAIMS = ("company_name", "unified_social_credit_code", "legal_representative", "region")
BUSINESS_SD = frozenset({"legal_representative"})
RP_CLAIMS = ("rp_name", "purpose", "permitted")
# What an RP may be permitted to request: credential vct -> its claims.
_PERMITTABLE = {VCT[SITE_PROOF]: SITE_CLAIMS, VCT[REAL_NAME]: REAL_NAME_CLAIMS}


def credential_configurations(policy: AlgorithmPolicy) -> list[CredentialConfiguration]:
    """The four configurations the issuer metadata lists; proofs may use any allowed algorithm."""
    algs = tuple(sorted(policy.allowed))
    return [
        CredentialConfiguration(
            REAL_NAME, VCT[REAL_NAME], "Real-name identity", REAL_NAME_CLAIMS, ("ES256",), algs
        ),
        CredentialConfiguration(
            SITE_PROOF,
            VCT[SITE_PROOF],
            "Verified person (per site)",
            SITE_CLAIMS,
            ("ES256",),
            algs,
        ),
        CredentialConfiguration(
            BUSINESS, VCT[BUSINESS], "Business identity", BUSINESS_CLAIMS, ("ES256",), algs
        ),
        CredentialConfiguration(
            RP_REGISTRATION,
            VCT[RP_REGISTRATION],
            "Relying party registration",
            RP_CLAIMS,
            ("ES256",),
            algs,
        ),
    ]


def today(clock: Clock) -> datetime.date:
    """The UTC date the age flags are computed on."""
    return datetime.datetime.fromtimestamp(clock.now(), tz=datetime.UTC).date()


def _age(birth: datetime.date, on: datetime.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def real_name_claims(resident: Resident, on: datetime.date) -> dict[str, Any]:
    age = _age(resident.birth_date, on)
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


def resident_profile(resident: Resident) -> dict[str, str]:
    """What a resident's enrollment keeps (sealed) for later site proofs: nothing more."""
    return {
        "birth_date": resident.birth_date.isoformat(),
        "province": resident.region_code[:2] + "0000",
    }


def site_claims(profile: Mapping[str, str], on: datetime.date) -> dict[str, Any]:
    age = _age(datetime.date.fromisoformat(profile["birth_date"]), on)
    return {
        "verified_person": True,
        "assurance_level": ASSURANCE_LEVEL,
        "age_over_18": age >= 18,
        "age_over_60": age >= 60,
        "province": profile["province"],
    }


def business_claims(enterprise: Enterprise) -> dict[str, Any]:
    return {
        "company_name": enterprise.name,
        "unified_social_credit_code": enterprise.uscc,
        "legal_representative": enterprise.legal_representative,
        "region": enterprise.region_code,
    }


def rp_registration_claims(
    rp_name: str, purpose: str, permitted: Mapping[str, list[str]]
) -> dict[str, Any]:
    """``purpose`` and ``permitted`` as :func:`parse_purpose` and :func:`parse_permitted` return them."""
    return {"rp_name": rp_name, "purpose": purpose, "permitted": dict(permitted)}


def parse_purpose(value: Any) -> str:
    """The purpose an RP shows residents: 1 to 200 characters, no control characters."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= _MAX_PURPOSE
        or any(unicodedata.category(c).startswith("C") for c in value)
    ):
        raise EnrollmentError(
            "invalid-purpose",
            f"purpose must be 1 to {_MAX_PURPOSE} characters without control characters",
        )
    return value


def parse_permitted(value: Any) -> dict[str, list[str]]:
    """``{vct: sorted unique claim names}``, each name a claim of that credential type."""
    if not isinstance(value, Mapping) or not value:
        raise EnrollmentError(
            "invalid-permitted-claims",
            "permitted must map at least one credential type to the claims the RP may request",
        )
    allowed: dict[str, list[str]] = {}
    for vct, names in value.items():
        claims = _PERMITTABLE.get(vct) if isinstance(vct, str) else None
        if claims is None:
            raise EnrollmentError(
                "invalid-permitted-claims",
                f"permitted credential types are {' and '.join(sorted(_PERMITTABLE))}",
            )
        if (
            isinstance(names, str)
            or not isinstance(names, Sequence)
            or not names
            or not all(isinstance(n, str) and n in claims for n in names)
        ):
            raise EnrollmentError(
                "invalid-permitted-claims",
                f"{vct} needs a non-empty list of claims from: {', '.join(claims)}",
            )
        allowed[vct] = sorted(set(names))
    return dict(sorted(allowed.items()))
