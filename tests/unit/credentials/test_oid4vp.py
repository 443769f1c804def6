"""OpenID4VP 1.0 wire messages: DCQL, signed request objects, request URLs, direct_post bodies."""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from realdid.credentials import (
    AUTHORIZATION_SCHEME,
    CLIENT_ID_PREFIX,
    CREDENTIAL_FORMAT,
    MAX_REQUEST_OBJECT_BYTES,
    MAX_VP_TOKEN_BYTES,
    REQUEST_OBJECT_TYP,
    SELF_ISSUED_AUDIENCE,
    AuthorizationRequest,
    AuthorizationResponse,
    CredentialError,
    CredentialQuery,
    DcqlQuery,
    Oid4vpError,
    authorization_url,
    client_id_for,
    error_response_form,
    parse_authorization_url,
    response_form,
    sign_request_object,
    verify_request_object,
)
from realdid.crypto import (
    DEFAULT_POLICY,
    AlgorithmPolicy,
    KeyType,
    LocalSigner,
    PublicKey,
    Signer,
    b64url_decode,
    b64url_encode,
    multihash_b58,
)

T0 = 1_700_000_000
NOW = T0 + 10
RP_DID = "did:realdid:" + multihash_b58(b"relying-party")
OTHER_DID = "did:realdid:" + multihash_b58(b"someone-else")
CLIENT_ID = CLIENT_ID_PREFIX + RP_DID
KID = RP_DID + "#key-1"
RESPONSE_URI = "https://forum.example/oid4vp/responses"
REQUEST_URI = "https://forum.example/oid4vp/requests/abc"
REGISTRATION = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJycCJ9.c2ln~"
QUERY = DcqlQuery(
    (
        CredentialQuery("site", ("urn:realdid:SiteProof",), ("verified_person", "age_over_18")),
        CredentialQuery("real_name-2", ("urn:realdid:RealName", "urn:realdid:Business"), ()),
    )
)
REQUEST = AuthorizationRequest(
    client_id=CLIENT_ID,
    response_uri=RESPONSE_URI,
    nonce="n-1",
    state="s-1",
    dcql_query=QUERY,
    verifier_info=({"format": CREDENTIAL_FORMAT, "data": REGISTRATION},),
    client_name="Forum",
    issued_at=T0,
    expires_at=T0 + 300,
)
ED25519 = LocalSigner.generate()
P256 = LocalSigner.generate(KeyType.P256)
DROP = object()  # marks a member to remove in _header/_payload


