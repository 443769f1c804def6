"""Example News: a website that logs people in through the OIDC bridge with a stock client.

It deliberately contains no RealDID code at all — only Authlib's standard Starlette OpenID
Connect client, configured from the bridge's discovery document: authorization code flow
with PKCE (S256), ``state`` and ``nonce``, and ID token validation (signature through the
published JWKS, ``iss``, ``aud``, ``exp``, ``nonce``) inside ``authorize_access_token``.
That is the point of the bridge (ADR 0012): any OpenID Connect site can offer "Sign in
with RealDID" and receives a pairwise ``sub`` plus the claims it asked for.
"""

from __future__ import annotations

import warnings
from typing import Any

import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401 (installs its filter first)
from fastapi import FastAPI, Form, Request
from joserfc.errors import JoseError
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse, Response

from realdid.http import ClientDisconnect, client_disconnected, instrument
from realdid.randomness import Randomness
from realdid.rp.pages import SecurityHeaders, csrf_ok, csrf_token, render_error, render_page

from ._pages import templates

with warnings.catch_warnings():
    # Authlib 1.9 warns at import when it falls back from httpx2 to httpx; nothing to act on.
    # (Its own "always" filter is installed by authlib.deprecate above, so this one wins.)
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.starlette_client import (  # type: ignore[import-untyped]
        OAuth,
        OAuthError,
    )

SITE_NAME = "Example News"
SCOPE = "openid realdid_verified age_over_18"
_USER = "user"


def create_oidc_site_app(
    *,
    bridge_issuer: str,
    client_id: str,
    client_secret: str,
    base_url: str,
    session_secret: bytes,
    transport: Any = None,
    randomness: Randomness | None = None,
) -> FastAPI:
    """The demo OIDC client site. ``transport`` (an httpx transport) is for in-process tests;
    ``randomness`` draws the logout form's CSRF token (``state``, ``nonce`` and the PKCE
    verifier are Authlib's own, as in any stock client)."""
    randomness = randomness or Randomness()
    client_kwargs: dict[str, Any] = {"scope": SCOPE, "code_challenge_method": "S256"}
    if transport is not None:
        client_kwargs["transport"] = transport
    oauth = OAuth()
    oauth.register(
        "realdid",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{bridge_issuer}/.well-known/openid-configuration",
        client_kwargs=client_kwargs,
    )
    provider = oauth.create_client("realdid")
    callback_url = f"{base_url}/auth/callback"

    app = FastAPI(title=SITE_NAME, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(ClientDisconnect, client_disconnected)
    instrument(app, "oidc-demo-site")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret.hex(),
        session_cookie="oidc_site_session",
        max_age=8 * 3600,
        same_site="lax",
        https_only=base_url.startswith("https://"),
    )

    @app.get("/")
    async def home(request: Request) -> Response:
        user = request.session.get(_USER)
        return render_page(
            "oidc_home.html",
            templates=templates(),
            title=SITE_NAME,
            site_name=SITE_NAME,
            user=user if isinstance(user, dict) else None,
            csrf=csrf_token(request.session, randomness),
        )

    @app.get("/auth/login")
    async def login(request: Request) -> Response:
        try:
            response: Response = await provider.authorize_redirect(request, callback_url)
        except Exception:  # the provider is down or its metadata unusable
            return _error("The sign-in service cannot be reached right now.", 503)
        return response

    @app.get("/auth/callback")
    async def callback(request: Request) -> Response:
        try:
            token = await provider.authorize_access_token(request)
        except OAuthError as e:
            return _error(f"Sign-in did not complete ({e.error}).", 400)
        except JoseError:  # ID token signature or claims (iss, aud, exp, nonce) rejected
            return _error("Sign-in answer did not verify.", 400)
        iss = request.query_params.get("iss")
        metadata = await provider.load_server_metadata()
        if iss is not None and iss != metadata.get("issuer"):  # RFC 9207 mix-up defence
            return _error("Sign-in answer came from an unexpected provider.", 400)
        claims = token.get("userinfo") or {}
        request.session.clear()
        request.session[_USER] = {
            "sub": str(claims.get("sub", "")),
            "real_name_verified": claims.get("real_name_verified") is True,
            "age_over_18": claims.get("age_over_18")
            if isinstance(claims.get("age_over_18"), bool)
            else None,
        }
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        if not csrf_ok(request.session, csrf):
            return _error("Your session expired; please try again.", 400)
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    return app


def _error(message: str, status_code: int) -> Response:
    return render_error(
        site_name=SITE_NAME, title="Sign-in failed", message=message, status_code=status_code
    )
