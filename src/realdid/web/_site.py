"""What the two relying-party demo sites (forum, hotel) share: the app and the login steps.

Both are ordinary sites on :mod:`realdid.rp`: the SDK's OpenID4VP routes, the shared login
page at ``/login``, and at ``/login/complete`` the same checks before a site does its own
part with the verified login:

1. the login transaction is *this browser's*: it lives only in the signed session cookie,
   never in a URL parameter, so one browser cannot complete another's login (no session
   fixation);
2. the wallet has answered, and the login succeeded;
3. the transaction is used once: the signed cookie cannot be revoked, so a copy taken
   before the login completed must not be able to complete it a second time.

Each site signs its session cookie with its own key derived from the demo secret.

Example::

    site = DemoSite("Harbour Hotel", "hotel", "hotel_session", 3600, "check-in", query, claims)
    app = site.app(rp, session_secret=secret, randomness=Randomness())

    @app.get("/login/complete")
    def complete(request: Request) -> Response:
        login = site.finished_login(request, rp, used_logins.use)
        if isinstance(login, Response):
            return login  # the page that says why not
        ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from realdid.credentials import DcqlQuery
from realdid.http import (
    NO_RATE_LIMITS,
    ClientDisconnect,
    RateLimiter,
    client_disconnected,
    instrument,
)
from realdid.randomness import Randomness
from realdid.rp import RelyingParty, VerifiedLogin, login_routes
from realdid.rp.pages import SecurityHeaders, login_failure_message, render_error, start_login
from realdid.storage import DatabaseUnavailableError

from ._pages import site_secret

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoSite:
    """One relying-party demo site: its name, session cookie and what it asks wallets for.

    ``step`` is what a login is called on the site (``"sign-in"``, ``"check-in"``), in its
    titles and messages; ``key`` names the site in the session-key derivation.
    """

    name: str
    key: str
    cookie: str
    session_max_age: int
    step: str
    query: DcqlQuery
    claims: tuple[str, ...]

    @property
    def _verb(self) -> str:
        return self.step.replace("-", " ")  # "sign in", "check in"

    def app(
        self,
        rp: RelyingParty,
        *,
        session_secret: bytes,
        randomness: Randomness,
        rate_limits: RateLimiter = NO_RATE_LIMITS,
    ) -> FastAPI:
        """The site's ASGI app with the login routes and its session; the site adds its pages.

        ``randomness`` draws the login page's script nonce; ``rate_limits`` charges each
        client for the login requests it starts (rule ``login-requests``).
        """
        app = FastAPI(title=self.name, docs_url=None, redoc_url=None, openapi_url=None)
        app.add_exception_handler(ClientDisconnect, client_disconnected)

        async def database_unavailable(_: Request, exc: Exception) -> Response:
            # A database restart or failover: a page that says "in a moment", not a 500.
            log.warning("%s: page refused, database unavailable: %s", self.name, exc)
            page = render_error(
                site_name=self.name,
                title="Try again in a moment",
                message="The site cannot reach its records right now. Please try again shortly.",
                status_code=503,
            )
            page.headers["Retry-After"] = "5"
            return page

        app.add_exception_handler(DatabaseUnavailableError, database_unavailable)
        instrument(app, self.name)
        app.include_router(login_routes(rp))

        @app.get("/login")
        def login(request: Request) -> Response:
            refused = rate_limits.refusal("login-requests", request)
            if refused is not None:
                return refused
            return start_login(
                request.session,
                rp,
                self.query,
                title=f"{self._verb.capitalize()} — {self.name}",
                site_name=self.name,
                claims=list(self.claims),
                randomness=randomness,
            )

        app.add_middleware(SecurityHeaders)
        app.add_middleware(
            SessionMiddleware,
            secret_key=site_secret(session_secret, self.key),
            session_cookie=self.cookie,
            max_age=self.session_max_age,
            same_site="lax",
        )
        return app

    def finished_login(
        self, request: Request, rp: RelyingParty, use_login: Callable[[str], bool]
    ) -> VerifiedLogin | Response:
        """The verified login this browser's transaction ended in, marked used through
        ``use_login`` (False: it already was); otherwise the page that says why not."""
        transaction = request.session.get("login_tx")
        if not isinstance(transaction, str):
            return self.failed(f"There is no {self.step} in progress in this browser.", 400)
        outcome = rp.outcome(transaction)
        if outcome.state == "pending":
            return self.failed("Your wallet has not answered yet. Go back and finish there.", 409)
        request.session.pop("login_tx", None)
        if outcome.state != "done" or outcome.login is None:
            return render_error(
                site_name=self.name,
                title=f"{self.step.capitalize()} failed",
                message=login_failure_message(outcome.state, outcome.error),
                status_code=401 if outcome.state == "failed" else 410,
                retry_url="/login",
            )
        if not use_login(transaction):
            return self.failed(
                f"This {self.step} was already used. Please {self._verb} again.", 409
            )
        return outcome.login

    def failed(self, message: str, status: int) -> Response:
        """The site's error page for a refused request."""
        return render_error(
            site_name=self.name, title="Something went wrong", message=message, status_code=status
        )
