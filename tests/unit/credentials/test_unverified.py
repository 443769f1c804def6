"""peek_sd_jwt_unverified: reads what a credential says, refuses what it cannot read."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realdid.credentials import (
    MalformedSdJwtError,
    issue,
    peek_sd_jwt_unverified,
    present,
    status_reference,
)
from realdid.crypto import LocalSigner, b64url_encode

ISSUER, HOLDER = LocalSigner.generate(), LocalSigner.generate()


def _sd_jwt(claims: dict[str, object], sd: set[str]) -> str:
    return issue(
        claims,
        selectively_disclosable=sd,
        issuer="did:realdid:auth",
        signer=ISSUER,
        key_id="did:realdid:auth#k1",
        holder_jwk=HOLDER.public_key.to_jwk(),
        vct="urn:realdid:SiteProof",
        issued_at=1000,
        expires_at=2000,
        salt=lambda: bytes(16),
        status=status_reference("https://a.example/status/1", 7),
        subject="did:realdid:holder",
    )


def test_fields_and_claims() -> None:
    sd_jwt = _sd_jwt({"verified_person": True, "age_over_18": True}, {"age_over_18"})
    peeked = peek_sd_jwt_unverified(sd_jwt)
    assert peeked.issuer == "did:realdid:auth"
    assert peeked.vct == "urn:realdid:SiteProof"
    assert peeked.subject == "did:realdid:holder"
    assert (peeked.issued_at, peeked.expires_at) == (1000, 2000)
    assert peeked.holder_jwk == HOLDER.public_key.to_jwk()
    assert peeked.status == status_reference("https://a.example/status/1", 7)
    assert peeked.claims == {"verified_person": True, "age_over_18": True}
    assert peeked.disclosable == {"age_over_18"}


def test_the_kb_jwt_of_a_presentation_is_not_a_disclosure() -> None:
    sd_jwt = _sd_jwt({"age_over_18": True, "province": "GD"}, {"age_over_18", "province"})
    vp = present(
        sd_jwt, disclose={"province"}, holder_signer=HOLDER, audience="rp", nonce="n", issued_at=1
    )
    peeked = peek_sd_jwt_unverified(vp)
    assert peeked.claims == {"province": "GD"}
    assert peeked.disclosable == {"province"}


def _with_payload(payload: dict[str, object]) -> str:
    header = b64url_encode(json.dumps({"alg": "EdDSA"}).encode())
    return f"{header}.{b64url_encode(json.dumps(payload).encode())}.{b64url_encode(b'sig')}~"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage~", "three"),
        ("a.b.c~", "base64url"),
        (_with_payload({"vct": 5}), "vct must be a str"),
        (_with_payload({"exp": "soon"}), "exp must be an integer"),
        (_with_payload({"iat": True}), "iat must be an integer"),
        (_with_payload({"cnf": {"kid": "k"}}), "cnf"),
        (_with_payload({"status": []}), "status must be a dict"),
        (_with_payload({}) + "bm90IGpzb24~", "disclosure"),
        (_with_payload({}) + b64url_encode(b'["s", "iss", "x"]') + "~", "reserved"),
        ("caf\u00e9.x.y~", "ASCII"),
    ],
)
def test_unreadable_credentials_are_refused(text: str, message: str) -> None:
    with pytest.raises(MalformedSdJwtError, match=message):
        peek_sd_jwt_unverified(text)


def test_duplicate_members_are_refused() -> None:
    header = b64url_encode(b'{"alg":"EdDSA"}')
    payload = b64url_encode(b'{"vct":"a","vct":"b"}')
    with pytest.raises(MalformedSdJwtError):
        peek_sd_jwt_unverified(f"{header}.{payload}.{b64url_encode(b's')}~")


_segment = st.one_of(
    st.text(alphabet="ABCDEFabcdef0123456789-_=!.~", max_size=40),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ).map(lambda v: b64url_encode(json.dumps(v).encode())),
)


@given(
    st.lists(_segment, min_size=1, max_size=4),
    st.lists(_segment, max_size=3),
    st.sampled_from(["", "~"]),
)
def test_hostile_text_is_refused_with_the_typed_error_only(
    jwt: list[str], disclosures: list[str], end: str
) -> None:
    text = "~".join([".".join(jwt), *disclosures]) + end
    with contextlib.suppress(MalformedSdJwtError):
        peeked = peek_sd_jwt_unverified(text)
        assert peeked.disclosable <= set(peeked.claims)
