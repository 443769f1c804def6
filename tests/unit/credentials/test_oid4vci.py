"""OpenID4VCI 1.0 wire messages: metadata, offers, token/nonce/credential exchanges, key proofs."""

from __future__ import annotations

import base64
import json
from dataclasses import astuple
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from realdid.credentials import (
    CREDENTIAL_FORMAT,
    CREDENTIAL_OFFER_SCHEME,
    MAX_PROOF_JWT_BYTES,
    PRE_AUTHORIZED_GRANT,
    PROOF_JWT_TYP,
    CredentialConfiguration,
    CredentialError,
    CredentialOffer,
    CredentialRequest,
    CredentialResponse,
    NonceResponse,
    Oid4vciError,
    ProofOfPossession,
    TokenRequest,
    TokenResponse,
    UntrustedIssuerError,
    authorization_server_metadata,
    credential_issuer_metadata,
    make_proof_jwt,
    verify_proof_jwt,
)
from realdid.crypto import (
    DEFAULT_POLICY,
    AlgorithmPolicy,
    KeyType,
    LocalSigner,
    PublicKey,
    b64url_encode,
    multihash_b58,
)

ISSUER = "https://id.realdid.example"
DID = "did:realdid:" + multihash_b58(b"holder")
KID = DID + "#key-1"
NONCE = "c-nonce-1"
T0 = 1_700_000_000
CONFIG = CredentialConfiguration(
    id="RealName",
    vct="https://id.realdid.example/vct/RealName",
    display_name="Real-name credential",
    claims=("family_name", "given_name", "age_over_18"),
    signing_algs=("EdDSA", "ES256"),
    proof_algs=("EdDSA", "ES256"),
)


def _error(excinfo: pytest.ExceptionInfo[Oid4vciError]) -> str:
    return excinfo.value.error


# -- errors -----------------------------------------------------------------------------------
def test_error_carries_code_status_and_safe_json() -> None:
    err = Oid4vciError("invalid_proof", 'bad "kid" \\ é')
    assert isinstance(err, CredentialError)
    assert (err.error, err.http_status) == ("invalid_proof", 400)
    assert err.to_dict() == {"error": "invalid_proof", "error_description": "bad ?kid? ? ?"}
    assert Oid4vciError("invalid_token", "expired").http_status == 401
    assert Oid4vciError("invalid_client", "x").http_status == 401
    assert Oid4vciError("invalid_grant", "x", http_status=400).http_status == 400
    assert err.diagnostics().startswith("invalid_proof: ")


# -- metadata ---------------------------------------------------------------------------------
def test_credential_issuer_metadata_has_required_fields() -> None:
    meta = credential_issuer_metadata(
        ISSUER,
        credential_endpoint=ISSUER + "/credential",
        nonce_endpoint=ISSUER + "/nonce",
        configurations=[CONFIG],
        display_name="RealDID Authority",
    )
    assert meta["credential_issuer"] == ISSUER
    assert meta["credential_endpoint"] == ISSUER + "/credential"
    assert meta["nonce_endpoint"] == ISSUER + "/nonce"
    assert meta["display"] == [{"name": "RealDID Authority"}]
    assert "authorization_servers" not in meta  # the issuer is its own AS
    config = meta["credential_configurations_supported"]["RealName"]
    assert config["format"] == CREDENTIAL_FORMAT == "dc+sd-jwt"
    assert config["vct"] == CONFIG.vct
    assert config["cryptographic_binding_methods_supported"] == ["did:realdid"]
    assert config["credential_signing_alg_values_supported"] == ["EdDSA", "ES256"]
    assert config["proof_types_supported"] == {
        "jwt": {"proof_signing_alg_values_supported": ["EdDSA", "ES256"]}
    }
    assert config["credential_metadata"]["display"] == [{"name": "Real-name credential"}]
    assert config["credential_metadata"]["claims"] == [
        {"path": ["family_name"]},
        {"path": ["given_name"]},
        {"path": ["age_over_18"]},
    ]
    json.dumps(meta)  # serialisable as is


