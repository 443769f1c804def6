"""The OpenID Provider proper: Authlib's authorization server, grants and framework glue.

Authlib does the OAuth 2.0 / OpenID Connect work — client authentication, redirect URI and
response type checks, authorization code issuance and redemption, PKCE verification, bearer
tokens, ID token assembly and signing. This module supplies what Authlib leaves to a
framework integration and to the deployment (compare ``authlib.integrations.flask_oauth2``):

* :class:`BridgeRequest`, the ``OAuth2Request`` built from a Starlette request;
* :class:`BridgeServer`, the ``AuthorizationServer`` with its client registry, token storage
  and response type (a Starlette :class:`~starlette.responses.Response`);
* the grant (:class:`_CodeGrant`) and its extensions: PKCE with S256 *required* for every
  client (``_StrictPkce``), the OpenID Connect code flow (``_OpenIdCode``), and the rule that
  every request is an OpenID Connect request (``_require_openid``);
* RFC 9207: ``iss`` on every redirect back to the client, success or error.

Policy decisions (ADR 0012):

* Scopes: ``openid`` (required), ``realdid_verified`` (-> ``real_name_verified``) and
  ``age_over_18`` (-> ``age_over_18``). The granted scope is what the client asked for AND
  what its registration allows AND what the bridge itself is entitled to ask wallets for.
  Scopes the bridge does not know are ignored, not refused (OpenID Connect Core 3.1.2.1),
  so stock clients that also ask for ``profile`` or ``email`` still work — they get nothing
  for them. The token response's ``scope`` says what was granted.
* ``sub`` is pairwise per client sector (:func:`~._keys.pairwise_subject`); codes and
  tokens store only that pairwise value.
"""

from __future__ import annotations

import json
import secrets
import string
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    AccessDeniedError,
    AuthorizationServer,
    ClientMixin,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    scope_to_list,
)
from authlib.oauth2.rfc6749.errors import InvalidRequestError  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.grants import (  # type: ignore[import-untyped]
    AuthorizationCodeGrant,
)
from authlib.oauth2.rfc6750 import (  # type: ignore[import-untyped]
    BearerTokenGenerator,
    BearerTokenValidator,
)
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]
from authlib.oidc.core import AuthorizationCodeMixin  # type: ignore[import-untyped]
from authlib.oidc.core.grants import OpenIDCode  # type: ignore[import-untyped]
from joserfc.jwk import ECKey
from starlette.responses import Response

from realdid.clock import Clock
from realdid.randomness import Randomness

from ._keys import key_id, pairwise_subject
from ._store import BridgeStore, StoredCode, StoredToken

ACR_VERIFIED_PERSON = "urn:realdid:acr:verified-person"
ID_TOKEN_ALG = "ES256"  # noqa: S105 (an algorithm name)
#: scope -> the ID token / userinfo claim it releases (``openid`` releases only ``sub``).
SCOPE_CLAIMS: Mapping[str, str] = {
    "realdid_verified": "real_name_verified",
    "age_over_18": "age_over_18",
}
SUPPORTED_SCOPES: tuple[str, ...] = ("openid", *SCOPE_CLAIMS)
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
#: The symbols of an authorization code: Authlib's own alphabet, kept when the code is drawn
#: from the bridge's randomness instead of Authlib's generator.
_CODE_ALPHABET = string.ascii_letters + string.digits
_ACCESS_TOKEN_BYTES = 32


