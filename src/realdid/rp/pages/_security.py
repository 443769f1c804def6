"""Response hardening and CSRF for every RealDID web page (the bridge's and the demo sites').

Pages carry no external assets: inline styles, inline SVG, and at most one inline script
allowed by a per-response nonce. Framing is refused (the login code must not be
clickjacked), forms only post back to the site itself. Forms carry a per-session token
(OWASP "synchronizer token"), on top of session cookies that are ``SameSite=Lax``.
"""

from __future__ import annotations

import hmac
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realdid.randomness import Randomness

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; connect-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


CSRF_KEY = "csrf"


def csrf_token(session: MutableMapping[str, Any], randomness: Randomness | None = None) -> str:
    """The session's anti-CSRF token, drawn from ``randomness`` on first use (the session
    cookie is also Lax)."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = (randomness or Randomness()).token(32)
        session[CSRF_KEY] = token
    return token


def csrf_ok(session: MutableMapping[str, Any], submitted: str | None) -> bool:
    """Whether a submitted form token is this session's token (constant-time compare)."""
    expected = session.get(CSRF_KEY)
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )
