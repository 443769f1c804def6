"""Byte encodings shared by every spec object: base64url, base58btc, multihash, JCS."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

import based58  # Rust (bs58) binding: ~10x the pure-Python base58 package
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
    return bytes(based58.b58encode(data)).decode("ascii")


def base58btc_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text or not text.isascii():
        raise EncodingError("not base58btc text")
    try:
        data = bytes(based58.b58decode(text.encode("ascii")))
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
    # base58btc is a bijection between digit strings without leading '1's and integers, so a
    # 46-char "Qm..." string that decodes to 34 bytes has exactly one spelling.
    return len(raw) == 34 and raw.startswith(_MULTIHASH_SHA256)


def _is_plain(value: Any) -> bool:
    """True for JSON made only of objects, arrays, booleans, null and ASCII strings and keys
    (no numbers) — the shape of every RealDID operation."""
    if isinstance(value, str):
        return value.isascii()
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, bool)


def canonicalize(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value.

    Everything RealDID signs or hashes goes through this one function. The ``rfc8785``
    library does the general case (ECMAScript number serialisation, UTF-16 key order).
    Values without numbers whose strings and keys are all ASCII take a fast path through the
    stdlib's C JSON encoder, whose output is then byte-identical to JCS: RFC 8785 §3.2.2.2
    escapes the quote, the backslash and U+0000..U+001F (five as short escapes, the rest as
    lowercase ``u00hh`` escapes) exactly as ``json.dumps`` does, and the UTF-16 code-unit key order
    of §3.2.3 equals code-point order for ASCII. A property test holds the two paths equal.
    """
    if _is_plain(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, OverflowError) as e:
        raise EncodingError(f"value cannot be canonicalized: {type(e).__name__}") from e