def test_metadata_refuses_bad_configurations() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        credential_issuer_metadata(
            ISSUER, credential_endpoint="c", nonce_endpoint="n", configurations=[CONFIG, CONFIG],
            display_name="x",
        )  # fmt: skip
    with pytest.raises(ValueError, match="at least one"):
        credential_issuer_metadata(
            ISSUER, credential_endpoint="c", nonce_endpoint="n", configurations=[], display_name="x"
        )
    with pytest.raises(ValueError, match="non-empty"):
        CredentialConfiguration("a", "v", "d", (), (), ("EdDSA",))
    with pytest.raises(ValueError, match="repeat"):
        CredentialConfiguration("a", "v", "d", ("x", "x"), ("EdDSA",), ("EdDSA",))


def test_configuration_without_claims_omits_claims() -> None:
    config = CredentialConfiguration("a", "v", "d", (), ("EdDSA",), ("EdDSA",)).to_dict()
    assert "claims" not in config["credential_metadata"]


def test_authorization_server_metadata() -> None:
    meta = authorization_server_metadata(ISSUER, token_endpoint=ISSUER + "/token")
    assert meta == {
        "issuer": ISSUER,
        "token_endpoint": ISSUER + "/token",
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:pre-authorized_code"],
        "pre-authorized_grant_anonymous_access_supported": True,
    }


# -- credential offer -------------------------------------------------------------------------
def test_offer_object_shape() -> None:
    assert CredentialOffer(ISSUER, ("RealName",), "code-1").to_dict() == {
        "credential_issuer": ISSUER,
        "credential_configuration_ids": ["RealName"],
        "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "code-1"}},
    }
    with pytest.raises(ValueError, match="unique"):
        CredentialOffer(ISSUER, ("a", "a"), "c")


def test_offer_uri_round_trip_is_url_encoded_json() -> None:
    offer = CredentialOffer(ISSUER, ("RealName", "Site"), "c0de/+ &=").to_dict()
    uri = CredentialOffer.from_dict(offer).serialize()
    assert uri.startswith(CREDENTIAL_OFFER_SCHEME + "?credential_offer=%7B")
    query = uri.split("?", 1)[1]
    assert all(c not in query.split("=", 1)[1] for c in '{}" &/+')  # fully percent-encoded
    assert json.loads(parse_qs(urlsplit(uri).query)["credential_offer"][0]) == offer
    parsed = CredentialOffer.parse(uri)
    assert parsed == CredentialOffer(ISSUER, ("RealName", "Site"), "c0de/+ &=")
    assert CredentialOffer.from_dict(offer) == parsed


def test_offer_accepts_https_link_loopback_issuer_and_ignores_unknown_members() -> None:
    offer: dict[str, Any] = CredentialOffer("http://127.0.0.1:8080/issuer", ("a",), "c").to_dict()
    offer["future_param"] = {"x": 1}
    offer["grants"]["authorization_code"] = {"issuer_state": "s"}
    encoded = quote(json.dumps(offer, ensure_ascii=False, separators=(",", ":")), safe="")
    link = "https://wallet.example/offer?credential_offer=" + encoded
    assert CredentialOffer.parse(link).issuer == "http://127.0.0.1:8080/issuer"


