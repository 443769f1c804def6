"""The OIDC bridge: "Sign in with RealDID" for websites that only speak OpenID Connect.

An OpenID Provider (discovery, JWKS, authorization code flow with PKCE S256, ES256 ID
tokens, userinfo) built on Authlib's server classes. Towards wallets it is one ordinary
relying party (:class:`realdid.rp.RelyingParty`) that asks for a site proof; towards client
sites it hands out a pairwise ``sub`` per client sector (OpenID Connect Core 8.1) and, per
scope and client permission, ``real_name_verified`` and ``age_over_18`` (ADR 0012)::

    keys = load_or_create_bridge_keys(data_dir / "bridge")
    app = create_bridge_app(
        issuer="https://login.example", rp=bridge_rp,
        clients=[BridgeClient("news", secret, ["https://news.example/auth/callback"],
                              {"openid", "realdid_verified", "age_over_18"}, "news.example")],
        signing_key=keys.signing_key, pairwise_secret=keys.pairwise_secret,
        db_path=data_dir / "bridge" / "bridge.db", session_secret=session_secret)
"""

from ._app import MAX_BODY_BYTES, create_bridge_app, discovery_document
from ._keys import (
    PAIRWISE_SECRET_FILE,
    SIGNING_KEY_FILE,
    BridgeKeyError,
    BridgeKeys,
    BridgeSetupError,
    key_id,
    load_or_create_bridge_keys,
    pairwise_subject,
    public_jwks,
)
from ._server import (
    ACR_VERIFIED_PERSON,
    SCOPE_CLAIMS,
    SUPPORTED_SCOPES,
    BridgeClient,
    Lifetimes,
)
from ._store import BridgeStore

__all__ = [
    "ACR_VERIFIED_PERSON",
    "MAX_BODY_BYTES",
    "PAIRWISE_SECRET_FILE",
    "SCOPE_CLAIMS",
    "SIGNING_KEY_FILE",
    "SUPPORTED_SCOPES",
    "BridgeClient",
    "BridgeKeyError",
    "BridgeKeys",
    "BridgeSetupError",
    "BridgeStore",
    "Lifetimes",
    "create_bridge_app",
    "discovery_document",
    "key_id",
    "load_or_create_bridge_keys",
    "pairwise_subject",
    "public_jwks",
]
