"""Shared page rendering for the demo websites and the OIDC bridge.

Every RealDID login page looks the same to the resident wherever it appears: a QR code for a
phone wallet, a short code to type into ``realdid wallet login``, a link for a wallet on the
same device, what the site will receive and why — and a tiny script that waits for the
wallet's answer, so the page moves on by itself without the resident reloading it.

Templates live in the package (``realdid.web/templates``) and are autoescaped: pseudonyms,
posts and claim values all come from outside. The stylesheet is inlined into each page so
no page needs a second request or an external asset.
"""

from __future__ import annotations

import functools
import hmac
import importlib.resources
import secrets
import urllib.parse
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from realdid.credentials import DcqlQuery
    from realdid.rp import PendingLogin, RelyingParty

# Human wording for the claims a site may request; unknown claims are shown by name.
CLAIM_LABELS: dict[str, str] = {
    "verified_person": "that you are a verified real person",
    "assurance_level": "how strongly your identity was verified",
    "age_over_18": "whether you are 18 or older",
    "age_over_60": "whether you are 60 or older",
    "province": "your province",
    "region": "your region",
    "family_name": "your family name",
    "given_name": "your given name",
    "id_number": "your national ID number",
    "birth_date": "your date of birth",
    "sex": "your sex",
}


@functools.cache
def templates() -> jinja2.Environment:
    """The one Jinja environment for ``realdid.web`` pages (autoescape on, strict undefined)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("realdid.web", "templates"),
        autoescape=True,  # every value shown may come from a user, a wallet or another site
        undefined=jinja2.StrictUndefined,
    )
    env.globals["site_css"] = _site_css()
    return env


def _site_css() -> str:
    return (importlib.resources.files("realdid.web") / "static" / "site.css").read_text("utf-8")


def claim_label(claim: str) -> str:
    """What a claim means, in words a resident understands."""
    return CLAIM_LABELS.get(claim, claim)


def site_base_url(pending: PendingLogin) -> str:
    """The site's public base URL (scheme and host), the ``--site`` argument for the CLI."""
    parts = urllib.parse.urlsplit(pending.request_uri)
    return f"{parts.scheme}://{parts.netloc}"


# Pages carry no external assets: inline styles, inline SVG, and at most one inline script
# allowed by a per-response nonce. Framing is refused (the login code must not be
# clickjacked), forms only post back to the site itself.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; connect-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def render_page(
    template: str, *, status_code: int = 200, script_nonce: str | None = None, **context: Any
) -> HTMLResponse:
    """Render one of the package's templates as an HTML response (never cached).

    With ``script_nonce`` the page may run inline scripts carrying that nonce; without it, no
    script runs at all.
    """
    html = templates().get_template(template).render(script_nonce=script_nonce, **context)
    headers = {"Cache-Control": "no-store", **SECURITY_HEADERS}
    if script_nonce is not None:
        headers["Content-Security-Policy"] = f"{_CSP}; script-src 'nonce-{script_nonce}'"
    return HTMLResponse(html, status_code=status_code, headers=headers)


def login_failure_message(state: str, error: str | None) -> str:
    """One sentence for a failed or expired login (the error code, never personal data)."""
    if state == "expired":
        return "The sign-in request expired before your wallet answered. Please try again."
    if error in ("access-denied", "access_denied"):
        return "You declined the request in your wallet, so you are not signed in."
    return f"Your wallet's answer could not be accepted ({error or 'unknown error'})."


def render_error(
    *, site_name: str, title: str, message: str, status_code: int, retry_url: str | None = "/"
) -> HTMLResponse:
    """The shared error page: one plain sentence, no codes a resident cannot act on."""
    return render_page(
        "error.html",
        status_code=status_code,
        title=title,
        site_name=site_name,
        message=message,
        retry_url=retry_url,
    )


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


# -- sessions and CSRF ------------------------------------------------------------------------
CSRF_KEY = "csrf"


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's anti-CSRF token, made on first use (the session cookie is also Lax)."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
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


def derive_secret(secret: bytes, site: str) -> bytes:
    """A per-site key derived from one demo secret (HMAC-SHA256), so sites share no key."""
    return hmac.new(secret, b"realdid/web/session/" + site.encode(), "sha256").digest()


def site_secret(secret: bytes, site: str) -> str:
    """:func:`derive_secret` as the text key Starlette's SessionMiddleware takes."""
    return derive_secret(secret, site).hex()


def render_login(
    *,
    title: str,
    site_name: str,
    pending: PendingLogin,
    poll_url: str,
    complete_url: str,
    purpose: str,
    claims: list[str],
    site_url: str | None = None,
) -> HTMLResponse:
    """The shared "Sign in with RealDID" page for one pending login request.

    ``poll_url`` answers ``{"state", "error"}`` (the RP SDK's transaction route); when it says
    ``done`` the page goes to ``complete_url``, which reads the outcome server-side. The QR
    SVG is our own output (segno) and is inserted unescaped; everything else is escaped.
    ``site_url`` defaults to the scheme and host of the request URI.
    """
    base = site_url if site_url is not None else site_base_url(pending)
    return render_page(
        "login.html",
        script_nonce=secrets.token_urlsafe(16),
        title=title,
        site_name=site_name,
        qr_svg=pending.qr_svg(),
        code=pending.code,
        authorization_url=pending.authorization_url,
        cli_command=f"realdid wallet login {pending.code} --site {base} --wallet-dir <your wallet>",
        poll_url=poll_url,
        complete_url=complete_url,
        purpose=purpose,
        claims=[(claim, claim_label(claim)) for claim in claims],
        expires_at=pending.expires_at,
    )


def start_login(
    session: MutableMapping[str, Any],
    rp: RelyingParty,
    query: DcqlQuery,
    *,
    title: str,
    site_name: str,
    claims: list[str],
) -> HTMLResponse:
    """Create a login request, keep its transaction in ``session["login_tx"]`` (only this
    browser can complete it) and render the login page polling it."""
    pending = rp.create_request(query)
    session["login_tx"] = pending.transaction
    return render_login(
        title=title,
        site_name=site_name,
        pending=pending,
        poll_url=f"{rp.config.prefix}/transactions/{pending.transaction}",
        complete_url="/login/complete",
        purpose=rp.purpose,
        claims=claims,
    )
