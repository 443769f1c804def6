"""OpenID for Verifiable Presentations 1.0: the wire messages of RealDID's login profile.

Pure (no HTTP, no storage); the relying-party SDK and the wallet both use it. The profile
(ADR 0012) is the one a national deployment needs and nothing more:

* request by reference: ``openid4vp://?client_id=...&request_uri=...`` (section 5.7); the
  wallet fetches a signed request object (RFC 9101, ``typ: oauth-authz-req+jwt``, section 5.10);
* client identifier prefix ``decentralized_identifier:`` (section 5.9.3): the request object
  is signed with a key of the RP's DID and ``kid`` is a DID URL of that DID;
* DCQL (section 6) with ``dc+sd-jwt`` credential queries: ``meta.vct_values`` and top-level
  claim paths only (RealDID credentials have no nested claims);
* ``verifier_info`` (section 5.1) carrying the RP's registration credential;
* response mode ``direct_post`` (section 8.2): form-encoded ``vp_token`` (a JSON object from
  credential query id to an array of presentations, section 8.1) and ``state``, or an error
  response (section 8.5).

Example::

    >>> from realdid.crypto import DEFAULT_POLICY, LocalSigner
    >>> rp = LocalSigner.generate()
    >>> did = "did:realdid:QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
    >>> query = DcqlQuery((CredentialQuery("site", ("urn:realdid:SiteProof",),
    ...     ("verified_person",)),))
    >>> request = AuthorizationRequest(client_id=CLIENT_ID_PREFIX + did,
    ...     response_uri="https://forum.example/oid4vp/responses", nonce="n-1",
    ...     state="s-1", dcql_query=query, verifier_info=(), client_name="Forum",
    ...     issued_at=1_000, expires_at=1_300)
    >>> jws = sign_request_object(request, signer=rp, key_id=did + "#key-1")
    >>> verify_request_object(jws, resolve_key=lambda kid: rp.public_key, now=1_010,
    ...     policy=DEFAULT_POLICY).client_did == did
    True
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from realdid import ijson
from realdid.crypto import AlgorithmPolicy, PublicKey, Signer
from realdid.did import Did, DidError

from ._errors import AlgorithmNotAllowedError, CredentialError
from ._jws import CompactJws, JwsError, sign_compact
from ._oid4vci import CREDENTIAL_FORMAT, MAX_CLOCK_SKEW
from ._sdjwt import MAX_PRESENTATION_BYTES

CLIENT_ID_PREFIX = "decentralized_identifier:"
REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"
#: Media type of a request object fetched from ``request_uri`` (RFC 9101 section 10.2).
REQUEST_OBJECT_MEDIA_TYPE = "application/oauth-authz-req+jwt"
AUTHORIZATION_SCHEME = "openid4vp"
#: ``aud`` of a request object under static wallet discovery (section 5.8).
SELF_ISSUED_AUDIENCE = "https://self-issued.me/v2"
RESPONSE_MODE = "direct_post"

#: Caps on attacker-supplied input, checked before any parsing.
MAX_REQUEST_OBJECT_BYTES = 32 * 1024
MAX_VP_TOKEN_BYTES = 4 * MAX_PRESENTATION_BYTES
MAX_CREDENTIAL_QUERIES = 4
MAX_CLAIMS_PER_QUERY = 32
MAX_REQUEST_LIFETIME = 3600
_MAX_TEXT = 512
_MAX_URL = 2048
_QUERY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # section 6.1: alphanumeric, underscore, hyphen
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_FRAGMENT = re.compile(r"[A-Za-z0-9_-]{1,50}")
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")  # read as IPv4 by HTTP clients


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


class Oid4vpError(CredentialError):
    """A malformed or unacceptable OpenID4VP message; ``error`` is the section 8.5 code."""

    code = "oid4vp-error"

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def diagnostics(self) -> str:
        return f"{self.error}: {self.description}"


def _invalid(description: str) -> Oid4vpError:
    return Oid4vpError("invalid_request", description)


def _text(value: Any, what: str, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise _invalid(f"{what} must be a string of 1 to {limit} characters")
    return value


def _integer(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f"{what} must be an integer NumericDate")
    return value


def _https_or_loopback(url: str, what: str) -> str:
    if _ASCII_CONTROL.search(url):
        # urlsplit keeps them, but no HTTP client can request such a URL (httpx raises
        # InvalidURL, not an HTTP error): refused here, where the URL comes in.
        raise _invalid(f"{what} is not a URL: it contains a control character")
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError for a port that is not a number in 0-65535
    except ValueError as e:  # e.g. an unbalanced "[" in the host: hostile, not a crash
        raise _invalid(f"{what} is not a URL") from e
    if _IPV4_STYLE.fullmatch(parts.hostname or "") and not _is_ipv4(parts.hostname or ""):
        raise _invalid(f"{what} is not a URL: its host is not an IPv4 address")
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1", "::1"}
    )
    if not secure or not parts.netloc or parts.fragment:
        raise _invalid(f"{what} must be an https URL (http only for localhost)")
    return url


# -- DCQL (section 6) -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CredentialQuery:
    """One ``dc+sd-jwt`` credential query: which credential types, which top-level claims."""

    id: str
    vct_values: tuple[str, ...]
    claims: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "format": CREDENTIAL_FORMAT,
            "meta": {"vct_values": list(self.vct_values)},
            "claims": [{"path": [name]} for name in self.claims],
        }

    @classmethod
    def from_dict(cls, item: Any) -> CredentialQuery:
        """Parse one credential query; what this profile does not support is ``invalid_request``."""
        return _credential_query(item)


@dataclass(frozen=True, slots=True)
class DcqlQuery:
    credentials: tuple[CredentialQuery, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"credentials": [c.to_dict() for c in self.credentials]}

    @classmethod
    def from_dict(cls, value: Any) -> DcqlQuery:
        """Parse a DCQL query; what this profile does not support is ``invalid_request``."""
        return _dcql_query(value)


def _dcql_query(value: Any) -> DcqlQuery:
    if not isinstance(value, dict) or not isinstance(value.get("credentials"), list):
        raise _invalid("dcql_query must be an object with a credentials array")
    if set(value) - {"credentials"}:
        raise _invalid("dcql_query: credential_sets are not supported by this wallet")
    items = value["credentials"]
    if not 0 < len(items) <= MAX_CREDENTIAL_QUERIES:
        raise _invalid(f"dcql_query must hold 1 to {MAX_CREDENTIAL_QUERIES} credential queries")
    queries = tuple(_credential_query(item) for item in items)
    if len({q.id for q in queries}) != len(queries):
        raise _invalid("dcql_query credential query ids must be unique")
    return DcqlQuery(queries)


def _credential_query(item: Any) -> CredentialQuery:
    if not isinstance(item, dict):
        raise _invalid("each credential query must be an object")
    unsupported = set(item) - {
        "id",
        "format",
        "meta",
        "claims",
        "multiple",
        "require_cryptographic_holder_binding",
    }
    if unsupported:
        raise _invalid(f"credential query members not supported: {sorted(unsupported)}")
    query_id = item.get("id")
    if not isinstance(query_id, str) or not _QUERY_ID.fullmatch(query_id):
        raise _invalid("credential query id must be 1-64 of [A-Za-z0-9_-]")
    if item.get("format") != CREDENTIAL_FORMAT:
        raise _invalid(f"credential query format must be {CREDENTIAL_FORMAT!r}")
    if item.get("multiple", False) is not False:
        raise _invalid("multiple credentials per query are not supported")
    if item.get("require_cryptographic_holder_binding", True) is not True:
        raise _invalid("RealDID presentations are always holder-bound")
    meta = item.get("meta")
    vct_values = meta.get("vct_values") if isinstance(meta, dict) else None
    if (
        not isinstance(vct_values, list)
        or not 0 < len(vct_values) <= 8
        or not all(isinstance(v, str) and 0 < len(v) <= 256 for v in vct_values)
    ):
        raise _invalid("credential query meta.vct_values must list 1 to 8 type identifiers")
    claims = item.get("claims", [])
    if not isinstance(claims, list) or len(claims) > MAX_CLAIMS_PER_QUERY:
        raise _invalid(f"credential query claims must be an array of <= {MAX_CLAIMS_PER_QUERY}")
    names: list[str] = []
    for claim in claims:
        path = claim.get("path") if isinstance(claim, dict) else None
        if set(claim if isinstance(claim, dict) else {}) - {"path", "id"}:
            raise _invalid("claim queries with values or ids are not supported")
        if (
            not isinstance(path, list)
            or len(path) != 1
            or not isinstance(path[0], str)
            or not _CLAIM_NAME.fullmatch(path[0])
        ):
            raise _invalid(
                "claim paths must name one top-level claim, e.g. {'path': ['age_over_18']}"
            )
        if path[0] in names:
            raise _invalid(f"claim {path[0]!r} is requested twice")
        names.append(path[0])
    return CredentialQuery(query_id, tuple(vct_values), tuple(names))


# -- the request object (sections 5, 5.9.3, 5.10) ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client_id: str
    response_uri: str
    nonce: str
    state: str
    dcql_query: DcqlQuery
    verifier_info: tuple[Mapping[str, Any], ...]
    client_name: str | None
    issued_at: int
    expires_at: int

    @property
    def client_did(self) -> str:
        """The RP's DID: the client identifier without its prefix."""
        return self.client_id.removeprefix(CLIENT_ID_PREFIX)

    def registration(self) -> str | None:
        """The RP registration SD-JWT from ``verifier_info``, if the RP sent one."""
        for info in self.verifier_info:
            if info.get("format") == CREDENTIAL_FORMAT and isinstance(info.get("data"), str):
                return str(info["data"])
        return None