def _offer_with(**changes: Any) -> dict[str, Any]:
    offer: dict[str, Any] = CredentialOffer(ISSUER, ("RealName",), "code").to_dict()
    offer.update(changes)
    return offer


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "JSON object"),
        ({"credential_offer": _offer_with()}, "credential_issuer"),  # extra nesting
        (_offer_with(credential_issuer=None), "credential_issuer"),
        (_offer_with(credential_issuer=123), "credential_issuer"),
        (_offer_with(credential_issuer="http://evil.example"), "https"),
        (_offer_with(credential_issuer=ISSUER + "?q=1"), "https"),
        (_offer_with(credential_issuer=ISSUER + "#f"), "https"),
        (_offer_with(credential_issuer="https://u:p@id.example"), "https"),
        (_offer_with(credential_issuer="https://" + "a" * 300), "https"),
        (_offer_with(credential_configuration_ids=None), "credential_configuration_ids"),
        (_offer_with(credential_configuration_ids="RealName"), "credential_configuration_ids"),
        (_offer_with(credential_configuration_ids=[]), "credential_configuration_ids"),
        (_offer_with(credential_configuration_ids=["a", "a"]), "credential_configuration_ids"),
        (_offer_with(credential_configuration_ids=[1]), "credential_configuration_ids"),
        (_offer_with(credential_configuration_ids=[""]), "credential_configuration_ids"),
        (_offer_with(credential_configuration_ids=[str(i) for i in range(17)]), "at most"),
        (_offer_with(grants=None), "pre-authorized_code grant"),
        (_offer_with(grants={}), "pre-authorized_code grant"),
        (_offer_with(grants={"authorization_code": {}}), "pre-authorized_code grant"),
        (_offer_with(grants={PRE_AUTHORIZED_GRANT: "code"}), "JSON object"),
        (_offer_with(grants={PRE_AUTHORIZED_GRANT: {}}), "pre-authorized_code must"),
        (_offer_with(grants={PRE_AUTHORIZED_GRANT: {"pre-authorized_code": 7}}), "must be"),
        (_offer_with(grants={PRE_AUTHORIZED_GRANT: {"pre-authorized_code": ""}}), "must be"),
        (
            _offer_with(grants={PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "c" * 1025}}),
            "must be",
        ),
        (
            _offer_with(grants={PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "c", "tx_code": {}}}),
            "tx_code",
        ),
    ],
)
def test_malformed_offer_objects(value: Any, message: str) -> None:
    with pytest.raises(Oid4vciError, match=message) as excinfo:
        CredentialOffer.from_dict(value)
    assert _error(excinfo) == "invalid_credential_offer"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("openid-credential-offer://", "exactly one"),
        ("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fx", "by reference"),
        ("openid-credential-offer://?credential_offer=%7B%7D&credential_offer=%7B%7D", "one"),
        ("openid-credential-offer://?credential_offer=not-json", "not a JSON"),
        ("openid-credential-offer://?credential_offer=%5B%5D", "JSON object"),
        ("openid-credential-offer://?credential_offer=%7B%22a%22:1,%22a%22:2%7D", "not a JSON"),
        ("openid-credential-offer://?credential_offer=%7B%22a%22:NaN%7D", "not a JSON"),
        ("openid-credential-offer://?credential_offer=" + "%5B" * 3000, "longer than"),
        ("javascript://?credential_offer=%7B%7D", "openid-credential-offer"),
        ("openid-credential-offer://?credential_offer", "does not parse"),
        ("", "openid-credential-offer"),
    ],
)
def test_malformed_offer_uris(uri: str, message: str) -> None:
    with pytest.raises(Oid4vciError, match=message) as excinfo:
        CredentialOffer.parse(uri)
    assert _error(excinfo) == "invalid_credential_offer"


def test_oversized_offer_uri() -> None:
    uri = CredentialOffer(ISSUER, ("a",), "c" * 9000).serialize()
    with pytest.raises(Oid4vciError, match="longer than"):
        CredentialOffer.parse(uri)


