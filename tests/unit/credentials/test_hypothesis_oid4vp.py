"""Hypothesis: the OpenID4VP and OpenID4VCI parsers on hostile input, and their round trips.

Every parser of a message a peer sends (DCQL queries, signed request objects, request URLs,
``direct_post`` forms, credential offers) raises only its protocol error (:class:`Oid4vpError`
/ :class:`Oid4vciError`, both :class:`CredentialError`) with an OAuth error code, whatever
the input. Each serializer round-trips through its parser: ``parse(serialize(x)) == x``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realdid.credentials import (
    CLIENT_ID_PREFIX,
    REQUEST_OBJECT_TYP,
    AuthorizationRequest,
    AuthorizationResponse,
    CredentialOffer,
    CredentialQuery,
    DcqlQuery,
    Oid4vciError,
    Oid4vpError,
    authorization_url,
    error_response_form,
    parse_authorization_url,
    response_form,
    sign_request_object,
    verify_request_object,
)
from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner, b64url_encode, multihash_b58

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RP = LocalSigner.generate(KeyType.P256)
RP_DID = "did:realdid:" + multihash_b58(b"hypothesis-rp")
CLIENT_ID = CLIENT_ID_PREFIX + RP_DID
KID = RP_DID + "#key-1"
NOW = 1_700_000_010

_KEYS = st.sampled_from(
    [
        "credentials",
        "credential_sets",
        "id",
        "format",
        "meta",
        "vct_values",
        "claims",
        "path",
        "values",
        "multiple",
        "require_cryptographic_holder_binding",
        "client_id",
        "response_type",
        "response_mode",
        "response_uri",
        "redirect_uri",
        "nonce",
        "state",
        "dcql_query",
        "iat",
        "exp",
        "iss",
        "aud",
        "client_metadata",
        "client_name",
        "verifier_info",
        "credential_issuer",
        "credential_configuration_ids",
        "grants",
        "urn:ietf:params:oauth:grant-type:pre-authorized_code",
        "pre-authorized_code",
        "tx_code",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "dc+sd-jwt",
            "vp_token",
            "direct_post",
            CLIENT_ID,
            "https://rp.example/r",
            "http://[::1",
            "https://self-issued.me/v2",
        ]
    )
)
JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


def _oauth_code(error: Oid4vpError | Oid4vciError) -> None:
    assert error.error
    assert error.error == error.error.strip()
    assert error.description


# -- DCQL -----------------------------------------------------------------------------------------
@FAST
@given(JSON)
def test_parse_dcql_query_arbitrary_json(value: Any) -> None:
    try:
        DcqlQuery.from_dict(value)
    except Oid4vpError as e:
        _oauth_code(e)


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_ID = st.text(alphabet=_ALNUM + "-", min_size=1, max_size=64)
_CLAIM = st.text(alphabet=_ALNUM, min_size=1, max_size=64)
_CREDENTIAL_QUERY = st.builds(
    CredentialQuery,
    _ID,
    st.lists(st.text(min_size=1, max_size=256), min_size=1, max_size=3).map(tuple),
    st.lists(_CLAIM, max_size=6, unique=True).map(tuple),
)
_DCQL = st.lists(_CREDENTIAL_QUERY, min_size=1, max_size=4, unique_by=lambda q: q.id).map(
    lambda qs: DcqlQuery(tuple(qs))
)


@FAST
@given(_DCQL)
def test_dcql_query_round_trips(query: DcqlQuery) -> None:
    assert DcqlQuery.from_dict(json.loads(json.dumps(query.to_dict()))) == query


# -- request objects ---------------------------------------------------------------------------
def _sign_payload(payload: Any, header: dict[str, Any] | None = None) -> str:
    head = header or {"alg": "ES256", "typ": REQUEST_OBJECT_TYP, "kid": KID}
    signing_input = (
        b64url_encode(json.dumps(head).encode()) + "." + b64url_encode(json.dumps(payload).encode())
    )
    return signing_input + "." + b64url_encode(RP.sign(signing_input.encode("ascii")))


def _verify(jws: str) -> AuthorizationRequest | None:
    try:
        return verify_request_object(
            jws, resolve_key=lambda kid: RP.public_key, now=NOW, policy=DEFAULT_POLICY
        )
    except Oid4vpError as e:
        _oauth_code(e)
        return None


@FAST
@given(st.text(max_size=300))
def test_verify_request_object_arbitrary_text(text: str) -> None:
    _verify(text)


@st.composite
def _hostile_request_payload(draw: st.DrawFn) -> Any:
    """A signed payload close to a valid one, with arbitrary values in chosen members."""
    payload: dict[str, Any] = {
        "iss": CLIENT_ID,
        "aud": "https://self-issued.me/v2",
        "client_id": CLIENT_ID,
        "response_type": "vp_token",
        "response_mode": "direct_post",
        "response_uri": "https://rp.example/responses",
        "nonce": "n",
        "state": "s",
        "dcql_query": DcqlQuery(
            (CredentialQuery("q", ("urn:realdid:SiteProof",), ("age_over_18",)),)
        ).to_dict(),
        "iat": NOW - 5,
        "exp": NOW + 100,
    }
    for key in draw(st.lists(st.sampled_from(sorted(payload)), max_size=4, unique=True)):
        payload[key] = draw(JSON)
    payload.update(draw(st.dictionaries(_KEYS, JSON, max_size=2)))
    return payload if draw(st.integers(0, 9)) else draw(JSON)


@FAST
@given(_hostile_request_payload(), st.sampled_from(["ok", "typ", "kid", "alg"]))
def test_verify_signed_hostile_request_object(payload: Any, header_change: str) -> None:
    header: dict[str, Any] = {"alg": "ES256", "typ": REQUEST_OBJECT_TYP, "kid": KID}
    if header_change == "typ":
        header["typ"] = "JWT"
    elif header_change == "kid":
        header["kid"] = RP_DID
    elif header_change == "alg":
        header["alg"] = "none"
    _verify(_sign_payload(payload, header))


_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)


@FAST
@given(_DCQL, _TEXT, _TEXT, st.none() | _TEXT, st.integers(1, 3600))
def test_request_object_round_trips(
    query: DcqlQuery, nonce: str, state: str, client_name: str | None, lifetime: int
) -> None:
    request = AuthorizationRequest(
        client_id=CLIENT_ID,
        response_uri="https://rp.example/oid4vp/responses",
        nonce=nonce,
        state=state,
        dcql_query=query,
        verifier_info=({"format": "dc+sd-jwt", "data": "eyJ.e30.c2ln~"},),
        client_name=client_name,
        issued_at=NOW,
        expires_at=NOW + lifetime,
    )
    assert _verify(sign_request_object(request, signer=RP, key_id=KID)) == request


# -- request URLs ---------------------------------------------------------------------------------
@FAST
@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(
            st.tuples(
                st.sampled_from(["client_id", "request_uri", "request", "request_uri_method"]),
                st.text(max_size=30) | st.sampled_from(["https://rp.example/x", "post", "get"]),
            ),
            max_size=5,
        ).map(
            lambda pairs: "openid4vp://?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs)
        ),
    )
)
def test_parse_authorization_url_arbitrary(url: str) -> None:
    try:
        parse_authorization_url(url)
    except Oid4vpError as e:
        _oauth_code(e)


@FAST
@given(_TEXT, st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/._~-", max_size=60))
def test_authorization_url_round_trips(client_id: str, path: str) -> None:
    request_uri = "https://rp.example/" + path
    assert parse_authorization_url(authorization_url(client_id, request_uri)) == (
        client_id,
        request_uri,
    )


# -- direct_post forms ------------------------------------------------------------------------------
_FORM = st.dictionaries(
    st.sampled_from(["vp_token", "state", "error", "error_description", "id_token"])
    | st.text(max_size=5),
    st.text(max_size=60)
    | JSON.map(json.dumps)
    | st.sampled_from(['{"q":["a~b~"]}', '{"q":["a","b"]}', '{"q":[1]}', "[]", '{"q":[]}']),
    max_size=5,
)


@FAST
@given(_FORM)
def test_parse_response_form_arbitrary(form: dict[str, str]) -> None:
    try:
        AuthorizationResponse.from_form(form)
    except Oid4vpError as e:
        _oauth_code(e)


@FAST
@given(
    st.dictionaries(_ID, st.text(max_size=80), min_size=1, max_size=4),
    st.text(min_size=1, max_size=256),
)
def test_response_form_round_trips(presentations: dict[str, str], state: str) -> None:
    response = AuthorizationResponse.from_form(
        response_form({k: [v] for k, v in presentations.items()}, state)
    )
    assert response.state == state
    assert response.vp_token == {k: (v,) for k, v in presentations.items()}
    assert response.error is None


@FAST
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=64),
    st.text(min_size=1, max_size=512),
    st.text(min_size=1, max_size=256),
)
def test_error_response_form_round_trips(error: str, description: str, state: str) -> None:
    response = AuthorizationResponse.from_form(error_response_form(error, description, state))
    assert (response.state, response.vp_token, response.error, response.error_description) == (
        state,
        {},
        error,
        description,
    )


# -- credential offers (OpenID4VCI section 4.1) -------------------------------------------------------
@FAST
@given(st.one_of(st.text(max_size=300), JSON))
def test_parse_credential_offer_arbitrary(value: Any) -> None:
    try:
        if isinstance(value, str):
            CredentialOffer.parse(value)
        else:
            CredentialOffer.from_dict(value)
    except Oid4vciError as e:
        _oauth_code(e)


@FAST
@given(JSON)
def test_parse_credential_offer_uri_of_arbitrary_json(value: Any) -> None:
    uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(value), safe="")
    try:
        CredentialOffer.parse(uri)
    except Oid4vciError as e:
        _oauth_code(e)


@FAST
@given(
    st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,2}", fullmatch=True),
    st.lists(st.text(min_size=1, max_size=256), min_size=1, max_size=16, unique=True),
    st.text(min_size=1, max_size=1024),
    st.booleans(),
)
def test_credential_offer_round_trips(
    host: str, configuration_ids: list[str], code: str, as_uri: bool
) -> None:
    built = CredentialOffer(f"https://{host}", tuple(configuration_ids), code)
    offer = built.to_dict()
    parsed = (
        CredentialOffer.parse(built.serialize()) if as_uri else CredentialOffer.from_dict(offer)
    )
    assert parsed == CredentialOffer(f"https://{host}", tuple(configuration_ids), code)
