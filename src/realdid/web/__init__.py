"""Demo websites that log residents in with RealDID: a forum and a hotel check-in.

They show what a relying party built on :mod:`realdid.rp` looks like: the forum knows its
members only by a pseudonym derived from their per-site DID, the hotel learns the identity
the law requires. :class:`DemoRuntime` registers them (and the OIDC bridge) with the
authority as real enterprises would be; ``realdid serve --demo-port`` serves them. The
shared login page (:func:`render_login`) is also used by the OIDC bridge.
"""

from ._demo import (
    DEMO_RPS,
    DeferredApp,
    DemoRp,
    DemoRuntime,
    DemoSettings,
    available_sites,
    demo_enterprises,
)
from ._forum import ForumDatabase, create_forum_app, pseudonym_for
from ._hotel import GuestBook, create_hotel_app, mask_id_number
from ._pages import (
    SECURITY_HEADERS,
    SecurityHeaders,
    claim_label,
    csrf_ok,
    csrf_token,
    derive_secret,
    login_failure_message,
    render_error,
    render_login,
    render_page,
    templates,
)

__all__ = [
    "DEMO_RPS",
    "SECURITY_HEADERS",
    "DeferredApp",
    "DemoRp",
    "DemoRuntime",
    "DemoSettings",
    "ForumDatabase",
    "GuestBook",
    "SecurityHeaders",
    "available_sites",
    "claim_label",
    "create_forum_app",
    "create_hotel_app",
    "csrf_ok",
    "csrf_token",
    "demo_enterprises",
    "derive_secret",
    "login_failure_message",
    "mask_id_number",
    "pseudonym_for",
    "render_error",
    "render_login",
    "render_page",
    "templates",
]