# -- helpers ------------------------------------------------------------------------------------
def _b64json(value: Any) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _decode(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(b64url_decode(segment))
    return decoded


def _changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for name, value in changes.items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def _header(signer: Signer = ED25519, **changes: Any) -> dict[str, Any]:
    base = {"alg": signer.public_key.algorithm, "typ": REQUEST_OBJECT_TYP, "kid": KID}
    return _changed(base, changes)


def _payload(**changes: Any) -> dict[str, Any]:
    """The payload sign_request_object emits for REQUEST, with ``changes`` applied."""
    signed = sign_request_object(REQUEST, signer=ED25519, key_id=KID)
    return _changed(_decode(signed.split(".")[1]), changes)


def _jws(header: dict[str, Any], payload: dict[str, Any], signer: Signer = ED25519) -> str:
    """A JWS built by hand, so tests can sign what sign_request_object would never emit."""
    signing_input = _b64json(header) + "." + _b64json(payload)
    return signing_input + "." + b64url_encode(signer.sign(signing_input.encode("ascii")))


def _signed(signer: Signer = ED25519, **changes: Any) -> str:
    return _jws(_header(signer), _payload(**changes), signer)


def _verify(
    jws: str, signer: Signer = ED25519, *, now: int = NOW, **kwargs: Any
) -> AuthorizationRequest:
    def resolve(kid: str) -> PublicKey:
        assert kid == KID
        return signer.public_key

    return verify_request_object(jws, resolve_key=resolve, now=now, policy=DEFAULT_POLICY, **kwargs)


def _refused(error: str, match: str, call: Any, *args: Any, **kwargs: Any) -> Oid4vpError:
    with pytest.raises(Oid4vpError, match=match) as info:
        call(*args, **kwargs)
    assert info.value.error == error
    assert info.value.diagnostics().startswith(error + ": ")
    assert isinstance(info.value, CredentialError)
    return info.value


# -- DCQL -------------------------------------------------------------------------------------------
def _item(**changes: Any) -> dict[str, Any]:
    base = {
        "id": "site",
        "format": CREDENTIAL_FORMAT,
        "meta": {"vct_values": ["urn:realdid:SiteProof"]},
        "claims": [{"path": ["age_over_18"]}],
    }
    return _changed(base, changes)


def _dcql(*items: dict[str, Any]) -> dict[str, Any]:
    return {"credentials": list(items)}


def test_dcql_round_trip() -> None:
    wire = QUERY.to_dict()
    assert wire["credentials"][0] == {
        "id": "site",
        "format": CREDENTIAL_FORMAT,
        "meta": {"vct_values": ["urn:realdid:SiteProof"]},
        "claims": [{"path": ["verified_person"]}, {"path": ["age_over_18"]}],
    }
    assert DcqlQuery.from_dict(wire) == QUERY
    assert DcqlQuery.from_dict(json.loads(json.dumps(wire))) == QUERY


def test_dcql_accepts_explicit_defaults_claim_ids_and_no_claims() -> None:
    item = _item(
        multiple=False,
        require_cryptographic_holder_binding=True,
        claims=[{"id": "c1", "path": ["age_over_18"]}],
    )
    parsed = DcqlQuery.from_dict(_dcql(item, _item(id="b", claims=DROP)))
    assert parsed.credentials == (
        CredentialQuery("site", ("urn:realdid:SiteProof",), ("age_over_18",)),
        CredentialQuery("b", ("urn:realdid:SiteProof",), ()),
    )


def test_dcql_accepts_the_limits() -> None:
    items = [_item(id=f"q{i}") for i in range(4)]
    items[0]["meta"] = {"vct_values": [f"urn:t:{i}" for i in range(8)]}
    items[1]["claims"] = [{"path": [f"c{i}"]} for i in range(32)]
    items[2]["id"] = "x" * 64
    parsed = DcqlQuery.from_dict(_dcql(*items))
    assert len(parsed.credentials) == 4
    assert len(parsed.credentials[0].vct_values) == 8
    assert len(parsed.credentials[1].claims) == 32


@pytest.mark.parametrize(
    ("value", "match"),
    [
        # not an object with a credentials array
        ([], "must be an object with a credentials array"),
        ("credentials", "must be an object with a credentials array"),
        (None, "must be an object with a credentials array"),
        ({}, "must be an object with a credentials array"),
        ({"credentials": {"id": "x"}}, "must be an object with a credentials array"),
        # credential_sets and other top-level members
        (
            {"credentials": [_item()], "credential_sets": [{"options": [["site"]]}]},
            "credential_sets are not supported",
        ),
        # number of queries
        (_dcql(), "1 to 4 credential queries"),
        (_dcql(*(_item(id=f"q{i}") for i in range(5))), "1 to 4 credential queries"),
        # ids
        (_dcql(_item(), _item()), "ids must be unique"),
        (_dcql(_item(id="a b")), "id must be 1-64"),
        (_dcql(_item(id="a.b")), "id must be 1-64"),
        (_dcql(_item(id="é")), "id must be 1-64"),
        (_dcql(_item(id="")), "id must be 1-64"),
        (_dcql(_item(id="x" * 65)), "id must be 1-64"),
        (_dcql(_item(id=7)), "id must be 1-64"),
        (_dcql(_item(id=DROP)), "id must be 1-64"),
        # the query itself
        (_dcql("site"), "must be an object"),
        (_dcql(_item(trusted_authorities=[])), "members not supported"),
        (_dcql(_item(claim_sets=[["a"]])), "members not supported"),
        (_dcql(_item(format="jwt_vc_json")), "format must be 'dc\\+sd-jwt'"),
        (_dcql(_item(format="mso_mdoc")), "format must be"),
        (_dcql(_item(format=DROP)), "format must be"),
        (_dcql(_item(multiple=True)), "multiple credentials"),
        (_dcql(_item(multiple="false")), "multiple credentials"),
        (_dcql(_item(require_cryptographic_holder_binding=False)), "always holder-bound"),
        (_dcql(_item(require_cryptographic_holder_binding=None)), "always holder-bound"),
        # meta.vct_values
        (_dcql(_item(meta=DROP)), "vct_values must list 1 to 8"),
        (_dcql(_item(meta=["urn:realdid:SiteProof"])), "vct_values must list 1 to 8"),
        (_dcql(_item(meta={})), "vct_values must list 1 to 8"),
        (_dcql(_item(meta={"vct_values": "urn:realdid:SiteProof"})), "vct_values"),
        (_dcql(_item(meta={"vct_values": []})), "vct_values must list 1 to 8"),
        (_dcql(_item(meta={"vct_values": [1]})), "vct_values must list 1 to 8"),
        (_dcql(_item(meta={"vct_values": [None]})), "vct_values must list 1 to 8"),
        (_dcql(_item(meta={"vct_values": [""]})), "vct_values must list 1 to 8"),
        (_dcql(_item(meta={"vct_values": ["u" * 257]})), "vct_values must list 1 to 8"),
        (
            _dcql(_item(meta={"vct_values": [f"urn:t:{i}" for i in range(9)]})),
            "vct_values must list 1 to 8",
        ),
        # claims
        (_dcql(_item(claims={"path": ["age_over_18"]})), "claims must be an array"),
        (_dcql(_item(claims="age_over_18")), "claims must be an array"),
        (_dcql(_item(claims=None)), "claims must be an array"),
        (
            _dcql(_item(claims=[{"path": [f"c{i}"]} for i in range(33)])),
            "claims must be an array of <= 32",
        ),
        (_dcql(_item(claims=["age_over_18"])), "claim paths must name one top-level claim"),
        (_dcql(_item(claims=[{}])), "claim paths must name one top-level claim"),
        (_dcql(_item(claims=[{"path": []}])), "claim paths must name one top-level claim"),
        (_dcql(_item(claims=[{"path": "age_over_18"}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": ["address", "street"]}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": ["nationalities", None]}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": [0]}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": [None]}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": ["age-over-18"]}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": ["a.b"]}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": ["_sd"]}])), None),  # accepted: see below
        (_dcql(_item(claims=[{"path": [""]}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": ["x" * 65]}])), "claim paths must name one"),
        (_dcql(_item(claims=[{"path": ["年龄"]}])), "claim paths must name one"),
        (
            _dcql(_item(claims=[{"path": ["age_over_18"], "values": [True]}])),
            "with values or ids are not supported",
        ),
        (
            _dcql(_item(claims=[{"path": ["age_over_18"], "intent_to_retain": True}])),
            "not supported",
        ),
        (
            _dcql(_item(claims=[{"path": ["age_over_18"]}, {"path": ["age_over_18"]}])),
            "'age_over_18' is requested twice",
        ),
    ],
)
def test_dcql_refusals(value: Any, match: str | None) -> None:
    if match is None:
        # "_sd" matches the claim-name pattern; a wallet simply finds no such disclosure.
        assert DcqlQuery.from_dict(value).credentials[0].claims == ("_sd",)
        return
    _refused("invalid_request", match, DcqlQuery.from_dict, value)


# -- request objects: happy path ------------------------------------------------------------------
@pytest.mark.parametrize("signer", [ED25519, P256], ids=["Ed25519", "P-256"])
def test_request_object_round_trip(signer: LocalSigner) -> None:
    jws = sign_request_object(REQUEST, signer=signer, key_id=KID)
    header = _decode(jws.split(".")[0])
    assert header == {"alg": signer.public_key.algorithm, "typ": REQUEST_OBJECT_TYP, "kid": KID}
    payload = _decode(jws.split(".")[1])
    assert payload["iss"] == payload["client_id"] == CLIENT_ID
    assert payload["aud"] == SELF_ISSUED_AUDIENCE
    assert payload["response_type"] == "vp_token"
    assert payload["response_mode"] == "direct_post"
    assert payload["client_metadata"]["client_name"] == "Forum"
    assert "redirect_uri" not in payload

    parsed = _verify(jws, signer, expected_client_id=CLIENT_ID)
    assert parsed == REQUEST
    assert parsed.client_did == RP_DID
    assert parsed.registration() == REGISTRATION


def test_request_object_p256_signature_from_another_key_is_refused() -> None:
    jws = sign_request_object(REQUEST, signer=LocalSigner.generate(KeyType.P256), key_id=KID)
    _refused("invalid_client", "signature does not verify", _verify, jws, P256)


def test_request_without_verifier_info_or_client_name() -> None:
    request = dataclasses.replace(REQUEST, verifier_info=(), client_name=None)
    jws = sign_request_object(request, signer=ED25519, key_id=KID)
    payload = _decode(jws.split(".")[1])
    assert "verifier_info" not in payload
    assert "client_name" not in payload["client_metadata"]
    parsed = _verify(jws)
    assert parsed == request
    assert parsed.registration() is None


def test_registration_picks_the_sd_jwt_entry() -> None:
    info = (
        {"format": "jwt_vc_json", "data": "ignored"},
        {"format": CREDENTIAL_FORMAT, "data": {"not": "a string"}},
        {"format": CREDENTIAL_FORMAT, "data": REGISTRATION},
    )
    request = dataclasses.replace(REQUEST, verifier_info=info)
    parsed = _verify(sign_request_object(request, signer=ED25519, key_id=KID))
    assert parsed.verifier_info == info
    assert parsed.registration() == REGISTRATION
    only_other = dataclasses.replace(REQUEST, verifier_info=info[:2])
    assert only_other.registration() is None


def test_request_object_optional_iss_and_aud_may_be_absent() -> None:
    parsed = _verify(_signed(iss=DROP, aud=DROP, client_metadata=DROP))
    assert parsed.client_id == CLIENT_ID
    assert parsed.client_name is None


@pytest.mark.parametrize(
    "uri", ["http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:9000/cb"]
)
def test_response_uri_may_be_http_on_loopback(uri: str) -> None:
    assert _verify(_signed(response_uri=uri)).response_uri == uri


def test_request_object_time_limits_are_inclusive() -> None:
    # the longest lifetime, iat at the edge of the clock skew, the last valid second
    jws = _signed(iat=T0, exp=T0 + 3600)
    assert _verify(jws, now=T0 - 60).expires_at == T0 + 3600
    assert _verify(jws, now=T0 + 3599).issued_at == T0


def test_sign_request_object_refuses_a_key_of_another_did() -> None:
    _refused(
        "invalid_request",
        "signed with a key of the client's DID",
        sign_request_object,
        REQUEST,
        signer=ED25519,
        key_id=OTHER_DID + "#key-1",
    )


def test_client_id_for() -> None:
    assert client_id_for(RP_DID) == CLIENT_ID
    _refused("invalid_request", "not a did:realdid DID", client_id_for, "did:web:forum.example")
    _refused("invalid_request", "not a did:realdid DID", client_id_for, "did:realdid:x")


# -- request objects: refusals ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "jws",
    ["", "a" * (MAX_REQUEST_OBJECT_BYTES + 1), "é.e30.e30", "e30.e30.\u200b", b"a.b.c", None],
    ids=["empty", "oversized", "non-ascii-header", "non-ascii-signature", "bytes", "none"],
)
def test_verify_refuses_non_jwt_input(jws: Any) -> None:
    _refused("invalid_request", "must be an ASCII JWT", _verify, jws)


def test_verify_refuses_a_signed_request_with_a_non_ascii_character_appended() -> None:
    jws = sign_request_object(REQUEST, signer=ED25519, key_id=KID) + "é"
    _refused("invalid_request", "must be an ASCII JWT", _verify, jws)


def test_verify_refuses_oversized_request_before_parsing() -> None:
    padding = "x" * MAX_REQUEST_OBJECT_BYTES
    jws = _jws(_header(), _payload(client_name_padding=padding))
    assert len(jws) > MAX_REQUEST_OBJECT_BYTES
    _refused("invalid_request", "<= 32768 bytes", _verify, jws)


@pytest.mark.parametrize(
    "jws",
    ["a.b", "a.b.c.d", "!!.e30.", "e30.!!.", "W10.e30.", "e30.e30.!!"],
    ids=["two-segments", "four-segments", "bad-header", "bad-payload", "array-header", "bad-sig"],
)
def test_verify_refuses_malformed_compact_jws(jws: str) -> None:
    _refused("invalid_request", "request object: ", _verify, jws)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ({"typ": "JWT"}, "typ must be oauth-authz-req\\+jwt"),
        ({"typ": "oauth-authz-req"}, "typ must be"),
        ({"typ": DROP}, "typ must be"),
        ({"crit": ["exp"]}, "no critical header extensions"),
    ],
)
def test_verify_refuses_bad_headers(header: dict[str, Any], match: str) -> None:
    jws = _jws(_header(**header), _payload())
    _refused("invalid_request", match, _verify, jws)


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "RS256", ""])
def test_verify_refuses_algorithms_not_allowed(alg: str) -> None:
    header = _b64json(_header(alg=alg))
    payload = _b64json(_payload())
    _refused("invalid_request", "not allowed", _verify, f"{header}.{payload}.")
    signed = _jws(_header(alg=alg), _payload())
    _refused("invalid_request", "not allowed", _verify, signed)


def test_verify_refuses_missing_alg() -> None:
    _refused("invalid_request", "alg missing", _verify, _jws(_header(alg=DROP), _payload()))


def test_verify_refuses_algorithm_outside_the_callers_policy() -> None:
    jws = sign_request_object(REQUEST, signer=ED25519, key_id=KID)
    _refused(
        "invalid_request",
        "not allowed",
        verify_request_object,
        jws,
        resolve_key=lambda kid: ED25519.public_key,
        now=NOW,
        policy=AlgorithmPolicy(frozenset({"ES256"})),
    )


@pytest.mark.parametrize(
    "client_id",
    [
        RP_DID,
        "https://forum.example",
        "redirect_uri:https://forum.example/cb",
        "x509_san_dns:forum.example",
        "Decentralized_identifier:" + RP_DID,
    ],
)
def test_verify_refuses_other_client_identifier_prefixes(client_id: str) -> None:
    jws = _signed(client_id=client_id, iss=client_id)
    _refused("invalid_request", "client identifier prefix", _verify, jws)


@pytest.mark.parametrize(
    "client_id", [DROP, "", 7, "x" * 513], ids=["missing", "empty", "int", "long"]
)
def test_verify_refuses_missing_client_id(client_id: Any) -> None:
    _refused("invalid_request", "client_id must be a string", _verify, _signed(client_id=client_id))


def test_verify_refuses_a_client_id_that_is_not_a_realdid_did() -> None:
    client_id = CLIENT_ID_PREFIX + "did:web:forum.example"
    jws = _jws(_header(kid="did:web:forum.example#key-1"), _payload(client_id=client_id))
    _refused("invalid_request", "not a did:realdid DID", _verify, jws)


@pytest.mark.parametrize(
    "kid",
    [
        OTHER_DID + "#key-1",
        RP_DID,
        RP_DID + "#",
        RP_DID + "#key 1",
        RP_DID + "#key/1",
        RP_DID + "#" + "k" * 51,
        RP_DID + "x#key-1",
        "#key-1",
        CLIENT_ID + "#key-1",
        7,
        None,
        DROP,
    ],
)
def test_verify_refuses_kid_outside_the_clients_did(kid: Any) -> None:
    def resolve(kid: str) -> PublicKey:
        raise AssertionError("no key may be resolved for a foreign kid")

    jws = _jws(_header(kid=kid), _payload())
    with pytest.raises(Oid4vpError, match="kid must be a DID URL of the client's DID") as info:
        verify_request_object(jws, resolve_key=resolve, now=NOW, policy=DEFAULT_POLICY)
    assert info.value.error == "invalid_client"


@pytest.mark.parametrize(
    "failure", [LookupError("no such verification method"), KeyError(KID), CredentialError("x")]
)
def test_verify_refuses_unresolvable_key(failure: Exception) -> None:
    def resolve(kid: str) -> PublicKey:
        raise failure

    jws = sign_request_object(REQUEST, signer=ED25519, key_id=KID)
    error = _refused(
        "invalid_client",
        "cannot be resolved",
        verify_request_object,
        jws,
        resolve_key=resolve,
        now=NOW,
        policy=DEFAULT_POLICY,
    )
    assert error.__cause__ is failure


@pytest.mark.parametrize(
    ("signed_with", "resolved"),
    [(ED25519, P256), (P256, ED25519), (ED25519, LocalSigner.generate(KeyType.SECP256K1))],
)
def test_verify_refuses_a_key_of_another_type(signed_with: Signer, resolved: Signer) -> None:
    jws = sign_request_object(REQUEST, signer=signed_with, key_id=KID)
    _refused("invalid_client", "does not match the key", _verify, jws, resolved)


def test_verify_refuses_a_tampered_payload() -> None:
    jws = sign_request_object(REQUEST, signer=ED25519, key_id=KID)
    header, payload, signature = jws.split(".")
    raw = bytearray(b64url_decode(payload))
    at = raw.index(b'"n-1"') + 3
    raw[at] ^= 0x03  # n-1 -> n-2: still valid JSON, different bytes
    tampered = f"{header}.{b64url_encode(bytes(raw))}.{signature}"
    assert _decode(tampered.split(".")[1])["nonce"] == "n-2"
    _refused("invalid_client", "signature does not verify", _verify, tampered)


@pytest.mark.parametrize("signer", [ED25519, P256], ids=["Ed25519", "P-256"])
def test_verify_refuses_bad_signatures(signer: LocalSigner) -> None:
    jws = sign_request_object(REQUEST, signer=signer, key_id=KID)
    signing_input, _, signature = jws.rpartition(".")
    raw = b64url_decode(signature)
    flipped = bytes([raw[0] ^ 1]) + raw[1:]
    for bad in (flipped, raw[:-1], raw + b"\0", b"", bytes(64)):
        _refused(
            "invalid_client",
            "signature does not verify",
            _verify,
            signing_input + "." + b64url_encode(bad),
            signer,
        )
    other = sign_request_object(REQUEST, signer=LocalSigner.generate(), key_id=KID)
    _refused("invalid_client", "signature does not verify", _verify, other)


def test_verify_refuses_expected_client_id_mismatch() -> None:
    jws = sign_request_object(REQUEST, signer=ED25519, key_id=KID)
    _refused(
        "invalid_client",
        "client_id differs",
        _verify,
        jws,
        expected_client_id=CLIENT_ID_PREFIX + OTHER_DID,
    )


@pytest.mark.parametrize(
    ("changes", "now", "match"),
    [
        ({}, T0 + 300, "has expired"),
        ({}, T0 + 10_000, "has expired"),
        ({}, T0 - 61, "iat lies in the future"),
        ({"iat": T0 + 1000, "exp": T0 + 1300}, T0, "iat lies in the future"),
        ({"exp": T0 + 3601}, NOW, "lifetime must be 1 to 3600"),
        ({"exp": T0}, NOW, "lifetime must be"),
        ({"exp": T0 - 1}, NOW, "lifetime must be"),
        ({"iat": "1700000000"}, NOW, "iat must be an integer"),
        ({"iat": 1.7e9}, NOW, "iat must be an integer"),
        ({"iat": True}, NOW, "iat must be an integer"),
        ({"iat": DROP}, NOW, "iat must be an integer"),
        ({"exp": DROP}, NOW, "exp must be an integer"),
        ({"exp": None}, NOW, "exp must be an integer"),
    ],
)
def test_verify_refuses_bad_times(changes: dict[str, Any], now: int, match: str) -> None:
    _refused("invalid_request", match, _verify, _signed(**changes), now=now)


@pytest.mark.parametrize("response_type", ["code", "vp_token id_token", "", DROP])
def test_verify_refuses_other_response_types(response_type: Any) -> None:
    jws = _signed(response_type=response_type)
    _refused("unsupported_response_type", "response_type must be vp_token", _verify, jws)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"response_mode": "direct_post.jwt"}, "response_mode must be direct_post"),
        ({"response_mode": "fragment"}, "response_mode must be direct_post"),
        ({"response_mode": DROP}, "response_mode must be direct_post"),
        ({"redirect_uri": "https://forum.example/cb"}, "redirect_uri must not be present"),
        ({"iss": CLIENT_ID_PREFIX + OTHER_DID}, "iss must be the client_id"),
        ({"aud": "https://wallet.example"}, "aud must be https://self-issued.me/v2"),
        ({"aud": [SELF_ISSUED_AUDIENCE]}, "aud must be"),
        # response_uri
        ({"response_uri": "http://forum.example/cb"}, "must be an https URL"),
        ({"response_uri": "http://localhost@evil.example/cb"}, "must be an https URL"),
        ({"response_uri": "http://localhost.evil.example/cb"}, "must be an https URL"),
        ({"response_uri": "ftp://forum.example/cb"}, "must be an https URL"),
        ({"response_uri": "https:///cb"}, "must be an https URL"),
        ({"response_uri": "https://forum.example/cb#frag"}, "must be an https URL"),
        ({"response_uri": "/oid4vp/responses"}, "must be an https URL"),
        ({"response_uri": "https://[forum.example/cb"}, "response_uri is not a URL"),
        ({"response_uri": DROP}, "response_uri must be a string"),
        ({"response_uri": "https://f.example/" + "x" * 2048}, "response_uri must be a string"),
        # nonce and state
        ({"nonce": DROP}, "nonce must be a string"),
        ({"nonce": ""}, "nonce must be a string"),
        ({"nonce": 1}, "nonce must be a string"),
        ({"nonce": "n" * 257}, "nonce must be a string"),
        ({"state": DROP}, "state must be a string"),
        ({"state": None}, "state must be a string"),
        ({"state": "s" * 257}, "state must be a string"),
        # metadata, verifier_info, DCQL
        ({"client_metadata": "Forum"}, "client_metadata must be an object"),
        ({"client_metadata": {"client_name": 7}}, "client_name must be a string"),
        ({"client_metadata": {"client_name": "F" * 257}}, "client_name must be a string"),
        ({"verifier_info": {"format": CREDENTIAL_FORMAT}}, "verifier_info must be an array"),
        ({"verifier_info": ["x"]}, "verifier_info must be an array"),
        ({"verifier_info": [{}] * 5}, "at most 4 objects"),
        ({"dcql_query": DROP}, "dcql_query must be an object"),
        ({"dcql_query": _dcql(_item(multiple=True))}, "multiple credentials"),
    ],
)
def test_verify_refuses_bad_request_claims(changes: dict[str, Any], match: str) -> None:
    _refused("invalid_request", match, _verify, _signed(**changes))


