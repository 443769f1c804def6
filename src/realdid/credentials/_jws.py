"""Compact JWS (RFC 7515 section 7.1) over :class:`~realdid.crypto.Signer`, for every JWT here.

SD-JWT VCs, their Key-Binding JWTs, OpenID4VCI key proofs, OpenID4VP request objects,
Status List Tokens and signed applications are all compact JWS; this module is the one
place that builds and checks them. It knows nothing of what the payload means, so its one
error, :class:`JwsError`, is neutral: each caller maps its :attr:`JwsError.code` onto the
error of its own protocol (an SD-JWT verifier onto ``malformed-sd-jwt``, an OpenID4VCI
issuer onto ``invalid_proof``, ...), and the codes callers publish stay theirs. An ``alg``
outside the caller's policy is the one failure every protocol reports alike, so it is
raised as :class:`~realdid.credentials.AlgorithmNotAllowedError` (``algorithm-not-allowed``).

Why JWS is composed here rather than by joserfc: joserfc signs with key objects that hold
the private key in-process, but the authority's key sits behind :class:`Signer` (an HSM or
a remote signer). Compact JWS is two base64url strings and a signature, so it is built
directly over ``Signer.sign``; verification goes through :func:`verify_signature` with the
caller's :class:`AlgorithmPolicy`, the same code path every other RealDID signature uses.

Example::

    >>> from realdid.crypto import DEFAULT_POLICY, LocalSigner
    >>> signer = LocalSigner.generate()
    >>> jws = CompactJws.parse(sign_compact({"alg": "EdDSA"}, {"n": 1}, signer))
    >>> jws.check_algorithm(DEFAULT_POLICY)
    'EdDSA'
    >>> jws.verify(signer.public_key, DEFAULT_POLICY)
    >>> jws.payload
    {'n': 1}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from realdid import ijson
from realdid.crypto import AlgorithmNotAllowedError as _CryptoAlgorithmNotAllowed
from realdid.crypto import (
    AlgorithmPolicy,
    EncodingError,
    PublicKey,
    Signer,
    b64url_decode,
    b64url_encode,
    verify_signature,
)
from realdid.crypto import InvalidSignatureError as _CryptoInvalidSignature

from ._errors import AlgorithmNotAllowedError, CredentialError

#: What went wrong with a JWS, independent of the protocol carrying it.
JwsFailure = Literal["malformed-jws", "invalid-jws-signature"]

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class JwsError(CredentialError):
    """A compact JWS is malformed or its signature does not verify.

    ``code`` is one of :data:`JwsFailure`. Callers translate it into their protocol's error
    before it reaches a service, so no published error code depends on this module.
    """

    code: JwsFailure

    def __init__(self, code: JwsFailure, message: str) -> None:
        super().__init__(message)
        self.code = code


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON, the form signed into JWS segments and SD-JWT disclosures."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_json_segment(text: str, what: str) -> Any:
    """``base64url(JSON)`` -> the JSON value; :class:`JwsError` ``malformed-jws`` if not."""
    try:
        return ijson.loads(b64url_decode(text))
    except (EncodingError, ijson.IJsonError) as e:
        raise JwsError("malformed-jws", f"{what} is not base64url-encoded JSON") from e


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A parsed compact JWS whose signature has not been checked yet.

    ``signing_input`` keeps the received bytes verbatim: the signature is checked over what
    was sent, never over a re-serialisation of ``header`` and ``payload``.
    """

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, jws: str) -> CompactJws:
        """Split and decode ``header.payload.signature``; raise ``malformed-jws`` if unusable."""
        segments = jws.split(".")
        if len(segments) != 3:
            raise JwsError("malformed-jws", "JWT must have three dot-separated segments")
        header = decode_json_segment(segments[0], "JWS header")
        payload = decode_json_segment(segments[1], "JWS payload")
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise JwsError("malformed-jws", "JWS header and payload must be JSON objects")
        if "crit" in header:
            raise JwsError("malformed-jws", "no critical header extensions are understood")
        try:
            signature = b64url_decode(segments[2])
        except EncodingError as e:
            raise JwsError("malformed-jws", "JWS signature is not base64url") from e
        signing_input = (segments[0] + "." + segments[1]).encode("ascii")
        return cls(header, payload, signing_input, signature)

    def check_algorithm(self, policy: AlgorithmPolicy) -> str:
        """The header's ``alg`` if ``policy`` allows it; checked before any key lookup."""
        alg = self.header.get("alg")
        if not isinstance(alg, str):
            raise JwsError("malformed-jws", "JWS header alg missing")
        try:
            policy.check(alg)  # refuses "none" and anything else not explicitly allowed
        except _CryptoAlgorithmNotAllowed as e:
            raise AlgorithmNotAllowedError(str(e)) from e
        return alg

    def verify(self, key: PublicKey, policy: AlgorithmPolicy) -> None:
        """Check the signature under ``key``; raise ``invalid-jws-signature`` if it fails."""
        signature = self.signature
        if key.algorithm == "ES256" and len(signature) == 64:
            # realdid.crypto accepts only low-S ECDSA so ledger operation hashes cannot be
            # malleated. JOSE ES256 (RFC 7518 section 3.4) has no such rule and other
            # implementations (the IETF reference library among them) emit high-S half the
            # time. (r, s) and (r, n - s) verify for the same message and key, so folding to
            # low-S accepts exactly the signatures a JOSE verifier accepts. Nothing here uses
            # the signature bytes as an identifier, so malleability buys an attacker nothing.
            s = int.from_bytes(signature[32:], "big")
            if _P256_ORDER // 2 < s < _P256_ORDER:
                signature = signature[:32] + (_P256_ORDER - s).to_bytes(32, "big")
        try:
            verify_signature(key, self.signing_input, signature, policy=policy)
        except _CryptoAlgorithmNotAllowed as e:
            raise AlgorithmNotAllowedError(str(e)) from e
        except _CryptoInvalidSignature as e:
            raise JwsError("invalid-jws-signature", "JWS signature does not verify") from e


def sign_compact(header: Mapping[str, Any], payload: Mapping[str, Any], signer: Signer) -> str:
    """``base64url(header).base64url(payload).base64url(signature)`` signed by ``signer``."""
    signing_input = b64url_encode(json_bytes(header)) + "." + b64url_encode(json_bytes(payload))
    signature = signer.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)
