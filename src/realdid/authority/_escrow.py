"""Escrow of the DID-to-identity link: records sealed to the escrow trustees' public key.

Threat model. The authority's operational server writes one escrow record per enrolled
root DID (ARCHITECTURE.md §7) but holds only the escrow *public* key, so a full compromise
of that server, its database or its backups does not open a single record. The private key
belongs to the escrow trustees; lawful access opens one record at a time. Today the opener is
:class:`X25519EscrowKey`, one private key in a file; a k-of-n trustee scheme plugs in by
implementing :class:`EscrowOpener` (the service never needs more than :class:`EscrowSealer`).

Cryptography. HPKE (RFC 9180) in base mode from ``cryptography``'s
:mod:`cryptography.hazmat.primitives.hpke`, suite DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
ChaCha20-Poly1305. Every seal uses a fresh ephemeral key, so sealing the same record twice
gives unrelated bytes. ``cryptography`` exposes only HPKE's single-shot API, whose AEAD
associated data is empty; as RFC 9180 §8.1 advises for single-shot use, the caller's
associated data is bound through ``info`` instead, which feeds the key schedule: a different
``info`` derives a different key and the AEAD tag fails. ``info`` is::

    b"realdid/escrow/v1\\x00" || header || SHA-256(associated_data)

where ``header`` is the version and key-id prefix of the sealed bytes (below), so the
header is authenticated too. Use the associated data to tie a record to where it is stored
(for example the root DID and the record id): a record copied to another row will not open.

Sealed bytes, version 1::

    offset   size    field
    0        1       version, 0x01
    1        1       L, length of the key id (1..64)
    2        L       key id, ASCII base64url (see :func:`escrow_key_id`)
    2+L      32      HPKE encapsulated key (the sender's ephemeral X25519 public key)
    34+L     n+16    ChaCha20-Poly1305 ciphertext of the n plaintext bytes, then its tag

The key id says which escrow key sealed a record, so after a key rotation an opener can
pick the right key (:func:`sealed_key_id`) without trial decryption.

Key files are JSON Web Keys (RFC 8037, ``"kty": "OKP", "crv": "X25519"``) with a ``kid``.
The private key file is written with mode 0600 and is *not* encrypted at rest: it is meant
for the trustees' offline machine (or to be split k-of-n), never for the operational server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from realdid.crypto import EncodingError, b64url_decode, b64url_encode, canonicalize

from ._errors import AuthorityError

SEALED_FORMAT_VERSION = 1
KEY_ID_CHARS = 16
"""Length of the key ids this module derives (96 bits of SHA-256, base64url)."""
MAX_PLAINTEXT_BYTES = 64 * 1024
"""Cap on what one seal carries; an escrow record is a few hundred bytes."""

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_INFO_LABEL = b"realdid/escrow/v1\x00"
_ENC_BYTES = 32
_TAG_BYTES = 16
_MAX_KEY_ID_CHARS = 64
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_SEALED_BYTES = 2 + _MAX_KEY_ID_CHARS + _ENC_BYTES + MAX_PLAINTEXT_BYTES + _TAG_BYTES
_MAX_KEY_FILE_BYTES = 4096
_PRIVATE_FILE_MODE = 0o600
_PUBLIC_FILE_MODE = 0o644


# -- errors --------------------------------------------------------------------------------------
class EscrowOpenError(AuthorityError):
    """A sealed record that does not open: tampered, wrong key, wrong associated data,
    unknown format version, or not a record once decrypted. Deliberately not more precise."""

    code = "escrow-open-failed"


class EscrowKeyError(AuthorityError):
    """An escrow key (file or bytes) that is missing, unreadable or malformed."""

    code = "escrow-key-invalid"


class EscrowKeyExistsError(EscrowKeyError):
    """Refused to save a key over an existing file (keys are never silently replaced)."""

    code = "escrow-key-exists"


# -- interfaces ----------------------------------------------------------------------------------
class EscrowSealer(Protocol):
    """Seals escrow records; all the authority's operational server ever holds."""

    @property
    def key_id(self) -> str:
        """Stable identifier of the escrow public key, written into every sealed record."""
        ...

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes: ...


class EscrowOpener(Protocol):
    """Opens sealed records: the trustees' side (one key today, k-of-n later).

    ``open`` raises :class:`EscrowOpenError` for any record it cannot authenticate.
    """

    @property
    def key_id(self) -> str: ...

    def open(self, sealed: bytes, associated_data: bytes) -> bytes: ...


