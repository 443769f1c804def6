"""RFC 9901 (SD-JWT) published examples against realdid.credentials: one test per case.

The cases live in tests/vectors/rfc9901_sd_jwt.json, each with the RFC section it comes
from. Disclosures and digests are checked byte for byte; the RFC's payloads are re-signed
here as SD-JWT VCs (our profile requires ``typ: dc+sd-jwt`` and a ``kid``) and verified
through :func:`realdid.credentials.verify`, which must reproduce the Processed SD-JWT
Payload: object properties, array elements, structured (``_sd`` inside an object) and
recursive (``_sd`` inside a Disclosure) disclosures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from realdid.credentials import CredentialError, issue, verify
from realdid.crypto import (
    DEFAULT_POLICY,
    KeyType,
    LocalSigner,
    PublicKey,
    b64url_decode,
    b64url_encode,
    sha256,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "rfc9901_sd_jwt.json").read_text(encoding="utf-8")
)
KB = VECTORS["keyBinding"]
ENVELOPE: dict[str, Any] = VECTORS["envelope"]
KID = "did:realdid:rfc9901-issuer#key-1"
# Claims verify() lifts out of ``claims`` into their own fields of VerifiedCredential.
LIFTED = frozenset({"iss", "sub", "iat", "exp", "nbf", "cnf", "vct", "status"})
ISSUER = LocalSigner.generate(KeyType.P256)


def _cases(name: str) -> Any:
    cases = VECTORS[name]
    return pytest.mark.parametrize("case", cases, ids=[c["id"] for c in cases])


def _decode(disclosure: str) -> Any:
    return json.loads(b64url_decode(disclosure))


def _digest(disclosure: str) -> str:
    return b64url_encode(sha256(disclosure.encode("ascii")))


def _issuer_jwt(payload: dict[str, Any]) -> str:
    """The RFC's payload as an SD-JWT VC issuer JWT signed by this test's key."""
    header = {"alg": "ES256", "typ": "dc+sd-jwt", "kid": KID}
    signing_input = ".".join(
        b64url_encode(json.dumps(part, ensure_ascii=False).encode()) for part in (header, payload)
    )
    return signing_input + "." + b64url_encode(ISSUER.sign(signing_input.encode("ascii")))


def _with_envelope(claims: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Add the registered claims SD-JWT VC requires where the RFC's payload has none."""
    return {**{k: v for k, v in ENVELOPE.items() if k not in payload}, **claims}


def _verify_resigned(payload: dict[str, Any], disclosures: list[str]) -> Any:
    presentation = "~".join([_issuer_jwt(_with_envelope(payload, payload)), *disclosures, ""])
    return verify(
        presentation,
        issuer_keys=lambda iss, kid: ISSUER.public_key,
        expected_audience=KB["aud"],
        expected_nonce=KB["nonce"],
        now=KB["iat"],
        max_kb_age=300,
        policy=DEFAULT_POLICY,
        require_key_binding=False,
    )


@_cases("disclosures")
def test_disclosure_decodes_and_hashes_to_the_published_digest(case: dict[str, Any]) -> None:
    assert _decode(case["disclosure"]) == case["contents"]
    assert _digest(case["disclosure"]) == case["digest"]


@_cases("issuance")
def test_issue_encodes_the_disclosure_as_the_rfc_does(case: dict[str, Any]) -> None:
    holder = LocalSigner.generate(KeyType.P256)
    sd_jwt = issue(
        {case["name"]: case["value"]},
        selectively_disclosable={case["name"]},
        issuer=ENVELOPE["iss"],
        signer=ISSUER,
        key_id=KID,
        holder_jwk=holder.public_key.to_jwk(),
        vct=ENVELOPE["vct"],
        issued_at=ENVELOPE["iat"],
        expires_at=ENVELOPE["exp"],
        salt=lambda: b64url_decode(case["salt"]),
        status=None,
    )
    jwt, disclosure, end = sd_jwt.split("~")
    assert end == ""
    assert _decode(disclosure) == [case["salt"], case["name"], case["value"]]
    if case["disclosure"] is not None:
        assert disclosure == case["disclosure"]
    payload = json.loads(b64url_decode(jwt.split(".")[1]))
    assert payload["_sd"] == [_digest(disclosure)]
    assert case["name"] not in payload


@_cases("presentations")
def test_verify_reproduces_the_processed_payload(case: dict[str, Any]) -> None:
    result = _verify_resigned(case["payload"], case["disclosures"])
    processed = _with_envelope(case["processed"], case["payload"])
    assert result.claims == {k: v for k, v in processed.items() if k not in LIFTED}
    assert result.issuer == processed["iss"]
    assert result.vct == processed["vct"]
    assert result.issued_at == processed["iat"]
    assert result.expires_at == processed["exp"]
    assert result.subject == processed.get("sub")
    assert result.holder_jwk == processed.get("cnf", {}).get("jwk")
    assert result.disclosed == frozenset(case["disclosedTopLevel"])


@_cases("refusals")
def test_verify_refuses(case: dict[str, Any]) -> None:
    with pytest.raises(CredentialError, match=case["match"]) as info:
        _verify_case(case)
    assert info.value.code == case["code"]


