"""Web pages every RealDID relying party shows: the login page, errors, security headers, CSRF.

The OIDC bridge (:mod:`realdid.rp.bridge`) and the demo sites (:mod:`realdid.web`) render the
same "Sign in with RealDID" page — QR code, short code, same-device link, polling script —
so it lives here, below both, with its templates and stylesheet. Example::

    >>> from realdid.rp.pages import SecurityHeaders, render_login
    >>> app.add_middleware(SecurityHeaders)
    >>> render_login(title="Sign in", site_name="Forum", pending=rp.create_request(query),
    ...              poll_url=..., complete_url="/login/complete", purpose=rp.purpose,
    ...              claims=["age_over_18"])
"""

from __future__ import annotations

from ._render import (
    CLAIM_LABELS,
    claim_label,
    login_failure_message,
    page_templates,
    render_error,
    render_login,
    render_page,
    site_base_url,
    start_login,
)
from ._security import (
    CONTENT_SECURITY_POLICY,
    CSRF_KEY,
    SECURITY_HEADERS,
    SecurityHeaders,
    csrf_ok,
    csrf_token,
)

__all__ = [
    "CLAIM_LABELS",
    "CONTENT_SECURITY_POLICY",
    "CSRF_KEY",
    "SECURITY_HEADERS",
    "SecurityHeaders",
    "claim_label",
    "csrf_ok",
    "csrf_token",
    "login_failure_message",
    "page_templates",
    "render_error",
    "render_login",
    "render_page",
    "site_base_url",
    "start_login",
]