def client_id_for(did: str) -> str:
    """The ``decentralized_identifier:`` client identifier of an RP's DID."""
    try:
        Did.parse(did)
    except DidError as e:
        raise _invalid(f"client DID is not a did:realdid DID: {e}") from e
    return CLIENT_ID_PREFIX + did


def sign_request_object(request: AuthorizationRequest, *, signer: Signer, key_id: str) -> str:
    """The signed request object the RP serves at its ``request_uri``."""
    if key_id.partition("#")[0] != request.client_did:
        raise _invalid("the request object must be signed with a key of the client's DID")
    header = {"alg": signer.public_key.algorithm, "typ": REQUEST_OBJECT_TYP, "kid": key_id}
    payload: dict[str, Any] = {
        "iss": request.client_id,
        "aud": SELF_ISSUED_AUDIENCE,
        "client_id": request.client_id,
        "response_type": "vp_token",
        "response_mode": RESPONSE_MODE,
        "response_uri": request.response_uri,
        "nonce": request.nonce,
        "state": request.state,
        "dcql_query": request.dcql_query.to_dict(),
        "client_metadata": {
            "vp_formats_supported": {
                CREDENTIAL_FORMAT: {
                    "sd-jwt_alg_values": ["ES256", "EdDSA"],
                    "kb-jwt_alg_values": ["ES256", "EdDSA"],
                }
            }
        },
        "iat": request.issued_at,
        "exp": request.expires_at,
    }
    if request.client_name is not None:
        payload["client_metadata"]["client_name"] = request.client_name
    if request.verifier_info:
        payload["verifier_info"] = [dict(v) for v in request.verifier_info]
    return sign_compact(header, payload, signer)


