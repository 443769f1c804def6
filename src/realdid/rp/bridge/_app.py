"""The bridge's HTTP face: discovery, JWKS, authorize, token, userinfo, and the wallet login.

``/authorize`` lets Authlib validate the client's request first. A request from an unknown
client or with an unregistered ``redirect_uri`` gets an error *page* (never a redirect: the
address is not trusted); every other problem goes back to the client as an RFC 6749
4.1.2.1 error redirect. A valid request becomes one OpenID4VP login through the bridge's
own :class:`~realdid.rp.RelyingParty` — a ``urn:realdid:SiteProof`` with ``verified_person``
and, only when the granted scope holds ``age_over_18``, that claim too — shown on the same
login page the other RealDID sites use. When the wallet's answer is verified, Authlib issues
the code and the browser returns to the client with ``code``, ``state`` and ``iss``.

The browser session (a signed cookie) only names the authorizations this browser started;
everything else stays server-side, so completing someone else's login is impossible.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    InvalidClientError,
    OAuth2Error,
    ResourceProtector,
)
from fastapi import FastAPI, Request
from joserfc.jwk import ECKey
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import JSONResponse, Response

from realdid.clock import Clock, SystemClock
from realdid.credentials import CredentialQuery, CredentialType, DcqlQuery
from realdid.http import (
    NO_RATE_LIMITS,
    ClientDisconnect,
    PayloadTooLargeError,
    RateLimiter,
    client_disconnected,
    instrument,
    read_bounded_body,
)
from realdid.randomness import Randomness
from realdid.rp import LoginError, PendingLogin, RelyingParty, login_routes
from realdid.rp.pages import SecurityHeaders, render_error, render_login
from realdid.storage import StoreLocation

from ._keys import public_jwks
from ._server import (
    ACR_VERIFIED_PERSON,
    ID_TOKEN_ALG,
    SCOPE_CLAIMS,
    SUPPORTED_SCOPES,
    TOKEN_AUTH_METHODS,
    BridgeClient,
    BridgeRequest,
    BridgeServer,
    Lifetimes,
    VerifiedPerson,
    released_claims,
    user_info,
)
from ._store import BridgeStore, StoredAuthorization

MAX_BODY_BYTES = 16 * 1024
SESSION_KEY = "bridge_authorizations"
_MAX_SESSION_AUTHORIZATIONS = 5  # a few tabs at once; older ones drop out of the session
_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_SITE_NAME = "RealDID Sign-in"


def create_bridge_app(
    *,
    issuer: str,
    rp: RelyingParty,
    clients: Sequence[BridgeClient],
    signing_key: ECKey,
    pairwise_secret: bytes,
    db_path: StoreLocation,
    session_secret: bytes,
    clock: Clock | None = None,
    randomness: Randomness | None = None,
    lifetimes: Lifetimes | None = None,
    mount_login_routes: bool = True,
    rate_limits: RateLimiter = NO_RATE_LIMITS,
) -> FastAPI:
    """The OIDC bridge as an ASGI app served at ``issuer`` (its public base URL, no slash).

    ``rp`` is the bridge's own relying party towards wallets (registered for SiteProof
    ``verified_person`` + ``age_over_18``); its OpenID4VP routes are mounted here unless
    ``mount_login_routes`` is false (tests with a stand-in). ``signing_key`` is a P-256
    private key (see :func:`~._keys.load_or_create_bridge_keys`). ``randomness`` draws the
    authorization ids, codes, access tokens and login-page script nonces (:mod:`secrets`).
    ``rate_limits`` charges each client for the wallet logins ``/authorize`` starts (rule
    ``login-requests``).
    """
    if issuer.endswith("/") or not issuer.startswith(("https://", "http://")):
        raise ValueError("issuer must be an absolute http(s) URL without a trailing slash")
    if signing_key.curve_name != "P-256" or not signing_key.is_private:
        raise ValueError("signing_key must be a P-256 private key")
    entitled = _entitled_scopes(rp)
    store = BridgeStore(db_path)
    randomness = randomness or Randomness()
    server = BridgeServer(
        issuer=issuer,
        clients=clients,
        entitled_scopes=entitled,
        store=store,
        clock=clock or SystemClock(),
        randomness=randomness,
        signing_key=signing_key,
        pairwise_secret=pairwise_secret,
        lifetimes=lifetimes or Lifetimes(),
    )
    flow = _LoginFlow(server, rp, store)
    protector = ResourceProtector()
    protector.register_token_validator(server.token_validator)
    metadata = discovery_document(issuer, entitled)
    jwks = public_jwks(signing_key)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="RealDID OpenID Connect bridge",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.add_exception_handler(ClientDisconnect, client_disconnected)
    instrument(app, "bridge")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret.hex(),
        session_cookie="bridge_session",
        max_age=3600,
        same_site="lax",
        https_only=issuer.startswith("https://"),
    )
    app.state.bridge = server
    app.state.store = store
    if mount_login_routes:
        app.include_router(login_routes(rp))

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> JSONResponse:
        return JSONResponse(metadata)

    @app.get("/jwks")
    async def jwks_endpoint() -> JSONResponse:
        return JSONResponse(jwks)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """``200 ok`` with the bridge's DID, or ``503 degraded`` when its store is down."""
        if await run_in_threadpool(store.reachable):
            return JSONResponse({"status": "ok", "did": rp.config.client_did})
        return JSONResponse({"status": "degraded", "error": "database unavailable"}, 503)

    @app.api_route("/authorize", methods=["GET", "POST"])
    async def authorize(request: Request) -> Response:
        refused = rate_limits.refusal("login-requests", request)
        if refused is not None:
            return refused
        try:
            form = await _form_pairs(request) if request.method == "POST" else []
            query = [*_pairs(request.url.query), *form]
        except (PayloadTooLargeError, ValueError):
            return _error_page("The sign-in request is too large.", 413)
        return await run_in_threadpool(flow.start, query, request.session)

    @app.get("/authorize/status")
    async def status(request: Request, authorization: str = "") -> JSONResponse:
        state = await run_in_threadpool(flow.status, authorization, request.session)
        return JSONResponse({"state": state, "error": None}, headers=_NO_STORE)

    @app.get("/authorize/complete")
    async def complete(request: Request, authorization: str = "") -> Response:
        return await run_in_threadpool(flow.complete, authorization, request.session)

    @app.get("/login/complete")
    async def same_device_complete(request: Request) -> Response:
        """Where the RP SDK sends a same-device wallet: the latest login of this browser."""
        started = _session_ids(request.session)
        latest = started[-1] if started else ""
        return await run_in_threadpool(flow.complete, latest, request.session)

    @app.post("/token")
    async def token(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != _FORM:
            return _oauth_json_error("invalid_request", f"send {_FORM}")
        try:
            form = await _form_pairs(request)
        except (PayloadTooLargeError, ValueError):
            return _oauth_json_error("invalid_request", "request body too large", 413)
        oauth_request = BridgeRequest("POST", f"{issuer}/token", request.headers, form=form)
        response: Response = await run_in_threadpool(server.create_token_response, oauth_request)
        return response

    @app.api_route("/userinfo", methods=["GET", "POST"])
    async def userinfo(request: Request) -> Response:
        oauth_request = BridgeRequest(request.method, f"{issuer}/userinfo", request.headers)
        return await run_in_threadpool(_userinfo, server, protector, oauth_request)

    return app


def _entitled_scopes(rp: RelyingParty) -> frozenset[str]:
    """What the bridge may grant at all: ``age_over_18`` only if its registration permits it."""
    permitted = rp.permitted.get(CredentialType.SITE_PROOF, frozenset())
    if "verified_person" not in permitted:
        raise ValueError("the bridge's RP registration must permit SiteProof verified_person")
    scopes = {"openid", "realdid_verified"}
    if "age_over_18" in permitted:
        scopes.add("age_over_18")
    return frozenset(scopes)


def discovery_document(issuer: str, entitled: frozenset[str]) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 provider metadata."""
    scopes = [s for s in SUPPORTED_SCOPES if s in entitled]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [ID_TOKEN_ALG],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            *(SCOPE_CLAIMS[s] for s in scopes if s in SCOPE_CLAIMS),
        ],
        "acr_values_supported": [ACR_VERIFIED_PERSON],
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


class _LoginFlow:
    """The authorization endpoint's steps; runs in the thread pool (SQLite, signing)."""

    def __init__(self, server: BridgeServer, rp: RelyingParty, store: BridgeStore) -> None:
        self.server = server
        self.rp = rp
        self.store = store

    def _request(self, params: Sequence[tuple[str, str]]) -> BridgeRequest:
        return BridgeRequest("GET", f"{self.server.issuer}/authorize", {}, query=params)

    def start(
        self, params: Sequence[tuple[str, str]], session: MutableMapping[str, Any]
    ) -> Response:
        """Validate the client's request, then start the wallet login and show its page."""
        request = self._request(params)
        try:
            grant = self.server.get_consent_grant(request)
        except OAuth2Error as error:
            return self._refusal(request, error)
        client = grant.client.config
        wallet_claims = ["verified_person"]
        if "age_over_18" in request.scope.split():
            wallet_claims.append("age_over_18")
        query = DcqlQuery(
            (CredentialQuery("site", (CredentialType.SITE_PROOF,), tuple(wallet_claims)),)
        )
        try:
            pending = self.rp.create_request(query)
        except LoginError:
            unavailable = OAuth2Error(
                "The sign-in service cannot start a wallet login now",
                redirect_uri=grant.redirect_uri,
                state=request.payload.state,
                error="temporarily_unavailable",
            )
            return self.server.handle_error_response(request, unavailable)
        authorization = StoredAuthorization(
            id=self.server.randomness.token(32),
            client_id=client.client_id,
            params=tuple(params),
            transaction=pending.transaction,
            pending=_pending_json(pending),
            expires_at=pending.expires_at,
            used=False,
        )
        self.store.add_authorization(authorization)
        started = [*_session_ids(session), authorization.id]
        session[SESSION_KEY] = started[-_MAX_SESSION_AUTHORIZATIONS:]
        return self._login_page(authorization, pending, wallet_claims, client)

    def _login_page(
        self,
        authorization: StoredAuthorization,
        pending: PendingLogin,
        wallet_claims: Sequence[str],
        client: BridgeClient,
    ) -> Response:
        handle = urlencode({"authorization": authorization.id})
        purpose = self.rp.purpose
        if client.name:
            purpose = f"{purpose}. Signing in to: {client.name}"
        return render_login(
            title="Sign in with RealDID",
            site_name=self.rp.name,
            pending=pending,
            poll_url=f"/authorize/status?{handle}",
            complete_url=f"/authorize/complete?{handle}",
            purpose=purpose,
            claims=list(wallet_claims),
            randomness=self.server.randomness,
        )

    def _refusal(self, request: BridgeRequest, error: OAuth2Error) -> Response:
        """An error for the client when its redirect URI is trusted, else a page for the person."""
        if error.redirect_uri:
            response: Response = self.server.handle_error_response(request, error)
            return response
        client = self.server.query_client(request.payload.client_id)
        if isinstance(error, InvalidClientError) or client is None:
            message = "The website that sent you here is not registered with this sign-in service."
        elif request.payload.redirect_uri and not client.check_redirect_uri(
            request.payload.redirect_uri
        ):
            message = (
                "The website that sent you here gave a return address it has not registered,"
                " so you are not sent back there."
            )
        else:
            message = "The website that sent you here made an invalid sign-in request."
        return _error_page(message, 400)

    def _owned(
        self, authorization_id: str, session: Mapping[str, Any]
    ) -> StoredAuthorization | None:
        """The authorization, only if this browser started it (no login fixation)."""
        if authorization_id not in _session_ids(session):
            return None
        return self.store.authorization(authorization_id)

    def status(self, authorization_id: str, session: Mapping[str, Any]) -> str:
        """``pending`` while the wallet has not answered, then ``done`` whatever the outcome:
        the completion step tells the client (access_denied, ...) so the client site decides."""
        stored = self._owned(authorization_id, session)
        if stored is None or stored.used:
            return "done"
        outcome = self.rp.outcome(stored.transaction)
        return "pending" if outcome.state == "pending" else "done"

    def complete(self, authorization_id: str, session: MutableMapping[str, Any]) -> Response:
        """Issue the code (or the error) to the client once the wallet login is over."""
        stored = self._owned(authorization_id, session)
        if stored is None:
            return _error_page(
                "This sign-in is unknown or has expired. Go back to the website and start again.",
                400,
            )
        outcome = self.rp.outcome(stored.transaction)
        request = self._request(stored.params)
        try:
            grant = self.server.get_consent_grant(request)
        except OAuth2Error as error:  # the client's registration changed meanwhile
            return self._refusal(request, error)
        if outcome.state == "pending":
            wallet_claims = ["verified_person"]
            if "age_over_18" in request.scope.split():
                wallet_claims.append("age_over_18")
            pending = PendingLogin(**stored.pending)
            return self._login_page(stored, pending, wallet_claims, grant.client.config)
        if not self.store.use_authorization(stored.id):
            return _error_page("This sign-in was already completed.", 400)
        session[SESSION_KEY] = [i for i in _session_ids(session) if i != stored.id]
        person: VerifiedPerson | None = None
        login = outcome.login
        if outcome.state == "done" and login is not None:
            if login.claims.get("verified_person") is True:
                person = VerifiedPerson(login.subject, dict(login.claims), login.verified_at)
            else:
                request.failure = "The credential does not show a verified person"
        elif outcome.state == "expired":
            request.failure = "The wallet login expired"
        elif outcome.error in {"access_denied", "access-denied"}:
            request.failure = "The person declined in their wallet"
        else:
            request.failure = f"The wallet login failed ({outcome.error or 'unknown'})"
        response: Response = self.server.create_authorization_response(
            request, grant_user=person, grant=grant
        )
        return response


def _pending_json(pending: PendingLogin) -> dict[str, Any]:
    return {
        "request_id": pending.request_id,
        "transaction": pending.transaction,
        "code": pending.code,
        "authorization_url": pending.authorization_url,
        "request_uri": pending.request_uri,
        "code_url": pending.code_url,
        "expires_at": pending.expires_at,
    }


def _session_ids(session: Mapping[str, Any]) -> list[str]:
    value = session.get(SESSION_KEY)
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def _userinfo(server: BridgeServer, protector: Any, request: BridgeRequest) -> Response:
    try:
        token = protector.validate_request(["openid"], request)
    except OAuth2Error as error:
        status, body, headers = error()
        return server.handle_response(status, body, headers)
    return JSONResponse(user_info(token.get_user()), headers=_NO_STORE)


async def _form_pairs(request: Request) -> list[tuple[str, str]]:
    body = await read_bounded_body(request, MAX_BODY_BYTES)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return []
    return _pairs(text)


def _pairs(text: str) -> list[tuple[str, str]]:
    """Form/query pairs; ValueError beyond 64 fields (nothing legitimate sends more)."""
    return parse_qsl(text, keep_blank_values=True, max_num_fields=64)


def _error_page(message: str, status_code: int) -> Response:
    return render_error(
        site_name=_SITE_NAME,
        title="Sign-in request refused",
        message=message,
        status_code=status_code,
        retry_url=None,
    )


def _oauth_json_error(error: str, description: str, status_code: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers=_NO_STORE,
    )


__all__ = ["create_bridge_app", "discovery_document", "released_claims"]
