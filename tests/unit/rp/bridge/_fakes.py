"""A stand-in for the bridge's RelyingParty and a conforming OIDC client driver.

The fake RP records every DCQL query the bridge makes and lets a test decide the wallet's
answer (``answer``/``fail``), so the bridge can be driven through Starlette's TestClient
like a real browser + client site, without wallets, DIDs or an authority.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc.jwk import ECKey

from realdid.clock import FixedClock
from realdid.credentials import DcqlQuery
from realdid.http import NO_RATE_LIMITS, RateLimiter
from realdid.randomness import Randomness
from realdid.rp import LoginOutcome, PendingLogin, VerifiedLogin
from realdid.rp.bridge import BridgeClient, create_bridge_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SITE_PROOF = "urn:realdid:SiteProof"
ISSUER = "https://bridge.test"
NEWS_SECRET = "news-secret-0123456789abcdef"
SHOP_SECRET = "shop-secret-0123456789abcdef"
NEWS = BridgeClient(
    "news",
    NEWS_SECRET,
    ["https://news.test/auth/callback"],
    {"openid", "realdid_verified", "age_over_18"},
    "news.test",
    name="Example News",
)
SHOP = BridgeClient(
    "shop", SHOP_SECRET, ["https://shop.test/cb"], {"openid", "realdid_verified"}, "shop.test"
)
SITE_DID = "did:realdid:EiSiteDidOfAlice000000000000000000000000000"


@dataclass(frozen=True)
class FakeConfig:
    client_did: str = "did:realdid:QmBridgeOperator"


@dataclass
class FakeRp:
    """What the bridge uses of a RelyingParty: name, purpose, permitted, requests, outcomes."""

    clock: FixedClock
    config: FakeConfig = field(default_factory=FakeConfig)
    name: str = "Bridge Operator Ltd"
    purpose: str = "Sign in with RealDID for OpenID Connect websites"
    permitted: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: {SITE_PROOF: frozenset({"verified_person", "age_over_18"})}
    )
    queries: list[DcqlQuery] = field(default_factory=list)
    outcomes: dict[str, LoginOutcome] = field(default_factory=dict)
    last: str = ""

    def create_request(self, query: DcqlQuery) -> PendingLogin:
        self.queries.append(query)
        transaction = secrets.token_urlsafe(16)
        self.outcomes[transaction] = LoginOutcome("pending")
        self.last = transaction
        return PendingLogin(
            request_id="req-1",
            transaction=transaction,
            code="ABCD-EFGH",
            authorization_url="openid4vp://?client_id=x&request_uri=https%3A%2F%2Fbridge.test%2Fr",
            request_uri=f"{ISSUER}/oid4vp/requests/req-1",
            code_url=f"{ISSUER}/oid4vp/codes/ABCDEFGH",
            expires_at=self.clock.now() + 300,
        )

    def outcome(self, transaction: str) -> LoginOutcome:
        return self.outcomes.get(transaction, LoginOutcome("expired"))

    def answer(self, site_did: str = SITE_DID, **extra: Any) -> None:
        """The wallet presents a site proof disclosing exactly what the query asked for."""
        asked = self.queries[-1].credentials[0].claims
        claims = {"verified_person": True, "assurance_level": "high", "age_over_18": True}
        claims.update(extra)
        login = VerifiedLogin(
            subject=site_did,
            credential_type=SITE_PROOF,
            claims={k: v for k, v in claims.items() if k in asked or k == "assurance_level"},
            issuer="did:realdid:authority",
            verified_at=self.clock.now(),
        )
        self.outcomes[self.last] = LoginOutcome("done", login)

    def fail(self, error: str) -> None:
        self.outcomes[self.last] = LoginOutcome("failed", error=error)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Bridge:
    client: TestClient
    rp: FakeRp
    clock: FixedClock
    signing_key: ECKey
    app: Any


def make_bridge(
    tmp_path: Any,
    *,
    clients: tuple[BridgeClient, ...] = (NEWS, SHOP),
    randomness: Randomness | None = None,
    rate_limits: RateLimiter = NO_RATE_LIMITS,
) -> Bridge:
    clock = FixedClock(int(time.time()))
    rp = FakeRp(clock)
    key = ECKey.generate_key("P-256", private=True)
    app = create_bridge_app(
        issuer=ISSUER,
        rp=rp,  # type: ignore[arg-type]
        clients=clients,
        signing_key=key,
        pairwise_secret=b"p" * 32,
        db_path=tmp_path / "bridge.db",
        session_secret=b"s" * 32,
        clock=clock,
        randomness=randomness,
        mount_login_routes=False,
        rate_limits=rate_limits,
    )
    client = TestClient(app, base_url=ISSUER, follow_redirects=False)
    return Bridge(client, rp, clock, key, app)


@dataclass
class Started:
    """An authorization request the bridge accepted: its login page is showing."""

    authorization: str
    verifier: str
    state: str
    nonce: str
    client: BridgeClient
    redirect_uri: str
    page: str


def authorize_params(
    client: BridgeClient,
    *,
    scope: str = "openid realdid_verified age_over_18",
    verifier: str | None = None,
    **overrides: str | None,
) -> dict[str, str]:
    verifier = verifier or secrets.token_urlsafe(48)
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0],
        "scope": scope,
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        "_verifier": verifier,
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def start(bridge: Bridge, client: BridgeClient = NEWS, **kwargs: Any) -> Started:
    params = authorize_params(client, **kwargs)
    verifier = params.pop("_verifier")
    response = bridge.client.get("/authorize?" + urlencode(params))
    assert response.status_code == 200, response.text
    match = re.search(r"authorization=([A-Za-z0-9_-]+)", response.text)
    assert match
    return Started(
        match.group(1),
        verifier,
        params["state"],
        params["nonce"],
        client,
        params["redirect_uri"],
        response.text,
    )


def complete(bridge: Bridge, started: Started) -> dict[str, str]:
    """Follow the login page to the client's redirect; the redirect's query parameters."""
    response = bridge.client.get(f"/authorize/complete?authorization={started.authorization}")
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(started.redirect_uri + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def redeem(
    bridge: Bridge,
    started: Started,
    code: str,
    *,
    secret: str | None = None,
    verifier: str | None = None,
    basic: bool = True,
    client_id: str | None = None,
    redirect_uri: str | None = None,
) -> Any:
    client_id = client_id or started.client.client_id
    secret = secret if secret is not None else started.client.client_secret
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri or started.redirect_uri,
        "code_verifier": verifier if verifier is not None else started.verifier,
    }
    if basic:
        return bridge.client.post("/token", data=form, auth=(client_id, secret))
    return bridge.client.post(
        "/token", data={**form, "client_id": client_id, "client_secret": secret}
    )


def login(bridge: Bridge, client: BridgeClient = NEWS, **kwargs: Any) -> tuple[Started, Any]:
    """A whole successful flow; the token response."""
    started = start(bridge, client, **kwargs)
    bridge.rp.answer()
    params = complete(bridge, started)
    response = redeem(bridge, started, params["code"])
    assert response.status_code == 200, response.text
    return started, response.json()
