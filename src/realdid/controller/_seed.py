"""Recovery phrase (BIP-39) and deterministic key derivation for the wallet.

The wallet's every private key is a pure function of one 512-bit BIP-39 seed and a short
derivation path, so the 24-word recovery phrase alone restores all of a citizen's DIDs.

Example::

    >>> from realdid.crypto import KeyType
    >>> phrase = new_mnemonic()
    >>> seed = seed_from_mnemonic(phrase)
    >>> signer = derive_signer(seed, "did/0/update/3", KeyType.ED25519)
    >>> signer.public_key == derive_signer(seed, "did/0/update/3", KeyType.ED25519).public_key
    True
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from mnemonic import Mnemonic

from realdid.crypto import KeyType, LocalSigner

from ._errors import ControllerError

__all__ = [
    "InvalidDerivationPathError",
    "InvalidMnemonicError",
    "derive_signer",
    "new_mnemonic",
    "normalize_mnemonic",
    "seed_from_mnemonic",
    "validate_derivation_path",
]

# BIP-39: ENT bits of entropy plus ENT/32 checksum bits, 11 bits a word. 256 bits -> 24 words.
_ENTROPY_BYTES: Final = 32
_VALID_WORD_COUNTS: Final = (12, 15, 18, 21, 24)
# Longest English word is 8 letters; 24 of them with separators is < 220 characters. The cap
# only bounds the work done on hostile input; it is far above any real phrase.
_MAX_PHRASE_CHARS: Final = 1024
_SEED_BYTES: Final = 64

_HKDF_SALT: Final = b"realdid-wallet-v1"
_SECRET_BYTES: Final = 32
_MAX_PATH_CHARS: Final = 128
# A lowercase purpose first, then segments of [a-z0-9-]. No NUL can occur, which is what
# keeps the rejection-sampling suffix (b"\x00" + counter) outside the path namespace.
_PATH_RE: Final = re.compile(r"[a-z]+(?:/[a-z0-9-]+)*")
# Group orders (SEC 2 section 2.4.1 for secp256k1, FIPS 186-5 / SP 800-186 for P-256).
_CURVE_ORDERS: Final = {
    KeyType.P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    KeyType.SECP256K1: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}
# P(out of range) is about 2**-32 for P-256 and 2**-128 for secp256k1, so 255 retries failing
# in a row cannot happen; the bound only turns an impossible loop into an error.
_MAX_RETRIES: Final = 255

_ENGLISH: Final = Mnemonic("english")
_WORD_INDEX: Final = frozenset(_ENGLISH.wordlist)


class InvalidMnemonicError(ControllerError, ValueError):
    """A recovery phrase is not a valid English BIP-39 mnemonic.

    Messages name the position of a bad word but never the word itself: the phrase is the
    wallet's master secret and error text ends up on screens and in logs.
    """

    code = "invalid-mnemonic"

    def diagnostics(self) -> str:
        return f"{self}; check the recovery phrase and try again"


class InvalidDerivationPathError(ControllerError, ValueError):
    """A derivation path does not match the wallet's path grammar."""

    code = "invalid-derivation-path"

    def diagnostics(self) -> str:
        return str(self)


