"""The compact JWS layer: its neutral error codes and the one algorithm refusal."""

from __future__ import annotations

import pytest

import realdid.crypto
from realdid.credentials import AlgorithmNotAllowedError, CredentialError, VerificationError
from realdid.credentials._jws import CompactJws, JwsError, decode_json_segment, sign_compact
from realdid.crypto import DEFAULT_POLICY, AlgorithmPolicy, KeyType, LocalSigner, b64url_encode

SIGNER = LocalSigner.generate()


def _jws(header: dict[str, object] | None = None) -> str:
    return sign_compact(header or {"alg": "EdDSA", "typ": "x"}, {"n": 1}, SIGNER)


def test_sign_parse_verify() -> None:
    jws = CompactJws.parse(_jws())
    assert (jws.header, jws.payload) == ({"alg": "EdDSA", "typ": "x"}, {"n": 1})
    assert jws.check_algorithm(DEFAULT_POLICY) == "EdDSA"
    jws.verify(SIGNER.public_key, DEFAULT_POLICY)
    assert jws.signing_input == _jws().rsplit(".", 1)[0].encode()


def _raw(header: bytes, payload: bytes, signature: str = "") -> str:
    return f"{b64url_encode(header)}.{b64url_encode(payload)}.{signature}"


@pytest.mark.parametrize(
    "text",
    [
        "a.b",
        "a.b.c.d",
        "!!.e30.",
        _raw(b"[]", b"{}"),
        _raw(b"{}", b"1"),
        _raw(b'{"crit":["x"]}', b"{}"),
        _raw(b"{}", b"{}", "!!"),
        _raw(b'{"a":1,"a":2}', b"{}"),
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(JwsError) as info:
        CompactJws.parse(text)
    assert info.value.code == "malformed-jws"
    assert isinstance(info.value, CredentialError)


def test_missing_alg_is_malformed() -> None:
    with pytest.raises(JwsError) as info:
        CompactJws.parse(_jws({"typ": "x"})).check_algorithm(DEFAULT_POLICY)
    assert info.value.code == "malformed-jws"


def test_bad_signature() -> None:
    jws = CompactJws.parse(_jws())
    with pytest.raises(JwsError) as info:
        jws.verify(LocalSigner.generate().public_key, DEFAULT_POLICY)
    assert info.value.code == "invalid-jws-signature"


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256"])
def test_refused_algorithm_is_the_one_algorithm_error(alg: str) -> None:
    only_es256k = AlgorithmPolicy(frozenset({"ES256K"}))
    with pytest.raises(AlgorithmNotAllowedError) as info:
        CompactJws.parse(_jws({"alg": alg})).check_algorithm(only_es256k)
    error = info.value
    assert error.code == "algorithm-not-allowed"
    assert isinstance(error, VerificationError)
    assert isinstance(error, realdid.crypto.AlgorithmNotAllowedError)


def test_refused_key_algorithm_at_verification() -> None:
    jws = CompactJws.parse(_jws())
    with pytest.raises(AlgorithmNotAllowedError):
        jws.verify(SIGNER.public_key, AlgorithmPolicy(frozenset({"ES256"})))


def test_high_s_es256_is_folded() -> None:
    signer = LocalSigner.generate(KeyType.P256)
    jws = CompactJws.parse(sign_compact({"alg": "ES256"}, {}, signer))
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    s = int.from_bytes(jws.signature[32:], "big")
    high = jws.signature[:32] + (order - s).to_bytes(32, "big")
    CompactJws(jws.header, jws.payload, jws.signing_input, high).verify(
        signer.public_key, DEFAULT_POLICY
    )


@pytest.mark.parametrize("text", ['{"a":1,"a":2}', "NaN", '{"a":-Infinity}', '"\\ud800"'])
def test_segments_must_be_i_json(text: str) -> None:
    """A header or payload that two parsers could read differently is malformed."""
    with pytest.raises(JwsError) as caught:
        decode_json_segment(b64url_encode(text.encode()), "header")
    assert caught.value.code == "malformed-jws"
