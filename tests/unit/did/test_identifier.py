"""``did:realdid`` identifier syntax (realdid.did._identifier)."""

from __future__ import annotations

from typing import Any

import pytest

from realdid.crypto import base58btc_encode, multihash_b58
from realdid.did import (
    METHOD,
    PREFIX,
    Did,
    DidError,
    InvalidDidError,
    MethodNotSupportedError,
)

SUFFIX = multihash_b58(b"an initial state")
VALID = PREFIX + SUFFIX


def test_parse_valid_did() -> None:
    did = Did.parse(VALID)
    assert did.suffix == SUFFIX
    assert str(did) == VALID
    assert METHOD == "realdid"
    assert PREFIX == "did:realdid:"


def test_dids_compare_and_hash_by_suffix() -> None:
    other = Did(multihash_b58(b"another"))
    assert Did.parse(VALID) == Did(SUFFIX)
    assert hash(Did.parse(VALID)) == hash(Did(SUFFIX))
    assert Did(SUFFIX) != other
    assert sorted([Did(SUFFIX), other]) == sorted([other, Did(SUFFIX)])


@pytest.mark.parametrize(
    "text",
    [
        "did:web:example.com",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "did:ion:EiClkZMDxPKqC9c-umQfTkR8vvZ9JPhl_xLDI9Nfk38w5w",
        "did:example:123456789abcdefghi",
        f"did:realdid2:{SUFFIX}",
        f"did:real:{SUFFIX}",
        "did:web:example.com:user:alice",
        "did:web:localhost%3A8443",
    ],
)
def test_other_methods_are_not_supported(text: str) -> None:
    with pytest.raises(MethodNotSupportedError) as info:
        Did.parse(text)
    assert info.value.code == "methodNotSupported"
    assert isinstance(info.value, DidError)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("did", id="did"),
        pytest.param("did:", id="did-colon"),
        pytest.param("did:realdid", id="no-msi"),
        pytest.param("did:realdid:", id="empty-msi"),
        pytest.param(SUFFIX, id="bare-suffix"),
        pytest.param("DID:realdid:" + SUFFIX, id="uppercase-scheme"),
        pytest.param("did:REALDID:" + SUFFIX, id="uppercase-method"),
        pytest.param("did::" + SUFFIX, id="empty-method"),
        pytest.param(" " + VALID, id="leading-space"),
        pytest.param(VALID + " ", id="trailing-space"),
        pytest.param(VALID + "\n", id="trailing-newline"),
        pytest.param("did:web:example.com\n", id="other-method-trailing-newline"),
        pytest.param(VALID + "#key-1", id="fragment"),
        pytest.param(VALID + "?versionId=1", id="query"),
        pytest.param(VALID + "/path", id="path"),
        pytest.param(VALID + ":", id="trailing-colon"),
        pytest.param("did:realdid:Qm%zz", id="bad-percent-encoding"),
        pytest.param("did:realdid:" + "é" * 10, id="non-ascii"),
        pytest.param("did:web:" + "a" * 300, id="too-long-other-method"),
        pytest.param(VALID + "a" * (257 - len(VALID)), id="257-chars"),
    ],
)
def test_garbage_is_invalid(text: str) -> None:
    with pytest.raises(InvalidDidError) as info:
        Did.parse(text)
    assert info.value.code == "invalidDid"


@pytest.mark.parametrize(
    "suffix",
    [
        pytest.param(SUFFIX[:-1], id="short"),
        pytest.param(SUFFIX + "a", id="long"),
        pytest.param("Qm" + "0" * 44, id="non-base58"),
        pytest.param("Zm" + SUFFIX[2:], id="not-qm"),
        pytest.param(base58btc_encode(b"\x13\x40" + bytes(64)), id="sha512-multihash"),
        pytest.param(base58btc_encode(b"\x12\x20" + bytes(31)), id="truncated-digest"),
        pytest.param(SUFFIX + ":" + SUFFIX, id="extra-segment"),
        pytest.param("abc", id="short-garbage"),
        pytest.param("Qm" + "_" * 44, id="url-safe-chars"),
    ],
)
def test_wrong_suffix_is_invalid(suffix: str) -> None:
    with pytest.raises(InvalidDidError):
        Did.parse(PREFIX + suffix)
    with pytest.raises(InvalidDidError):
        Did(suffix)


@pytest.mark.parametrize("value", [None, 42, b"did:realdid:Qm", ["did:realdid"]])
def test_non_text_is_invalid(value: Any) -> None:
    with pytest.raises(InvalidDidError):
        Did.parse(value)


def test_did_is_immutable() -> None:
    did = Did(SUFFIX)
    with pytest.raises(AttributeError):
        did.suffix = "x"  # type: ignore[misc]