# -- clients ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BridgeClient:
    """One registered OpenID Connect client site (configured, not self-registered).

    ``sector_identifier`` groups the client's redirect hosts for pairwise subjects (OpenID
    Connect Core 8.1): usually the site's host name. Two clients with the same sector see
    the same ``sub`` for a person; give every independent site its own.
    """

    client_id: str
    client_secret: str
    redirect_uris: Sequence[str]
    allowed_scopes: Collection[str]
    sector_identifier: str
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))
        object.__setattr__(self, "allowed_scopes", frozenset(self.allowed_scopes))
        if not self.client_id or not self.client_id.isprintable() or len(self.client_id) > 128:
            raise ValueError("client_id must be 1-128 printable characters")
        if len(self.client_secret) < 16:
            raise ValueError("client_secret must be at least 16 characters")
        unknown = set(self.allowed_scopes) - set(SUPPORTED_SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes for client {self.client_id}: {sorted(unknown)}")
        if not self.redirect_uris:
            raise ValueError("a client needs at least one redirect URI")
        for uri in self.redirect_uris:
            _check_redirect_uri(uri)
        if not self.sector_identifier or "\n" in self.sector_identifier:
            raise ValueError("sector_identifier must be a non-empty single line")


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    loopback = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise ValueError(f"redirect URI must be https (http only for loopback): {uri}")
    if parts.fragment or not parts.netloc:
        raise ValueError(f"redirect URI must be absolute and without fragment: {uri}")


class _Client(ClientMixin):  # type: ignore[misc]
    """Authlib's view of a :class:`BridgeClient`; ``entitled`` is what the bridge may grant."""

    def __init__(self, config: BridgeClient, entitled: frozenset[str]) -> None:
        self.config = config
        self.client_id = config.client_id
        self.sector_identifier = config.sector_identifier
        self.client_metadata: dict[str, Any] = {}
        # openid is implied for every client: every flow here is an OpenID Connect login.
        self._grantable = (frozenset(config.allowed_scopes) | {"openid"}) & entitled

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # OpenID Connect requires redirect_uri in every request

    def get_allowed_scope(self, scope: str | None) -> str:
        """The granted scope: requested scopes this client may have, in request order."""
        requested = scope_to_list(scope) or []
        granted: list[str] = []
        for item in requested:
            if item in self._grantable and item not in granted:
                granted.append(item)
        return " ".join(granted)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.config.redirect_uris  # exact match, RFC 9700 2.1

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret.encode(), self.config.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in TOKEN_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


# -- the person, as the grant sees them --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VerifiedPerson:
    """Who completed the wallet login: the per-site DID and the OIDC claims to release."""

    site_did: str
    claims: Mapping[str, Any]
    auth_time: int


@dataclass(frozen=True, slots=True)
class _Subject:
    """The person as one client knows them: the pairwise ``sub`` and released claims."""

    sub: str
    claims: Mapping[str, Any]
    auth_time: int


class _AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, stored: StoredCode) -> None:
        self.stored = stored
        self.code_challenge = stored.code_challenge
        self.code_challenge_method = stored.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.stored.redirect_uri

    def get_scope(self) -> str:
        return self.stored.scope

    def get_nonce(self) -> str | None:
        return self.stored.nonce

    def get_auth_time(self) -> int:
        return self.stored.auth_time

    def get_acr(self) -> str:
        return ACR_VERIFIED_PERSON

    def get_amr(self) -> None:
        return None


class _AccessToken(TokenMixin):  # type: ignore[misc]
    def __init__(self, stored: StoredToken, client: _Client | None, now: int) -> None:
        self.stored = stored
        self.scope = stored.scope
        self._client = client
        self._now = now

    def check_client(self, client: _Client) -> bool:
        return bool(client.client_id == self.stored.client_id)

    def get_scope(self) -> str:
        return self.stored.scope

    def get_expires_in(self) -> int:
        return self.stored.expires_at - self.stored.issued_at

    def is_expired(self) -> bool:
        return self._now >= self.stored.expires_at

    def is_revoked(self) -> bool:
        return self.stored.revoked or self._client is None

    def get_user(self) -> _Subject:
        return _Subject(self.stored.subject, self.stored.claims, self.stored.auth_time)

    def get_client(self) -> _Client | None:
        return self._client


# -- framework glue -----------------------------------------------------------------------------
class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in pairs:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class BridgeRequest(OAuth2Request):  # type: ignore[misc]
    """An ``OAuth2Request`` from already-read query and form pairs.

    ``uri`` is built from the configured issuer, never from the Host header. ``failure``
    carries, for an unsuccessful wallet login, the reason sent back as ``error_description``.
    """

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: Sequence[tuple[str, str]] = (),
        form: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = _first_values(query)
        self._form = _first_values(form)
        self.payload = _Payload([*query, *form])
        self.failure: str | None = None

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def _first_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, value)
    return values