# -- the sealed format ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SealedEscrow:
    """The parsed fields of sealed bytes (layout in the module docstring)."""

    version: int
    key_id: str
    header: bytes  # version, key-id length and key id: bound into the HPKE info
    payload: bytes  # HPKE output: encapsulated key then AEAD ciphertext and tag

    @classmethod
    def parse(cls, sealed: bytes) -> SealedEscrow:
        """Split sealed bytes into fields; :class:`EscrowOpenError` if malformed."""
        if not isinstance(sealed, bytes | bytearray) or len(sealed) > _MAX_SEALED_BYTES:
            raise EscrowOpenError("sealed escrow record is not bytes of an acceptable size")
        if len(sealed) < 2 or sealed[0] != SEALED_FORMAT_VERSION:
            raise EscrowOpenError("sealed escrow record has an unsupported format version")
        header_end = 2 + sealed[1]
        key_id = bytes(sealed[2:header_end]).decode("ascii", errors="replace")
        if len(sealed) < header_end + _ENC_BYTES + _TAG_BYTES or not _KEY_ID.fullmatch(key_id):
            raise EscrowOpenError("sealed escrow record is truncated or has a malformed key id")
        return cls(
            version=sealed[0],
            key_id=key_id,
            header=bytes(sealed[:header_end]),
            payload=bytes(sealed[header_end:]),
        )


def sealed_key_id(sealed: bytes) -> str:
    """Which escrow key sealed this record (for choosing a key after rotation)."""
    return SealedEscrow.parse(sealed).key_id


def escrow_key_id(public_key_bytes: bytes) -> str:
    """Key id of a raw X25519 public key: base64url SHA-256, first :data:`KEY_ID_CHARS`."""
    return b64url_encode(hashlib.sha256(public_key_bytes).digest())[:KEY_ID_CHARS]


def _header(key_id: str) -> bytes:
    raw = key_id.encode("ascii")
    return bytes([SEALED_FORMAT_VERSION, len(raw)]) + raw


def _info(header: bytes, associated_data: bytes) -> bytes:
    return _INFO_LABEL + header + hashlib.sha256(associated_data).digest()


