"""Keys, signers, signature verification and the algorithm allow-list (realdid.crypto._keys)."""

from __future__ import annotations

from typing import Any

import pytest

from realdid.crypto import (
    DEFAULT_POLICY,
    AlgorithmNotAllowedError,
    AlgorithmPolicy,
    CryptoError,
    InvalidKeyError,
    InvalidSignatureError,
    KeyType,
    LocalSigner,
    PublicKey,
    Signer,
    b64url_decode,
    b64url_encode,
    base58btc_encode,
    verify_signature,
)

ALL_TYPES = list(KeyType)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493

# RFC 8032 section 7.1, TEST 1 (empty message) and the same key as a JWK in RFC 8037 A.2.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

MULTIKEY_PREFIX = {KeyType.ED25519: "z6Mk", KeyType.P256: "zDna", KeyType.SECP256K1: "zQ3s"}


def fixed_signer(key_type: KeyType, seed: int = 7) -> LocalSigner:
    return LocalSigner(key_type, bytes([seed]) * 32)


@pytest.fixture(params=ALL_TYPES, ids=[t.value for t in ALL_TYPES])
def signer(request: pytest.FixtureRequest) -> LocalSigner:
    return fixed_signer(request.param)


# -- signing and verifying ---------------------------------------------------------------


def test_sign_verify_round_trip(signer: LocalSigner) -> None:
    signature = signer.sign(b"message")
    assert len(signature) == 64
    verify_signature(signer.public_key, b"message", signature, policy=DEFAULT_POLICY)


def test_generated_signers_verify(signer: LocalSigner) -> None:
    fresh = LocalSigner.generate(signer.key_type)
    assert fresh.key_type is signer.key_type
    assert fresh.public_key != signer.public_key
    fresh.public_key.verify(b"m", fresh.sign(b"m"))


def test_signature_over_other_message_fails(signer: LocalSigner) -> None:
    signature = signer.sign(b"message")
    with pytest.raises(InvalidSignatureError):
        verify_signature(signer.public_key, b"messagE", signature, policy=DEFAULT_POLICY)


def test_signature_by_other_key_fails(signer: LocalSigner) -> None:
    other = fixed_signer(signer.key_type, seed=8)
    with pytest.raises(InvalidSignatureError):
        signer.public_key.verify(b"m", other.sign(b"m"))


@pytest.mark.parametrize("bit", [0, 7, 100, 255, 256, 300, 511])
def test_bit_flipped_signature_fails(signer: LocalSigner, bit: int) -> None:
    signature = bytearray(signer.sign(b"message"))
    signature[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidSignatureError):
        signer.public_key.verify(b"message", bytes(signature))


@pytest.mark.parametrize("length", [0, 1, 63, 65, 70, 72, 128])
def test_wrong_length_signature_fails(signer: LocalSigner, length: int) -> None:
    signature = (signer.sign(b"m") * 3)[:length]
    with pytest.raises(InvalidSignatureError, match="64 bytes"):
        signer.public_key.verify(b"m", signature)


