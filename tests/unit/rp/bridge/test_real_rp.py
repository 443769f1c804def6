"""The bridge with the real RelyingParty: the wallet talks OpenID4VP to the bridge's routes.

Uses the RP SDK's in-process setup (static issuer, dict DID resolver, status list server)
from tests/unit/rp; the wallet side fetches the request object over HTTP from the bridge,
presents its site proof and posts it back, exactly as ``realdid wallet login`` would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from realdid.credentials import parse_authorization_url, verify_request_object
from realdid.crypto import DEFAULT_POLICY, KeyType
from realdid.rp.bridge import BridgeClient, create_bridge_app

from ..conftest import BASE_URL, DictResolver, RpEnv, StatusServer, Wallet, build_rp
from ._fakes import TestClient

NEWS = BridgeClient(
    "news",
    "news-secret-0123456789abcdef",
    ["https://news.test/auth/callback"],
    {"openid", "realdid_verified", "age_over_18"},
    "news.test",
)


@pytest.fixture
def real_env() -> Iterator[RpEnv]:
    from realdid.clock import FixedClock

    clock = FixedClock(1_780_000_000)
    resolver = DictResolver()
    issuer = resolver.create(KeyType.P256, ("assertionMethod",))
    built = build_rp(clock, resolver, issuer, StatusServer(issuer, clock))
    yield built
    built.rp.close()


def test_code_flow_with_a_real_wallet_presentation(real_env: RpEnv, tmp_path: object) -> None:
    env = real_env
    app = create_bridge_app(
        issuer=BASE_URL,
        rp=env.rp,
        clients=[NEWS],
        signing_key=ECKey.generate_key("P-256", private=True),
        pairwise_secret=b"q" * 32,
        db_path=":memory:",
        session_secret=b"s" * 32,
        clock=env.clock,
    )
    browser = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": "news",
        "redirect_uri": NEWS.redirect_uris[0],
        "scope": "openid realdid_verified age_over_18",
        "state": "st",
        "nonce": "n-1",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    page = browser.get("/authorize?" + urlencode(params))
    assert page.status_code == 200
    code = re.search(r'id="login-code"[^>]*>([A-Z0-9-]+)<', page.text)
    authorization = re.search(r"authorization=([A-Za-z0-9_-]+)", page.text)
    assert code
    assert authorization

    # the wallet: short code -> openid4vp URL -> signed request object -> presentation
    wallet_http = TestClient(app, base_url=BASE_URL)
    url = wallet_http.get(f"/oid4vp/codes/{code.group(1)}").json()["authorization_url"]
    _, request_uri = parse_authorization_url(url)
    jws = wallet_http.get(request_uri).text
    request = verify_request_object(
        jws, resolve_key=env.resolver.key, now=env.clock.now(), policy=DEFAULT_POLICY
    )
    assert set(request.dcql_query.credentials[0].claims) == {"verified_person", "age_over_18"}
    holder = env.site_holder()
    credential = env.issue(holder)
    wallet = Wallet.__new__(Wallet)
    wallet.env, wallet.request = env, request
    posted = wallet_http.post("/oid4vp/responses", data=wallet.answer(credential))
    assert posted.status_code == 200, posted.text
    assert posted.json()["redirect_uri"] == f"{BASE_URL}/login/complete"

    done = browser.get(f"/authorize/complete?authorization={authorization.group(1)}")
    assert done.status_code == 302, done.text
    back = {k: v[0] for k, v in parse_qs(urlsplit(done.headers["location"]).query).items()}
    assert back["state"] == "st"
    token = browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": NEWS.redirect_uris[0],
            "code_verifier": verifier,
        },
        auth=("news", NEWS.client_secret),
    ).json()
    keys = KeySet.import_key_set(browser.get("/jwks").json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["aud"] == "news"
    assert claims["nonce"] == "n-1"
    assert claims["real_name_verified"] is True
    assert claims["age_over_18"] is True
    assert holder.did not in json.dumps(claims)