# -- token endpoint ---------------------------------------------------------------------------
def test_token_request_round_trip() -> None:
    form = TokenRequest("code-1").to_form()
    assert form == {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": "code-1"}
    assert TokenRequest.from_form(form).pre_authorized_code == "code-1"
    extra = {**form, "client_id": "wallet", "other": "x"}
    assert TokenRequest.from_form(extra).pre_authorized_code == "code-1"


@pytest.mark.parametrize(
    ("form", "error", "message"),
    [
        ({"pre-authorized_code": "c"}, "invalid_request", "grant_type is missing"),
        (
            {"grant_type": "authorization_code", "code": "c"},
            "unsupported_grant_type",
            "only the",
        ),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", "only the"),
        ({"grant_type": PRE_AUTHORIZED_GRANT}, "invalid_request", "pre-authorized_code"),
        (
            {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": ""},
            "invalid_request",
            "pre-authorized_code",
        ),
        (
            {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": "c" * 1025},
            "invalid_request",
            "pre-authorized_code",
        ),
        (
            {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": "c", "tx_code": "1234"},
            "invalid_request",
            "tx_code",
        ),
        (
            {
                "grant_type": [PRE_AUTHORIZED_GRANT, PRE_AUTHORIZED_GRANT],
                "pre-authorized_code": "c",
            },
            "invalid_request",
            "once",
        ),
    ],
)
def test_malformed_token_requests(form: Any, error: str, message: str) -> None:
    with pytest.raises(Oid4vciError, match=message) as excinfo:
        TokenRequest.from_form(form)
    assert _error(excinfo) == error
    assert excinfo.value.http_status == 400


def test_token_request_not_a_mapping() -> None:
    with pytest.raises(Oid4vciError) as excinfo:
        TokenRequest.from_form("grant_type=x")  # type: ignore[arg-type]
    assert _error(excinfo) == "invalid_request"


def test_token_response_round_trip() -> None:
    body = TokenResponse("at-1", 300).to_dict()
    assert body == {"access_token": "at-1", "token_type": "Bearer", "expires_in": 300}
    assert astuple(TokenResponse.from_dict(body)) == ("at-1", 300)
    lenient = {**body, "token_type": "bearer", "c_nonce": "x"}
    assert astuple(TokenResponse.from_dict(lenient)) == ("at-1", 300)
    with pytest.raises(ValueError, match="positive"):
        TokenResponse("at", 0)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"token_type": "Bearer", "expires_in": 1},
        {"access_token": 1, "token_type": "Bearer", "expires_in": 1},
        {"access_token": "a", "token_type": "DPoP", "expires_in": 1},
        {"access_token": "a", "expires_in": 1},
        {"access_token": "a", "token_type": "Bearer"},
        {"access_token": "a", "token_type": "Bearer", "expires_in": "60"},
        {"access_token": "a", "token_type": "Bearer", "expires_in": True},
        {"access_token": "a", "token_type": "Bearer", "expires_in": 0},
        {"access_token": "a" * 1025, "token_type": "Bearer", "expires_in": 1},
    ],
)
def test_malformed_token_responses(body: Any) -> None:
    with pytest.raises(Oid4vciError) as excinfo:
        TokenResponse.from_dict(body)
    assert _error(excinfo) == "invalid_response"


# -- nonce endpoint ---------------------------------------------------------------------------
def test_nonce_response_round_trip() -> None:
    assert NonceResponse("n").to_dict() == {"c_nonce": "n"}
    assert NonceResponse.from_dict({"c_nonce": "n", "extra": 1}).c_nonce == "n"
    for body in (None, {}, {"c_nonce": 5}, {"c_nonce": ""}, {"c_nonce": "n" * 1025}):
        with pytest.raises(Oid4vciError):
            NonceResponse.from_dict(body)


# -- credential endpoint ----------------------------------------------------------------------
def test_credential_request_round_trip() -> None:
    body = CredentialRequest("RealName", ("a.b.c",)).to_dict()
    assert body == {"credential_configuration_id": "RealName", "proofs": {"jwt": ["a.b.c"]}}
    assert CredentialRequest.from_dict(body) == CredentialRequest("RealName", ("a.b.c",))
    batch = CredentialRequest("RealName", ("a.b.c", "d.e.f")).to_dict()
    assert CredentialRequest.from_dict(batch, max_proofs=2).proof_jwts == ("a.b.c", "d.e.f")
    # Section 8.2: unrecognised parameters are ignored.
    assert CredentialRequest.from_dict({**body, "future": 1}).configuration_id == "RealName"
    with pytest.raises(ValueError, match="at least one"):
        CredentialRequest("RealName", ())


_REQ = {"credential_configuration_id": "RealName", "proofs": {"jwt": ["a.b.c"]}}


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (None, "invalid_credential_request", "JSON object"),
        ([_REQ], "invalid_credential_request", "JSON object"),
        ({"request": _REQ}, "invalid_credential_request", "credential_configuration_id"),
        ({"proofs": {"jwt": ["a.b.c"]}}, "invalid_credential_request", "configuration_id"),
        ({**_REQ, "credential_configuration_id": 3}, "invalid_credential_request", "string"),
        ({**_REQ, "credential_configuration_id": ""}, "invalid_credential_request", "string"),
        (
            {**_REQ, "credential_configuration_id": ["RealName"]},
            "invalid_credential_request",
            "string",
        ),
        (
            {**_REQ, "credential_configuration_id": "x" * 257},
            "invalid_credential_request",
            "string",
        ),
        ({**_REQ, "credential_identifier": "x"}, "invalid_credential_request", "identifier"),
        (
            {**_REQ, "credential_response_encryption": {"jwk": {}, "enc": "A128GCM"}},
            "invalid_encryption_parameters",
            "encrypt",
        ),
        ({"credential_configuration_id": "RealName"}, "invalid_proof", "missing"),
        (
            {"credential_configuration_id": "RealName", "proof": {"proof_type": "jwt", "jwt": "a"}},
            "invalid_proof",
            "singular proof",
        ),
        ({**_REQ, "proofs": ["a.b.c"]}, "invalid_proof", "exactly one proof type"),
        ({**_REQ, "proofs": {}}, "invalid_proof", "exactly one proof type"),
        ({**_REQ, "proofs": {"jwt": ["a"], "di_vp": [{}]}}, "invalid_proof", "exactly one"),
        ({**_REQ, "proofs": {"di_vp": [{}]}}, "invalid_proof", "only the jwt"),
        ({**_REQ, "proofs": {"attestation": ["a.b.c"]}}, "invalid_proof", "only the jwt"),
        ({**_REQ, "proofs": {"jwt": "a.b.c"}}, "invalid_proof", "non-empty array"),
        ({**_REQ, "proofs": {"jwt": []}}, "invalid_proof", "non-empty array"),
        ({**_REQ, "proofs": {"jwt": [{"jwt": "a.b.c"}]}}, "invalid_proof", "string"),
        ({**_REQ, "proofs": {"jwt": [""]}}, "invalid_proof", "string"),
        ({**_REQ, "proofs": {"jwt": ["a" * (MAX_PROOF_JWT_BYTES + 1)]}}, "invalid_proof", "<="),
        ({**_REQ, "proofs": {"jwt": ["a.b.c", "d.e.f"]}}, "invalid_credential_request", "at most"),
    ],
)
def test_malformed_credential_requests(body: Any, error: str, message: str) -> None:
    with pytest.raises(Oid4vciError, match=message) as excinfo:
        CredentialRequest.from_dict(body)
    assert _error(excinfo) == error