# -- the openid4vp:// URL ---------------------------------------------------------------------------
def test_authorization_url_round_trip() -> None:
    request_uri = "https://forum.example/oid4vp/requests?id=a b&x=1"  # survives encoding
    url = authorization_url(CLIENT_ID, request_uri)
    assert url.startswith(AUTHORIZATION_SCHEME + "://?client_id=")
    assert parse_authorization_url(url) == (CLIENT_ID, request_uri)
    plain = authorization_url(CLIENT_ID, REQUEST_URI)
    assert parse_authorization_url(plain) == (CLIENT_ID, REQUEST_URI)
    assert parse_authorization_url(plain + "&request_uri_method=get") == (CLIENT_ID, REQUEST_URI)
    local = authorization_url(CLIENT_ID, "http://127.0.0.1:8000/r/1")
    assert parse_authorization_url(local) == (CLIENT_ID, "http://127.0.0.1:8000/r/1")


def _url(**params: str) -> str:
    return f"{AUTHORIZATION_SCHEME}://?{urlencode(params)}"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        (
            authorization_url(CLIENT_ID, REQUEST_URI).replace("openid4vp", "https", 1),
            "not an openid4vp:// URL",
        ),
        ("openid-credential-offer://?credential_offer_uri=x", "not an openid4vp:// URL"),
        ("OPENID4VPX://?client_id=a&request_uri=https://a/b", "not an openid4vp:// URL"),
        ("/openid4vp?client_id=a", "not an openid4vp:// URL"),
        ("openid4vp://[x/?client_id=a", "URL is malformed"),
        (_url(client_id=CLIENT_ID, request="eyJ.eyJ.sig"), "only requests by reference"),
        (
            _url(client_id=CLIENT_ID, request_uri=REQUEST_URI, request="eyJ.eyJ.sig"),
            "only requests by reference",
        ),
        (_url(client_id=CLIENT_ID), "only requests by reference"),
        ("openid4vp://", "only requests by reference"),
        (
            _url(client_id=CLIENT_ID, request_uri=REQUEST_URI, request_uri_method="post"),
            "request_uri_method get",
        ),
        (
            _url(client_id=CLIENT_ID, request_uri=REQUEST_URI, request_uri_method="GET"),
            "request_uri_method get",
        ),
        (_url(client_id=CLIENT_ID, request_uri="http://forum.example/r/1"), "https URL"),
        (_url(client_id=CLIENT_ID, request_uri="http://10.0.0.1/r/1"), "https URL"),
        (_url(client_id=CLIENT_ID, request_uri="file:///etc/passwd"), "https URL"),
        (_url(client_id=CLIENT_ID, request_uri="https://[forum/r"), "request_uri is not a URL"),
        (_url(client_id=CLIENT_ID, request_uri=""), "only requests by reference"),
        (_url(request_uri=REQUEST_URI), "client_id must be a string"),
        (_url(client_id="", request_uri=REQUEST_URI), "client_id must be a string"),
        # garbage and duplicated query parameters
        ("openid4vp://?client_id=a&&request_uri=https://a/b", "query is malformed"),
        ("openid4vp://?client_id&request_uri=https://a/b", "query is malformed"),
        ("openid4vp://?garbage", "query is malformed"),
        (_url(**{f"p{i}": "x" for i in range(9)}), "query is malformed"),
        (
            _url(client_id=CLIENT_ID, request_uri=REQUEST_URI)
            + "&client_id=decentralized_identifier%3Adid%3Arealdid%3Aevil",
            "repeats a parameter",
        ),
        (
            _url(client_id=CLIENT_ID, request_uri=REQUEST_URI) + "&request_uri=https://evil/x",
            "repeats a parameter",
        ),
        ("openid4vp://?client_id=a&request_uri=https://a/" + "x" * 4096, "too long"),
    ],
)
def test_parse_authorization_url_refusals(url: str, match: str) -> None:
    _refused("invalid_request", match, parse_authorization_url, url)


