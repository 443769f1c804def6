"""Errors of :mod:`realdid.credentials`, split by who is at fault.

``code`` is a short stable identifier that services map onto the RFC 9457 problem
``type``; it never changes once published.
"""

from __future__ import annotations

from realdid.crypto import AlgorithmNotAllowedError as _CryptoAlgorithmNotAllowedError


class CredentialError(Exception):
    """Base of every error raised by :mod:`realdid.credentials`."""

    code = "credential-error"
    http_status = 400  # malformed or unverifiable credentials come from outside

    def diagnostics(self) -> str:
        return f"{self.code}: {self}"


# -- the caller's fault (issuer or holder passed something unusable) ---------------------
class IssuanceError(CredentialError):
    """The issuer asked for a credential that cannot be built (reserved or unknown claims)."""

    code = "invalid-issuance-request"


class PresentationError(CredentialError):
    """The holder asked for a presentation that cannot be built (unknown claim, wrong key)."""

    code = "invalid-presentation-request"


# -- the presenter's fault (bad remote data): raised by ``verify`` -----------------------
class VerificationError(CredentialError):
    """A presentation failed verification. Subclasses say which check failed."""

    code = "verification-failed"


class MalformedSdJwtError(VerificationError):
    """Not parseable as an SD-JWT VC (syntax, size caps, missing or reserved claims)."""

    code = "malformed-sd-jwt"


class AlgorithmNotAllowedError(VerificationError, _CryptoAlgorithmNotAllowedError):
    """A JWS ``alg`` is outside the verifier's :class:`~realdid.crypto.AlgorithmPolicy`.

    The one "algorithm not allowed" error is :class:`realdid.crypto.AlgorithmNotAllowedError`
    (``code`` ``algorithm-not-allowed``), raised by ``AlgorithmPolicy.check``. This is that
    error as a verification failure, not a second definition: it subclasses crypto's class
    and takes its code, so ``except realdid.crypto.AlgorithmNotAllowedError`` catches a refusal from
    either layer, and it is also a :class:`VerificationError` because every failure of
    :func:`~realdid.credentials.verify` must be a :class:`CredentialError` (callers map
    those by class). A single class in crypto cannot be both: crypto sits below
    credentials and cannot know its error root, and re-exporting crypto's class would
    make an algorithm refusal escape ``except CredentialError``.
    """

    code = _CryptoAlgorithmNotAllowedError.code  # the MRO would otherwise pick VerificationError's


class UntrustedIssuerError(VerificationError):
    """The caller's issuer-key resolver does not vouch for this ``iss`` / ``kid``."""

    code = "untrusted-issuer"


class IssuerSignatureError(VerificationError):
    """The issuer-signed JWT's signature does not verify under the resolved key."""

    code = "invalid-issuer-signature"


class ExpiredError(VerificationError):
    """The credential's ``exp`` is not after the verifier's ``now``."""

    code = "expired"


class NotYetValidError(VerificationError):
    """The credential's ``nbf`` or ``iat`` lies after the verifier's ``now``."""

    code = "not-yet-valid"


class DisclosureNotReferencedError(VerificationError):
    """A disclosure's digest appears nowhere in the signed payload (RFC 9901 section 7.1)."""

    code = "disclosure-not-referenced"


class DuplicateDisclosureError(VerificationError):
    """The same disclosure or digest appears twice (RFC 9901 section 7.1)."""

    code = "duplicate-disclosure"


class KeyBindingError(VerificationError):
    """The Key-Binding JWT is missing, malformed or not signed by the ``cnf`` key."""

    code = "invalid-key-binding"


class WrongAudienceError(KeyBindingError):
    """The KB-JWT ``aud`` is not this verifier."""

    code = "wrong-audience"


class WrongNonceError(KeyBindingError):
    """The KB-JWT ``nonce`` is not the one this verifier handed out."""

    code = "wrong-nonce"


class StaleKeyBindingError(KeyBindingError):
    """The KB-JWT ``iat`` is outside the verifier's acceptance window."""

    code = "stale-key-binding"


class SdHashMismatchError(KeyBindingError):
    """The KB-JWT ``sd_hash`` does not cover the SD-JWT it was presented with."""

    code = "sd-hash-mismatch"