def verify_request_object(
    jws: str,
    *,
    resolve_key: Callable[[str], PublicKey],
    now: int,
    policy: AlgorithmPolicy,
    expected_client_id: str | None = None,
) -> AuthorizationRequest:
    """Check a request object's signature against the RP's DID and parse it; raise on failure.

    ``resolve_key(kid)`` returns the key of that DID URL from the RP's current DID document
    or raises :class:`LookupError` / :class:`CredentialError`. ``expected_client_id`` is the
    ``client_id`` of the ``openid4vp://`` URL, which must match the signed one (section 5.10).
    """
    if (
        not isinstance(jws, str)
        or not 0 < len(jws) <= MAX_REQUEST_OBJECT_BYTES
        or not jws.isascii()
    ):
        raise _invalid(
            f"request object must be an ASCII JWT of <= {MAX_REQUEST_OBJECT_BYTES} bytes"
        )
    try:
        compact = CompactJws.parse(jws)
        alg = compact.check_algorithm(policy)
    except (JwsError, AlgorithmNotAllowedError) as e:
        raise _invalid(f"request object: {e}") from e
    header, payload = compact.header, compact.payload
    if header.get("typ") != REQUEST_OBJECT_TYP:
        raise _invalid(f"request object typ must be {REQUEST_OBJECT_TYP}")
    client_id = _text(payload.get("client_id"), "client_id")
    if not client_id.startswith(CLIENT_ID_PREFIX):
        # OpenID4VP 1.0 section 8.5: "The Wallet does not support the Client Identifier
        # Prefix passed in the Authorization Request" is an invalid_request.
        raise _invalid(f"only the {CLIENT_ID_PREFIX!r} client identifier prefix is supported")
    did = client_id.removeprefix(CLIENT_ID_PREFIX)
    client_id_for(did)
    if expected_client_id is not None and expected_client_id != client_id:
        raise Oid4vpError("invalid_client", "client_id differs from the signed request object's")
    kid = header.get("kid")
    did_of_kid, sep, fragment = kid.partition("#") if isinstance(kid, str) else ("", "", "")
    if not sep or did_of_kid != did or not _FRAGMENT.fullmatch(fragment):
        raise Oid4vpError("invalid_client", "kid must be a DID URL of the client's DID")
    try:
        key = resolve_key(str(kid))
    except (LookupError, CredentialError) as e:
        raise Oid4vpError(
            "invalid_client", f"the client's key {kid} cannot be resolved: {e}"
        ) from e
    if key.algorithm != alg:
        raise Oid4vpError("invalid_client", f"alg {alg} does not match the key {kid}")
    try:
        compact.verify(key, policy)
    except (JwsError, AlgorithmNotAllowedError) as e:
        raise Oid4vpError("invalid_client", "the request object signature does not verify") from e
    return _request_claims(payload, client_id, now)


