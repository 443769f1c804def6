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
