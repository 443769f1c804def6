"""SD-JWT VC issue / present / verify, hostile inputs, and interop with the IETF library."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from realdid.credentials import (
    CredentialError,
    MalformedSdJwtError,
    StaleKeyBindingError,
    issue,
    present,
    verify,
)
from realdid.crypto import DEFAULT_POLICY, AlgorithmPolicy, KeyType, LocalSigner, b64url_encode

ISS, KID, AUD, NONCE, T0 = "did:realdid:auth", "did:realdid:auth#k1", "did:realdid:rp", "n1", 1_000
CLAIMS = {"family_name": "Wang", "id_number": "11010519491231002X", "verified": True}
SD = {"family_name", "id_number"}


def _issue(issuer: LocalSigner, holder: LocalSigner, **kw: object) -> str:
    args: dict[str, object] = {
        "selectively_disclosable": SD,
        "issuer": ISS,
        "signer": issuer,
        "key_id": KID,
        "holder_jwk": holder.public_key.to_jwk(),
        "vct": "urn:realdid:RealName",
        "issued_at": T0,
        "expires_at": T0 + 1000,
        "salt": lambda: b"\x01" * 15 + bytes([len(str(time.time_ns()))]),
        "status": None,
    }
    args.update(kw)
    return issue(CLAIMS, **args)  # type: ignore[arg-type]


def _verify(vp: str, issuer: LocalSigner, **kw: object) -> object:
    args: dict[str, object] = {
        "issuer_keys": lambda iss, kid: issuer.public_key,
        "expected_audience": AUD,
        "expected_nonce": NONCE,
        "now": T0 + 10,
        "max_kb_age": 60,
        "policy": DEFAULT_POLICY,
    }
    args.update(kw)
    return verify(vp, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("holder_type", [KeyType.ED25519, KeyType.P256])
def test_round_trip_hides_undisclosed(holder_type: KeyType) -> None:
    issuer, holder = LocalSigner.generate(), LocalSigner.generate(holder_type)
    vp = present(
        _issue(issuer, holder),
        disclose={"family_name"},
        holder_signer=holder,
        audience=AUD,
        nonce=NONCE,
        issued_at=T0 + 5,
    )
    result = _verify(vp, issuer)
    assert result.claims == {"family_name": "Wang", "verified": True}  # type: ignore[attr-defined]
    assert "id_number" not in vp
    assert "11010519491231002X" not in vp
    import base64

    for part in vp.split("~")[1:-1]:
        assert b"id_number" not in base64.urlsafe_b64decode(part + "==")


def _vp(issuer: LocalSigner, holder: LocalSigner) -> str:
    return present(
        _issue(issuer, holder),
        disclose=SD,
        holder_signer=holder,
        audience=AUD,
        nonce=NONCE,
        issued_at=T0 + 5,
    )


def test_key_binding_tolerates_a_minute_of_holder_clock_skew() -> None:
    issuer, holder = LocalSigner.generate(), LocalSigner.generate()
    sd_jwt = _issue(issuer, holder)

    def verify_made_at(kb_iat: int) -> None:
        vp = present(
            sd_jwt, disclose=SD, holder_signer=holder, audience=AUD, nonce=NONCE, issued_at=kb_iat
        )
        verify(
            vp,
            issuer_keys=lambda i, k: issuer.public_key,
            expected_audience=AUD,
            expected_nonce=NONCE,
            now=T0 + 5,
            max_kb_age=300,
            policy=DEFAULT_POLICY,
        )

    verify_made_at(T0 + 5 + 60)
    with pytest.raises(StaleKeyBindingError):
        verify_made_at(T0 + 5 + 61)


# Each case: (expected code, builder from (vp, issuer JWT, disclosures, KB-JWT) to the text to
# verify and the verify() arguments to change).
_ErrorCase = Callable[[str, str, list[str], str], tuple[str, dict[str, object]]]
ERROR_CASES: list[tuple[str, _ErrorCase]] = [
    ("wrong-audience", lambda vp, jwt, discs, kb: (vp, {"expected_audience": "other"})),
    ("wrong-nonce", lambda vp, jwt, discs, kb: (vp, {"expected_nonce": "other"})),
    ("expired", lambda vp, jwt, discs, kb: (vp, {"now": T0 + 2000})),
    ("not-yet-valid", lambda vp, jwt, discs, kb: (vp, {"now": T0 - 1})),
    ("stale-key-binding", lambda vp, jwt, discs, kb: (vp, {"now": T0 + 500})),
    (
        "algorithm-not-allowed",
        lambda vp, jwt, discs, kb: (vp, {"policy": AlgorithmPolicy(frozenset({"ES256"}))}),
    ),
    ("untrusted-issuer", lambda vp, jwt, discs, kb: (vp, {"issuer_keys": lambda i, k: {}[i]})),
    ("invalid-key-binding", lambda vp, jwt, discs, kb: ("~".join([jwt, *discs, ""]), {})),
    (
        "duplicate-disclosure",
        lambda vp, jwt, discs, kb: ("~".join([jwt, discs[0], *discs, kb]), {}),
    ),
    ("malformed-sd-jwt", lambda vp, jwt, discs, kb: ("a" * (64 * 1024 + 1), {})),
    # flipped issuer signature
    (
        "invalid-issuer-signature",
        lambda vp, jwt, discs, kb: (
            "~".join([".".join([*jwt.split(".")[:2], b64url_encode(bytes(64))]), *discs, kb]),
            {},
        ),
    ),
    # extra unreferenced disclosure
    (
        "disclosure-not-referenced",
        lambda vp, jwt, discs, kb: (
            "~".join([jwt, *discs, b64url_encode(json.dumps(["c2FsdA", "x", 1]).encode()), kb]),
            {},
        ),
    ),
    # tampered sd_hash: KB-JWT from a presentation with other disclosures
    ("sd-hash-mismatch", lambda vp, jwt, discs, kb: ("~".join([jwt, discs[0], kb]), {})),
]


@pytest.mark.parametrize(("code", "build"), ERROR_CASES, ids=[code for code, _ in ERROR_CASES])
def test_error_codes(code: str, build: _ErrorCase) -> None:
    issuer, holder = LocalSigner.generate(), LocalSigner.generate()
    vp = _vp(issuer, holder)
    jwt, *discs, kb = vp.split("~")
    text, kw = build(vp, jwt, discs, kb)
    with pytest.raises(CredentialError) as info:
        _verify(text, issuer, **kw)
    assert getattr(info.value, "code", None) == code, (code, info.value)


def test_too_many_disclosures_are_malformed() -> None:
    issuer = LocalSigner.generate()
    with pytest.raises(MalformedSdJwtError, match="disclosures"):
        _verify("x~" * 102, issuer)


def test_interop_ours_to_reference() -> None:
    from jwcrypto.jwk import JWK
    from sd_jwt.verifier import SDJWTVerifier

    issuer, holder = LocalSigner.generate(KeyType.P256), LocalSigner.generate(KeyType.P256)
    now = int(time.time())
    sd = _issue(issuer, holder, issued_at=now - 10, expires_at=now + 1000)
    vp = present(
        sd, disclose={"family_name"}, holder_signer=holder, audience=AUD, nonce=NONCE, issued_at=now
    )
    key = JWK.from_json(json.dumps(issuer.public_key.to_jwk()))
    v = SDJWTVerifier(vp, lambda iss, hdr: key, expected_aud=AUD, expected_nonce=NONCE)
    payload = v.get_verified_payload()
    assert payload["family_name"] == "Wang"
    assert "id_number" not in payload


def test_interop_reference_to_ours() -> None:
    from jwcrypto.jwk import JWK
    from sd_jwt.common import SDObj
    from sd_jwt.holder import SDJWTHolder
    from sd_jwt.issuer import SDJWTIssuer

    ikey, hkey = JWK.generate(kty="EC", crv="P-256"), JWK.generate(kty="EC", crv="P-256")
    now = int(time.time())
    claims = {
        "iss": ISS,
        "vct": "urn:realdid:RealName",
        "iat": now - 10,
        "exp": now + 1000,
        SDObj("family_name"): "Wang",
        SDObj("id_number"): "X",
        "verified": True,
    }
    issued = SDJWTIssuer(
        claims,
        ikey,
        holder_key=hkey,
        sign_alg="ES256",
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": KID},
    ).sd_jwt_issuance
    holder = SDJWTHolder(issued)
    holder.create_presentation(
        {"family_name": True}, nonce=NONCE, aud=AUD, holder_key=hkey, sign_alg="ES256"
    )
    from realdid.crypto import PublicKey

    ipub = PublicKey.from_jwk(json.loads(ikey.export_public()))
    result = verify(
        holder.sd_jwt_presentation,
        issuer_keys=lambda i, k: ipub,
        expected_audience=AUD,
        expected_nonce=NONCE,
        now=now,
        max_kb_age=60,
        policy=DEFAULT_POLICY,
    )
    assert result.claims == {"family_name": "Wang", "verified": True}
    # The reference library signs EdDSA only through jwcrypto OKP keys; not exercised here.


# -- sub: the holder DID -------------------------------------------------------------------------
HOLDER_DID = "did:realdid:holder"


def test_sub_round_trips_and_is_always_visible() -> None:
    issuer, holder = LocalSigner.generate(), LocalSigner.generate()
    sd_jwt = _issue(issuer, holder, subject=HOLDER_DID)
    payload = json.loads(_b64(sd_jwt.split("~", 1)[0].split(".")[1]))
    assert payload["sub"] == HOLDER_DID
    vp = present(
        sd_jwt, disclose=set(), holder_signer=holder, audience=AUD, nonce=NONCE, issued_at=T0 + 5
    )
    result = _verify(vp, issuer)
    assert result.subject == HOLDER_DID  # type: ignore[attr-defined]
    assert "sub" not in result.claims  # type: ignore[attr-defined]
    assert _verify(_vp(issuer, holder), issuer).subject is None  # type: ignore[attr-defined]


def test_sub_is_set_by_the_issuer_only() -> None:
    issuer, holder = LocalSigner.generate(), LocalSigner.generate()
    with pytest.raises(CredentialError, match="set by the issuer"):
        issue(
            {**CLAIMS, "sub": HOLDER_DID},
            selectively_disclosable=SD,
            issuer=ISS,
            signer=issuer,
            key_id=KID,
            holder_jwk=holder.public_key.to_jwk(),
            vct="urn:realdid:RealName",
            issued_at=T0,
            expires_at=T0 + 1000,
            salt=lambda: bytes(16),
            status=None,
        )
    with pytest.raises(CredentialError, match="subject"):
        _issue(issuer, holder, subject="")


def _forged(issuer: LocalSigner, holder: LocalSigner, payload_changes: dict[str, object]) -> str:
    """A credential signed by ``issuer`` whose payload is edited, plus a KB-JWT over it."""
    from realdid.credentials._jws import sign_compact as _sign_compact

    jwt, *disclosures = _issue(issuer, holder).split("~")
    header = json.loads(_b64(jwt.split(".")[0]))
    payload = {**json.loads(_b64(jwt.split(".")[1])), **payload_changes}
    forged = _sign_compact(header, payload, issuer) + "~" + "~".join(disclosures)
    return present(
        forged, disclose=SD, holder_signer=holder, audience=AUD, nonce=NONCE, issued_at=T0 + 5
    )


def test_non_string_sub_is_rejected() -> None:
    issuer, holder = LocalSigner.generate(), LocalSigner.generate()
    for value in (5, ["did:realdid:a"], {"id": "x"}, True):
        with pytest.raises(MalformedSdJwtError, match="sub must be a string"):
            _verify(_forged(issuer, holder, {"sub": value}), issuer)


def test_sub_cannot_be_a_disclosure() -> None:
    issuer, holder = LocalSigner.generate(), LocalSigner.generate()
    disclosure = b64url_encode(json.dumps(["c2FsdHNhbHRzYWx0c2FsdA", "sub", HOLDER_DID]).encode())
    from realdid.credentials._sdjwt import _digest

    jwt = _issue(issuer, holder).split("~", 1)[0]
    payload = json.loads(_b64(jwt.split(".")[1]))
    vp = _forged(issuer, holder, {"_sd": sorted([*payload["_sd"], _digest(disclosure)])})
    jwt_part, *rest = vp.split("~")
    tampered = "~".join([jwt_part, disclosure, *rest[:-1]]) + "~"
    with pytest.raises(MalformedSdJwtError, match="'sub' must not be disclosable"):
        _verify(tampered, issuer, require_key_binding=False)


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