# -- grant and extensions ---------------------------------------------------------------------
class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(TOKEN_AUTH_METHODS)
    AUTHORIZATION_CODE_LENGTH = 43  # ~256 bits from 62 symbols

    @property
    def bridge(self) -> BridgeServer:
        server: BridgeServer = self.server
        return server

    def generate_authorization_code(self) -> str:
        """Authlib's code format (43 of 62 symbols), drawn from the bridge's randomness."""
        draw = self.bridge.randomness.randbelow
        return "".join(
            _CODE_ALPHABET[draw(len(_CODE_ALPHABET))] for _ in range(self.AUTHORIZATION_CODE_LENGTH)
        )

    def create_authorization_response(self, redirect_uri: str, grant_user: Any) -> Any:
        if not grant_user:
            raise AccessDeniedError(
                description=getattr(self.request, "failure", None) or "The person did not log in",
                redirect_uri=redirect_uri,
            )
        status, body, headers = super().create_authorization_response(redirect_uri, grant_user)
        return status, body, self.bridge.with_issuer(headers)

    def save_authorization_code(self, code: str, request: BridgeRequest) -> None:
        person: VerifiedPerson = request.user
        client: _Client = request.client
        data = request.payload.data
        now = self.bridge.clock.now()
        self.bridge.store.add_code(
            code,
            StoredCode(
                code_hash="",
                client_id=client.client_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=data.get("nonce") or None,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                subject=pairwise_subject(
                    self.bridge.pairwise_secret, client.sector_identifier, person.site_did
                ),
                claims=released_claims(request.scope, person.claims),
                auth_time=person.auth_time,
                expires_at=now + self.bridge.code_ttl,
            ),
        )

    def query_authorization_code(self, code: str, client: _Client) -> _AuthorizationCode | None:
        if not isinstance(code, str) or len(code) > 256:
            return None
        stored = self.bridge.store.take_code(code, client.client_id, self.bridge.clock.now())
        return _AuthorizationCode(stored) if stored is not None else None

    def delete_authorization_code(self, authorization_code: _AuthorizationCode) -> None:
        """Nothing to do: :meth:`BridgeStore.take_code` consumed it atomically."""

    def authenticate_user(self, authorization_code: _AuthorizationCode) -> _Subject:
        stored = authorization_code.stored
        return _Subject(stored.subject, stored.claims, stored.auth_time)


class _StrictPkce(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only (RFC 9700 2.1.1): plain or absent is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: _CodeGrant, redirect_uri: str | None) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


def _require_openid(grant: _CodeGrant) -> None:
    """Extension: this provider only does OpenID Connect logins (``openid`` in scope)."""

    def check(grant: _CodeGrant, result: Any) -> None:
        if "openid" not in (scope_to_list(grant.request.scope) or []):
            raise InvalidScopeError("The openid scope is required")

    grant.register_hook("after_validate_authorization_request_payload", check)


class _OpenIdCode(OpenIDCode):  # type: ignore[misc]
    """ID tokens: ES256 under the bridge key, ``aud`` the client, pairwise ``sub``."""

    def __init__(self, server: BridgeServer) -> None:
        super().__init__(require_nonce=False)
        self._server = server

    def exists_nonce(self, nonce: str, request: BridgeRequest) -> bool:
        return self._server.store.nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: _Client) -> ECKey:
        return self._server.signing_key

    def get_client_algorithm(self, client: _Client) -> str:
        return ID_TOKEN_ALG

    def get_encode_header(self, client: _Client) -> dict[str, str]:
        return {"alg": ID_TOKEN_ALG, "kid": self._server.kid, "typ": "JWT"}

    def get_client_claims(self, client: _Client) -> dict[str, Any]:
        now = self._server.clock.now()
        return {
            "iss": self._server.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + self._server.id_token_ttl,
        }

    def generate_user_info(self, user: _Subject, scope: str) -> dict[str, Any]:
        return user_info(user)


def user_info(user: _Subject) -> dict[str, Any]:
    """The claims about the person: ``sub`` plus what the granted scope released."""
    return {"sub": user.sub, **user.claims}


def released_claims(scope: str, login_claims: Mapping[str, Any]) -> dict[str, Any]:
    """Map the wallet's disclosed claims to the OIDC claims the granted ``scope`` releases."""
    granted = set(scope_to_list(scope) or [])
    claims: dict[str, Any] = {}
    if "realdid_verified" in granted:
        claims["real_name_verified"] = login_claims.get("verified_person") is True
    if "age_over_18" in granted and isinstance(login_claims.get("age_over_18"), bool):
        claims["age_over_18"] = login_claims["age_over_18"]
    return claims


