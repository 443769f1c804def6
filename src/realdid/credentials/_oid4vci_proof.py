"""OpenID4VCI 1.0 key proofs: the ``jwt`` proof type of Appendix F.1, checked as in F.4.

The wallet signs a proof with :func:`make_proof_jwt` over the key of its DID that the
credential is to be bound to; the issuer checks it with :func:`verify_proof_jwt`, which
resolves ``kid`` (a ``did:realdid`` DID URL) through the caller's resolver and answers
every failure with the ``invalid_proof`` :class:`~realdid.credentials.Oid4vciError` of
section 8.3.1.2. Whether ``nonce`` is a live ``c_nonce`` only the issuer's storage knows,
so it is returned, not checked. Example::

    >>> from realdid.crypto import DEFAULT_POLICY, LocalSigner
    >>> wallet = LocalSigner.generate()
    >>> kid = "did:realdid:QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG#key-1"
    >>> jwt = make_proof_jwt(wallet, key_id=kid, audience="https://id.example",
    ...     nonce="n-1", issued_at=1_000)
    >>> verify_proof_jwt(jwt, resolve_key=lambda k: wallet.public_key,
    ...     expected_audience="https://id.example", now=1_010, max_age=300,
    ...     policy=DEFAULT_POLICY).nonce
    'n-1'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from realdid.crypto import AlgorithmPolicy, PublicKey, Signer
from realdid.did import Did, DidError

from ._errors import AlgorithmNotAllowedError, CredentialError
from ._jws import CompactJws, JwsError, sign_compact
from ._oid4vci import MAX_CLOCK_SKEW, MAX_PROOF_JWT_BYTES, MAX_TOKEN_LENGTH, Oid4vciError

PROOF_JWT_TYP = "openid4vci-proof+jwt"
_FRAGMENT = re.compile(r"[A-Za-z0-9_-]{1,50}")  # key ids of realdid.did documents


# -- the verified proof -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProofOfPossession:
    """A verified ``jwt`` key proof. The caller checks ``nonce`` is a fresh c_nonce it issued."""

    key_id: str
    public_key: PublicKey
    nonce: str
    issued_at: int


def make_proof_jwt(
    signer: Signer, *, key_id: str, audience: str, nonce: str, issued_at: int
) -> str:
    """Sign a key proof for the DID key ``key_id`` (a DID URL). No ``iss``: anonymous access."""
    header = {"alg": signer.public_key.algorithm, "typ": PROOF_JWT_TYP, "kid": key_id}
    payload = {"aud": audience, "iat": issued_at, "nonce": nonce}
    return sign_compact(header, payload, signer)


def _invalid_proof(description: str) -> Oid4vciError:
    return Oid4vciError("invalid_proof", description)


def verify_proof_jwt(
    jwt: str,
    *,
    resolve_key: Callable[[str], PublicKey],
    expected_audience: str,
    now: int,
    max_age: int,
    policy: AlgorithmPolicy,
) -> ProofOfPossession:
    """Verify a ``jwt`` key proof (Appendix F.1, checks of Appendix F.4); raise on failure.

    ``resolve_key(kid)`` returns the public key of that DID URL from the holder's current
    DID document, or raises (:class:`Oid4vciError`, another :class:`CredentialError` or
    :class:`LookupError`); every failure is an ``invalid_proof`` :class:`Oid4vciError`.
    """
    if not isinstance(jwt, str) or not 0 < len(jwt) <= MAX_PROOF_JWT_BYTES or not jwt.isascii():
        raise _invalid_proof(f"key proof must be an ASCII JWT of <= {MAX_PROOF_JWT_BYTES} bytes")
    try:
        compact = CompactJws.parse(jwt)
        alg = compact.check_algorithm(policy)  # refuses none and anything outside the policy
    except (JwsError, AlgorithmNotAllowedError) as e:
        raise _invalid_proof(f"key proof: {e}") from e
    header, payload = compact.header, compact.payload
    if header.get("typ") != PROOF_JWT_TYP:
        raise _invalid_proof(f"key proof typ must be {PROOF_JWT_TYP}")
    kid = _proof_kid(header)
    key = _resolve(resolve_key, kid)
    if key.algorithm != alg:
        raise _invalid_proof(f"key proof alg {alg} does not match the key of {kid}")
    try:
        compact.verify(key, policy)
    except (JwsError, AlgorithmNotAllowedError) as e:
        raise _invalid_proof(f"key proof signature does not verify under {kid}") from e
    nonce = _proof_claims(payload, expected_audience=expected_audience, now=now, max_age=max_age)
    return ProofOfPossession(key_id=kid, public_key=key, nonce=nonce, issued_at=payload["iat"])


def _proof_kid(header: Mapping[str, Any]) -> str:
    if "jwk" in header or "x5c" in header:
        raise _invalid_proof("this issuer binds credentials to DIDs: use kid, not jwk or x5c")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise _invalid_proof("key proof needs a kid header naming a did:realdid key")
    did, sep, fragment = kid.partition("#")
    if not sep or not _FRAGMENT.fullmatch(fragment):
        raise _invalid_proof("kid must be a DID URL did:realdid:<suffix>#<key id>")
    try:
        Did.parse(did)
    except DidError as e:
        raise _invalid_proof(f"kid is not a did:realdid DID URL: {e}") from e
    return kid


def _resolve(resolve_key: Callable[[str], PublicKey], kid: str) -> PublicKey:
    try:
        return resolve_key(kid)
    except Oid4vciError:
        raise
    except (CredentialError, LookupError) as e:
        raise _invalid_proof(f"key {kid} cannot be resolved: {e}") from e


def _proof_claims(
    payload: Mapping[str, Any], *, expected_audience: str, now: int, max_age: int
) -> str:
    """Check ``aud``, ``iat``, ``iss`` and ``nonce`` (Appendix F.1); return the nonce."""
    if payload.get("aud") != expected_audience:
        raise _invalid_proof("key proof aud is not this Credential Issuer Identifier")
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _invalid_proof("key proof iat must be an integer NumericDate")
    if iat < now - max_age:
        raise _invalid_proof(f"key proof is older than {max_age} seconds")
    if iat > now + MAX_CLOCK_SKEW:
        raise _invalid_proof("key proof iat lies in the future")
    if "iss" in payload:
        # Appendix F.1: iss MUST be omitted after anonymous pre-authorized access, the only
        # kind of access token this issuer grants.
        raise _invalid_proof("key proof must not carry iss: access was anonymous")
    nonce = payload.get("nonce")
    if nonce is None:
        # Section 8.3.1.2: a proof without a c_nonce is invalid_proof (invalid_nonce is for
        # a c_nonce value the issuer does not accept, which the caller decides).
        raise _invalid_proof("key proof has no nonce: fetch a c_nonce from the nonce endpoint")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_TOKEN_LENGTH:
        raise _invalid_proof("key proof nonce must be a non-empty string")
    return nonce
