"""OpenID for Verifiable Credential Issuance 1.0: the wire messages, without HTTP or storage.

RealDID issues ``dc+sd-jwt`` credentials over the Pre-Authorized Code Flow (OpenID4VCI 1.0
section 3, "Pre-Authorized Code Flow") with anonymous access to the token endpoint. Both sides use this module: the
authority builds metadata, offers and responses and checks requests and key proofs; the
wallet parses offers and responses and signs key proofs. Section numbers below are those of
OpenID4VCI 1.0 (final).

1. Discovery. Credential Issuer metadata is served at ``/.well-known/openid-credential-issuer``
   (section 12.2.2) with ``credential_issuer``, ``credential_endpoint``, ``nonce_endpoint``,
   ``display`` and ``credential_configurations_supported`` (section 12.2.4); each
   configuration has ``format: dc+sd-jwt`` and ``vct`` (Appendix A.3), the binding method
   ``did:realdid``, the signing algorithms, ``proof_types_supported.jwt`` and
   ``credential_metadata`` (``display`` and claims descriptions, Appendix B.2). No
   ``authorization_servers`` member: the issuer is its own authorization server, whose RFC
   8414 metadata (``/.well-known/oauth-authorization-server``) announces the
   pre-authorized_code grant and ``pre-authorized_grant_anonymous_access_supported``
   (section 12.3).
2. Offer (section 4.1). ``{"credential_issuer", "credential_configuration_ids", "grants":
   {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code"}}}``, sent
   by value as ``openid-credential-offer://?credential_offer=<url-encoded JSON>``. RealDID
   never asks for a Transaction Code (``tx_code``).
3. Token (section 6). Form-encoded ``grant_type`` + ``pre-authorized_code``; the response is
   an RFC 6749 bearer token with ``expires_in``. Errors are RFC 6749 section 5.2 codes with the
   clarifications of section 6.3.
4. Nonce (section 7). An unauthenticated POST returns ``{"c_nonce": ...}``.
5. Credential (section 8). ``{"credential_configuration_id", "proofs": {"jwt": [...]}}``
   (section 8.2; the singular ``proof`` of earlier drafts is gone in 1.0) answered by
   ``{"credentials": [{"credential": "<SD-JWT VC>"}]}`` (section 8.3). Errors use the codes of
   section 8.3.1.2 (``invalid_credential_request``, ``invalid_proof``, ``invalid_nonce``...).
6. Key proof (Appendix F.1, checks of F.4). A JWS typed ``openid4vci-proof+jwt`` whose ``kid``
   is a ``did:realdid`` DID URL, with ``aud`` = the Credential Issuer Identifier, ``iat`` and
   ``nonce`` = a ``c_nonce``. ``iss`` is omitted because the access token came from anonymous
   pre-authorized access.

Each message is one class in the shape of ADR 0013: ``from_dict``/``to_dict`` for the JSON
bodies (:class:`CredentialOffer`, :class:`TokenResponse`, :class:`NonceResponse`,
:class:`CredentialRequest`, :class:`CredentialResponse`), ``from_form``/``to_form`` for the
form-encoded :class:`TokenRequest`, and ``parse``/``serialize`` for the offer's
``openid-credential-offer://`` URI. Parameters that a section says to ignore when
unrecognised (sections 4.1.1, 6.1, 6.2, 8.2, 8.3) are ignored, the exception ADR 0013 makes
where the spec says so; parameters that are recognised but unsupported here are refused
with the error the spec names for them. Key proofs (item 6) are in :mod:`._oid4vci_proof`.
Example::

    >>> offer = CredentialOffer("https://id.example", ("RealName",), pre_authorized_code="c-1")
    >>> parsed = CredentialOffer.parse(offer.serialize())
    >>> parsed.configuration_ids, parsed.pre_authorized_code
    (('RealName',), 'c-1')
    >>> parsed == offer == CredentialOffer.from_dict(offer.to_dict())
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from realdid import ijson

from ._errors import CredentialError
from ._sdjwt import MAX_PRESENTATION_BYTES

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
CREDENTIAL_OFFER_SCHEME = "openid-credential-offer://"
CREDENTIAL_FORMAT = "dc+sd-jwt"
CREDENTIAL_ISSUER_METADATA_PATH = "/.well-known/openid-credential-issuer"
AUTHORIZATION_SERVER_METADATA_PATH = "/.well-known/oauth-authorization-server"
#: ``cryptographic_binding_methods_supported`` value: a DID method name (section 12.2.4).
DID_BINDING_METHOD = "did:realdid"

#: Caps on attacker-supplied input, checked before any parsing.
MAX_OFFER_BYTES = 8 * 1024
MAX_PROOF_JWT_BYTES = 8 * 1024
MAX_TOKEN_LENGTH = 1024  # pre-authorized codes, access tokens, c_nonce values
MAX_IDENTIFIER_LENGTH = 256  # credential configuration ids, issuer identifiers
MAX_CONFIGURATIONS_PER_OFFER = 16
MAX_CREDENTIALS_PER_RESPONSE = 16
#: Future ``iat`` tolerated in a key proof, for clock skew (security considerations, "Proof replay").
MAX_CLOCK_SKEW = 60

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_STATUS_401 = frozenset({"invalid_token", "invalid_client"})


class Oid4vciError(CredentialError):
    """An OpenID4VCI protocol error carrying the OAuth-style ``error`` code to send back.

    ``http_status`` is the HTTP status for the error response: 401 for ``invalid_token`` (RFC
    6750 section 3.1) and ``invalid_client`` (RFC 6749 section 5.2), 400 otherwise. Errors
    raised while the *wallet* parses something use the local codes
    ``invalid_credential_offer`` and ``invalid_response``, which never go on the wire.
    """

    code = "oid4vci-error"

    def __init__(self, error: str, description: str, *, http_status: int | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.http_status = (
            http_status if http_status is not None else (401 if error in _STATUS_401 else 400)
        )

    def diagnostics(self) -> str:
        return f"{self.error}: {self.description}"

    def to_dict(self) -> dict[str, str]:
        """The error response body (RFC 6749 section 5.2; OpenID4VCI section 8.3.1.2).

        ``error_description`` is restricted to ``%x20-21 / %x23-5B / %x5D-7E``: any other
        character (quote, backslash, non-ASCII) becomes ``?``.
        """
        text = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in self.description)
        return {"error": self.error, "error_description": text}


def _offer_error(description: str) -> Oid4vciError:
    return Oid4vciError("invalid_credential_offer", description)


def _response_error(description: str) -> Oid4vciError:
    return Oid4vciError("invalid_response", description)


def _bounded_string(value: Any, limit: int) -> str | None:
    """``value`` if it is a non-empty string of at most ``limit`` characters, else None."""
    if isinstance(value, str) and 0 < len(value) <= limit:
        return value
    return None


# -- metadata (section 12) ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CredentialConfiguration:
    """One entry of ``credential_configurations_supported`` (a ``dc+sd-jwt`` credential)."""

    id: str
    vct: str
    display_name: str
    claims: tuple[str, ...]
    signing_algs: tuple[str, ...]
    proof_algs: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.id or not self.vct or not self.display_name:
            raise ValueError("id, vct and display_name must be non-empty")
        # Section 12.2.4: both algorithm lists are non-empty arrays when present.
        if not self.signing_algs or not self.proof_algs:
            raise ValueError("signing_algs and proof_algs must be non-empty")
        # Appendix B.3: a repeated claims description aborts processing at the wallet.
        if len(set(self.claims)) != len(self.claims):
            raise ValueError("claims must not repeat a claim name")

    def to_dict(self) -> dict[str, Any]:
        credential_metadata: dict[str, Any] = {"display": [{"name": self.display_name}]}
        if self.claims:
            credential_metadata["claims"] = [{"path": [name]} for name in self.claims]
        return {
            "format": CREDENTIAL_FORMAT,
            "vct": self.vct,
            "cryptographic_binding_methods_supported": [DID_BINDING_METHOD],
            "credential_signing_alg_values_supported": list(self.signing_algs),
            "proof_types_supported": {
                "jwt": {"proof_signing_alg_values_supported": list(self.proof_algs)}
            },
            "credential_metadata": credential_metadata,
        }


def credential_issuer_metadata(
    issuer: str,
    *,
    credential_endpoint: str,
    nonce_endpoint: str,
    configurations: Sequence[CredentialConfiguration],
    display_name: str,
) -> dict[str, Any]:
    """The document served at ``/.well-known/openid-credential-issuer`` (section 12.2.4)."""
    supported: dict[str, Any] = {}
    for configuration in configurations:
        if configuration.id in supported:
            raise ValueError(f"duplicate credential configuration id {configuration.id!r}")
        supported[configuration.id] = configuration.to_dict()
    if not supported:
        raise ValueError("at least one credential configuration is required")
    return {
        "credential_issuer": issuer,
        "credential_endpoint": credential_endpoint,
        "nonce_endpoint": nonce_endpoint,
        "display": [{"name": display_name}],
        "credential_configurations_supported": supported,
    }


def authorization_server_metadata(issuer: str, *, token_endpoint: str) -> dict[str, Any]:
    """RFC 8414 metadata of the issuer acting as its own authorization server.

    Only the pre-authorized_code grant is offered, so ``response_types_supported`` is
    omitted (allowed by section 12.2.4) and anonymous token requests are announced with
    ``pre-authorized_grant_anonymous_access_supported`` (section 12.3).
    """
    return {
        "issuer": issuer,
        "token_endpoint": token_endpoint,
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "pre-authorized_grant_anonymous_access_supported": True,
    }


# -- credential offer (section 4.1) -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CredentialOffer:
    """A pre-authorized Credential Offer (section 4.1.1): who offers which credentials.

    Built by the issuer (its ``issuer`` is trusted there, so construction checks only the
    configuration ids); :meth:`from_dict` and :meth:`parse` check everything a wallet must
    before it redeems an offer it received.
    """

    issuer: str
    configuration_ids: tuple[str, ...]
    pre_authorized_code: str

    def __post_init__(self) -> None:
        ids = self.configuration_ids
        if not ids or len(set(ids)) != len(ids):
            raise ValueError("configuration_ids must be a non-empty list of unique ids")

    @classmethod
    def from_dict(cls, value: Any) -> CredentialOffer:
        """Parse the Credential Offer object (the decoded JSON).

        Refused: offers without a pre-authorized_code grant and offers that require a
        Transaction Code, which RealDID does not use. Unrecognised parameters are ignored
        (section 4.1.1).
        """
        if not isinstance(value, Mapping):
            raise _offer_error("credential offer must be a JSON object")
        issuer = _bounded_string(value.get("credential_issuer"), MAX_IDENTIFIER_LENGTH)
        if issuer is None or not _is_issuer_identifier(issuer):
            raise _offer_error(
                "credential_issuer must be an https URL without query or fragment (section 12.2.1)"
            )
        return cls(
            issuer=issuer,
            configuration_ids=_offer_configuration_ids(value.get("credential_configuration_ids")),
            pre_authorized_code=_offer_pre_authorized_code(value.get("grants")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The Credential Offer object (section 4.1.1) for the pre-authorized code flow."""
        return {
            "credential_issuer": self.issuer,
            "credential_configuration_ids": list(self.configuration_ids),
            "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": self.pre_authorized_code}},
        }

    @classmethod
    def parse(cls, uri: str) -> CredentialOffer:
        """Parse an offer sent by value: ``openid-credential-offer://?credential_offer=...``
        (or an ``https`` link with the same parameter).

        Offers by reference (``credential_offer_uri``) are refused: fetching is the caller's
        job, after which it passes the JSON to :meth:`from_dict`.
        """
        return cls.from_dict(_offer_object_from_uri(uri))

    def serialize(self) -> str:
        """``openid-credential-offer://?credential_offer=<percent-encoded JSON>`` (section 4.1)."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return f"{CREDENTIAL_OFFER_SCHEME}?credential_offer={quote(text, safe='')}"


def _offer_object_from_uri(uri: Any) -> Any:
    if not isinstance(uri, str):
        raise _offer_error("credential offer URI must be text")
    if len(uri) > MAX_OFFER_BYTES:
        raise _offer_error(f"credential offer URI is longer than {MAX_OFFER_BYTES} characters")
    try:
        parts = urlsplit(uri)
        params = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    except ValueError as e:
        raise _offer_error("credential offer URI does not parse") from e
    if parts.scheme not in ("openid-credential-offer", "https"):
        raise _offer_error("credential offer URI must use openid-credential-offer:// or https")
    names = [name for name, _ in params]
    if "credential_offer_uri" in names:
        raise _offer_error(
            "offers by reference are not handled here: fetch credential_offer_uri and pass the JSON"
        )
    if names.count("credential_offer") != 1:
        raise _offer_error("credential offer URI must carry exactly one credential_offer")
    text = next(v for n, v in params if n == "credential_offer")
    try:
        return ijson.loads(text)
    except ijson.IJsonError as e:
        raise _offer_error(f"credential_offer is not a JSON object: {e}") from e


def _is_issuer_identifier(text: str) -> bool:
    """Section 12.2.1: an https URL, no query or fragment. http is allowed on loopback."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    if parts.query or parts.fragment or "?" in text or "#" in text or not parts.hostname:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)


