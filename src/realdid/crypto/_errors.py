from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by :mod:`realdid.crypto`.

    ``code`` is a short stable identifier that services map onto the RFC 9457 ``type``.
    """

    code = "crypto-error"
    http_status = 400  # bad keys and signatures come from outside

    def diagnostics(self) -> str:
        return str(self)


class InvalidKeyError(CryptoError):
    """A key encoding (JWK or multibase) is malformed or names an unsupported key type."""

    code = "invalid-key"


class AlgorithmNotAllowedError(CryptoError):
    """The algorithm is unknown or not in the caller's allow-list."""

    code = "algorithm-not-allowed"


class InvalidSignatureError(CryptoError):
    """A signature does not verify under the given key."""

    code = "invalid-signature"
