"""Token Status List (draft-ietf-oauth-status-list): revocation and suspension at scale.

A status list is a byte array holding one ``bits``-wide value per Referenced Token
(draft section "Status List", "Compressed Byte Array"): ``bits`` is 1, 2, 4 or 8, and
index 0 occupies the least-significant ``bits`` of byte 0, index 1 the next ones up, and
so on (the worked example there gives ``0xB9 0xA3`` for the 1-bit statuses
``1 0 0 1 1 1 0 1  1 1 0 0 0 1 0 1``). The JSON form (section "Status List in JSON
Format") is ``{"bits": N, "lst": L}`` where ``L`` is the unpadded base64url text of the
byte array compressed as DEFLATE in a ZLIB container (RFC 1951 / RFC 1950), at the
highest compression level, as the draft recommends.

The Status List Token (section "Status List Token in JWT Format") is a JWS with header
``typ: statuslist+jwt`` and payload ``sub`` (the status list URI, which a verifier
compares with the ``uri`` it dereferenced), ``iat``, and the optional ``exp`` and
``ttl`` (seconds a cached copy may be used before fetching again). A Referenced Token
points into a list with ``"status": {"status_list": {"idx": N, "uri": "..."}}``
(section "Referenced Token in JWT Format"). Section "Status Types Values" defines 0x00
VALID, 0x01 INVALID and 0x02 SUSPENDED; the processing rules of the Referenced Token
(``exp`` and so on) come first, so an expired token stays expired whatever its status.

Signing reuses the compact JWS of :mod:`._jws`, which composes JWS over the
:class:`~realdid.crypto.Signer` protocol so the authority's key can live in an HSM.

What verification leaves to the caller: the status list token's ``iss`` is returned, not
compared with the Referenced Token's issuer, because a deployment may delegate status
lists to a separate key; the caller compares the two under its trust policy.

Example (the authority revokes entry 7, a relying party checks it)::

    from realdid.crypto import DEFAULT_POLICY, LocalSigner

    authority = LocalSigner.generate()
    uri = "https://status.realdid.example/lists/1"
    entries = StatusList(size=100_000)
    entries.set(7, StatusValue.INVALID)
    token = sign_status_list(entries, uri=uri, issuer="did:realdid:authority",
        signer=authority, key_id="did:realdid:authority#status-1",
        issued_at=1_700_000_000, expires_at=1_700_086_400, ttl=3_600)

    list_uri, index = parse_status_reference(credential.status)  # {"status_list": ...}
    verified = verify_status_list(token, expected_uri=list_uri,
        issuer_keys=lambda iss, kid: authority.public_key,
        now=1_700_000_100, policy=DEFAULT_POLICY)
    assert verified.status_list.get(index) == StatusValue.INVALID
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realdid.crypto import AlgorithmPolicy, EncodingError, PublicKey, Signer, b64url_decode
from realdid.crypto import b64url_encode as _b64url_encode

from ._errors import (
    CredentialError,
    ExpiredError,
    IssuanceError,
    IssuerSignatureError,
    NotYetValidError,
    UntrustedIssuerError,
    VerificationError,
)
from ._jws import CompactJws, JwsError, sign_compact

STATUS_LIST_JWT_TYP = "statuslist+jwt"
#: Largest list this module builds or accepts (entries); 2**24 bounds memory and work.
MAX_STATUS_LIST_ENTRIES = 2**24
#: Default cap on a Status List Token's length; callers may lower or raise it.
MAX_STATUS_LIST_JWT_BYTES = 8 * 1024 * 1024
#: Clock skew tolerated on ``iat`` (seconds).
IAT_LEEWAY_SECONDS = 60

_ALLOWED_BITS = frozenset({1, 2, 4, 8})
_OPTIONAL_LIST_MEMBERS = frozenset({"aggregation_uri"})  # newer drafts; ignored here


class StatusValue(enum.IntEnum):
    """Status Types of section "Status Types Values" (others are application specific)."""

    VALID = 0
    INVALID = 1
    SUSPENDED = 2


# -- errors ---------------------------------------------------------------------------
class StatusListParameterError(CredentialError, ValueError):
    """A caller asked for a status list that cannot exist (bits, size, empty bytes)."""

    code = "invalid-status-list-parameters"


class StatusIndexError(CredentialError, IndexError):
    """An index outside ``0 <= index < size``."""

    code = "status-index-out-of-range"


class StatusValueError(CredentialError, ValueError):
    """A status value that does not fit in the list's ``bits``."""

    code = "status-value-out-of-range"


