"""Public keys, signers and the algorithm allow-list.

All curve arithmetic is done by well-kept libraries: libsodium through PyNaCl (Ed25519),
OpenSSL through ``cryptography`` (P-256) and libsecp256k1 through ``coincurve``
(secp256k1, which enforces low-S signatures so they are not malleable).

Example::

    >>> signer = LocalSigner.generate()
    >>> sig = signer.sign(b"hello")
    >>> verify_signature(signer.public_key, b"hello", sig, policy=DEFAULT_POLICY)
"""

from __future__ import annotations

import enum
import functools
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import coincurve
import nacl.exceptions
import nacl.signing
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._encoding import (
    EncodingError,
    b64url_decode,
    b64url_encode,
    base58btc_decode,
    base58btc_encode,
)
from ._errors import AlgorithmNotAllowedError, InvalidKeyError, InvalidSignatureError


class KeyType(enum.StrEnum):
    """Key types RealDID accepts; the value is the JWK ``crv``."""

    ED25519 = "Ed25519"
    P256 = "P-256"
    SECP256K1 = "secp256k1"

    @property
    def algorithm(self) -> str:
        """The JOSE algorithm name (RFC 8037, RFC 7518, RFC 8812) for this key type."""
        return _ALGORITHMS[self]


_ALGORITHMS = {KeyType.ED25519: "EdDSA", KeyType.P256: "ES256", KeyType.SECP256K1: "ES256K"}

# Multicodec varint prefixes of the Multikey encoding (multiformats table:
# ed25519-pub 0xed, p256-pub 0x1200, secp256k1-pub 0xe7), each followed by the raw key
# (32 bytes for Ed25519, 33-byte compressed SEC1 points for the EC curves).
_MULTICODEC = {
    KeyType.ED25519: b"\xed\x01",
    KeyType.P256: b"\x80\x24",
    KeyType.SECP256K1: b"\xe7\x01",
}
_RAW_LENGTH = {KeyType.ED25519: 32, KeyType.P256: 33, KeyType.SECP256K1: 33}
_SIGNATURE_LENGTH = 64
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A validated public key: Ed25519 raw bytes or a compressed SEC1 EC point."""

    key_type: KeyType
    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != _RAW_LENGTH[self.key_type]:
            raise InvalidKeyError(
                f"{self.key_type} public key must be {_RAW_LENGTH[self.key_type]} bytes"
            )
        _load_verifier(self.key_type, self.raw)  # rejects points not on the curve

    @property
    def algorithm(self) -> str:
        return self.key_type.algorithm

    # -- JWK (RFC 7517 / RFC 8037) -------------------------------------------------------
    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        """Parse a public JWK. Private members (``d``) are refused so secrets never travel."""
        if not isinstance(jwk, Mapping):
            raise InvalidKeyError("JWK must be a JSON object")
        if "d" in jwk:
            raise InvalidKeyError("JWK contains private key material")
        kty, crv = jwk.get("kty"), jwk.get("crv")
        try:
            if kty == "OKP" and crv == "Ed25519":
                return cls(KeyType.ED25519, _jwk_coordinate(jwk, "x", 32))
            if kty == "EC" and crv in ("P-256", "secp256k1"):
                key_type = KeyType(crv)
                x = _jwk_coordinate(jwk, "x", 32)
                y = _jwk_coordinate(jwk, "y", 32)
                return cls(key_type, _compress(key_type, x, y))
        except EncodingError as e:
            raise InvalidKeyError(f"JWK coordinate is not valid base64url: {e}") from e
        raise InvalidKeyError("unsupported JWK key type (want OKP/Ed25519, EC/P-256, EC/secp256k1)")

    def to_jwk(self) -> dict[str, str]:
        if self.key_type is KeyType.ED25519:
            return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(self.raw)}
        x, y = _uncompressed_xy(self.key_type, self.raw)
        return {
            "kty": "EC",
            "crv": self.key_type.value,
            "x": b64url_encode(x),
            "y": b64url_encode(y),
        }

    # -- Multikey publicKeyMultibase --------------------------------------------------------
    @classmethod
    def from_multibase(cls, text: str) -> PublicKey:
        if not isinstance(text, str) or not text.startswith("z"):
            raise InvalidKeyError("publicKeyMultibase must be base58btc ('z' prefix)")
        try:
            data = base58btc_decode(text[1:])
        except EncodingError as e:
            raise InvalidKeyError("publicKeyMultibase is not valid base58btc") from e
        for key_type, prefix in _MULTICODEC.items():
            if data.startswith(prefix):
                return cls(key_type, data[len(prefix) :])
        raise InvalidKeyError("publicKeyMultibase names an unsupported key type")

    def to_multibase(self) -> str:
        return "z" + base58btc_encode(_MULTICODEC[self.key_type] + self.raw)

    # -- verification ---------------------------------------------------------------------
    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise :class:`InvalidSignatureError` unless ``signature`` is valid for ``message``.

        EC signatures are the 64-byte JOSE ``r || s`` form with SHA-256 as the digest, and
        must be low-S (``s <= n/2``): ECDSA's ``(r, n - s)`` twin would otherwise let anyone
        change an operation's hash without its key.
        """
        if len(signature) != _SIGNATURE_LENGTH:
            raise InvalidSignatureError("signature must be 64 bytes")
        verifier = _load_verifier(self.key_type, self.raw)
        if not verifier(message, signature):
            raise InvalidSignatureError("signature does not verify")


def _jwk_coordinate(jwk: Mapping[str, Any], name: str, length: int) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidKeyError(f"JWK member '{name}' missing or not a string")
    data = b64url_decode(value)
    if len(data) != length:
        raise InvalidKeyError(f"JWK member '{name}' must encode {length} bytes")
    return data