class _TokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, server: BridgeServer) -> None:
        super().__init__()
        self._server = server

    def authenticate_token(self, token_string: str) -> _AccessToken | None:
        if len(token_string) > 256:
            return None
        stored = self._server.store.token(token_string)
        if stored is None:
            return None
        client = self._server.query_client(stored.client_id)
        return _AccessToken(stored, client, self._server.clock.now())


# -- the server -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Lifetimes:
    """Seconds: codes are short (RFC 6749 4.1.2 recommends at most 10 minutes)."""

    code: int = 120
    access_token: int = 3600
    id_token: int = 600
    used_code_memory: int = 3600


class BridgeServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's authorization server bound to the bridge's clients, store and keys."""

    def __init__(
        self,
        *,
        issuer: str,
        clients: Sequence[BridgeClient],
        entitled_scopes: frozenset[str],
        store: BridgeStore,
        clock: Clock,
        randomness: Randomness,
        signing_key: ECKey,
        pairwise_secret: bytes,
        lifetimes: Lifetimes,
    ) -> None:
        super().__init__(scopes_supported=list(SUPPORTED_SCOPES))
        ids = [c.client_id for c in clients]
        if len(set(ids)) != len(ids):
            raise ValueError("client ids must be unique")
        if len(pairwise_secret) < 32:
            raise ValueError("the pairwise secret must be at least 32 bytes")
        self.issuer = issuer
        self.store = store
        self.clock = clock
        self.randomness = randomness
        self.signing_key = signing_key
        self.kid = key_id(signing_key)
        self.pairwise_secret = pairwise_secret
        self.code_ttl = lifetimes.code
        self.id_token_ttl = lifetimes.id_token
        self.lifetimes = lifetimes
        self.clients = {c.client_id: _Client(c, entitled_scopes) for c in clients}
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                self._new_access_token, None, lambda client, grant_type: lifetimes.access_token
            ),
        )
        self.register_grant(
            _CodeGrant, [_StrictPkce(required=True), _OpenIdCode(self), _require_openid]
        )
        self.token_validator = _TokenValidator(self)

    def _new_access_token(self, **_: Any) -> str:
        return self.randomness.token(_ACCESS_TOKEN_BYTES)

    # What Authlib asks a framework integration / deployment to provide:
    def query_client(self, client_id: str) -> _Client | None:
        return self.clients.get(client_id) if isinstance(client_id, str) else None

    def save_token(self, token: Mapping[str, Any], request: BridgeRequest) -> None:
        code: _AuthorizationCode = request.authorization_code
        user: _Subject = request.user
        now = self.clock.now()
        self.store.add_token(
            token["access_token"],
            StoredToken(
                token_hash="",
                client_id=request.client.client_id,
                scope=str(token.get("scope", "")),
                subject=user.sub,
                claims=user.claims,
                auth_time=user.auth_time,
                issued_at=now,
                expires_at=now + int(token["expires_in"]),
                revoked=False,
            ),
            code.stored.code_hash,
        )
        self.store.purge(now, self.lifetimes.used_code_memory)

    def create_oauth2_request(self, request: BridgeRequest) -> BridgeRequest:
        return request  # the app layer builds BridgeRequest itself (the body is read async)

    def create_json_request(self, request: BridgeRequest) -> BridgeRequest:
        return request

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system: nothing subscribes."""

    def validate_requested_scope(self, scope: str | None) -> None:
        """Unknown scopes are ignored, not refused (OpenID Connect Core 3.1.2.1)."""

    def handle_response(
        self, status: int, body: Any, headers: Sequence[tuple[str, str]]
    ) -> Response:
        if isinstance(body, dict):
            payload = json.dumps(body).encode()
        else:
            payload = (body or "").encode() if isinstance(body, str) else bytes(body or b"")
        return Response(payload, status_code=status, headers=dict(headers))

    def handle_error_response(self, request: BridgeRequest, error: OAuth2Error) -> Response:
        status, body, headers = error(self.get_error_uri(request, error))
        if error.redirect_uri:
            headers = self.with_issuer(headers)
        return self.handle_response(status, body, headers)

    def with_issuer(self, headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """RFC 9207: add ``iss`` to the redirect back to the client (mix-up defence)."""
        return [
            (name, add_params_to_uri(value, [("iss", self.issuer)]))
            if name.lower() == "location"
            else (name, value)
            for name, value in headers
        ]