class MalformedStatusListError(VerificationError):
    """A status list, its token or a ``status`` reference is not well formed."""

    code = "malformed-status-list"


class StatusListUriMismatchError(VerificationError):
    """The token's ``sub`` is not the URI the verifier dereferenced."""

    code = "status-list-uri-mismatch"


# -- the bit array ---------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bits(bits: Any) -> int:
    if not _is_int(bits) or bits not in _ALLOWED_BITS:
        raise StatusListParameterError("bits must be 1, 2, 4 or 8")
    return int(bits)


def _byte_length(size: int, bits: int) -> int:
    return (size * bits + 7) // 8


class StatusList:
    """A mutable array of ``size`` status values, ``bits`` bits each."""

    __slots__ = ("_data", "bits", "size")

    def __init__(self, size: int, bits: int = 1) -> None:
        self.bits = _check_bits(bits)
        if not _is_int(size) or not 0 < size <= MAX_STATUS_LIST_ENTRIES:
            raise StatusListParameterError(
                f"size must be an integer in 1..{MAX_STATUS_LIST_ENTRIES}"
            )
        self.size: int = size
        self._data = bytearray(_byte_length(size, self.bits))

    def __repr__(self) -> str:
        return f"StatusList(size={self.size}, bits={self.bits})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return (self.size, self.bits, self._data) == (other.size, other.bits, other._data)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _locate(self, index: int) -> tuple[int, int]:
        if not _is_int(index) or not 0 <= index < self.size:
            raise StatusIndexError(f"index must be an integer in 0..{self.size - 1}")
        bit_offset = index * self.bits
        return bit_offset // 8, bit_offset % 8

    def get(self, index: int) -> int:
        """The status value at ``index``."""
        byte, shift = self._locate(index)
        return (self._data[byte] >> shift) & ((1 << self.bits) - 1)

    def set(self, index: int, value: int) -> None:
        """Store ``value`` (``0 <= value < 2**bits``) at ``index``."""
        byte, shift = self._locate(index)
        mask = (1 << self.bits) - 1
        if not _is_int(value) or not 0 <= value <= mask:
            raise StatusValueError(f"value must be an integer in 0..{mask} for bits={self.bits}")
        self._data[byte] = (self._data[byte] & ~(mask << shift) & 0xFF) | (value << shift)

    def to_bytes(self) -> bytes:
        """The uncompressed byte array (before DEFLATE)."""
        return bytes(self._data)

    @classmethod
    def from_bytes(cls, raw: bytes, bits: int) -> StatusList:
        """A list over ``raw``; its size is every slot the bytes hold (``len * 8 / bits``)."""
        bits = _check_bits(bits)
        if not isinstance(raw, bytes | bytearray) or not raw:
            raise StatusListParameterError("raw must be non-empty bytes")
        status_list = cls(len(raw) * 8 // bits, bits)
        status_list._data[:] = raw
        return status_list

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``status_list`` object: ``{"bits": .., "lst": ..}``."""
        compressed = zlib.compress(bytes(self._data), level=9)
        return {"bits": self.bits, "lst": _b64url_encode(compressed)}

    @classmethod
    def from_dict(cls, obj: Any) -> StatusList:
        """Parse a ``status_list`` object from untrusted input; decompression is bounded."""
        if not isinstance(obj, dict) or not {"bits", "lst"} <= set(obj):
            raise MalformedStatusListError("status_list must be an object with bits and lst")
        if set(obj) - {"bits", "lst"} - _OPTIONAL_LIST_MEMBERS:
            raise MalformedStatusListError("status_list has unknown members")
        if "aggregation_uri" in obj and not isinstance(obj["aggregation_uri"], str):
            raise MalformedStatusListError("aggregation_uri must be a string")
        bits, lst = obj["bits"], obj["lst"]
        if not _is_int(bits) or bits not in _ALLOWED_BITS:
            raise MalformedStatusListError("bits must be 1, 2, 4 or 8")
        if not isinstance(lst, str):
            raise MalformedStatusListError("lst must be a string")
        try:
            compressed = b64url_decode(lst)
        except EncodingError as e:
            raise MalformedStatusListError("lst is not unpadded base64url") from e
        return cls.from_bytes(
            _inflate(compressed, _byte_length(MAX_STATUS_LIST_ENTRIES, bits)), bits
        )


def _inflate(compressed: bytes, max_bytes: int) -> bytes:
    """ZLIB-decompress at most ``max_bytes``; refuse truncated, trailing or oversized data."""
    inflater = zlib.decompressobj()  # default wbits: the RFC 1950 header and checksum
    try:
        raw = inflater.decompress(compressed, max_bytes)
    except zlib.error as e:
        raise MalformedStatusListError("lst is not ZLIB-compressed data") from e
    if inflater.unconsumed_tail:
        raise MalformedStatusListError(f"status list inflates beyond {max_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MalformedStatusListError("lst is truncated or has trailing data")
    if not raw:
        raise MalformedStatusListError("status list is empty")
    return raw


# -- referenced tokens -----------------------------------------------------
def status_reference(uri: str, index: int) -> dict[str, Any]:
    """The ``status`` claim a Referenced Token carries to point at ``uri``'s entry ``index``."""
    if not isinstance(uri, str) or not uri:
        raise StatusListParameterError("uri must be a non-empty string")
    if not _is_int(index) or not 0 <= index < MAX_STATUS_LIST_ENTRIES:
        raise StatusIndexError(f"index must be an integer in 0..{MAX_STATUS_LIST_ENTRIES - 1}")
    return {"status_list": {"idx": index, "uri": uri}}


def parse_status_reference(status: Any) -> tuple[str, int]:
    """``(uri, idx)`` from a credential's ``status`` claim; anything else is refused."""
    if not isinstance(status, dict) or set(status) != {"status_list"}:
        raise MalformedStatusListError("status must be an object with only status_list")
    ref = status["status_list"]
    if not isinstance(ref, dict) or set(ref) != {"idx", "uri"}:
        raise MalformedStatusListError("status.status_list must have exactly idx and uri")
    idx, uri = ref["idx"], ref["uri"]
    if not _is_int(idx) or not 0 <= idx < MAX_STATUS_LIST_ENTRIES:
        raise MalformedStatusListError("status_list.idx must be a non-negative integer in range")
    if not isinstance(uri, str) or not uri:
        raise MalformedStatusListError("status_list.uri must be a non-empty string")
    return uri, idx


# -- the Status List Token ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class VerifiedStatusList:
    """What a verifier learns from a valid Status List Token."""

    uri: str
    issuer: str
    key_id: str
    issued_at: int
    expires_at: int | None
    ttl: int | None
    status_list: StatusList


def sign_status_list(
    status_list: StatusList,
    *,
    uri: str,
    issuer: str,
    signer: Signer,
    key_id: str,
    issued_at: int,
    expires_at: int,
    ttl: int,
) -> str:
    """Sign ``status_list`` as a compact ``statuslist+jwt`` Status List Token."""
    if not isinstance(status_list, StatusList):
        raise IssuanceError("status_list must be a StatusList")
    for name, text in (("uri", uri), ("issuer", issuer), ("key_id", key_id)):
        if not isinstance(text, str) or not text:
            raise IssuanceError(f"{name} must be a non-empty string")
    if not all(_is_int(t) for t in (issued_at, expires_at, ttl)):
        raise IssuanceError("issued_at, expires_at and ttl must be integers")
    if expires_at <= issued_at:
        raise IssuanceError("expires_at must be after issued_at")
    if ttl <= 0:
        raise IssuanceError("ttl must be positive")
    header = {"alg": signer.public_key.algorithm, "typ": STATUS_LIST_JWT_TYP, "kid": key_id}
    payload = {
        "iss": issuer,
        "sub": uri,
        "iat": issued_at,
        "exp": expires_at,
        "ttl": ttl,
        "status_list": status_list.to_dict(),
    }
    return sign_compact(header, payload, signer)


def verify_status_list(
    jwt: str,
    *,
    expected_uri: str,
    issuer_keys: Callable[[str, str], PublicKey],
    now: int,
    policy: AlgorithmPolicy,
    max_bytes: int = MAX_STATUS_LIST_JWT_BYTES,
) -> VerifiedStatusList:
    """Verify a Status List Token fetched from ``expected_uri``; raise on failure.

    ``issuer_keys(iss, kid)`` returns the key it trusts for that issuer, or raises
    :class:`UntrustedIssuerError` (a :class:`LookupError` is converted to it as well).
    The signature is checked before any claim is read.
    """
    if not isinstance(jwt, str) or len(jwt) > max_bytes or not jwt.isascii():
        raise MalformedStatusListError(f"status list token must be ASCII of <= {max_bytes} bytes")
    token = _parse_token(jwt, policy)
    header, payload = token.header, token.payload
    kid, iss = header.get("kid"), payload.get("iss")
    if not isinstance(kid, str) or not isinstance(iss, str):
        raise MalformedStatusListError("kid and iss must be strings")
    try:
        issuer_key = issuer_keys(iss, kid)
    except UntrustedIssuerError:
        raise
    except LookupError as e:
        raise UntrustedIssuerError("no trusted key for the status list issuer") from e
    if issuer_key.algorithm != header["alg"]:
        raise IssuerSignatureError("alg does not match the issuer key type")
    try:
        token.verify(issuer_key, policy)
    except JwsError as e:
        raise IssuerSignatureError(str(e)) from e
    return _checked_claims(payload, iss=iss, kid=kid, expected_uri=expected_uri, now=now)


def _parse_token(jwt: str, policy: AlgorithmPolicy) -> CompactJws:
    try:
        token = CompactJws.parse(jwt)
        token.check_algorithm(policy)
    except JwsError as e:
        raise MalformedStatusListError(f"status list token: {e}") from e
    if token.header.get("typ") != STATUS_LIST_JWT_TYP:
        raise MalformedStatusListError(f"typ must be {STATUS_LIST_JWT_TYP!r}")
    return token


def _checked_claims(
    payload: dict[str, Any], *, iss: str, kid: str, expected_uri: str, now: int
) -> VerifiedStatusList:
    sub = payload.get("sub")
    if not isinstance(sub, str):
        raise MalformedStatusListError("sub must be a string")
    if sub != expected_uri:
        raise StatusListUriMismatchError("sub is not the URI the status list was fetched from")
    iat = _optional_int(payload, "iat")
    if iat is None:
        raise MalformedStatusListError("iat is required")
    if iat > now + IAT_LEEWAY_SECONDS:
        raise NotYetValidError("status list token is issued in the future")
    exp = _optional_int(payload, "exp")
    if exp is not None and now >= exp:
        raise ExpiredError("status list token has expired")
    ttl = _optional_int(payload, "ttl")
    if ttl is not None and ttl <= 0:
        raise MalformedStatusListError("ttl must be positive")
    return VerifiedStatusList(
        uri=sub,
        issuer=iss,
        key_id=kid,
        issued_at=iat,
        expires_at=exp,
        ttl=ttl,
        status_list=StatusList.from_dict(payload.get("status_list")),
    )


def _optional_int(payload: dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if not _is_int(value):
        raise MalformedStatusListError(f"{name} must be an integer")
    return int(value)
