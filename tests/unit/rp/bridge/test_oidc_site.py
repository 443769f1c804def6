"""Example News (a stock Authlib OIDC client) signs a person in through the bridge, in-process."""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from realdid.randomness import Randomness
from realdid.web._oidc_site import create_oidc_site_app

from ._fakes import ISSUER, NEWS, SITE_DID, Bridge, TestClient, make_bridge

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client._compat import httpx2

SITE = "https://news.test"


@pytest.fixture
def bridge(tmp_path: Path) -> Bridge:
    return make_bridge(tmp_path)


def _site(bridge: Bridge, randomness: Randomness | None = None) -> TestClient:
    app = create_oidc_site_app(
        bridge_issuer=ISSUER,
        client_id=NEWS.client_id,
        client_secret=NEWS.client_secret,
        base_url=SITE,
        session_secret=b"n" * 32,
        transport=httpx2.ASGITransport(app=bridge.app),
        randomness=randomness,
    )
    return TestClient(app, base_url=SITE, follow_redirects=False)


def _sign_in(bridge: Bridge, site: TestClient, *, answer: bool = True) -> object:
    home = site.get("/")
    assert "Sign in with RealDID" in home.text
    to_bridge = site.get("/auth/login")
    assert to_bridge.status_code == 302
    authorize_url = to_bridge.headers["location"]
    assert authorize_url.startswith(f"{ISSUER}/authorize?")
    page = bridge.client.get(authorize_url)
    assert page.status_code == 200, page.text
    if answer:
        bridge.rp.answer()
    else:
        bridge.rp.fail("access_denied")
    back = bridge.client.get("/login/complete")
    assert back.status_code == 302
    callback = back.headers["location"]
    assert callback.startswith(f"{SITE}/auth/callback?")
    parts = urlsplit(callback)
    return site.get(f"{parts.path}?{parts.query}")


def test_oidc_site_signs_in_through_the_bridge(bridge: Bridge) -> None:
    site = _site(bridge)
    done = _sign_in(bridge, site)
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    home = site.get("/")
    assert 'id="oidc-sub"' in home.text
    assert 'id="verified-badge"' in home.text
    assert 'id="age-over-18">yes' in home.text
    assert SITE_DID not in home.text
    asked = bridge.rp.queries[-1].credentials[0].claims
    assert set(asked) == {"verified_person", "age_over_18"}


def test_same_person_gets_the_same_sub_on_the_next_visit(bridge: Bridge) -> None:
    subs = []
    for _ in range(2):
        site = _site(bridge)
        _sign_in(bridge, site)
        text = site.get("/").text
        subs.append(text.split('id="oidc-sub">', 1)[1].split("<", 1)[0])
    assert subs[0] == subs[1]
    assert len(subs[0]) == 43


def test_refused_wallet_login_shows_an_error(bridge: Bridge) -> None:
    site = _site(bridge)
    done = _sign_in(bridge, site, answer=False)
    assert done.status_code == 400  # type: ignore[attr-defined]
    assert "access_denied" in done.text  # type: ignore[attr-defined]
    assert 'id="oidc-sub"' not in site.get("/").text


def test_callback_with_a_forged_state_is_refused(bridge: Bridge) -> None:
    site = _site(bridge)
    response = site.get("/auth/callback?code=abc&state=forged")
    assert response.status_code == 400
    assert 'id="oidc-sub"' not in site.get("/").text


def test_logout_needs_the_csrf_token(bridge: Bridge) -> None:
    site = _site(bridge)
    _sign_in(bridge, site)
    assert site.post("/logout", data={"csrf": "wrong"}).status_code == 400
    assert 'id="oidc-sub"' in site.get("/").text
    token = site.get("/").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert site.post("/logout", data={"csrf": token}).status_code == 303
    assert 'id="oidc-sub"' not in site.get("/").text


def test_the_logout_csrf_token_comes_from_the_sites_randomness(bridge: Bridge) -> None:
    site = _site(bridge, Randomness.seeded(13))
    _sign_in(bridge, site)
    token = site.get("/").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    # Drawn for the anonymous home page; the sign-in callback clears the session, so the
    # signed-in page draws the second token.
    replay = Randomness.seeded(13)
    replay.token(32)
    assert token == replay.token(32)