def test_credential_response_round_trip() -> None:
    body = CredentialResponse(("sd.jwt.vc~d~", "other~")).to_dict()
    assert body == {"credentials": [{"credential": "sd.jwt.vc~d~"}, {"credential": "other~"}]}
    parsed = CredentialResponse.from_dict({**body, "notification_id": "n"})
    assert list(parsed.credentials) == ["sd.jwt.vc~d~", "other~"]
    with pytest.raises(ValueError, match="at least one"):
        CredentialResponse(())


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"credentials": []},
        {"credentials": "x~"},
        {"credentials": ["x~"]},
        {"credentials": [{"credential": {"x": 1}}]},
        {"credentials": [{"credential": ""}]},
        {"credentials": [{"credential": "x" * (64 * 1024 + 1)}]},
        {"credentials": [{"credential": "x~"}] * 17},
        {"credential": "x~"},  # draft-era singular member
        {"transaction_id": "t", "interval": 5},
    ],
)
def test_malformed_credential_responses(body: Any) -> None:
    with pytest.raises(Oid4vciError) as excinfo:
        CredentialResponse.from_dict(body)
    assert _error(excinfo) == "invalid_response"


# -- key proofs -------------------------------------------------------------------------------
def _resolver(signer: LocalSigner) -> Any:
    def resolve(kid: str) -> PublicKey:
        if kid != KID:
            raise Oid4vciError("invalid_proof", f"unknown key {kid}")
        return signer.public_key

    return resolve


def _verify(jwt: str, signer: LocalSigner, **kw: Any) -> ProofOfPossession:
    args: dict[str, Any] = {
        "resolve_key": _resolver(signer),
        "expected_audience": ISSUER,
        "now": T0 + 10,
        "max_age": 300,
        "policy": DEFAULT_POLICY,
    }
    args.update(kw)
    return verify_proof_jwt(jwt, **args)


def _forge(
    signer: LocalSigner, header: dict[str, Any], payload: dict[str, Any], *, sign: bool = True
) -> str:
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(payload).encode())
    signature = signer.sign(f"{h}.{p}".encode()) if sign else b"\x00" * 64
    return f"{h}.{p}.{b64url_encode(signature)}"


def _header(signer: LocalSigner, **changes: Any) -> dict[str, Any]:
    header = {"alg": signer.public_key.algorithm, "typ": PROOF_JWT_TYP, "kid": KID}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