def _offer_configuration_ids(value: Any) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_CONFIGURATIONS_PER_OFFER
        or any(_bounded_string(v, MAX_IDENTIFIER_LENGTH) is None for v in value)
        or len(set(value)) != len(value)
    ):
        raise _offer_error(
            "credential_configuration_ids must be a non-empty array of unique strings "
            f"(at most {MAX_CONFIGURATIONS_PER_OFFER})"
        )
    return tuple(value)


def _offer_pre_authorized_code(grants: Any) -> str:
    if not isinstance(grants, Mapping) or PRE_AUTHORIZED_GRANT not in grants:
        raise _offer_error("offer has no pre-authorized_code grant, the only flow RealDID uses")
    grant = grants[PRE_AUTHORIZED_GRANT]
    if not isinstance(grant, Mapping):
        raise _offer_error("the pre-authorized_code grant must be a JSON object")
    if "tx_code" in grant:
        raise _offer_error("offer requires a transaction code (tx_code), which is unsupported")
    code = _bounded_string(grant.get("pre-authorized_code"), MAX_TOKEN_LENGTH)
    if code is None:
        raise _offer_error(
            f"pre-authorized_code must be a non-empty string of <= {MAX_TOKEN_LENGTH} characters"
        )
    return code


# -- token endpoint (section 6) ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A Token Request of the pre-authorized code flow (section 6.1), form-encoded."""

    pre_authorized_code: str

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> TokenRequest:
        """Check a Token Request; its code is what the caller must then redeem.

        The caller still answers ``invalid_grant`` for an unknown, used or expired code
        (section 6.3). Unrecognised parameters such as ``client_id`` are ignored (section
        6.1, RFC 6749 section 3.1).
        """
        if not isinstance(form, Mapping):
            raise Oid4vciError("invalid_request", "token request must be form parameters")
        for name, value in form.items():
            if not isinstance(name, str) or not isinstance(value, str):
                # RFC 6749 section 3.2: a parameter must not be sent more than once.
                raise Oid4vciError("invalid_request", "each parameter must appear once as text")
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise Oid4vciError("invalid_request", "grant_type is missing")
        if grant_type != PRE_AUTHORIZED_GRANT:
            raise Oid4vciError(
                "unsupported_grant_type", f"only the {PRE_AUTHORIZED_GRANT} grant is supported"
            )
        if "tx_code" in form:
            # Section 6.3: a Transaction Code the server does not expect is invalid_request.
            raise Oid4vciError("invalid_request", "tx_code given but none was required")
        code = _bounded_string(form.get("pre-authorized_code"), MAX_TOKEN_LENGTH)
        if code is None:
            raise Oid4vciError(
                "invalid_request",
                f"pre-authorized_code must be a non-empty string of <= {MAX_TOKEN_LENGTH} "
                "characters",
            )
        return cls(code)

    def to_form(self) -> dict[str, str]:
        """The form parameters to POST to the token endpoint."""
        return {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": self.pre_authorized_code}


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A successful Token Response (RFC 6749 section 5.1; OpenID4VCI section 6.2): a Bearer
    access token and its lifetime in seconds."""

    access_token: str
    expires_in: int

    def __post_init__(self) -> None:
        if self.expires_in <= 0:
            raise ValueError("expires_in must be positive")

    @classmethod
    def from_dict(cls, body: Any) -> TokenResponse:
        """Parse a Token Response; ``token_type`` must be Bearer (any case)."""
        if not isinstance(body, Mapping):
            raise _response_error("token response must be a JSON object")
        token = _bounded_string(body.get("access_token"), MAX_TOKEN_LENGTH)
        if token is None:
            raise _response_error("access_token must be a non-empty string")
        token_type = body.get("token_type")
        # RFC 6749 section 7.1: the token type is compared case-insensitively.
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise _response_error("token_type must be Bearer")
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            raise _response_error("expires_in must be a positive integer")
        return cls(token, expires_in)

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


# -- nonce endpoint (section 7) ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NonceResponse:
    """The Nonce Response (section 7.2); serve it with ``Cache-Control: no-store``."""

    c_nonce: str

    @classmethod
    def from_dict(cls, body: Any) -> NonceResponse:
        if not isinstance(body, Mapping):
            raise _response_error("nonce response must be a JSON object")
        c_nonce = _bounded_string(body.get("c_nonce"), MAX_TOKEN_LENGTH)
        if c_nonce is None:
            raise _response_error("c_nonce must be a non-empty string")
        return cls(c_nonce)

    def to_dict(self) -> dict[str, str]:
        return {"c_nonce": self.c_nonce}


# -- credential endpoint (section 8) ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CredentialRequest:
    """A Credential Request (section 8.2): which configuration, and the ``jwt`` key proofs."""

    configuration_id: str
    proof_jwts: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.proof_jwts:
            raise ValueError("at least one proof JWT is required")

    @classmethod
    def from_dict(cls, body: Any, *, max_proofs: int = 1) -> CredentialRequest:
        """Check a Credential Request's shape; the caller then checks the configuration id
        (``unknown_credential_configuration``) and each proof with :func:`verify_proof_jwt`.

        ``max_proofs`` is the batch size: 1 unless the metadata announces
        ``batch_credential_issuance`` (section 12.2.4).
        """
        if not isinstance(body, Mapping):
            raise Oid4vciError(
                "invalid_credential_request", "credential request must be a JSON object"
            )
        if "credential_response_encryption" in body:
            raise Oid4vciError(
                "invalid_encryption_parameters", "this issuer does not encrypt credential responses"
            )
        if "credential_identifier" in body:
            # Section 8.2: only usable after a Token Response with authorization_details,
            # which this issuer never returns.
            raise Oid4vciError(
                "invalid_credential_request",
                "credential_identifier is not used by this issuer: send credential_configuration_id",
            )
        configuration_id = _bounded_string(
            body.get("credential_configuration_id"), MAX_IDENTIFIER_LENGTH
        )
        if configuration_id is None:
            raise Oid4vciError(
                "invalid_credential_request",
                "credential_configuration_id must be a non-empty string",
            )
        return cls(configuration_id, _proof_jwts(body, max_proofs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "credential_configuration_id": self.configuration_id,
            "proofs": {"jwt": list(self.proof_jwts)},
        }


def _proof_jwts(body: Mapping[str, Any], max_proofs: int) -> tuple[str, ...]:
    proofs = body.get("proofs")
    if proofs is None:
        hint = " (the singular proof was removed in OpenID4VCI 1.0)" if "proof" in body else ""
        raise Oid4vciError("invalid_proof", f"proofs is missing{hint}")
    if not isinstance(proofs, Mapping) or len(proofs) != 1:
        raise Oid4vciError("invalid_proof", "proofs must be an object with exactly one proof type")
    jwts = proofs.get("jwt")
    if jwts is None:
        raise Oid4vciError("invalid_proof", "only the jwt proof type is supported")
    if not isinstance(jwts, list) or not jwts:
        raise Oid4vciError("invalid_proof", "proofs.jwt must be a non-empty array")
    if len(jwts) > max_proofs:
        raise Oid4vciError(
            "invalid_credential_request", f"at most {max_proofs} proof(s) per request"
        )
    if not all(isinstance(j, str) and 0 < len(j) <= MAX_PROOF_JWT_BYTES for j in jwts):
        raise Oid4vciError(
            "invalid_proof", f"each jwt proof must be a string of <= {MAX_PROOF_JWT_BYTES} bytes"
        )
    return tuple(jwts)


@dataclass(frozen=True, slots=True)
class CredentialResponse:
    """An immediate Credential Response (section 8.3): one SD-JWT VC string per key proof."""

    credentials: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.credentials:
            raise ValueError("at least one credential is required")

    @classmethod
    def from_dict(cls, body: Any) -> CredentialResponse:
        """Parse the issued SD-JWT VCs. Deferred issuance (``transaction_id``) is refused."""
        if not isinstance(body, Mapping):
            raise _response_error("credential response must be a JSON object")
        if "transaction_id" in body:
            raise _response_error("deferred issuance (transaction_id) is not supported")
        entries = body.get("credentials")
        if not isinstance(entries, list) or not 0 < len(entries) <= MAX_CREDENTIALS_PER_RESPONSE:
            raise _response_error(
                f"credentials must be an array of 1 to {MAX_CREDENTIALS_PER_RESPONSE} objects"
            )
        result: list[str] = []
        for entry in entries:
            value = entry.get("credential") if isinstance(entry, Mapping) else None
            # Appendix A.3: a dc+sd-jwt credential is a string, never re-encoded.
            credential = _bounded_string(value, MAX_PRESENTATION_BYTES)
            if credential is None:
                raise _response_error("each credentials entry must be {credential: <SD-JWT VC>}")
            result.append(credential)
        return cls(tuple(result))

    def to_dict(self) -> dict[str, Any]:
        return {"credentials": [{"credential": c} for c in self.credentials]}
