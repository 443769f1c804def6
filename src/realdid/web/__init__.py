"""Websites that log residents in with RealDID: the demo forum and hotel check-in, and
the OpenID Connect bridge as a service of its own (:class:`BridgeService`).

They show what a relying party built on :mod:`realdid.rp` looks like: the forum knows its
members only by a pseudonym derived from their per-site DID, the hotel learns the identity
the law requires. :class:`DemoRuntime` registers them (and the OIDC bridge) with the
authority as real enterprises would be; ``realdid serve --demo-port`` serves them. Their
login page, error page, CSRF tokens and security headers are the ones the OIDC bridge
shows too (:mod:`realdid.rp.pages`).
"""

from __future__ import annotations

from ._bootstrap import DemoRuntime, demo_enterprises
from ._bridge import (
    BridgeService,
    BridgeServiceSettings,
    find_registration,
    load_bridge_clients,
)
from ._deferred import DeferredApp
from ._forum import ForumDatabase, create_forum_app, pseudonym_for
from ._hotel import GuestBook, create_hotel_app, mask_id_number
from ._pages import derive_secret, templates
from ._settings import DEMO_RPS, DemoRp, DemoSettings, available_sites

__all__ = [
    "DEMO_RPS",
    "BridgeService",
    "BridgeServiceSettings",
    "DeferredApp",
    "DemoRp",
    "DemoRuntime",
    "DemoSettings",
    "ForumDatabase",
    "GuestBook",
    "available_sites",
    "create_forum_app",
    "create_hotel_app",
    "demo_enterprises",
    "derive_secret",
    "find_registration",
    "load_bridge_clients",
    "mask_id_number",
    "pseudonym_for",
    "templates",
]
