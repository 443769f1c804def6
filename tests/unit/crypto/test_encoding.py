"""Byte encodings and RFC 8785 canonicalization (realdid.crypto._encoding)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from realdid.crypto import (
    CryptoError,
    EncodingError,
    b64url_decode,
    b64url_encode,
    base58btc_decode,
    base58btc_encode,
    canonicalize,
    is_multihash_b58,
    multihash_b58,
    multihash_sha256,
    sha256,
)

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "rfc8785.json").read_text(encoding="utf-8")
)


# -- RFC 8785 published examples: one test per case ------------------------------------------


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["id"] for c in VECTORS["cases"]])
def test_rfc8785_example(case: dict[str, str]) -> None:
    assert canonicalize(json.loads(case["input"])) == case["expected"].encode("utf-8")


@pytest.mark.parametrize("case", VECTORS["numbers"], ids=[c["id"] for c in VECTORS["numbers"]])
def test_rfc8785_appendix_b_number(case: dict[str, Any]) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(case["ieee754"]))
    if case["expected"] is None:
        with pytest.raises(EncodingError):
            canonicalize(value)
    else:
        assert canonicalize(value) == case["expected"].encode("ascii")


def test_rfc8785_vector_file_is_not_empty() -> None:
    assert len(VECTORS["cases"]) >= 5
    assert len(VECTORS["numbers"]) >= 20


# -- canonicalize refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(float("-inf"), id="-inf"),
        pytest.param([1, {"a": float("nan")}], id="nested-nan"),
        pytest.param(2**53, id="int-beyond-i-json"),
        pytest.param(-(2**53), id="negative-int-beyond-i-json"),
        pytest.param(10**400, id="huge-int"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param({1: "non-string key"}, id="int-key"),
        pytest.param({"a"}, id="set"),
        pytest.param(object(), id="object"),
    ],
)
def test_canonicalize_refuses_values_outside_i_json(value: Any) -> None:
    with pytest.raises(EncodingError) as info:
        canonicalize(value)
    assert info.value.code == "invalid-encoding"
    assert isinstance(info.value, CryptoError)


def test_canonicalize_accepts_i_json_integer_limits() -> None:
    assert canonicalize([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"


def test_canonicalize_sorts_by_utf16_not_code_points() -> None:
    """U+FB33 sorts after U+1F600 in UTF-16 (surrogates are 0xD83D...), unlike code points."""
    assert canonicalize({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'.encode()


def test_canonicalize_emits_no_whitespace_and_utf8() -> None:
    assert canonicalize({"b": [1, 2], "a": "é"}) == '{"a":"é","b":[1,2]}'.encode()


# -- base64url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"\xfb\xff", "-_8"),
        (bytes(range(256))[:5], "AAECAwQ"),
    ],
)
def test_b64url_round_trip(data: bytes, text: str) -> None:
    assert b64url_encode(data) == text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Zg==", id="padding"),
        pytest.param("Zm8=", id="single-padding"),
        pytest.param("+_8", id="standard-alphabet-plus"),
        pytest.param("-/8", id="standard-alphabet-slash"),
        pytest.param("Zh", id="non-zero-trailing-bits"),
        pytest.param("Z", id="impossible-length"),
        pytest.param("Zm 9v", id="space"),
        pytest.param("Zm9v\n", id="newline"),
        pytest.param("Zm9v!", id="bang"),
        pytest.param("Zm9vé", id="non-ascii"),
    ],
)
def test_b64url_decode_is_strict(text: str) -> None:
    with pytest.raises(EncodingError):
        b64url_decode(text)


@pytest.mark.parametrize("value", [None, b"Zg", 1])
def test_b64url_decode_refuses_non_text(value: Any) -> None:
    with pytest.raises(EncodingError):
        b64url_decode(value)


# -- base58btc and multihash -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        # draft-msporny-base58 section 5 examples.
        (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
        (
            b"The quick brown fox jumps over the lazy dog.",
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z",
        ),
        (b"\x00\x00(\x7f\xb4\xcd", "11233QC4"),
    ],
)
def test_base58btc_round_trip(data: bytes, text: str) -> None:
    assert base58btc_encode(data) == text
    assert base58btc_decode(text) == data


@pytest.mark.parametrize("text", ["", "0", "O", "I", "l", "abc+", "é", None])
def test_base58btc_decode_refuses_bad_text(text: Any) -> None:
    with pytest.raises(EncodingError):
        base58btc_decode(text)


def test_sha256_and_multihash() -> None:
    digest = hashlib.sha256(b"abc").digest()
    assert sha256(b"abc") == digest
    assert multihash_sha256(b"abc") == b"\x12\x20" + digest
    text = multihash_b58(b"abc")
    assert text == base58btc_encode(b"\x12\x20" + digest)
    assert text.startswith("Qm")
    assert len(text) == 46
    assert is_multihash_b58(text)


def test_known_multihash_of_empty_input() -> None:
    # The well-known CIDv0-style spelling of sha2-256(""): 0x1220 e3b0c442...
    assert multihash_b58(b"") == "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("Qm", id="prefix-only"),
        pytest.param(multihash_b58(b"x")[:-1], id="short"),
        pytest.param(multihash_b58(b"x") + "a", id="long"),
        pytest.param("Qm" + "0" * 44, id="non-base58"),
        pytest.param(base58btc_encode(b"\x13\x20" + bytes(32)), id="sha512-code"),
        pytest.param(base58btc_encode(b"\x12\x21" + bytes(33)), id="wrong-length-byte"),
        pytest.param(multihash_b58(b"x").lower(), id="lowercased"),
        pytest.param(None, id="none"),
        pytest.param(b"QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n", id="bytes"),
    ],
)
def test_is_multihash_b58_refuses(text: Any) -> None:
    assert not is_multihash_b58(text)


# -- the stdlib fast path of canonicalize() equals the rfc8785 library -------------------------
_ascii = st.text(st.characters(min_codepoint=0x00, max_codepoint=0x7F), max_size=20)
_plain_json = st.recursive(
    st.none() | st.booleans() | _ascii,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_ascii, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200)
@given(_plain_json)
def test_fast_path_is_byte_identical_to_rfc8785(value: object) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)
