"""Keys, signatures and byte encodings for RealDID.

Thin over PyNaCl (libsodium), ``cryptography`` and ``coincurve``; nothing here does curve
arithmetic by hand. Example::

    >>> from realdid.crypto import LocalSigner, DEFAULT_POLICY, verify_signature
    >>> signer = LocalSigner.generate()
    >>> verify_signature(signer.public_key, b"m", signer.sign(b"m"), policy=DEFAULT_POLICY)
"""

from ._encoding import (
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
from ._errors import AlgorithmNotAllowedError, CryptoError, InvalidKeyError, InvalidSignatureError
from ._keys import (
    DEFAULT_POLICY,
    AlgorithmPolicy,
    KeyType,
    LocalSigner,
    PublicKey,
    Signer,
    verify_signature,
)

__all__ = [
    "DEFAULT_POLICY",
    "AlgorithmNotAllowedError",
    "AlgorithmPolicy",
    "CryptoError",
    "EncodingError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "KeyType",
    "LocalSigner",
    "PublicKey",
    "Signer",
    "b64url_decode",
    "b64url_encode",
    "base58btc_decode",
    "base58btc_encode",
    "canonicalize",
    "is_multihash_b58",
    "multihash_b58",
    "multihash_sha256",
    "sha256",
    "verify_signature",
]
