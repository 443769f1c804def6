"""OpenID4VP 1.0 published examples against realdid.credentials: one test per case.

The cases live in tests/vectors/openid4vp.json, each with the section it comes from. Each
either parses to the recorded result or is refused with the OAuth error code of section 8.5
that the profile documents for a feature it deliberately leaves out (nested claim paths,
credential_sets, claim_sets, value matching, other formats, other client identifier
prefixes, requests by value, request_uri_method post, several presentations per query).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from realdid.credentials import (
    REQUEST_OBJECT_TYP,
    AuthorizationRequest,
    AuthorizationResponse,
    DcqlQuery,
    Oid4vpError,
    client_id_for,
    parse_authorization_url,
    verify_request_object,
)
from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner, b64url_encode, multihash_b58

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "openid4vp.json").read_text(encoding="utf-8")
)
RP_DID = "did:realdid:" + multihash_b58(b"openid4vp-vectors")
KID = RP_DID + "#key-1"
RP = LocalSigner.generate(KeyType.P256)
NOW = 1_700_000_010


def _cases(name: str) -> Any:
    return pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in VECTORS[name]])


def _refused(case: dict[str, Any], info: pytest.ExceptionInfo[Oid4vpError]) -> None:
    assert info.value.error == case["error"], info.value.diagnostics()


def _dcql_as_recorded(query: DcqlQuery) -> dict[str, Any]:
    return {
        "credentials": [
            {"id": q.id, "vct_values": list(q.vct_values), "claims": list(q.claims)}
            for q in query.credentials
        ]
    }


@_cases("dcql")
def test_dcql_query(case: dict[str, Any]) -> None:
    if "parsed" in case:
        assert _dcql_as_recorded(DcqlQuery.from_dict(case["query"])) == case["parsed"]
        return
    with pytest.raises(Oid4vpError, match=case["match"]) as info:
        DcqlQuery.from_dict(case["query"])
    _refused(case, info)


def _signed(payload: dict[str, Any]) -> str:
    """The example payload as a request object signed with this test's RP key (RFC 9101)."""
    header = {"alg": "ES256", "typ": REQUEST_OBJECT_TYP, "kid": KID}
    signing_input = ".".join(b64url_encode(json.dumps(part).encode()) for part in (header, payload))
    return signing_input + "." + b64url_encode(RP.sign(signing_input.encode("ascii")))


def _verify(payload: dict[str, Any]) -> AuthorizationRequest:
    if payload.get("client_id") == "{client_id}":
        payload = {**payload, "client_id": client_id_for(RP_DID)}
    return verify_request_object(
        _signed(payload),
        resolve_key=lambda kid: RP.public_key,
        now=NOW,
        policy=DEFAULT_POLICY,
    )


@_cases("requestObjects")
def test_request_object(case: dict[str, Any]) -> None:
    if "parsed" in case:
        request = _verify(case["payload"])
        expected = case["parsed"]
        assert request.client_id == client_id_for(RP_DID)
        assert request.client_did == RP_DID
        assert request.response_uri == expected["response_uri"]
        assert request.nonce == expected["nonce"]
        assert request.state == expected["state"]
        assert request.client_name == expected["client_name"]
        assert list(request.verifier_info) == expected["verifier_info"]
        assert (request.issued_at, request.expires_at) == (
            expected["issued_at"],
            expected["expires_at"],
        )
        assert _dcql_as_recorded(request.dcql_query) == expected["dcql_query"]
        return
    with pytest.raises(Oid4vpError, match=case["match"]) as info:
        _verify(case["payload"])
    _refused(case, info)


@_cases("authorizationUrls")
def test_authorization_url(case: dict[str, Any]) -> None:
    if "parsed" in case:
        assert list(parse_authorization_url(case["url"])) == case["parsed"]
        return
    with pytest.raises(Oid4vpError, match=case["match"]) as info:
        parse_authorization_url(case["url"])
    _refused(case, info)


@_cases("responseForms")
def test_response_form(case: dict[str, Any]) -> None:
    if "parsed" in case:
        response = AuthorizationResponse.from_form(case["form"])
        assert {
            "state": response.state,
            "vp_token": {k: list(v) for k, v in response.vp_token.items()},
            "error": response.error,
            "error_description": response.error_description,
        } == case["parsed"]
        return
    with pytest.raises(Oid4vpError, match=case["match"]) as info:
        AuthorizationResponse.from_form(case["form"])
    _refused(case, info)


def test_openid4vp_vector_file_has_both_outcomes_per_message() -> None:
    for name in ("dcql", "requestObjects", "authorizationUrls", "responseForms"):
        outcomes = {"parsed" in c for c in VECTORS[name]}
        assert outcomes == {True, False}, name