def test_der_encoded_ecdsa_signature_is_refused() -> None:
    """JOSE uses raw r || s; a DER signature (about 70 bytes) must not be accepted."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    signer = fixed_signer(KeyType.P256)
    raw = signer.sign(b"m")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    with pytest.raises(InvalidSignatureError):
        signer.public_key.verify(b"m", der)


def test_all_zero_signature_fails(signer: LocalSigner) -> None:
    with pytest.raises(InvalidSignatureError):
        signer.public_key.verify(b"m", bytes(64))


def test_ecdsa_signature_with_r_or_s_out_of_range_fails() -> None:
    signer = fixed_signer(KeyType.P256)
    signature = signer.sign(b"m")
    r, s = signature[:32], signature[32:]
    order = P256_ORDER.to_bytes(32, "big")
    for forged in (bytes(32) + s, r + bytes(32), order + s, r + order, b"\xff" * 64):
        with pytest.raises(InvalidSignatureError):
            signer.public_key.verify(b"m", forged)


def test_secp256k1_signatures_are_low_s_and_high_s_is_refused() -> None:
    """ES256K signatures are not malleable: (r, n - s) verifies in plain ECDSA but is refused."""
    signer = fixed_signer(KeyType.SECP256K1)
    for message in (b"a", b"b", b"c", b"d", b"e", b"f"):
        signature = signer.sign(message)
        s = int.from_bytes(signature[32:], "big")
        assert s <= SECP256K1_ORDER // 2, "signer must produce low-S signatures"
        high_s = signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big")
        with pytest.raises(InvalidSignatureError):
            signer.public_key.verify(message, high_s)


def test_ed25519_non_canonical_s_is_refused() -> None:
    """Ed25519 S must be reduced mod L (RFC 8032 section 5.1.7); S + L is the malleated twin."""
    signer = fixed_signer(KeyType.ED25519)
    signature = signer.sign(b"m")
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + ED25519_ORDER).to_bytes(32, "little")
    with pytest.raises(InvalidSignatureError):
        signer.public_key.verify(b"m", malleated)


def test_signing_is_deterministic_for_ed25519_and_secp256k1() -> None:
    for key_type in (KeyType.ED25519, KeyType.SECP256K1):
        signer = fixed_signer(key_type)
        assert signer.sign(b"m") == signer.sign(b"m")


def test_rfc8032_test_1() -> None:
    signer = LocalSigner(KeyType.ED25519, RFC8032_SECRET)
    assert signer.public_key.raw == RFC8032_PUBLIC
    assert signer.sign(b"") == RFC8032_SIGNATURE
    signer.public_key.verify(b"", RFC8032_SIGNATURE)
    assert signer.public_key.to_jwk() == {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}


def test_local_signer_satisfies_signer_protocol(signer: LocalSigner) -> None:
    assert isinstance(signer, Signer)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_local_signer_refuses_wrong_secret_length(length: int) -> None:
    with pytest.raises(InvalidKeyError):
        LocalSigner(KeyType.ED25519, bytes(length))


@pytest.mark.parametrize(
    ("key_type", "scalar"),
    [
        (KeyType.P256, 0),
        (KeyType.P256, P256_ORDER),
        (KeyType.P256, 2**256 - 1),
        (KeyType.SECP256K1, 0),
        (KeyType.SECP256K1, SECP256K1_ORDER),
    ],
)
def test_local_signer_refuses_out_of_range_scalar(key_type: KeyType, scalar: int) -> None:
    with pytest.raises(InvalidKeyError, match="out of range"):
        LocalSigner(key_type, scalar.to_bytes(32, "big"))


# -- algorithm allow-list ------------------------------------------------------------------


def test_key_types_name_their_jose_algorithms() -> None:
    assert KeyType.ED25519.algorithm == "EdDSA"
    assert KeyType.P256.algorithm == "ES256"
    assert KeyType.SECP256K1.algorithm == "ES256K"
    assert DEFAULT_POLICY.allowed == frozenset({"EdDSA", "ES256", "ES256K"})


def test_allow_list_refuses_algorithm_before_checking_signature(signer: LocalSigner) -> None:
    others = frozenset(DEFAULT_POLICY.allowed - {signer.public_key.algorithm})
    policy = AlgorithmPolicy(others)
    valid = signer.sign(b"m")
    with pytest.raises(AlgorithmNotAllowedError) as info:
        verify_signature(signer.public_key, b"m", valid, policy=policy)
    assert info.value.code == "algorithm-not-allowed"
    # Refused before any math: a garbage signature gets the same answer.
    with pytest.raises(AlgorithmNotAllowedError):
        verify_signature(signer.public_key, b"m", b"junk", policy=policy)


def test_empty_policy_refuses_everything(signer: LocalSigner) -> None:
    with pytest.raises(AlgorithmNotAllowedError):
        verify_signature(
            signer.public_key, b"m", signer.sign(b"m"), policy=AlgorithmPolicy(frozenset())
        )


@pytest.mark.parametrize("algorithm", ["none", "HS256", "RS256", "eddsa", "ES384", ""])
def test_default_policy_refuses_unknown_algorithms(algorithm: str) -> None:
    with pytest.raises(AlgorithmNotAllowedError):
        DEFAULT_POLICY.check(algorithm)


def test_verify_signature_requires_policy_keyword(signer: LocalSigner) -> None:
    call: Any = verify_signature
    with pytest.raises(TypeError):
        call(signer.public_key, b"m", signer.sign(b"m"))


def test_error_codes_are_stable() -> None:
    assert CryptoError.code == "crypto-error"
    assert InvalidKeyError.code == "invalid-key"
    assert InvalidSignatureError.code == "invalid-signature"
    assert AlgorithmNotAllowedError.code == "algorithm-not-allowed"
    assert issubclass(InvalidSignatureError, CryptoError)
    assert InvalidKeyError("x").diagnostics() == "x"


# -- JWK -----------------------------------------------------------------------------------


def test_jwk_round_trip(signer: LocalSigner) -> None:
    jwk = signer.public_key.to_jwk()
    assert PublicKey.from_jwk(jwk) == signer.public_key
    if signer.key_type is KeyType.ED25519:
        assert set(jwk) == {"kty", "crv", "x"}
        assert jwk["kty"] == "OKP"
    else:
        assert set(jwk) == {"kty", "crv", "x", "y"}
        assert jwk["kty"] == "EC"
        assert jwk["crv"] == signer.key_type.value


def test_jwk_with_optional_public_members_is_accepted(signer: LocalSigner) -> None:
    jwk = {**signer.public_key.to_jwk(), "kid": "k1", "use": "sig"}
    assert PublicKey.from_jwk(jwk) == signer.public_key


def test_jwk_with_private_key_is_refused(signer: LocalSigner) -> None:
    jwk = {**signer.public_key.to_jwk(), "d": b64url_encode(bytes([7]) * 32)}
    with pytest.raises(InvalidKeyError, match="private"):
        PublicKey.from_jwk(jwk)


def _ec_jwk(key_type: KeyType) -> dict[str, str]:
    return fixed_signer(key_type).public_key.to_jwk()


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({"kty": "RSA", "n": "AQAB", "e": "AQAB"}, id="rsa"),
        pytest.param({"kty": "oct", "k": "AAAA"}, id="symmetric"),
        pytest.param({"kty": "OKP", "crv": "X25519", "x": b64url_encode(bytes(32))}, id="x25519"),
        pytest.param({"kty": "OKP", "crv": "Ed448", "x": b64url_encode(bytes(57))}, id="ed448"),
        pytest.param({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}, id="p384"),
        pytest.param(
            {"kty": "EC", "crv": "Ed25519", "x": b64url_encode(bytes(32))}, id="kty-crv-mismatch"
        ),
        pytest.param({"crv": "Ed25519", "x": b64url_encode(bytes(32))}, id="no-kty"),
        pytest.param({}, id="empty"),
        pytest.param({"kty": ["OKP"], "crv": "Ed25519"}, id="kty-list"),
    ],
)
def test_unknown_or_unsupported_jwk_is_refused(jwk: dict[str, Any]) -> None:
    with pytest.raises(InvalidKeyError):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize("value", [None, "jwk", ["kty", "OKP"], 42])
def test_jwk_that_is_not_an_object_is_refused(value: Any) -> None:
    with pytest.raises(InvalidKeyError, match="JSON object"):
        PublicKey.from_jwk(value)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_ed25519_jwk_with_wrong_length_is_refused(length: int) -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(bytes([9]) * length)}
    with pytest.raises(InvalidKeyError):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.SECP256K1])
@pytest.mark.parametrize("member", ["x", "y"])
@pytest.mark.parametrize("length", [31, 33])
def test_ec_jwk_with_wrong_coordinate_length_is_refused(
    key_type: KeyType, member: str, length: int
) -> None:
    jwk = _ec_jwk(key_type)
    jwk[member] = b64url_encode(b"\x01" * length)
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.SECP256K1])
def test_ec_jwk_with_point_not_on_curve_is_refused(key_type: KeyType) -> None:
    jwk = _ec_jwk(key_type)
    y = bytearray(b64url_decode(jwk["y"]))
    y[-1] ^= 1
    jwk["y"] = b64url_encode(bytes(y))
    with pytest.raises(InvalidKeyError, match="not on the curve"):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.SECP256K1])
def test_ec_jwk_missing_y_is_refused(key_type: KeyType) -> None:
    jwk = _ec_jwk(key_type)
    del jwk["y"]
    with pytest.raises(InvalidKeyError, match="'y'"):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda x: x + "=", id="padding"),
        pytest.param(lambda x: x + "==", id="double-padding"),
        pytest.param(lambda x: x.replace(x[0], "+", 1), id="plus"),
        pytest.param(lambda x: x.replace(x[0], "/", 1), id="slash"),
        pytest.param(lambda x: x[:10] + " " + x[10:], id="space"),
        pytest.param(lambda x: x[:10] + "\n" + x[10:], id="newline"),
        pytest.param(lambda x: x[:10] + "é" + x[10:], id="non-ascii"),
        pytest.param(lambda x: x[:-1] + ("h" if x[-1] != "h" else "i"), id="trailing-bits"),
    ],
)
def test_jwk_with_non_canonical_base64url_is_refused(mangle: Any) -> None:
    """RFC 7515 base64url has no padding; each key has exactly one spelling."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": mangle(RFC8037_X)}
    with pytest.raises(InvalidKeyError):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize("x", [None, 7, ["x"], {"x": 1}])
