"""SD-JWT VC: issue, present and verify selectively disclosable credentials.

Implements RFC 9901 (Selective Disclosure for JWTs) with the SD-JWT VC profile
(draft-ietf-oauth-sd-jwt-vc: ``typ: dc+sd-jwt``, ``vct``, ``cnf``, ``status``):

* a disclosure is ``base64url(JSON [salt, name, value])`` (RFC 9901 section 4.2.1);
* its digest is ``base64url(SHA-256(ASCII disclosure))`` and goes into ``_sd`` of the
  issuer-signed payload, with ``_sd_alg: "sha-256"`` (sections 4.1.1, 4.2.3);
* the wire form is ``<issuer JWT>~<disclosure>~...~<KB-JWT or empty>`` (section 4);
* the Key-Binding JWT (``typ: kb+jwt``) carries ``iat``, ``aud``, ``nonce`` and ``sd_hash``
  = the digest of everything up to and including the last ``~`` (section 4.3).

The compact JWS underneath (issuer JWT and KB-JWT) is :mod:`._jws`; its neutral
:class:`~._jws.JwsError` is mapped here onto the SD-JWT errors of :mod:`._errors`.

Example::

    >>> from realdid.crypto import LocalSigner, KeyType, DEFAULT_POLICY
    >>> issuer, holder = LocalSigner.generate(), LocalSigner.generate(KeyType.P256)
    >>> sd_jwt = issue({"given_name": "Li", "verified": True},
    ...     selectively_disclosable={"given_name"}, issuer="did:realdid:a",
    ...     signer=issuer, key_id="did:realdid:a#k1", holder_jwk=holder.public_key.to_jwk(),
    ...     vct="urn:realdid:RealName", issued_at=1000, expires_at=2000,
    ...     salt=lambda: bytes(16), status=None)
    >>> vp = present(sd_jwt, disclose=set(), holder_signer=holder, audience="rp",
    ...     nonce="n", issued_at=1100)
    >>> verify(vp, issuer_keys=lambda iss, kid: issuer.public_key, expected_audience="rp",
    ...     expected_nonce="n", now=1100, max_kb_age=300, policy=DEFAULT_POLICY).claims
    {'verified': True}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from realdid.crypto import (
    AlgorithmPolicy,
    InvalidKeyError,
    PublicKey,
    Signer,
    b64url_encode,
    sha256,
)

from ._errors import (
    DisclosureNotReferencedError,
    DuplicateDisclosureError,
    ExpiredError,
    IssuanceError,
    IssuerSignatureError,
    KeyBindingError,
    MalformedSdJwtError,
    NotYetValidError,
    PresentationError,
    SdHashMismatchError,
    StaleKeyBindingError,
    UntrustedIssuerError,
    WrongAudienceError,
    WrongNonceError,
)
from ._jws import CompactJws, JwsError, decode_json_segment, json_bytes, sign_compact

SD_JWT_VC_TYP = "dc+sd-jwt"
KB_JWT_TYP = "kb+jwt"
SD_ALG = "sha-256"

#: Upper bound on a whole presentation; a RealName credential is ~2 KiB.
MAX_PRESENTATION_BYTES = 64 * 1024
#: Upper bound on disclosures in one presentation (also bounds verification work).
MAX_DISCLOSURES = 100
#: Nesting bound for recursive ``_sd`` processing (RFC 9901 allows nested disclosures).
_MAX_DEPTH = 32
_MIN_SALT_BYTES = 16

# SD-JWT VC section 3.2.2.2: these registered claims MUST NOT be selectively disclosed.
# ``sub`` is never disclosable either: a RealDID credential always names its holder DID.
_NEVER_DISCLOSABLE = frozenset(
    {"iss", "sub", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"}
)
# Names the issuer sets itself; callers may not pass them as subject claims.
#: Seconds a KB-JWT ``iat`` may lie ahead of the verifier's clock.
KB_CLOCK_SKEW = 60
_ISSUER_SET = _NEVER_DISCLOSABLE | {"iat", "_sd", "_sd_alg", "..."}


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """What a verifier learns from a valid presentation.

    ``claims`` holds the always-visible subject claims merged with the disclosed ones;
    the registered JWT/VC claims are lifted into their own fields (``subject`` is ``sub``,
    the holder DID, when the issuer set one).
    """

    issuer: str
    vct: str
    claims: dict[str, Any]
    holder_jwk: dict[str, Any] | None
    status: dict[str, Any] | None
    issued_at: int | None
    expires_at: int
    key_id: str
    key_bound: bool
    disclosed: frozenset[str] = field(default_factory=frozenset)
    subject: str | None = None


# -- issuance -----------------------------------------------------------------------------
def issue(
    claims: Mapping[str, Any],
    *,
    selectively_disclosable: set[str],
    issuer: str,
    signer: Signer,
    key_id: str,
    holder_jwk: Mapping[str, Any],
    vct: str,
    issued_at: int,
    expires_at: int,
    salt: Callable[[], bytes],
    status: Mapping[str, Any] | None,
    subject: str | None = None,
) -> str:
    """Issue an SD-JWT VC; returns ``<issuer JWT>~<disclosure>~...~`` (no KB-JWT).

    ``subject``, when given, becomes the (always visible) ``sub`` claim: the holder's DID.

    Each name in ``selectively_disclosable`` (top-level claims) becomes a disclosure with a
    fresh salt from ``salt()`` (injected so tests are deterministic and production uses a
    CSPRNG; RFC 9901 section 9.3 asks for >= 128 bits). The ``_sd`` digests are sorted so
    their order reveals nothing about claim order (section 4.2.4.1 asks for a shuffle).
    """
    reserved = _ISSUER_SET & set(claims)
    if reserved:
        raise IssuanceError(f"claims set by the issuer itself: {sorted(reserved)}")
    unknown = selectively_disclosable - set(claims)
    if unknown:
        raise IssuanceError(f"selectively disclosable claims not in claims: {sorted(unknown)}")
    if not all(isinstance(k, str) for k in claims):
        raise IssuanceError("claim names must be strings")
    if expires_at <= issued_at:
        raise IssuanceError("expires_at must be after issued_at")
    try:
        holder = PublicKey.from_jwk(holder_jwk)
    except InvalidKeyError as e:
        raise IssuanceError(f"holder_jwk is not a usable public key: {e}") from e

    if subject is not None and (not isinstance(subject, str) or not subject):
        raise IssuanceError("subject must be a non-empty string")

    payload: dict[str, Any] = {
        "iss": issuer,
        "iat": issued_at,
        "exp": expires_at,
        "vct": vct,
        "cnf": {"jwk": holder.to_jwk()},
    }
    if subject is not None:
        payload["sub"] = subject
    if status is not None:
        payload["status"] = dict(status)
    disclosures: list[str] = []
    digests: list[str] = []
    for name, value in claims.items():
        if name not in selectively_disclosable:
            payload[name] = value
            continue
        salt_bytes = salt()
        if len(salt_bytes) < _MIN_SALT_BYTES:
            raise IssuanceError("salt() must return at least 16 bytes")
        disclosure = b64url_encode(json_bytes([b64url_encode(salt_bytes), name, value]))
        disclosures.append(disclosure)
        digests.append(_digest(disclosure))
    if digests:
        payload["_sd"] = sorted(digests)
    payload["_sd_alg"] = SD_ALG

    header = {"alg": signer.public_key.algorithm, "typ": SD_JWT_VC_TYP, "kid": key_id}
    return sign_compact(header, payload, signer) + "~" + "".join(d + "~" for d in disclosures)


# -- presentation ---------------------------------------------------------------------------
def present(
    sd_jwt: str,
    *,
    disclose: set[str],
    holder_signer: Signer,
    audience: str,
    nonce: str,
    issued_at: int,
) -> str:
    """Keep only the disclosures of the top-level claims in ``disclose``; append a KB-JWT.

    The holder checks its key against ``cnf`` first: a KB-JWT from another key would only
    be refused by the verifier, after the holder had already released the claims.
    """
    parts = sd_jwt.split("~")
    if len(parts) < 2 or parts[-1] != "":
        raise PresentationError("expected an SD-JWT ending with '~' and without a KB-JWT")
    jwt, disclosures = parts[0], parts[1:-1]
    try:
        payload = CompactJws.parse(jwt).payload
        cnf = payload.get("cnf")
        bound = PublicKey.from_jwk(cnf["jwk"]) if isinstance(cnf, dict) else None
    except (JwsError, InvalidKeyError, KeyError) as e:
        raise PresentationError(f"not a usable SD-JWT: {e}") from e
    if bound != holder_signer.public_key:
        raise PresentationError("holder_signer does not hold the key in the credential's cnf")
    top_level = payload.get("_sd")
    if not isinstance(top_level, list):
        top_level = []
    available: dict[str, str] = {}
    for disclosure in disclosures:
        try:
            decoded = _decode_disclosure(disclosure)
        except MalformedSdJwtError as e:
            raise PresentationError(str(e)) from e
        if len(decoded) == 3 and _digest(disclosure) in top_level:
            available[decoded[1]] = disclosure
    missing = disclose - set(available)
    if missing:
        raise PresentationError(f"credential has no disclosable claims {sorted(missing)}")
    kept = [d for d in disclosures if d in {available[name] for name in disclose}]
    sd_jwt_part = jwt + "~" + "".join(d + "~" for d in kept)
    kb_header = {"alg": holder_signer.public_key.algorithm, "typ": KB_JWT_TYP}
    kb_payload = {
        "iat": issued_at,
        "aud": audience,
        "nonce": nonce,
        "sd_hash": _digest(sd_jwt_part),
    }
    return sd_jwt_part + sign_compact(kb_header, kb_payload, holder_signer)


# -- verification ---------------------------------------------------------------------------
def verify(
    presentation: str,
    *,
    issuer_keys: Callable[[str, str], PublicKey],
    expected_audience: str,
    expected_nonce: str,
    now: int,
    max_kb_age: int,
    policy: AlgorithmPolicy,
    require_key_binding: bool = True,
) -> VerifiedCredential:
    """Verify an SD-JWT VC presentation (RFC 9901 sections 7.1 and 7.3); raise on failure.

    ``issuer_keys(iss, kid)`` returns the issuer's key or raises :class:`LookupError`; the
    caller decides which issuers it trusts (typically by resolving ``kid`` through the DID
    document of ``iss`` and checking ``iss`` against its trust list).
    """
    if not isinstance(presentation, str) or len(presentation) > MAX_PRESENTATION_BYTES:
        raise MalformedSdJwtError(
            f"presentation must be a string of <= {MAX_PRESENTATION_BYTES} bytes"
        )
    if not presentation.isascii():
        raise MalformedSdJwtError("presentation must be ASCII")
    parts = presentation.split("~")
    if len(parts) < 2:
        raise MalformedSdJwtError("no '~' separator: not an SD-JWT")
    jwt, disclosures, kb_jwt = parts[0], parts[1:-1], parts[-1]
    if len(disclosures) > MAX_DISCLOSURES:
        raise MalformedSdJwtError(f"more than {MAX_DISCLOSURES} disclosures")

    # Section 7.1 step 2: the issuer-signed JWT, with alg checked before any key lookup.
    issuer_jwt = _parse_jws(jwt)
    header, payload = issuer_jwt.header, issuer_jwt.payload
    alg = _checked_alg(issuer_jwt, policy)
    if header.get("typ") != SD_JWT_VC_TYP:
        raise MalformedSdJwtError(f"issuer JWT typ must be {SD_JWT_VC_TYP!r}")
    kid = header.get("kid")
    iss = payload.get("iss")
    vct = payload.get("vct")
    if not isinstance(kid, str) or not isinstance(iss, str) or not isinstance(vct, str):
        raise MalformedSdJwtError("kid, iss and vct must be strings in the signed JWT")
    try:
        issuer_key = issuer_keys(iss, kid)
    except LookupError as e:
        raise UntrustedIssuerError(f"no trusted key for issuer {iss!r} kid {kid!r}") from e
    if issuer_key.algorithm != alg:
        raise IssuerSignatureError(f"alg {alg!r} does not match the issuer key type")
    _verify_jws(issuer_jwt, issuer_key, policy, IssuerSignatureError)

    # Validity window (RFC 7519 section 4.1.4/4.1.5; SD-JWT VC section 3.2.2.2).
    exp = _int_claim(payload, "exp")
    if exp is None:
        raise MalformedSdJwtError("exp is required: RealDID credentials always expire")
    nbf = _int_claim(payload, "nbf")
    iat = _int_claim(payload, "iat")
    if now >= exp:
        raise ExpiredError("credential has expired")
    if (nbf is not None and now < nbf) or (iat is not None and now < iat):
        raise NotYetValidError("credential is not yet valid")

    # Section 7.1 step 3: digests, disclosures and reconstruction of the claims.
    sd_alg = payload.get("_sd_alg", SD_ALG)
    if sd_alg != SD_ALG:
        raise MalformedSdJwtError(f"unsupported _sd_alg {sd_alg!r}")
    by_digest: dict[str, list[Any]] = {}
    for disclosure in disclosures:
        digest = _digest(disclosure)
        if digest in by_digest:
            raise DuplicateDisclosureError("the same disclosure is presented twice")
        by_digest[digest] = _decode_disclosure(disclosure)
    walk = _Reconstruction(by_digest)
    claims = walk.object(payload, depth=0)
    unreferenced = set(by_digest) - walk.used
    if unreferenced:
        raise DisclosureNotReferencedError(
            f"{len(unreferenced)} disclosure(s) not referenced by the signed payload"
        )
    for name in _NEVER_DISCLOSABLE | {"iat"}:
        if name in walk.disclosed_names:
            raise MalformedSdJwtError(f"registered claim {name!r} must not be disclosable")

    cnf = payload.get("cnf")
    holder_jwk: dict[str, Any] | None = None
    if cnf is not None:
        if not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict):
            raise MalformedSdJwtError("cnf must be an object with a jwk member")
        holder_jwk = dict(cnf["jwk"])
    status = payload.get("status")
    if status is not None and not isinstance(status, dict):
        raise MalformedSdJwtError("status must be an object")
    sub = payload.get("sub")
    if sub is not None and not isinstance(sub, str):
        raise MalformedSdJwtError("sub must be a string")

    # Section 7.3: key binding.
    key_bound = False
    if kb_jwt:
        _verify_key_binding(
            kb_jwt,
            holder_jwk=holder_jwk,
            sd_jwt_part=presentation[: len(presentation) - len(kb_jwt)],
            expected_audience=expected_audience,
            expected_nonce=expected_nonce,
            now=now,
            max_kb_age=max_kb_age,
            policy=policy,
        )
        key_bound = True
    elif require_key_binding:
        raise KeyBindingError("key binding required but the presentation has no KB-JWT")

    subject = {
        k: v
        for k, v in claims.items()
        if k not in _NEVER_DISCLOSABLE and k not in {"iat", "_sd_alg"}
    }
    return VerifiedCredential(
        issuer=iss,
        vct=vct,
        claims=subject,
        holder_jwk=holder_jwk,
        status=status,
        issued_at=iat,
        expires_at=exp,
        key_id=kid,
        key_bound=key_bound,
        disclosed=frozenset(walk.disclosed_names),
        subject=sub,
    )


def _verify_key_binding(
    kb_jwt: str,
    *,
    holder_jwk: dict[str, Any] | None,
    sd_jwt_part: str,
    expected_audience: str,
    expected_nonce: str,
    now: int,
    max_kb_age: int,
    policy: AlgorithmPolicy,
) -> None:
    try:
        kb = CompactJws.parse(kb_jwt)
    except JwsError as e:
        raise KeyBindingError(f"KB-JWT: {e}") from e
    header, payload = kb.header, kb.payload
    alg = _checked_alg(kb, policy)
    if header.get("typ") != KB_JWT_TYP:
        raise KeyBindingError(f"KB-JWT typ must be {KB_JWT_TYP!r}")
    if holder_jwk is None:
        raise KeyBindingError("KB-JWT present but the credential has no cnf key")
    try:
        holder_key = PublicKey.from_jwk(holder_jwk)
    except InvalidKeyError as e:
        raise MalformedSdJwtError(f"cnf.jwk is not a usable public key: {e}") from e
    if holder_key.algorithm != alg:
        raise KeyBindingError(f"KB-JWT alg {alg!r} does not match the cnf key type")
    _verify_jws(kb, holder_key, policy, KeyBindingError)
    # Only after the signature: the claims (RFC 9901 section 7.3 step 5).
    if payload.get("aud") != expected_audience:
        raise WrongAudienceError("KB-JWT is addressed to another audience")
    if payload.get("nonce") != expected_nonce:
        raise WrongNonceError("KB-JWT nonce is not the expected one")
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise KeyBindingError("KB-JWT iat must be an integer")
    # A holder's clock may run a little ahead of the verifier's (the same tolerance as
    # OpenID4VCI key proofs); a KB-JWT from further in the future is refused.
    if iat > now + KB_CLOCK_SKEW or now - iat > max_kb_age:
        raise StaleKeyBindingError("KB-JWT iat is outside the accepted window")
    if payload.get("sd_hash") != _digest(sd_jwt_part):
        raise SdHashMismatchError("KB-JWT sd_hash does not match the presented SD-JWT")


class _Reconstruction:
    """Replaces ``_sd`` digests with disclosed claims (RFC 9901 section 7.1 step 3)."""

    def __init__(self, by_digest: dict[str, list[Any]]) -> None:
        self.by_digest = by_digest
        self.used: set[str] = set()
        self.seen: set[str] = set()
        self.disclosed_names: set[str] = set()

    def _mark(self, digest: Any) -> None:
        if not isinstance(digest, str):
            raise MalformedSdJwtError("digests must be strings")
        if digest in self.seen:
            raise DuplicateDisclosureError("a digest appears more than once in the payload")
        self.seen.add(digest)

    def value(self, value: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise MalformedSdJwtError("claims nested too deeply")
        if isinstance(value, dict):
            return self.object(value, depth)
        if isinstance(value, list):
            return self.array(value, depth)
        return value

    def object(self, obj: dict[str, Any], depth: int) -> dict[str, Any]:
        out = {k: self.value(v, depth + 1) for k, v in obj.items() if k not in ("_sd", "_sd_alg")}
        if depth == 0 and "_sd_alg" in obj:
            out["_sd_alg"] = obj["_sd_alg"]
        digests = obj.get("_sd", [])
        if not isinstance(digests, list):
            raise MalformedSdJwtError("_sd must be an array")
        for digest in digests:
            self._mark(digest)
            disclosure = self.by_digest.get(digest)
            if disclosure is None:
                continue  # undisclosed claim or decoy
            if len(disclosure) != 3:
                raise MalformedSdJwtError("array-element disclosure referenced from an object")
            _, name, claim_value = disclosure
            if name in out:
                raise MalformedSdJwtError(f"disclosed claim {name!r} already present")
            self.used.add(digest)
            if depth == 0:
                self.disclosed_names.add(name)
            out[name] = self.value(claim_value, depth + 1)
        return out

    def array(self, items: list[Any], depth: int) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, dict) and set(item) == {"..."}:
                digest = item["..."]
                self._mark(digest)
                disclosure = self.by_digest.get(digest)
                if disclosure is None:
                    continue
                if len(disclosure) != 2:
                    raise MalformedSdJwtError("object-property disclosure referenced from an array")
                self.used.add(digest)
                out.append(self.value(disclosure[1], depth + 1))
            else:
                out.append(self.value(item, depth + 1))
        return out


# -- JOSE plumbing: JwsError mapped onto the SD-JWT errors -----------------------------------
def _digest(text: str) -> str:
    return b64url_encode(sha256(text.encode("ascii")))


def _decode_disclosure(disclosure: str) -> list[Any]:
    try:
        decoded = decode_json_segment(disclosure, "disclosure")
    except JwsError as e:
        raise MalformedSdJwtError(str(e)) from e
    if not isinstance(decoded, list) or len(decoded) not in (2, 3):
        raise MalformedSdJwtError("disclosure must be a JSON array of 2 or 3 elements")
    if not isinstance(decoded[0], str):
        raise MalformedSdJwtError("disclosure salt must be a string")
    if len(decoded) == 3:
        name = decoded[1]
        if not isinstance(name, str) or name in ("_sd", "...", "_sd_alg"):
            raise MalformedSdJwtError("disclosure claim name is missing or reserved")
    return decoded


def _parse_jws(jwt: str) -> CompactJws:
    try:
        return CompactJws.parse(jwt)
    except JwsError as e:
        raise MalformedSdJwtError(str(e)) from e


def _checked_alg(jws: CompactJws, policy: AlgorithmPolicy) -> str:
    try:
        return jws.check_algorithm(policy)
    except JwsError as e:
        raise MalformedSdJwtError(str(e)) from e


def _verify_jws(
    jws: CompactJws,
    key: PublicKey,
    policy: AlgorithmPolicy,
    failure: type[IssuerSignatureError] | type[KeyBindingError],
) -> None:
    try:
        jws.verify(key, policy)
    except JwsError as e:
        raise failure(str(e)) from e


def _int_claim(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedSdJwtError(f"{name} must be an integer NumericDate")
    return value