def _verify_case(case: dict[str, Any]) -> None:
    """A published presentation as is (Appendix A.5 key), or an RFC payload re-signed."""
    if "presentation" not in case:
        _verify_resigned(case["payload"], case["disclosures"])
        return
    rfc_issuer = PublicKey.from_jwk(VECTORS["issuerKey"]["jwk"])
    verify(
        case["presentation"],
        issuer_keys=lambda iss, kid: rfc_issuer,
        expected_audience=KB["aud"],
        expected_nonce=KB["nonce"],
        now=KB["iat"],
        max_kb_age=300,
        policy=DEFAULT_POLICY,
    )


def test_rfc9901_vector_file_covers_the_sections() -> None:
    sections = {
        c["id"].split("-")[0] for name in ("disclosures", "presentations") for c in VECTORS[name]
    }
    assert {
        "4.2.1",
        "4.2.2",
        "4.2.4.1",
        "4.2.4.2",
        "4.2.6",
        "5.1",
        "5.2",
        "6.1",
        "6.2",
        "6.3",
        "A.3",
    } <= sections
    assert len(VECTORS["disclosures"]) >= 25
    assert len(VECTORS["refusals"]) >= 8


# -- nested and array-element disclosures end to end ------------------------------------------------
# realdid.credentials.issue makes top-level claims disclosable and present() selects top-level
# Disclosures only, so these structures are issued and presented by the IETF reference library
# (sd-jwt), then verified by ours with key binding. The shapes are the RFC's: structured
# (section 6.2), recursive (6.3), array elements (4.2.4.2, 5.1), a recursively disclosable
# array (4.2.6) and an array of objects with their own _sd.
_STREET, _LOCALITY, _REGION = "Schulstr. 12", "Schulpforta", "Sachsen-Anhalt"


def _reference_claims(shape: str) -> dict[Any, Any]:
    from sd_jwt.common import SDObj

    address = {
        SDObj("street_address"): _STREET,
        SDObj("locality"): _LOCALITY,
        SDObj("region"): _REGION,
        "country": "DE",
    }
    claims: dict[str, Any] = {
        "6.2-structured": {"address": address},
        "6.3-recursive": {SDObj("address"): address},
        "4.2.4.2-array-elements": {"nationalities": ["DE", SDObj("FR"), SDObj("US")]},
        "4.2.6-recursive-array": {SDObj("nationalities"): [SDObj("DE"), SDObj("FR"), SDObj("UK")]},
        "array-of-objects": {
            "degrees": [
                {"type": "Bachelor of Science", SDObj("university"): "University of Betelgeuse"},
                {"type": "Master of Science", SDObj("university"): "University of Betelgeuse"},
            ]
        },
    }[shape]
    return claims


END_TO_END = [
    (
        "6.2-structured",
        {"address": {"locality": True, "region": True}},
        {"address": {"locality": _LOCALITY, "region": _REGION, "country": "DE"}},
    ),
    ("6.2-structured", {}, {"address": {"country": "DE"}}),
    (
        "6.3-recursive",
        {"address": {"street_address": True}},
        {"address": {"street_address": _STREET, "country": "DE"}},
    ),
    ("6.3-recursive", {"address": True}, {"address": {"country": "DE"}}),
    ("6.3-recursive", {}, {}),
    (
        "4.2.4.2-array-elements",
        {"nationalities": [None, True, False]},
        {"nationalities": ["DE", "FR"]},
    ),
    ("4.2.4.2-array-elements", {}, {"nationalities": ["DE"]}),
    (
        "4.2.6-recursive-array",
        {"nationalities": [True, False, True]},
        {"nationalities": ["DE", "UK"]},
    ),
    ("4.2.6-recursive-array", {"nationalities": [False, False, False]}, {"nationalities": []}),
    (
        "array-of-objects",
        {"degrees": [None, {"university": True}]},
        {
            "degrees": [
                {"type": "Bachelor of Science"},
                {"type": "Master of Science", "university": "University of Betelgeuse"},
            ]
        },
    ),
]


@pytest.mark.parametrize(
    ("shape", "disclose", "expected"),
    END_TO_END,
    ids=[f"{shape}-{i}" for i, (shape, _, _) in enumerate(END_TO_END)],
)
def test_nested_disclosures_reference_issued_verified_by_ours(
    shape: str, disclose: dict[str, Any], expected: dict[str, Any]
) -> None:
    from jwcrypto.jwk import JWK
    from sd_jwt.holder import SDJWTHolder
    from sd_jwt.issuer import SDJWTIssuer

    issuer_key, holder_key = (
        JWK.generate(kty="EC", crv="P-256"),
        JWK.generate(kty="EC", crv="P-256"),
    )
    now = int(time.time())  # the reference holder stamps its KB-JWT with the wall clock
    claims = {
        "iss": ENVELOPE["iss"],
        "vct": ENVELOPE["vct"],
        "iat": now - 10,
        "exp": now + 1000,
        **_reference_claims(shape),
    }
    issued = SDJWTIssuer(
        claims,
        issuer_key,
        holder_key=holder_key,
        sign_alg="ES256",
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": KID},
    ).sd_jwt_issuance
    holder = SDJWTHolder(issued)
    holder.create_presentation(
        disclose, nonce=KB["nonce"], aud=KB["aud"], holder_key=holder_key, sign_alg="ES256"
    )
    issuer_public = PublicKey.from_jwk(json.loads(issuer_key.export_public()))
    result = verify(
        holder.sd_jwt_presentation,
        issuer_keys=lambda iss, kid: issuer_public,
        expected_audience=KB["aud"],
        expected_nonce=KB["nonce"],
        now=now,
        max_kb_age=300,
        policy=DEFAULT_POLICY,
    )
    assert result.key_bound
    assert result.claims == expected
