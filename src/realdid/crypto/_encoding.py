"""Byte encodings shared by every spec object: base64url, base58btc, multihash, JCS."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import base58
import rfc8785

from ._errors import CryptoError

# Multihash code and length prefix for SHA2-256 (multiformats table: sha2-256 = 0x12).
_MULTIHASH_SHA256 = b"\x12\x20"


class EncodingError(CryptoError):
    """Bytes or text that do not decode as the encoding they claim."""

    code = "invalid-encoding"


def b64url_encode(data: bytes) -> str:
    """RFC 4648 section 5 base64url without padding, as JOSE uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url_encode`: rejects padding and non-alphabet chars."""
    if not isinstance(text, str) or "=" in text or not text.isascii():
        raise EncodingError("not unpadded base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise EncodingError("not unpadded base64url text") from e
    # Reject non-canonical encodings (trailing bits set) so each value has one spelling.
    if b64url_encode(data) != text:
        raise EncodingError("non-canonical base64url text")
    return data


def base58btc_encode(data: bytes) -> str:
    return base58.b58encode(data).decode("ascii")


def base58btc_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text or not text.isascii():
        raise EncodingError("not base58btc text")
    try:
        data: bytes = base58.b58decode(text)
    except ValueError as e:
        raise EncodingError("not base58btc text") from e
    return data


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def multihash_sha256(data: bytes) -> bytes:
    """SHA-256 of ``data`` as a multihash (code 0x12, length 32, digest)."""
    return _MULTIHASH_SHA256 + hashlib.sha256(data).digest()


def multihash_b58(data: bytes) -> str:
    """base58btc text of the SHA-256 multihash of ``data`` (the ``Qm...`` form)."""
    return base58btc_encode(multihash_sha256(data))


def is_multihash_b58(text: str) -> bool:
    """True when ``text`` is the base58btc spelling of a SHA-256 multihash."""
    if not isinstance(text, str) or len(text) != 46 or not text.startswith("Qm"):
        return False
    try:
        raw = base58btc_decode(text)
    except EncodingError:
        return False
    return len(raw) == 34 and raw.startswith(_MULTIHASH_SHA256) and base58btc_encode(raw) == text


def canonicalize(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value.

    Everything RealDID signs or hashes goes through this one function; the ``rfc8785``
    library does the work (number serialisation per ECMAScript, UTF-16 key ordering).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, OverflowError) as e:
        raise EncodingError(f"value cannot be canonicalized: {type(e).__name__}") from e