def test_jwk_with_non_string_coordinate_is_refused(x: Any) -> None:
    with pytest.raises(InvalidKeyError):
        PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": x})


# -- Multikey publicKeyMultibase ------------------------------------------------------------


def test_multibase_round_trip(signer: LocalSigner) -> None:
    text = signer.public_key.to_multibase()
    assert text.startswith(MULTIKEY_PREFIX[signer.key_type])
    assert PublicKey.from_multibase(text) == signer.public_key


def test_rfc8032_key_as_multikey() -> None:
    public_key = PublicKey(KeyType.ED25519, RFC8032_PUBLIC)
    assert public_key.to_multibase() == "z" + base58btc_encode(b"\xed\x01" + RFC8032_PUBLIC)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("z", id="prefix-only"),
        pytest.param("f" + (b"\xed\x01" + RFC8032_PUBLIC).hex(), id="base16-multibase"),
        pytest.param("Z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", id="wrong-prefix-case"),
        pytest.param("z0OIl", id="non-base58-chars"),
        pytest.param("z" + base58btc_encode(b"\x12\x00" + bytes(32)), id="unknown-multicodec"),
        pytest.param("z" + base58btc_encode(b"\xed\x01" + RFC8032_PUBLIC[:31]), id="short-ed25519"),
        pytest.param(
            "z" + base58btc_encode(b"\xed\x01" + RFC8032_PUBLIC + b"\x00"), id="long-ed25519"
        ),
        pytest.param(
            "z" + base58btc_encode(b"\x80\x24" + b"\x04" + bytes(32)), id="p256-bad-prefix-byte"
        ),
        pytest.param(
            "z" + base58btc_encode(b"\x80\x24\x02" + b"\xff" * 32), id="p256-x-not-on-curve"
        ),
        pytest.param("z" + base58btc_encode(b"\xe7\x01\x03" + bytes(32)), id="k1-x-not-on-curve"),
        pytest.param(
            "z" + base58btc_encode(b"\xe7\x01" + b"\x04" + bytes(64)), id="k1-uncompressed"
        ),
    ],
)
def test_hostile_multibase_is_refused(text: str) -> None:
    with pytest.raises(InvalidKeyError):
        PublicKey.from_multibase(text)