def _compress(key_type: KeyType, x: bytes, y: bytes) -> bytes:
    point = b"\x04" + x + y
    try:
        if key_type is KeyType.P256:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            return key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        return bytes(coincurve.PublicKey(point).format(compressed=True))
    except ValueError as e:
        raise InvalidKeyError("JWK point is not on the curve") from e


def _uncompressed_xy(key_type: KeyType, raw: bytes) -> tuple[bytes, bytes]:
    if key_type is KeyType.P256:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    else:
        point = bytes(coincurve.PublicKey(raw).format(compressed=False))
    return point[1:33], point[33:65]


_Verifier = Any  # Callable[[bytes, bytes], bool]; kept loose for the LRU cache below


@functools.lru_cache(maxsize=65536)
def _load_verifier(key_type: KeyType, raw: bytes) -> _Verifier:
    """Load a library key object once; verifying hot keys then skips point decoding."""
    try:
        if key_type is KeyType.ED25519:
            vk = nacl.signing.VerifyKey(raw)

            def ed25519(message: bytes, signature: bytes) -> bool:
                try:
                    vk.verify(message, signature)
                except nacl.exceptions.BadSignatureError:
                    return False
                return True

            return ed25519
        if key_type is KeyType.P256:
            pk = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)

            def p256(message: bytes, signature: bytes) -> bool:
                r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                if s > _P256_ORDER // 2:
                    return False  # high-S twin of a valid signature: refused, as secp256k1 does
                try:
                    pk.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
                except InvalidSignature:
                    return False
                return True

            return p256
        k1 = coincurve.PublicKey(raw)

        def secp256k1(message: bytes, signature: bytes) -> bool:
            try:
                der = cdata_to_der(deserialize_compact(signature))
                return bool(k1.verify(der, message, hasher=_sha256))
            except (ValueError, TypeError):
                return False

        return secp256k1
    except (ValueError, TypeError, nacl.exceptions.CryptoError) as e:
        raise InvalidKeyError(f"not a valid {key_type} public key") from e


def _sha256(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign: an in-process key, an HSM, a remote signing service.

    Implementations return the 64-byte signature of :meth:`PublicKey.verify`.
    """

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, message: bytes) -> bytes: ...


class LocalSigner:
    """A private key held in this process (wallets, tests, the solo ledger's block key)."""

    __slots__ = ("_k1", "_key_type", "_nacl", "_p256", "_public")

    def __init__(self, key_type: KeyType, secret: bytes) -> None:
        if len(secret) != 32:
            raise InvalidKeyError("private key material must be 32 bytes")
        self._key_type = key_type
        self._nacl: nacl.signing.SigningKey | None = None
        self._p256: ec.EllipticCurvePrivateKey | None = None
        self._k1: coincurve.PrivateKey | None = None
        if key_type is KeyType.ED25519:
            self._nacl = nacl.signing.SigningKey(secret)
            raw = bytes(self._nacl.verify_key)
        elif key_type is KeyType.P256:
            scalar = int.from_bytes(secret, "big")
            if not 0 < scalar < _P256_ORDER:
                raise InvalidKeyError("P-256 private scalar out of range")
            self._p256 = ec.derive_private_key(scalar, ec.SECP256R1())
            raw = self._p256.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        else:
            scalar = int.from_bytes(secret, "big")
            if not 0 < scalar < _SECP256K1_ORDER:
                raise InvalidKeyError("secp256k1 private scalar out of range")
            self._k1 = coincurve.PrivateKey(secret)
            raw = bytes(self._k1.public_key.format(compressed=True))
        self._public = PublicKey(key_type, raw)

    @classmethod
    def generate(cls, key_type: KeyType = KeyType.ED25519) -> LocalSigner:
        while True:
            try:
                return cls(key_type, secrets.token_bytes(32))
            except InvalidKeyError:  # scalar out of range: probability ~2^-32 for P-256
                continue

    @property
    def public_key(self) -> PublicKey:
        return self._public

    @property
    def key_type(self) -> KeyType:
        return self._key_type

    def secret_bytes(self) -> bytes:
        """The 32-byte private key, for callers that store it encrypted (wallet, node key)."""
        if self._nacl is not None:
            return bytes(self._nacl.encode())
        if self._p256 is not None:
            return self._p256.private_numbers().private_value.to_bytes(32, "big")
        assert self._k1 is not None
        return bytes(self._k1.secret)

    def sign(self, message: bytes) -> bytes:
        if self._nacl is not None:
            return bytes(self._nacl.sign(message).signature)
        if self._p256 is not None:
            der = self._p256.sign(message, ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            if s > _P256_ORDER // 2:
                s = _P256_ORDER - s  # low-S form, so a signature has exactly one valid encoding
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert self._k1 is not None
        recoverable = self._k1.sign_recoverable(message, hasher=_sha256)
        return bytes(recoverable[:64])


@dataclass(frozen=True, slots=True)
class AlgorithmPolicy:
    """The JOSE algorithms a verifier accepts. Anything else is refused before any math."""

    allowed: frozenset[str]

    def check(self, algorithm: str) -> None:
        if algorithm not in self.allowed:
            raise AlgorithmNotAllowedError(f"algorithm {algorithm!r} is not allowed")


DEFAULT_POLICY = AlgorithmPolicy(frozenset({"EdDSA", "ES256", "ES256K"}))


def verify_signature(
    public_key: PublicKey, message: bytes, signature: bytes, *, policy: AlgorithmPolicy
) -> None:
    """Check the key's algorithm against ``policy``, then the signature; raise on failure."""
    policy.check(public_key.algorithm)
    public_key.verify(message, signature)