@pytest.mark.parametrize("url", [None, b"openid4vp://?a=b", 7])
def test_parse_authorization_url_refuses_non_strings(url: Any) -> None:
    _refused("invalid_request", "too long", parse_authorization_url, url)


# -- the direct_post response -----------------------------------------------------------------------
def test_response_form_round_trip() -> None:
    form = response_form({"site": ("eyJ.eyJ.sig~d1~kb",), "b": ["x~"]}, "s-1")
    assert set(form) == {"vp_token", "state"}
    assert json.loads(form["vp_token"]) == {"site": ["eyJ.eyJ.sig~d1~kb"], "b": ["x~"]}
    assert " " not in form["vp_token"]
    parsed = AuthorizationResponse.from_form({**form, "unknown": "ignored"})
    assert parsed == AuthorizationResponse(
        state="s-1", vp_token={"site": ("eyJ.eyJ.sig~d1~kb",), "b": ("x~",)}
    )
    assert parsed.error is None
    assert parsed.error_description is None


def test_error_response_round_trip() -> None:
    form = error_response_form("access_denied", "The user declined.", "s-1")
    assert form == {
        "error": "access_denied",
        "error_description": "The user declined.",
        "state": "s-1",
    }
    parsed = AuthorizationResponse.from_form(form)
    assert parsed == AuthorizationResponse("s-1", {}, "access_denied", "The user declined.")
    # an error wins over a vp_token sent alongside it; error_description is optional
    both = AuthorizationResponse.from_form(
        {"error": "invalid_request", "state": "s-2", "vp_token": '{"a":["x"]}'}
    )
    assert both == AuthorizationResponse("s-2", {}, "invalid_request", None)


