"""Token Status List: bit layout against the draft's vectors, signing, hostile inputs."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realdid.credentials import (
    MAX_STATUS_LIST_ENTRIES,
    STATUS_LIST_JWT_TYP,
    AlgorithmNotAllowedError,
    CredentialError,
    ExpiredError,
    IssuanceError,
    IssuerSignatureError,
    MalformedStatusListError,
    NotYetValidError,
    StatusIndexError,
    StatusList,
    StatusListParameterError,
    StatusListUriMismatchError,
    StatusValue,
    StatusValueError,
    UntrustedIssuerError,
    VerificationError,
    parse_status_reference,
    sign_status_list,
    status_reference,
    verify_status_list,
)
from realdid.crypto import (
    DEFAULT_POLICY,
    AlgorithmPolicy,
    KeyType,
    LocalSigner,
    PublicKey,
    b64url_decode,
    b64url_encode,
)

ISS, KID, URI, T0 = "did:realdid:auth", "did:realdid:auth#status-1", "https://s.example/1", 1_000

# draft-ietf-oauth-status-list, section "Status List" worked example and the JSON
# example that follows it (1 bit), and the 2-bit test vector of the same draft.
VECTOR_1BIT = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
VECTOR_2BIT = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]


def _filled(values: list[int], bits: int) -> StatusList:
    status_list = StatusList(len(values), bits)
    for index, value in enumerate(values):
        status_list.set(index, value)
    return status_list


def _sign(signer: LocalSigner, sl: StatusList | None = None, **kw: Any) -> str:
    args: dict[str, Any] = {
        "uri": URI,
        "issuer": ISS,
        "signer": signer,
        "key_id": KID,
        "issued_at": T0,
        "expires_at": T0 + 3600,
        "ttl": 300,
    }
    args.update(kw)
    return sign_status_list(sl if sl is not None else _filled(VECTOR_1BIT, 1), **args)


def _verify(jwt: str, signer: LocalSigner, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "expected_uri": URI,
        "issuer_keys": lambda iss, kid: signer.public_key,
        "now": T0 + 10,
        "policy": DEFAULT_POLICY,
    }
    args.update(kw)
    return verify_status_list(jwt, **args)


def _raw_token(signer: LocalSigner, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """A JWS built by hand, so tests can produce what sign_status_list refuses to."""
    signing_input = (
        b64url_encode(json.dumps(header).encode())
        + "."
        + b64url_encode(json.dumps(payload).encode())
    )
    return signing_input + "." + b64url_encode(signer.sign(signing_input.encode()))


def _parts(signer: LocalSigner) -> tuple[dict[str, Any], dict[str, Any]]:
    header = {"alg": signer.public_key.algorithm, "typ": STATUS_LIST_JWT_TYP, "kid": KID}
    payload = {
        "iss": ISS,
        "sub": URI,
        "iat": T0,
        "exp": T0 + 3600,
        "ttl": 300,
        "status_list": _filled(VECTOR_1BIT, 1).to_dict(),
    }
    return header, payload


# -- the byte array and its encoding --------------------------------------------------------
def test_draft_vector_1bit() -> None:
    sl = _filled(VECTOR_1BIT, 1)
    assert sl.to_bytes() == bytes([0xB9, 0xA3])
    assert sl.to_dict() == {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}
    decoded = StatusList.from_dict({"bits": 1, "lst": "eNrbuRgAAhcBXQ"})
    assert [decoded.get(i) for i in range(16)] == VECTOR_1BIT


def test_draft_vector_2bit() -> None:
    sl = _filled(VECTOR_2BIT, 2)
    assert sl.to_bytes() == bytes([0xC9, 0x44, 0xF9])
    assert sl.to_dict() == {"bits": 2, "lst": "eNo76fITAAPfAgc"}
    decoded = StatusList.from_dict({"bits": 2, "lst": "eNo76fITAAPfAgc"})
    assert [decoded.get(i) for i in range(12)] == VECTOR_2BIT


def test_index_zero_is_least_significant() -> None:
    sl = StatusList(8, bits=4)
    sl.set(0, 0x3)
    sl.set(1, 0xA)
    assert sl.to_bytes()[0] == 0xA3
    assert StatusList(1, bits=8).to_bytes() == b"\x00"


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_round_trip(bits: int) -> None:
    size = 1000
    values = [(i * 7919 + i // 3) % (1 << bits) for i in range(size)]
    sl = _filled(values, bits)
    assert len(sl.to_bytes()) == (size * bits + 7) // 8
    decoded = StatusList.from_dict(sl.to_dict())
    assert decoded.bits == bits
    assert decoded.size == len(sl.to_bytes()) * 8 // bits  # every slot the bytes hold
    assert [decoded.get(i) for i in range(size)] == values
    assert decoded.to_bytes() == sl.to_bytes()
    assert StatusList.from_bytes(sl.to_bytes(), bits).to_bytes() == sl.to_bytes()


def test_set_overwrites_without_touching_neighbours() -> None:
    sl = StatusList(4, bits=2)
    for i in range(4):
        sl.set(i, 3)
    sl.set(1, StatusValue.SUSPENDED)
    sl.set(2, StatusValue.VALID)
    assert [sl.get(i) for i in range(4)] == [3, 2, 0, 3]


def test_status_values() -> None:
    assert (StatusValue.VALID, StatusValue.INVALID, StatusValue.SUSPENDED) == (0, 1, 2)


@settings(max_examples=60, deadline=None)
@given(
    bits=st.sampled_from([1, 2, 4, 8]),
    size=st.integers(min_value=1, max_value=300),
    data=st.data(),
)
def test_set_get_agree_with_reference(bits: int, size: int, data: st.DataObject) -> None:
    sl, reference = StatusList(size, bits), [0] * size
    ops = data.draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=size - 1),
                st.integers(min_value=0, max_value=(1 << bits) - 1),
            ),
            max_size=60,
        )
    )
    for index, value in ops:
        sl.set(index, value)
        reference[index] = value
    assert [sl.get(i) for i in range(size)] == reference
    decoded = StatusList.from_dict(sl.to_dict())
    assert [decoded.get(i) for i in range(size)] == reference
    assert all(decoded.get(i) == 0 for i in range(size, decoded.size))


# -- local misuse ----------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [0, 3, 5, 16, True, "1", 1.0])
def test_bits_not_allowed(bits: Any) -> None:
    with pytest.raises(StatusListParameterError):
        StatusList(8, bits)
    with pytest.raises(StatusListParameterError):
        StatusList.from_bytes(b"\x00", bits)


@pytest.mark.parametrize("size", [0, -1, MAX_STATUS_LIST_ENTRIES + 1, True, 1.5])
def test_size_out_of_range(size: Any) -> None:
    with pytest.raises(StatusListParameterError):
        StatusList(size)


def test_size_cap_is_accepted() -> None:
    assert StatusList(MAX_STATUS_LIST_ENTRIES).size == MAX_STATUS_LIST_ENTRIES


def test_from_bytes_refuses_empty() -> None:
    with pytest.raises(StatusListParameterError):
        StatusList.from_bytes(b"", 1)


@pytest.mark.parametrize("index", [-1, 10, 11, True, 1.0, "0"])
def test_index_out_of_range(index: Any) -> None:
    sl = StatusList(10, bits=2)
    with pytest.raises(StatusIndexError) as err:
        sl.get(index)
    assert err.value.code == "status-index-out-of-range"
    assert isinstance(err.value, IndexError)
    assert isinstance(err.value, CredentialError)
    with pytest.raises(StatusIndexError):
        sl.set(index, 0)


@pytest.mark.parametrize(("bits", "value"), [(1, 2), (2, 4), (4, 16), (8, 256), (1, -1), (8, True)])
def test_value_too_large(bits: int, value: Any) -> None:
    sl = StatusList(4, bits)
    with pytest.raises(StatusValueError) as err:
        sl.set(0, value)
    assert err.value.code == "status-value-out-of-range"
    assert sl.get(0) == 0


# -- decoding untrusted status_list objects ---------------------------------------------------
def _lst(raw: bytes) -> str:
    return b64url_encode(raw)


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        "eNrbuRgAAhcBXQ",
        {"bits": 1},
        {"lst": "eNrbuRgAAhcBXQ"},
        {"bits": 3, "lst": "eNrbuRgAAhcBXQ"},
        {"bits": True, "lst": "eNrbuRgAAhcBXQ"},
        {"bits": "1", "lst": "eNrbuRgAAhcBXQ"},
        {"bits": 1.0, "lst": "eNrbuRgAAhcBXQ"},
        {"bits": 1, "lst": 5},
        {"bits": 1, "lst": "eNrbuRgAAhcBXQ", "extra": 1},
        {"bits": 1, "lst": "eNrbuRgAAhcBXQ", "aggregation_uri": 5},
        {"bits": 1, "lst": "eNrbuRgAAhcBXQ=="},  # padded
        {"bits": 1, "lst": "eNrbuRgAAhcB+Q"},  # not the url-safe alphabet
        {"bits": 1, "lst": ""},
        {"bits": 1, "lst": _lst(b"\xb9\xa3")},  # not zlib at all
        {"bits": 1, "lst": _lst(zlib.compress(b"\xb9\xa3")[2:])},  # raw DEFLATE, no header
        {"bits": 1, "lst": _lst(zlib.compress(b"\xb9\xa3")[:-2])},  # truncated
        {"bits": 1, "lst": _lst(zlib.compress(b"\xb9\xa3") + b"\x00")},  # trailing bytes
        {"bits": 1, "lst": _lst(zlib.compress(b"\xb9\xa3")[:-1] + b"\x00")},  # bad checksum
        {"bits": 1, "lst": _lst(zlib.compress(b""))},  # empty list
    ],
)
def test_decode_refuses_malformed(obj: Any) -> None:
    with pytest.raises(MalformedStatusListError) as err:
        StatusList.from_dict(obj)
    assert err.value.code == "malformed-status-list"
    assert isinstance(err.value, VerificationError)


def test_decode_accepts_aggregation_uri() -> None:
    obj = {"bits": 1, "lst": "eNrbuRgAAhcBXQ", "aggregation_uri": "https://s.example/agg"}
    assert StatusList.from_dict(obj).to_bytes() == b"\xb9\xa3"


def test_decompression_bomb_is_refused() -> None:
    bomb = zlib.compress(bytes(100 * 1024 * 1024), 9)  # ~100 KB inflating to 100 MB
    assert len(bomb) < 200_000
    with pytest.raises(MalformedStatusListError, match="inflates beyond"):
        StatusList.from_dict({"bits": 1, "lst": b64url_encode(bomb)})


def test_cap_depends_on_bits() -> None:
    # 2**24 one-bit entries is 2 MiB; the same bytes are fine at 8 bits per entry.
    raw = zlib.compress(bytes(MAX_STATUS_LIST_ENTRIES // 8 + 1), 9)
    with pytest.raises(MalformedStatusListError):
        StatusList.from_dict({"bits": 1, "lst": b64url_encode(raw)})
    assert StatusList.from_dict({"bits": 8, "lst": b64url_encode(raw)}).bits == 8


# -- status references in credentials ----------------------------------------------------------
def test_status_reference_round_trip() -> None:
    ref = status_reference(URI, 42)
    assert ref == {"status_list": {"idx": 42, "uri": URI}}
    assert parse_status_reference(ref) == (URI, 42)
    assert parse_status_reference(json.loads(json.dumps(ref))) == (URI, 42)


@pytest.mark.parametrize(
    "status",
    [
        None,
        [],
        {},
        {"status_list": None},
        {"status_list": {"idx": 1}},
        {"status_list": {"uri": URI}},
        {"status_list": {"idx": -1, "uri": URI}},
        {"status_list": {"idx": MAX_STATUS_LIST_ENTRIES, "uri": URI}},
        {"status_list": {"idx": True, "uri": URI}},
        {"status_list": {"idx": 1.0, "uri": URI}},
        {"status_list": {"idx": "1", "uri": URI}},
        {"status_list": {"idx": 1, "uri": ""}},
        {"status_list": {"idx": 1, "uri": 7}},
        {"status_list": {"idx": 1, "uri": URI, "more": 1}},
        {"status_list": {"idx": 1, "uri": URI}, "other_mechanism": {}},
    ],
)
def test_parse_status_reference_refuses(status: Any) -> None:
    with pytest.raises(MalformedStatusListError):
        parse_status_reference(status)


def test_status_reference_refuses_bad_input() -> None:
    with pytest.raises(StatusIndexError):
        status_reference(URI, -1)
    with pytest.raises(StatusListParameterError):
        status_reference("", 0)


# -- the Status List Token ---------------------------------------------------------------------
@pytest.mark.parametrize("key_type", [KeyType.ED25519, KeyType.P256])
def test_sign_verify(key_type: KeyType) -> None:
    signer = LocalSigner.generate(key_type)
    sl = _filled(VECTOR_2BIT, 2)
    jwt = _sign(signer, sl)
    header = json.loads(b64url_decode(jwt.split(".")[0]))
    assert header == {"alg": key_type.algorithm, "typ": "statuslist+jwt", "kid": KID}
    payload = json.loads(b64url_decode(jwt.split(".")[1]))
    assert set(payload) == {"iss", "sub", "iat", "exp", "ttl", "status_list"}
    seen: list[tuple[str, str]] = []

    def keys(iss: str, kid: str) -> PublicKey:
        seen.append((iss, kid))
        return signer.public_key

    result = _verify(jwt, signer, issuer_keys=keys)
    assert seen == [(ISS, KID)]
    assert (result.uri, result.issuer, result.key_id) == (URI, ISS, KID)
    assert (result.issued_at, result.expires_at, result.ttl) == (T0, T0 + 3600, 300)
    assert [result.status_list.get(i) for i in range(12)] == VECTOR_2BIT


def test_verify_without_exp_and_ttl() -> None:
    signer = LocalSigner.generate()
    header, payload = _parts(signer)
    del payload["exp"], payload["ttl"]
    result = _verify(_raw_token(signer, header, payload), signer, now=T0 + 10**9)
    assert (result.expires_at, result.ttl) == (None, None)


def test_wrong_typ() -> None:
    signer = LocalSigner.generate()
    header, payload = _parts(signer)
    for typ in ("JWT", "dc+sd-jwt", None):
        header["typ"] = typ
        with pytest.raises(MalformedStatusListError):
            _verify(_raw_token(signer, header, payload), signer)


def test_wrong_sub() -> None:
    signer = LocalSigner.generate()
    with pytest.raises(StatusListUriMismatchError) as err:
        _verify(_sign(signer), signer, expected_uri="https://s.example/2")
    assert err.value.code == "status-list-uri-mismatch"


def test_expired() -> None:
    signer = LocalSigner.generate()
    jwt = _sign(signer)
    assert _verify(jwt, signer, now=T0 + 3599).expires_at == T0 + 3600
    with pytest.raises(ExpiredError):
        _verify(jwt, signer, now=T0 + 3600)


def test_iat_in_the_future() -> None:
    signer = LocalSigner.generate()
    jwt = _sign(signer)
    assert _verify(jwt, signer, now=T0 - 60).issued_at == T0  # within the leeway
    with pytest.raises(NotYetValidError):
        _verify(jwt, signer, now=T0 - 61)


def test_bad_signature() -> None:
    signer, other = LocalSigner.generate(), LocalSigner.generate()
    with pytest.raises(IssuerSignatureError):
        _verify(_sign(signer), signer, issuer_keys=lambda iss, kid: other.public_key)
    header, _, signature = _sign(signer).split(".")
    _, tampered = _parts(signer)
    tampered["status_list"] = StatusList(16).to_dict()  # "un-revoke" everything
    forged = header + "." + b64url_encode(json.dumps(tampered).encode()) + "." + signature
    with pytest.raises(IssuerSignatureError):
        _verify(forged, signer)


def test_key_type_must_match_alg() -> None:
    signer, p256 = LocalSigner.generate(), LocalSigner.generate(KeyType.P256)
    with pytest.raises(IssuerSignatureError):
        _verify(_sign(signer), signer, issuer_keys=lambda iss, kid: p256.public_key)


def test_untrusted_issuer() -> None:
    signer = LocalSigner.generate()

    def refuses(iss: str, kid: str) -> PublicKey:
        raise UntrustedIssuerError("not on the trust list")

    def unknown(iss: str, kid: str) -> PublicKey:
        raise KeyError(kid)

    for resolver in (refuses, unknown):
        with pytest.raises(UntrustedIssuerError) as err:
            _verify(_sign(signer), signer, issuer_keys=resolver)
        assert err.value.code == "untrusted-issuer"


def test_alg_not_allowed() -> None:
    signer = LocalSigner.generate()
    with pytest.raises(AlgorithmNotAllowedError):
        _verify(_sign(signer), signer, policy=AlgorithmPolicy(frozenset({"ES256"})))
    header, payload = _parts(signer)
    header["alg"] = "none"
    unsigned = (
        b64url_encode(json.dumps(header).encode())
        + "."
        + b64url_encode(json.dumps(payload).encode())
        + "."
    )
    with pytest.raises(AlgorithmNotAllowedError):
        _verify(unsigned, signer)


def test_alg_checked_before_key_lookup() -> None:
    signer = LocalSigner.generate()

    def never(iss: str, kid: str) -> PublicKey:
        raise AssertionError("resolver must not be called")

    with pytest.raises(AlgorithmNotAllowedError):
        _verify(_sign(signer), signer, issuer_keys=never, policy=AlgorithmPolicy(frozenset()))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", None),
        ("sub", 5),
        ("iat", None),
        ("iat", "1000"),
        ("iat", True),
        ("exp", 1.5e9),
        ("ttl", 0),
        ("ttl", -5),
        ("ttl", "300"),
        ("iss", None),
        ("iss", 7),
        ("status_list", None),
        ("status_list", {"bits": 3, "lst": "eNrbuRgAAhcBXQ"}),
        ("status_list", {"bits": 1, "lst": b64url_encode(b"not zlib")}),
    ],
)
def test_malformed_claims(claim: str, value: Any) -> None:
    signer = LocalSigner.generate()
    header, payload = _parts(signer)
    if value is None:
        del payload[claim]
    else:
        payload[claim] = value
    with pytest.raises(MalformedStatusListError):
        _verify(_raw_token(signer, header, payload), signer)


def test_bomb_inside_signed_token() -> None:
    signer = LocalSigner.generate()
    header, payload = _parts(signer)
    bomb = zlib.compress(bytes(100 * 1024 * 1024), 9)
    payload["status_list"] = {"bits": 1, "lst": b64url_encode(bomb)}
    with pytest.raises(MalformedStatusListError):
        _verify(_raw_token(signer, header, payload), signer)


@pytest.mark.parametrize("jwt", ["", "a.b", "a.b.c.d", "x.y.z", "é.é.é", "eyJ9.e30.AA", 5, None])
def test_not_a_jws(jwt: Any) -> None:
    signer = LocalSigner.generate()
    with pytest.raises(MalformedStatusListError):
        _verify(jwt, signer)


def test_size_cap() -> None:
    signer = LocalSigner.generate()
    jwt = _sign(signer)
    assert _verify(jwt, signer, max_bytes=len(jwt)).uri == URI
    with pytest.raises(MalformedStatusListError):
        _verify(jwt, signer, max_bytes=len(jwt) - 1)


@pytest.mark.parametrize(
    "kw",
    [
        {"expires_at": T0},
        {"ttl": 0},
        {"uri": ""},
        {"issuer": ""},
        {"key_id": ""},
        {"issued_at": "1000"},
    ],
)
def test_sign_refuses_bad_parameters(kw: dict[str, Any]) -> None:
    with pytest.raises(IssuanceError):
        _sign(LocalSigner.generate(), **kw)


def test_errors_carry_no_claim_values() -> None:
    signer = LocalSigner.generate()
    secret_uri = "https://s.example/lists/holder-11010519491231002X"
    with pytest.raises(StatusListUriMismatchError) as err:
        _verify(_sign(signer, uri=secret_uri), signer)
    assert "11010519491231002X" not in err.value.diagnostics()