def _request_claims(payload: Mapping[str, Any], client_id: str, now: int) -> AuthorizationRequest:
    if payload.get("iss", client_id) != client_id:
        raise _invalid("request object iss must be the client_id")
    if payload.get("aud", SELF_ISSUED_AUDIENCE) != SELF_ISSUED_AUDIENCE:
        raise _invalid(f"request object aud must be {SELF_ISSUED_AUDIENCE}")
    if payload.get("response_type") != "vp_token":
        raise Oid4vpError("unsupported_response_type", "response_type must be vp_token")
    if payload.get("response_mode") != RESPONSE_MODE:
        raise _invalid(f"response_mode must be {RESPONSE_MODE}")
    if "redirect_uri" in payload:
        raise _invalid("redirect_uri must not be present with direct_post (section 8.2)")
    issued_at = _integer(payload.get("iat"), "iat")
    expires_at = _integer(payload.get("exp"), "exp")
    if not issued_at < expires_at <= issued_at + MAX_REQUEST_LIFETIME:
        raise _invalid(f"request lifetime must be 1 to {MAX_REQUEST_LIFETIME} seconds")
    if issued_at > now + MAX_CLOCK_SKEW:
        raise _invalid("request object iat lies in the future")
    if now >= expires_at:
        raise _invalid("the login request has expired: start again on the website")
    metadata = payload.get("client_metadata", {})
    if not isinstance(metadata, dict):
        raise _invalid("client_metadata must be an object")
    name = metadata.get("client_name")
    info = payload.get("verifier_info", [])
    if not isinstance(info, list) or len(info) > 4 or not all(isinstance(i, dict) for i in info):
        raise _invalid("verifier_info must be an array of at most 4 objects")
    return AuthorizationRequest(
        client_id=client_id,
        response_uri=_https_or_loopback(
            _text(payload.get("response_uri"), "response_uri", _MAX_URL), "response_uri"
        ),
        nonce=_text(payload.get("nonce"), "nonce", 256),
        state=_text(payload.get("state"), "state", 256),
        dcql_query=DcqlQuery.from_dict(payload.get("dcql_query")),
        verifier_info=tuple(info),
        client_name=None if name is None else _text(name, "client_name", 256),
        issued_at=issued_at,
        expires_at=expires_at,
    )