@pytest.mark.parametrize(
    ("form", "match"),
    [
        ({"vp_token": '{"site":["x"]}'}, "state must be a string"),
        ({"vp_token": '{"site":["x"]}', "state": ""}, "state must be a string"),
        ({"vp_token": '{"site":["x"]}', "state": "s" * 257}, "state must be a string"),
        ({"error": "access_denied"}, "state must be a string"),
        # vp_token
        ({"state": "s"}, "vp_token must be a JSON object of <="),
        ({"state": "s", "vp_token": ""}, "vp_token must be a JSON object of <="),
        (
            {"state": "s", "vp_token": '{"a":["' + "x" * MAX_VP_TOKEN_BYTES + '"]}'},
            f"<= {MAX_VP_TOKEN_BYTES} bytes",
        ),
        ({"state": "s", "vp_token": "not json"}, "vp_token is not JSON"),
        ({"state": "s", "vp_token": '{"a":["x"]'}, "vp_token is not JSON"),
        ({"state": "s", "vp_token": '{"a":["x"],"a":["y"]}'}, "vp_token is not JSON"),
        ({"state": "s", "vp_token": '{"a":[NaN]}'}, "vp_token is not JSON"),
        ({"state": "s", "vp_token": "[" * 100_000}, "vp_token is not JSON"),
        ({"state": "s", "vp_token": '{"a":["\ud800"]}'}, "vp_token is not JSON"),
        ({"state": "s", "vp_token": '["x"]'}, "must be an object keyed by credential query id"),
        ({"state": "s", "vp_token": '"x"'}, "must be an object keyed by credential query id"),
        ({"state": "s", "vp_token": "null"}, "must be an object keyed by credential query id"),
        ({"state": "s", "vp_token": "{}"}, "must be an object keyed by credential query id"),
        (
            {"state": "s", "vp_token": json.dumps({f"q{i}": ["x"] for i in range(5)})},
            "must be an object keyed by credential query id",
        ),
        ({"state": "s", "vp_token": '{"a b":["x"]}'}, "keys must be credential query ids"),
        ({"state": "s", "vp_token": '{"":["x"]}'}, "keys must be credential query ids"),
        ({"state": "s", "vp_token": '{"é":["x"]}'}, "keys must be credential query ids"),
        ({"state": "s", "vp_token": '{"a\\n":["x"]}'}, "keys must be credential query ids"),
        ({"state": "s", "vp_token": '{"a":"x"}'}, "array with one presentation"),
        ({"state": "s", "vp_token": '{"a":[]}'}, "array with one presentation"),
        ({"state": "s", "vp_token": '{"a":["x","y"]}'}, "array with one presentation"),
        ({"state": "s", "vp_token": '{"a":[1]}'}, "array with one presentation"),
        ({"state": "s", "vp_token": '{"a":[null]}'}, "array with one presentation"),
        ({"state": "s", "vp_token": '{"a":[["x"]]}'}, "array with one presentation"),
        ({"state": "s", "vp_token": '{"a":{"0":"x"}}'}, "array with one presentation"),
        # error responses
        ({"state": "s", "error": "Access_Denied"}, "error must be an OAuth error code"),
        ({"state": "s", "error": "access denied"}, "error must be an OAuth error code"),
        ({"state": "s", "error": ""}, "error must be an OAuth error code"),
        ({"state": "s", "error": "x" * 65}, "error must be an OAuth error code"),
        ({"state": "s", "error": "access_denied\n"}, "error must be an OAuth error code"),
        ({"state": "s", "error": "a", "error_description": ""}, "error_description must be"),
        ({"state": "s", "error": "a", "error_description": "d" * 513}, "error_description"),
    ],
)
def test_parse_response_form_refusals(form: dict[str, str], match: str) -> None:
    _refused("invalid_request", match, AuthorizationResponse.from_form, form)


def test_parse_response_form_accepts_the_limits() -> None:
    token = json.dumps({f"q{i}": ["x" * 100] for i in range(4)})
    parsed = AuthorizationResponse.from_form({"state": "s" * 256, "vp_token": token})
    assert set(parsed.vp_token) == {"q0", "q1", "q2", "q3"}
    error = AuthorizationResponse.from_form(
        {"state": "s", "error": "e" * 64, "error_description": "d" * 512}
    )
    assert error.error == "e" * 64