def _payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"aud": ISSUER, "iat": T0, "nonce": NONCE}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def _decode(segment: str) -> Any:
    return json.loads(_b64decode(segment))


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@pytest.mark.parametrize("key_type", [KeyType.ED25519, KeyType.P256])
def test_proof_jwt_happy_path(key_type: KeyType) -> None:
    signer = LocalSigner.generate(key_type)
    jwt = make_proof_jwt(signer, key_id=KID, audience=ISSUER, nonce=NONCE, issued_at=T0)
    header, payload = (_decode(s) for s in jwt.split(".")[:2])
    assert header == {"alg": key_type.algorithm, "typ": "openid4vci-proof+jwt", "kid": KID}
    assert payload == {"aud": ISSUER, "iat": T0, "nonce": NONCE}  # no iss: anonymous access
    result = _verify(jwt, signer)
    assert result == ProofOfPossession(KID, signer.public_key, NONCE, T0)


def test_proof_accepts_window_edges_and_high_s_es256() -> None:
    signer = LocalSigner.generate(KeyType.P256)
    jwt = make_proof_jwt(signer, key_id=KID, audience=ISSUER, nonce=NONCE, issued_at=T0)
    assert _verify(jwt, signer, now=T0 + 300).issued_at == T0
    assert _verify(jwt, signer, now=T0 - 60).issued_at == T0
    # JOSE ES256 does not require low-S; a proof from another library may be high-S.
    h, p, s = jwt.split(".")
    raw = _b64decode(s)
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    high = raw[:32] + (order - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    assert _verify(f"{h}.{p}.{b64url_encode(high)}", signer).nonce == NONCE


def _assert_invalid(jwt: str, signer: LocalSigner, message: str, **kw: Any) -> None:
    with pytest.raises(Oid4vciError, match=message) as excinfo:
        _verify(jwt, signer, **kw)
    assert _error(excinfo) == "invalid_proof"
    assert excinfo.value.http_status == 400


SIGNER = LocalSigner.generate()


@pytest.mark.parametrize(
    ("header", "payload", "message"),
    [
        (_header(SIGNER, typ="JWT"), _payload(), "typ must be"),
        (_header(SIGNER, typ=None), _payload(), "typ must be"),
        (_header(SIGNER, typ="kb+jwt"), _payload(), "typ must be"),
        (
            _header(SIGNER, kid=None, jwk=SIGNER.public_key.to_jwk()),
            _payload(),
            "binds credentials to DIDs: use kid",
        ),
        (_header(SIGNER, jwk=SIGNER.public_key.to_jwk()), _payload(), "use kid"),
        (_header(SIGNER, kid=None, x5c=["MII..."]), _payload(), "use kid"),
        (_header(SIGNER, kid=None), _payload(), "needs a kid"),
        (_header(SIGNER, kid=7), _payload(), "needs a kid"),
        (_header(SIGNER, kid=DID), _payload(), "DID URL"),
        (_header(SIGNER, kid=DID + "#"), _payload(), "DID URL"),
        (_header(SIGNER, kid=DID + "#key 1"), _payload(), "DID URL"),
        (_header(SIGNER, kid="key-1"), _payload(), "DID URL"),
        (_header(SIGNER, kid="did:key:z6Mk#z6Mk"), _payload(), "not a did:realdid"),
        (_header(SIGNER, kid="did:realdid:short#key-1"), _payload(), "not a did:realdid"),
        (_header(SIGNER, kid=DID + "/path#key-1"), _payload(), "not a did:realdid"),
        (_header(SIGNER, crit=["exp"]), _payload(), "critical"),
        (_header(SIGNER), _payload(aud="https://other.example"), "aud"),
        (_header(SIGNER), _payload(aud=[ISSUER]), "aud"),
        (_header(SIGNER), _payload(aud=None), "aud"),
        (_header(SIGNER), _payload(iat=T0 - 291), "older than 300"),
        (_header(SIGNER), _payload(iat=T0 + 71), "future"),
        (_header(SIGNER), _payload(iat=None), "iat must be an integer"),
        (_header(SIGNER), _payload(iat="1700000000"), "iat must be an integer"),
        (_header(SIGNER), _payload(iat=True), "iat must be an integer"),
        (_header(SIGNER), _payload(iat=float(T0)), "iat must be an integer"),
        (_header(SIGNER), _payload(nonce=None), "no nonce"),
        (_header(SIGNER), _payload(nonce=42), "nonce must be a non-empty string"),
        (_header(SIGNER), _payload(nonce=""), "nonce must be a non-empty string"),
        (_header(SIGNER), _payload(iss="wallet-client"), "must not carry iss"),
    ],
)
def test_proof_failures(header: dict[str, Any], payload: dict[str, Any], message: str) -> None:
    _assert_invalid(_forge(SIGNER, header, payload), SIGNER, message)


def test_unknown_kid_from_resolver_propagates_as_invalid_proof() -> None:
    other = "did:realdid:" + multihash_b58(b"someone else") + "#key-1"
    jwt = _forge(SIGNER, _header(SIGNER, kid=other), _payload())
    with pytest.raises(Oid4vciError, match="unknown key") as excinfo:
        _verify(jwt, SIGNER)
    assert _error(excinfo) == "invalid_proof"


@pytest.mark.parametrize(
    "failure",
    [UntrustedIssuerError("DID deactivated"), LookupError("no such key")],
)
def test_other_resolver_errors_become_invalid_proof(failure: Exception) -> None:
    def resolve(kid: str) -> PublicKey:
        raise failure

    jwt = _forge(SIGNER, _header(SIGNER), _payload())
    _assert_invalid(jwt, SIGNER, "cannot be resolved", resolve_key=resolve)


def test_bad_signature() -> None:
    _assert_invalid(_forge(SIGNER, _header(SIGNER), _payload(), sign=False), SIGNER, "signature")
    other = LocalSigner.generate()
    _assert_invalid(_forge(other, _header(other), _payload()), SIGNER, "signature")
    jwt = make_proof_jwt(SIGNER, key_id=KID, audience=ISSUER, nonce=NONCE, issued_at=T0)
    h, _, s = jwt.split(".")
    tampered = b64url_encode(json.dumps(_payload(nonce="other")).encode())
    _assert_invalid(f"{h}.{tampered}.{s}", SIGNER, "signature")
    _assert_invalid(f"{h}.{tampered}.", SIGNER, "signature")


def test_alg_must_match_key_and_policy() -> None:
    p256 = LocalSigner.generate(KeyType.P256)
    # alg says ES256 but the DID key is Ed25519
    _assert_invalid(_forge(SIGNER, _header(SIGNER, alg="ES256"), _payload()), SIGNER, "not match")
    jwt = make_proof_jwt(p256, key_id=KID, audience=ISSUER, nonce=NONCE, issued_at=T0)
    _assert_invalid(jwt, p256, "not allowed", policy=AlgorithmPolicy(frozenset({"EdDSA"})))


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "", None, 1])
def test_alg_none_and_unlisted_algs_are_refused(alg: Any) -> None:
    header = _header(SIGNER)
    header["alg"] = alg
    jwt = _forge(SIGNER, header, _payload(), sign=False)
    if alg == "none":
        jwt = jwt.rsplit(".", 1)[0] + "."
    _assert_invalid(jwt, SIGNER, "alg|not allowed")


