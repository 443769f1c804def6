"""The "Sign in with RealDID" page and the page rendering every RealDID site shares.

Every RealDID login page looks the same to the resident wherever it appears: a QR code for a
phone wallet, a short code to type into ``realdid wallet login``, a link for a wallet on the
same device, what the site will receive and why — and a tiny script that waits for the
wallet's answer, so the page moves on by itself without the resident reloading it.

Templates are autoescaped: pseudonyms, posts and claim values all come from outside. The
stylesheet is inlined into each page so no page needs a second request or an external asset.
A site with pages of its own (the demo sites in :mod:`realdid.web`) renders them through
:func:`page_templates` with its package named, so they extend the shared ``base.html``.
"""

from __future__ import annotations

import functools
import importlib.resources
import urllib.parse
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.responses import HTMLResponse

from realdid.randomness import Randomness

from ._security import CONTENT_SECURITY_POLICY, SECURITY_HEADERS

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
def page_templates(*packages: str) -> jinja2.Environment:
    """A Jinja environment over the ``templates`` of ``packages`` and then the shared ones
    (``base.html``, ``login.html``, ``error.html``); autoescape on, strict undefined."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader(p, "templates") for p in packages]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [*loaders, jinja2.PackageLoader("realdid.rp.pages", "templates")]
        ),
        autoescape=True,  # every value shown may come from a user, a wallet or another site
        undefined=jinja2.StrictUndefined,
    )
    env.globals["site_css"] = _site_css()
    return env


def _site_css() -> str:
    return (importlib.resources.files("realdid.rp.pages") / "static" / "site.css").read_text(
        "utf-8"
    )


def claim_label(claim: str) -> str:
    """What a claim means, in words a resident understands."""
    return CLAIM_LABELS.get(claim, claim)


def site_base_url(pending: PendingLogin) -> str:
    """The site's public base URL (scheme and host), the ``--site`` argument for the CLI."""
    parts = urllib.parse.urlsplit(pending.request_uri)
    return f"{parts.scheme}://{parts.netloc}"


def render_page(
    template: str,
    *,
    status_code: int = 200,
    script_nonce: str | None = None,
    templates: jinja2.Environment | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a template (from ``templates``, default the shared ones) as an HTML response,
    never cached.

    With ``script_nonce`` the page may run inline scripts carrying that nonce; without it, no
    script runs at all.
    """
    env = templates if templates is not None else page_templates()
    html = env.get_template(template).render(script_nonce=script_nonce, **context)
    headers = {"Cache-Control": "no-store", **SECURITY_HEADERS}
    if script_nonce is not None:
        headers["Content-Security-Policy"] = (
            f"{CONTENT_SECURITY_POLICY}; script-src 'nonce-{script_nonce}'"
        )
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
    randomness: Randomness | None = None,
) -> HTMLResponse:
    """The shared "Sign in with RealDID" page for one pending login request.

    ``poll_url`` answers ``{"state", "error"}`` (the RP SDK's transaction route); when it says
    ``done`` the page goes to ``complete_url``, which reads the outcome server-side. The QR
    SVG is our own output (segno) and is inserted unescaped; everything else is escaped.
    ``site_url`` defaults to the scheme and host of the request URI. The polling script runs
    under a fresh CSP nonce per response, drawn from ``randomness``.
    """
    base = site_url if site_url is not None else site_base_url(pending)
    return render_page(
        "login.html",
        script_nonce=(randomness or Randomness()).token(16),
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
    randomness: Randomness | None = None,
) -> HTMLResponse:
    """Create a login request, keep its transaction in ``session["login_tx"]`` (only this
    browser can complete it) and render the login page polling it (its script nonce from
    ``randomness``)."""
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
        randomness=randomness,
    )