# -- keys ----------------------------------------------------------------------------------------
class X25519EscrowPublicKey:
    """The escrow public key: an :class:`EscrowSealer`. Immutable, safe to share."""

    __slots__ = ("_key", "_raw", "key_id")

    def __init__(self, key: x25519.X25519PublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id: str = escrow_key_id(self._raw)

    def to_bytes(self) -> bytes:
        """The 32-byte raw X25519 public key (RFC 7748)."""
        return self._raw

    @classmethod
    def from_bytes(cls, raw: bytes) -> X25519EscrowPublicKey:
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise EscrowKeyError("an X25519 escrow public key is 32 bytes")
        return cls(x25519.X25519PublicKey.from_public_bytes(raw))

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            raise ValueError(f"an escrow plaintext is at most {MAX_PLAINTEXT_BYTES} bytes")
        header = _header(self.key_id)
        info = _info(header, associated_data)
        return header + _SUITE.encrypt(plaintext, self._key, info=info)

    def save(self, path: Path | str) -> None:
        """Write a JWK file (mode 0644); refuses to replace an existing file."""
        jwk = {"kty": "OKP", "crv": "X25519", "kid": self.key_id, "x": b64url_encode(self._raw)}
        _write_new_file(Path(path), canonicalize(jwk) + b"\n", _PUBLIC_FILE_MODE)

    @classmethod
    def load(cls, path: Path | str) -> X25519EscrowPublicKey:
        """Read a file written by :meth:`save`; :class:`EscrowKeyError` if unusable.

        A *private* key file is refused: it does not belong where only sealing happens.
        """
        jwk = _read_jwk(Path(path), private=False)
        key = cls.from_bytes(_jwk_bytes(jwk, "x"))
        if jwk["kid"] != key.key_id:
            raise EscrowKeyError("escrow key file's kid does not match its key")
        return key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519EscrowPublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"X25519EscrowPublicKey(key_id={self.key_id!r})"


class X25519EscrowKey:
    """An escrow private key held by the trustees: an :class:`EscrowOpener`."""

    __slots__ = ("_key", "_public")

    def __init__(self, key: x25519.X25519PrivateKey) -> None:
        self._key = key
        self._public = X25519EscrowPublicKey(key.public_key())

    @classmethod
    def generate(cls) -> X25519EscrowKey:
        return cls(x25519.X25519PrivateKey.generate())

    @property
    def key_id(self) -> str:
        return self._public.key_id

    def public(self) -> X25519EscrowPublicKey:
        return self._public

    def open(self, sealed: bytes, associated_data: bytes) -> bytes:
        parsed = SealedEscrow.parse(sealed)
        if parsed.key_id != self.key_id:
            raise EscrowOpenError(
                f"record was sealed to escrow key {parsed.key_id!r}, not {self.key_id!r}"
            )
        try:
            return _SUITE.decrypt(
                parsed.payload, self._key, info=_info(parsed.header, associated_data)
            )
        except (InvalidTag, ValueError) as e:
            raise EscrowOpenError(
                "escrow record failed authentication (tampered, wrong key or wrong associated data)"
            ) from e

    def save(self, path: Path | str) -> None:
        """Write a JWK file, mode 0600, atomically; refuses to replace an existing file."""
        jwk = {
            "kty": "OKP",
            "crv": "X25519",
            "kid": self.key_id,
            "x": b64url_encode(self._public.to_bytes()),
            "d": b64url_encode(self._key.private_bytes_raw()),
        }
        _write_new_file(Path(path), canonicalize(jwk) + b"\n", _PRIVATE_FILE_MODE)

    @classmethod
    def load(cls, path: Path | str) -> X25519EscrowKey:
        """Read a file written by :meth:`save`; :class:`EscrowKeyError` if unusable."""
        jwk = _read_jwk(Path(path), private=True)
        d = _jwk_bytes(jwk, "d")
        key = cls(x25519.X25519PrivateKey.from_private_bytes(d))
        if _jwk_bytes(jwk, "x") != key.public().to_bytes() or jwk["kid"] != key.key_id:
            raise EscrowKeyError("escrow key file's public part or kid does not match its key")
        return key

    def __repr__(self) -> str:  # never the private key
        return f"X25519EscrowKey(key_id={self.key_id!r})"


# -- records -------------------------------------------------------------------------------------
def seal_record(
    sealer: EscrowSealer, record: Mapping[str, str], *, associated_data: bytes
) -> bytes:
    """Seal a flat string-to-string record as canonical JSON (RFC 8785)."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in record.items()):
        raise TypeError("an escrow record maps strings to strings")
    return sealer.seal(canonicalize(dict(record)), associated_data)


def open_record(opener: EscrowOpener, sealed: bytes, *, associated_data: bytes) -> dict[str, str]:
    """Open a record sealed by :func:`seal_record`; :class:`EscrowOpenError` on any failure."""
    plaintext = opener.open(sealed, associated_data)
    try:
        value = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise EscrowOpenError("opened escrow record is not JSON") from e
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise EscrowOpenError("opened escrow record is not an object of strings")
    return value


# -- files ---------------------------------------------------------------------------------------
def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` holding ``data`` with ``mode``, atomically, never replacing a file.

    The data goes to a temporary file in the same directory (created 0600 by mkstemp, so a
    private key is never readable by others, not even briefly), is fsynced, then hard-linked
    to ``path``. ``os.link`` fails if ``path`` exists, where ``os.replace`` would silently
    clobber a file created between an existence check and the rename: the link makes
    "create if absent" a single atomic step. Readers see no file or the complete file.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError as e:
            raise EscrowKeyExistsError(f"{path}: already exists; refusing to overwrite") from e
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_jwk(path: Path, *, private: bool) -> dict[str, Any]:
    kind = "private" if private else "public"
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError as e:
        raise EscrowKeyError(f"{path}: escrow key file not found") from e
    except OSError as e:
        raise EscrowKeyError(f"{path}: cannot read escrow key file ({type(e).__name__})") from e
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise EscrowKeyError(f"{path}: not an escrow {kind} key file (too large)")
    try:
        jwk = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise EscrowKeyError(f"{path}: not an escrow {kind} key file (not JSON)") from e
    expected = {"kty", "crv", "kid", "x", "d"} if private else {"kty", "crv", "kid", "x"}
    if not isinstance(jwk, dict) or set(jwk) != expected:
        if not private and isinstance(jwk, dict) and "d" in jwk:
            raise EscrowKeyError(f"{path}: holds a private key where a public key belongs")
        raise EscrowKeyError(f"{path}: not an escrow {kind} key file (unexpected members)")
    if jwk["kty"] != "OKP" or jwk["crv"] != "X25519" or not isinstance(jwk["kid"], str):
        raise EscrowKeyError(f"{path}: not an X25519 escrow {kind} key file")
    return jwk


def _jwk_bytes(jwk: dict[str, Any], member: str) -> bytes:
    try:
        value = b64url_decode(jwk[member])
    except EncodingError as e:
        raise EscrowKeyError(f"escrow key file member {member!r} is not base64url") from e
    if len(value) != 32:
        raise EscrowKeyError(f"escrow key file member {member!r} is not 32 bytes")
    return value