@pytest.mark.parametrize(
    "jwt",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "e30.e30.e30",  # "{}" everywhere: no alg
        b64url_encode(b"[1]") + ".e30.AA",
        b64url_encode(b"{") + ".e30.AA",
        "éé.éé.éé",
        "x" * (1024 * 1024),
        ("a" * 400_000 + ".") * 2 + "a",
    ],
)
def test_garbage_and_oversized_input(jwt: str) -> None:
    with pytest.raises(Oid4vciError) as excinfo:
        _verify(jwt, SIGNER)
    assert _error(excinfo) == "invalid_proof"


def test_non_string_input() -> None:
    with pytest.raises(Oid4vciError) as excinfo:
        _verify(None, SIGNER)  # type: ignore[arg-type]
    assert _error(excinfo) == "invalid_proof"


def test_proof_from_request_end_to_end() -> None:
    """Wallet builds the request; issuer parses it and verifies the proof it carries."""
    wallet = LocalSigner.generate(KeyType.P256)
    proof = make_proof_jwt(wallet, key_id=KID, audience=ISSUER, nonce=NONCE, issued_at=T0)
    request = CredentialRequest.from_dict(
        json.loads(json.dumps(CredentialRequest("RealName", (proof,)).to_dict()))
    )
    (jwt,) = request.proof_jwts
    assert _verify(jwt, wallet).public_key == wallet.public_key