# -- the authorization request URL (section 5.7, request by reference) ------------------------------
def authorization_url(client_id: str, request_uri: str) -> str:
    return f"{AUTHORIZATION_SCHEME}://?" + urlencode(
        {"client_id": client_id, "request_uri": request_uri}
    )


def parse_authorization_url(url: str) -> tuple[str, str]:
    """``(client_id, request_uri)`` of an ``openid4vp://`` URL; by-value requests are refused."""
    if not isinstance(url, str) or len(url) > 2 * _MAX_URL:
        raise _invalid("authorization request URL is too long")
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise _invalid("authorization request URL is malformed") from e
    if parts.scheme != AUTHORIZATION_SCHEME:
        raise _invalid(f"not an {AUTHORIZATION_SCHEME}:// URL")
    try:
        pairs = parse_qsl(parts.query, strict_parsing=True, max_num_fields=8)
    except ValueError as e:
        raise _invalid("authorization request URL query is malformed") from e
    params = dict(pairs)
    if len(params) != len(pairs):  # which of two client_ids would the wallet show? neither
        raise _invalid("authorization request URL repeats a parameter")
    if "request" in params or "request_uri" not in params:
        raise _invalid("only requests by reference (request_uri) are supported")
    if params.get("request_uri_method", "get") != "get":
        raise _invalid("only request_uri_method get is supported")
    client_id = _text(params.get("client_id"), "client_id")
    request_uri = _https_or_loopback(
        _text(params["request_uri"], "request_uri", _MAX_URL), "request_uri"
    )
    return client_id, request_uri


# -- the response (sections 8.1, 8.2, 8.5) -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuthorizationResponse:
    """A parsed ``direct_post`` body: presentations by query id, or the wallet's error."""

    state: str
    vp_token: Mapping[str, tuple[str, ...]]
    error: str | None = None
    error_description: str | None = None

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> AuthorizationResponse:
        """Parse a ``direct_post`` body; unknown fields are ignored (RFC 6749 section 3.1)."""
        return _response_from_form(form)


def response_form(presentations: Mapping[str, Sequence[str]], state: str) -> dict[str, str]:
    """The form fields the wallet POSTs to ``response_uri``."""
    token = {query_id: list(values) for query_id, values in presentations.items()}
    return {"vp_token": json.dumps(token, separators=(",", ":")), "state": state}


def error_response_form(error: str, description: str, state: str) -> dict[str, str]:
    return {"error": error, "error_description": description, "state": state}


def _response_from_form(form: Mapping[str, str]) -> AuthorizationResponse:
    state = _text(form.get("state"), "state", 256)
    if "error" in form:
        error = form["error"]
        if not isinstance(error, str) or not _ERROR_CODE.fullmatch(error):
            raise _invalid("error must be an OAuth error code")
        description = form.get("error_description")
        if description is not None:
            description = _text(description, "error_description")
        return AuthorizationResponse(state, {}, error, description)
    raw = form.get("vp_token")
    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_VP_TOKEN_BYTES:
        raise _invalid(f"vp_token must be a JSON object of <= {MAX_VP_TOKEN_BYTES} bytes")
    try:
        token = ijson.loads(raw)
    except ijson.IJsonError as e:
        raise _invalid(f"vp_token is not JSON: {e}") from e
    if not isinstance(token, dict) or not 0 < len(token) <= MAX_CREDENTIAL_QUERIES:
        raise _invalid("vp_token must be an object keyed by credential query id")
    parsed: dict[str, tuple[str, ...]] = {}
    for query_id, values in token.items():
        if not _QUERY_ID.fullmatch(query_id):
            raise _invalid("vp_token keys must be credential query ids")
        if (
            not isinstance(values, list)
            or len(values) != 1
            or not all(isinstance(v, str) for v in values)
        ):
            raise _invalid("each vp_token entry must be an array with one presentation")
        parsed[query_id] = tuple(values)
    return AuthorizationResponse(state, parsed)