def new_mnemonic(*, token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """Return a fresh 24-word English BIP-39 phrase (256 bits of entropy).

    ``token_bytes`` exists so tests can pin the entropy (architecture section 10: randomness
    is injected); production callers leave it alone, which uses the OS CSPRNG.
    """
    entropy = token_bytes(_ENTROPY_BYTES)
    if len(entropy) != _ENTROPY_BYTES:
        raise ValueError(f"entropy source returned {len(entropy)} bytes, expected 32")
    phrase: str = _ENGLISH.to_mnemonic(entropy)
    return phrase


def normalize_mnemonic(phrase: str) -> str:
    """NFKD-normalise (BIP-39 "From mnemonic to seed"), lower-case and single-space ``phrase``.

    Raises :class:`InvalidMnemonicError` if the result is not a valid English BIP-39
    mnemonic: wrong word count, a word outside the list (1-based position given), or a bad
    checksum. Every standard length (12 to 24 words) is accepted so phrases from other
    BIP-39 tools can be restored; :func:`new_mnemonic` itself always produces 24 words.
    """
    if not isinstance(phrase, str):
        raise InvalidMnemonicError("recovery phrase must be text")
    if len(phrase) > _MAX_PHRASE_CHARS:
        raise InvalidMnemonicError("recovery phrase is too long")
    words = unicodedata.normalize("NFKD", phrase).lower().split()
    if len(words) not in _VALID_WORD_COUNTS:
        raise InvalidMnemonicError(
            f"wrong word count: got {len(words)}, expected 12, 15, 18, 21 or 24"
        )
    for position, word in enumerate(words, start=1):
        if word not in _WORD_INDEX:
            raise InvalidMnemonicError(f"unknown word at position {position}")
    normalized = " ".join(words)
    if not _ENGLISH.check(normalized):
        raise InvalidMnemonicError("bad checksum: a word is wrong or the order is mixed up")
    return normalized


def seed_from_mnemonic(phrase: str) -> bytes:
    """Validate ``phrase`` and return its 64-byte BIP-39 seed (empty BIP-39 passphrase).

    The wallet's passphrase protects the file at rest (see ``_keystore``); it is deliberately
    not the BIP-39 passphrase, so the written-down phrase alone is a complete backup.
    """
    seed: bytes = Mnemonic.to_seed(normalize_mnemonic(phrase), passphrase="")
    return seed


def validate_derivation_path(path: str) -> str:
    """Return ``path`` unchanged if it is ``purpose(/segment)*`` in ``[a-z0-9-]``, <= 128 chars."""
    if not isinstance(path, str):
        raise InvalidDerivationPathError("derivation path must be text")
    if len(path) > _MAX_PATH_CHARS:
        raise InvalidDerivationPathError(f"derivation path longer than {_MAX_PATH_CHARS} chars")
    # fullmatch, not match(...$): "$" would also accept a trailing newline.
    if _PATH_RE.fullmatch(path) is None:
        raise InvalidDerivationPathError(
            "derivation path must look like 'did/0/update/3' (lowercase a-z, 0-9, '-', '/')"
        )
    return path


def derive_signer(seed: bytes, path: str, key_type: KeyType) -> LocalSigner:
    """Derive the private key at ``path`` from a BIP-39 ``seed``, deterministically.

    Construction: ``HKDF-SHA256(IKM=seed, salt=b"realdid-wallet-v1", info=path, L=32)``
    (RFC 5869). The 32 bytes are the Ed25519 private seed (RFC 8032 section 5.1.5) or, for
    P-256 and secp256k1, the big-endian private scalar.

    Why HKDF and not BIP-32: BIP-32 is defined for secp256k1 only, and Ed25519 has no
    BIP-32 *public* (non-hardened) derivation at all. SLIP-0010 would cover all three curves
    with hardened derivation, but the wallet never derives public keys without the seed (it
    never hands out an xpub), so the tree structure buys nothing. HKDF over a 512-bit,
    uniformly distributed seed is a standard, well-analysed KDF (NIST SP 800-56C) that
    treats every curve the same way, and readable paths give domain separation.

    Out-of-range scalars: an EC private key must be in ``[1, n-1]``. If the HKDF output is
    not, the key is re-derived with ``info = path + b"\\x00" + counter`` (counter = 1, 2,
    ...), i.e. rejection sampling as in FIPS 186-5 appendix A.2.2, rather than reducing
    mod n (which would bias the key). Valid paths never contain NUL, so a retry can never
    collide with the ``info`` of another path. It happens with probability ~2**-32 for
    P-256 and ~2**-128 for secp256k1, never for Ed25519 (any 32 bytes are a valid seed).

    The path is the only domain separator: callers must not use one path for two key
    types (put the key's purpose, and its type if it varies, into the path).
    """
    if not isinstance(seed, bytes) or len(seed) != _SEED_BYTES:
        raise ValueError(f"seed must be the {_SEED_BYTES}-byte BIP-39 seed")
    info = validate_derivation_path(path).encode("utf-8")
    if key_type is KeyType.ED25519:
        return LocalSigner(key_type, _hkdf(seed, info))
    return LocalSigner(key_type, _derive_scalar(seed, info, _CURVE_ORDERS[key_type]))


def _derive_scalar(seed: bytes, info: bytes, order: int) -> bytes:
    """HKDF output as a scalar in ``[1, order-1]``, by rejection sampling (see derive_signer)."""
    for counter in range(_MAX_RETRIES + 1):
        suffix = b"\x00" + bytes([counter]) if counter else b""
        candidate = _hkdf(seed, info + suffix)
        if 0 < int.from_bytes(candidate, "big") < order:
            return candidate
    raise ValueError("could not derive an in-range private scalar")  # unreachable in practice


def _hkdf(seed: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_SECRET_BYTES, salt=_HKDF_SALT, info=info).derive(
        seed
    )
