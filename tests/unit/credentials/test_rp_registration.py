"""RpRegistration: exact round trips and a precise error for every malformed shape."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realdid.credentials import (
    CredentialError,
    CredentialType,
    MalformedRpRegistrationError,
    RpRegistration,
)

_names = st.lists(st.text(max_size=20), max_size=6)
_claims = st.fixed_dictionaries(
    {
        "rp_name": st.text(max_size=40),
        "purpose": st.text(max_size=80),
        "permitted": st.dictionaries(st.text(max_size=30), _names, max_size=4),
    }
)


@given(_claims)
def test_dict_round_trip_is_exact(claims: dict[str, Any]) -> None:
    registration = RpRegistration.from_dict(claims)
    assert registration.to_dict() == claims
    assert RpRegistration.from_dict(registration.to_dict()) == registration


@given(_claims)
def test_permitted_claims_per_type(claims: dict[str, Any]) -> None:
    registration = RpRegistration.from_dict(claims)
    for vct, names in claims["permitted"].items():
        assert registration.permitted_claims(vct) == frozenset(names)
    assert registration.permitted_claims("urn:realdid:Unpermitted" + "x" * 40) == frozenset()


def test_issued_shape() -> None:
    claims = {
        "rp_name": "Example Forum Ltd",
        "purpose": "Adults-only discussion forum",
        "permitted": {CredentialType.SITE_PROOF: ["age_over_18", "verified_person"]},
    }
    registration = RpRegistration.from_dict(claims)
    assert registration.permitted_claims("urn:realdid:SiteProof") == {
        "age_over_18",
        "verified_person",
    }
    assert registration.to_dict() == claims


_VALID: dict[str, Any] = {"rp_name": "X", "purpose": "Y", "permitted": {"urn:a": ["c"]}}


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"rp_name": "X", "purpose": "Y"}, "must carry"),
        ({**_VALID, "rp_name": 1}, "must carry"),
        ({**_VALID, "purpose": None}, "must carry"),
        ({**_VALID, "permitted": [["urn:a", ["c"]]]}, "must carry"),
        ({**_VALID, "permitted": {"urn:a": "c"}}, "lists of claim names"),
        ({**_VALID, "permitted": {"urn:a": [1]}}, "lists of claim names"),
        ({**_VALID, "permitted": {1: ["c"]}}, "lists of claim names"),
        ({**_VALID, "verified_person": True}, "unknown members"),
    ],
)
def test_malformed_claims_are_refused(claims: dict[Any, Any], message: str) -> None:
    with pytest.raises(MalformedRpRegistrationError, match=message) as info:
        RpRegistration.from_dict(claims)
    assert isinstance(info.value, CredentialError)
    assert info.value.code == "malformed-rp-registration"


def test_credential_types_are_their_urns() -> None:
    assert {t.value for t in CredentialType} == {
        "urn:realdid:RealName",
        "urn:realdid:SiteProof",
        "urn:realdid:Business",
        "urn:realdid:RpRegistration",
    }
    assert CredentialType("urn:realdid:SiteProof") is CredentialType.SITE_PROOF
    assert f"{CredentialType.BUSINESS}" == "urn:realdid:Business"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(["rp_name", "purpose", "permitted", "other"]), _json, max_size=4
    )
)
def test_any_json_object_parses_or_is_refused_with_the_typed_error(claims: dict[str, Any]) -> None:
    try:
        registration = RpRegistration.from_dict(claims)
    except MalformedRpRegistrationError:
        return
    assert registration.to_dict() == claims
