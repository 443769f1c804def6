"""The demo sites' own templates and session keys.

The login page, error page, security headers and CSRF tokens every RealDID site shares live
in :mod:`realdid.rp.pages` (the OIDC bridge shows them too); the demo sites' pages here
(forum, hotel, OIDC client, "starting") extend its ``base.html``.
"""

from __future__ import annotations

import hmac

import jinja2

from realdid.rp.pages import page_templates


def templates() -> jinja2.Environment:
    """The Jinja environment of ``realdid.web`` pages over the shared ones (autoescape on)."""
    return page_templates("realdid.web")


def derive_secret(secret: bytes, site: str) -> bytes:
    """A per-site key derived from one demo secret (HMAC-SHA256), so sites share no key."""
    return hmac.new(secret, b"realdid/web/session/" + site.encode(), "sha256").digest()


def site_secret(secret: bytes, site: str) -> str:
    """:func:`derive_secret` as the text key Starlette's SessionMiddleware takes."""
    return derive_secret(secret, site).hex()