@pytest.mark.parametrize("value", [None, 1, b"z6Mk"])
def test_multibase_that_is_not_text_is_refused(value: Any) -> None:
    with pytest.raises(InvalidKeyError):
        PublicKey.from_multibase(value)


@pytest.mark.parametrize(
    ("key_type", "length"),
    [(KeyType.ED25519, 33), (KeyType.P256, 32), (KeyType.P256, 65), (KeyType.SECP256K1, 32)],
)
def test_public_key_refuses_raw_of_wrong_length(key_type: KeyType, length: int) -> None:
    with pytest.raises(InvalidKeyError):
        PublicKey(key_type, b"\x02" * length)


def test_public_keys_compare_by_value(signer: LocalSigner) -> None:
    again = fixed_signer(signer.key_type)
    assert again.public_key == signer.public_key
    assert hash(again.public_key) == hash(signer.public_key)
    assert signer.public_key.algorithm == signer.key_type.algorithm


_CURVE_ORDERS = {
    KeyType.P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    KeyType.SECP256K1: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}


@pytest.mark.parametrize("key_type", list(_CURVE_ORDERS))
def test_ecdsa_signatures_are_low_s_and_high_s_twins_are_refused(key_type: KeyType) -> None:
    order = _CURVE_ORDERS[key_type]
    signer = LocalSigner.generate(key_type)
    for i in range(40):
        message = b"operation %d" % i
        signature = signer.sign(message)
        s = int.from_bytes(signature[32:], "big")
        assert s <= order // 2
        signer.public_key.verify(message, signature)
        twin = signature[:32] + (order - s).to_bytes(32, "big")
        with pytest.raises(InvalidSignatureError):
            signer.public_key.verify(message, twin)
