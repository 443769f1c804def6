"""Signed applications to the authority: "the holder of this DID asks for X".

Enrollment, site-proof and business applications are compact JWS objects signed with a
key of the applicant's DID (header ``kid`` = DID URL), so the authority learns, in one
message, both what is asked and that the DID's controller asked for it. The payload binds
the request to one authority (``aud``), one fresh authority-issued nonce (``nonce``,
single use: the authority checks and spends it) and a time (``iat``); the remaining
members are the application's own claims.

The ``typ`` header separates the kinds (RFC 8725 section 3.11 "explicit typing"), so an
enrollment cannot be replayed as a site-proof request or as an OpenID4VCI proof.

Example::

    >>> from realdid.crypto import DEFAULT_POLICY, LocalSigner
    >>> key = LocalSigner.generate()
    >>> jws = sign_application(key, key_id="did:realdid:Qm1#key-1", typ=ENROLLMENT_TYP,
    ...     audience="https://authority.example", nonce="n1", issued_at=100,
    ...     claims={"name": "x"})
    >>> verify_application(jws, typ=ENROLLMENT_TYP, resolve_key=lambda kid: key.public_key,
    ...     expected_audience="https://authority.example", now=110, max_age=300,
    ...     policy=DEFAULT_POLICY).claims
    {'name': 'x'}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from realdid.crypto import AlgorithmPolicy, PublicKey, Signer

from ._errors import (
    CredentialError,
    MalformedSdJwtError,
    VerificationError,
)
from ._jws import CompactJws, JwsError, sign_compact

ENROLLMENT_TYP = "realdid-enrollment+jwt"
SITE_PROOF_TYP = "realdid-site-proof+jwt"
BUSINESS_TYP = "realdid-business+jwt"

#: An application carries a face capture (~350 B) and a few short fields.
MAX_APPLICATION_BYTES = 16 * 1024
_FUTURE_LEEWAY = 60
_RESERVED = frozenset({"aud", "nonce", "iat"})


class ApplicationError(VerificationError):
    """A signed application failed a check; ``code`` says which (stable)."""

    code = "invalid-application"


class ApplicationSignatureError(ApplicationError):
    code = "invalid-application-signature"


class StaleApplicationError(ApplicationError):
    code = "stale-application"


@dataclass(frozen=True, slots=True)
class Application:
    """A verified application: who signed it (DID + key) and what it asks for."""

    did: str
    key_id: str
    nonce: str
    issued_at: int
    claims: dict[str, Any]


def sign_application(
    signer: Signer,
    *,
    key_id: str,
    typ: str,
    audience: str,
    nonce: str,
    issued_at: int,
    claims: Mapping[str, Any],
) -> str:
    reserved = _RESERVED & set(claims)
    if reserved:
        raise CredentialError(f"claims set by the protocol itself: {sorted(reserved)}")
    header = {"alg": signer.public_key.algorithm, "typ": typ, "kid": key_id}
    payload = {"aud": audience, "nonce": nonce, "iat": issued_at, **claims}
    return sign_compact(header, payload, signer)


def verify_application(
    jws: str,
    *,
    typ: str,
    resolve_key: Callable[[str], PublicKey],
    expected_audience: str,
    now: int,
    max_age: int,
    policy: AlgorithmPolicy,
) -> Application:
    """Check form, type, signature (key resolved from ``kid``), audience and age.

    ``resolve_key`` maps the DID URL in ``kid`` to the DID's current key and raises its own
    error when the DID is unknown, deactivated or has no such key. The nonce is returned,
    not checked: only the caller's storage knows whether it issued it and whether it is spent.
    """
    if not isinstance(jws, str) or len(jws) > MAX_APPLICATION_BYTES:
        raise ApplicationError(
            f"an application is a compact JWS of at most {MAX_APPLICATION_BYTES} bytes"
        )
    try:
        application = CompactJws.parse(jws)
    except JwsError as e:
        raise ApplicationError(f"not a compact JWS: {e}") from e
    header, payload = application.header, application.payload
    if header.get("typ") != typ:
        raise ApplicationError(f"JWS typ must be '{typ}'")
    key_id = header.get("kid")
    if not isinstance(key_id, str) or "#" not in key_id or not key_id.startswith("did:"):
        raise ApplicationError("JWS kid must be a DID URL naming the signing key (did:...#key)")
    try:
        application.check_algorithm(policy)
    except JwsError as e:
        # The code the authority has always answered with for a missing alg.
        raise MalformedSdJwtError(str(e)) from e
    key = resolve_key(key_id)
    try:
        application.verify(key, policy)
    except JwsError as e:
        raise ApplicationSignatureError(
            "the application's signature does not verify with the DID's key"
        ) from e
    if payload.get("aud") != expected_audience:
        raise ApplicationError(f"aud must be this authority ('{expected_audience}')")
    nonce = payload.get("nonce")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= 128:
        raise ApplicationError("nonce must be the string the authority issued")
    issued_at = payload.get("iat")
    if not isinstance(issued_at, int) or isinstance(issued_at, bool):
        raise ApplicationError("iat must be an integer NumericDate")
    if issued_at > now + _FUTURE_LEEWAY or issued_at < now - max_age:
        raise StaleApplicationError(f"iat must be within the last {max_age} seconds")
    claims = {k: v for k, v in payload.items() if k not in _RESERVED}
    return Application(key_id.split("#", 1)[0], key_id, nonce, issued_at, claims)
