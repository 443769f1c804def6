"""Reading an SD-JWT VC WITHOUT verifying it, for when the keys are not chosen yet.

Some readers must look inside a credential before they can verify it, or hold one they
verified earlier: a relying party reads its own registration credential at start-up
(wallets verify it, ADR 0012), a wallet reads ``vct``, ``exp`` and ``cnf`` of credentials
it verified on receipt. :func:`peek_sd_jwt_unverified` is the one parser for that: strict
base64url and JSON as in :mod:`._jws`, typed fields, :class:`MalformedSdJwtError` on
anything unreadable. Nothing it returns is vouched for by anyone: no signature, digest,
expiry or key binding is checked. Anything that decides whom to trust or what to release
must use :func:`~realdid.credentials.verify`. Example::

    >>> from realdid.crypto import LocalSigner
    >>> from realdid.credentials import issue
    >>> signer = LocalSigner.generate()
    >>> sd_jwt = issue({"rp_name": "Forum"}, selectively_disclosable={"rp_name"},
    ...     issuer="did:realdid:a", signer=signer, key_id="did:realdid:a#k1",
    ...     holder_jwk=signer.public_key.to_jwk(), vct="urn:realdid:RpRegistration",
    ...     issued_at=1000, expires_at=2000, salt=lambda: bytes(16), status=None)
    >>> peeked = peek_sd_jwt_unverified(sd_jwt)
    >>> peeked.vct, peeked.claims, sorted(peeked.disclosable)
    ('urn:realdid:RpRegistration', {'rp_name': 'Forum'}, ['rp_name'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from ._errors import MalformedSdJwtError
from ._jws import CompactJws, JwsError, decode_json_segment

#: Registered JWT / SD-JWT VC members lifted into fields rather than left in ``claims``.
_REGISTERED = frozenset(
    {"iss", "sub", "iat", "nbf", "exp", "cnf", "vct", "vct#integrity", "status", "_sd", "_sd_alg"}
)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class UnverifiedSdJwt:
    """What an SD-JWT VC says about itself. UNVERIFIED: nobody vouches for any of it.

    ``claims`` are the always-visible subject claims together with the top-level claims of
    the attached disclosures (a visible claim wins over a disclosure of the same name);
    ``disclosable`` names those disclosures.
    """

    issuer: str | None
    vct: str | None
    subject: str | None
    issued_at: int | None
    expires_at: int | None
    holder_jwk: dict[str, Any] | None
    status: dict[str, Any] | None
    claims: dict[str, Any]
    disclosable: frozenset[str]


def peek_sd_jwt_unverified(sd_jwt: str) -> UnverifiedSdJwt:
    """Decode ``<issuer JWT>~<disclosure>~...`` WITHOUT verifying anything; see the module."""
    if not isinstance(sd_jwt, str) or not sd_jwt.isascii():
        raise MalformedSdJwtError("an SD-JWT is an ASCII string")
    jwt, *rest = sd_jwt.split("~")
    try:
        payload = CompactJws.parse(jwt).payload
        decoded = [decode_json_segment(part, "disclosure") for part in rest[:-1] if part]
    except JwsError as e:
        raise MalformedSdJwtError(str(e)) from e
    claims = {k: v for k, v in payload.items() if k not in _REGISTERED}
    disclosable: set[str] = set()
    for disclosure in decoded:
        if isinstance(disclosure, list) and len(disclosure) == 3:
            name = disclosure[1]
            if not isinstance(name, str) or name in _REGISTERED or name == "...":
                raise MalformedSdJwtError("disclosure claim name is missing or reserved")
            disclosable.add(name)
            claims.setdefault(name, disclosure[2])
    cnf = payload.get("cnf")
    if cnf is not None and (not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict)):
        raise MalformedSdJwtError("cnf must be an object with a jwk member")
    return UnverifiedSdJwt(
        issuer=_optional(payload, "iss", str),
        vct=_optional(payload, "vct", str),
        subject=_optional(payload, "sub", str),
        issued_at=_optional_int(payload, "iat"),
        expires_at=_optional_int(payload, "exp"),
        holder_jwk=dict(cnf["jwk"]) if cnf is not None else None,
        status=_optional(payload, "status", dict),
        claims=claims,
        disclosable=frozenset(disclosable),
    )


def _optional(payload: dict[str, Any], name: str, kind: type[_T]) -> _T | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, kind):
        raise MalformedSdJwtError(f"{name} must be a {kind.__name__}")
    return value


def _optional_int(payload: dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise MalformedSdJwtError(f"{name} must be an integer NumericDate")
    return value
