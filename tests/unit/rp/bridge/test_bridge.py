"""The OIDC bridge driven as a conforming client would: discovery, code flow, refusals."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from realdid.http import Rate, RateLimiter
from realdid.rp.bridge import (
    ACR_VERIFIED_PERSON,
    BridgeClient,
    BridgeKeyError,
    Lifetimes,
    load_or_create_bridge_keys,
    pairwise_subject,
)
from realdid.storage import DatabaseUnavailableError

from ._fakes import (
    ISSUER,
    NEWS,
    SHOP,
    SITE_DID,
    Bridge,
    authorize_params,
    complete,
    login,
    make_bridge,
    redeem,
    start,
)


@pytest.fixture
def bridge(tmp_path: Path) -> Bridge:
    return make_bridge(tmp_path)


def _id_token(bridge: Bridge, token: str, *, audience: str) -> dict[str, object]:
    """Verify like a client: signature via the published JWKS (kid), then the claims."""
    keys = KeySet.import_key_set(bridge.client.get("/jwks").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"
    assert decoded.header["kid"] == keys.keys[0].kid
    jwt.JWTClaimsRegistry(
        now=bridge.clock.now(),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(decoded.claims)
    return dict(decoded.claims)


# -- discovery and keys --------------------------------------------------------------------------
def test_discovery_document(bridge: Bridge) -> None:
    response = bridge.client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == ISSUER
    assert meta["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert meta["token_endpoint"] == f"{ISSUER}/token"
    assert meta["jwks_uri"] == f"{ISSUER}/jwks"
    assert meta["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert meta["response_types_supported"] == ["code"]
    assert meta["subject_types_supported"] == ["pairwise"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["scopes_supported"] == ["openid", "realdid_verified", "age_over_18"]
    assert {"sub", "real_name_verified", "age_over_18", "acr"} <= set(meta["claims_supported"])
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_discovery_validates_with_authlib(bridge: Bridge) -> None:
    from authlib.oidc.discovery import OpenIDProviderMetadata

    class EsOnly(OpenIDProviderMetadata):  # type: ignore[misc]
        """Discovery 1.0 asks every OP to offer RS256; this one deliberately signs ES256 only."""

        def validate_id_token_signing_alg_values_supported(self) -> None:
            assert self["id_token_signing_alg_values_supported"] == ["ES256"]

    EsOnly(bridge.client.get("/.well-known/openid-configuration").json()).validate()


def test_jwks_has_only_the_public_key(bridge: Bridge) -> None:
    jwks = bridge.client.get("/jwks").json()
    (key,) = jwks["keys"]
    assert key["kty"] == "EC"
    assert key["crv"] == "P-256"
    assert key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert "d" not in key
    assert key["kid"] == bridge.signing_key.thumbprint()


def test_health_names_the_bridges_did_and_its_store(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = bridge.client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.json() == {"status": "ok", "did": bridge.rp.config.client_did}

    def down() -> None:
        raise DatabaseUnavailableError("the database restarts")

    monkeypatch.setattr(bridge.app.state.store._db, "reading", down)
    degraded = bridge.client.get("/healthz")
    assert degraded.status_code == 503
    assert degraded.json() == {"status": "degraded", "error": "database unavailable"}


def test_bridge_without_age_entitlement_does_not_offer_it(tmp_path: Path) -> None:
    bridge = make_bridge(tmp_path)
    bridge.rp.permitted = {"urn:realdid:SiteProof": frozenset({"verified_person"})}
    from realdid.rp.bridge import create_bridge_app

    app = create_bridge_app(
        issuer=ISSUER,
        rp=bridge.rp,  # type: ignore[arg-type]
        clients=[NEWS],
        signing_key=bridge.signing_key,
        pairwise_secret=b"p" * 32,
        db_path=tmp_path / "other.db",
        session_secret=b"s" * 32,
        mount_login_routes=False,
    )
    from ._fakes import TestClient

    client = TestClient(app, base_url=ISSUER)
    assert (
        "age_over_18"
        not in client.get("/.well-known/openid-configuration").json()["scopes_supported"]
    )


# -- the happy path -------------------------------------------------------------------------------
def test_full_code_flow_with_pkce(bridge: Bridge) -> None:
    started = start(bridge)
    assert "ABCD-EFGH" in started.page  # the shared login page with the short code
    (query,) = bridge.rp.queries
    (credential,) = query.credentials
    assert credential.vct_values == ("urn:realdid:SiteProof",)
    assert set(credential.claims) == {"verified_person", "age_over_18"}

    status = bridge.client.get(f"/authorize/status?authorization={started.authorization}")
    assert status.json()["state"] == "pending"
    bridge.rp.answer()
    status = bridge.client.get(f"/authorize/status?authorization={started.authorization}")
    assert status.json()["state"] == "done"

    params = complete(bridge, started)
    assert params["state"] == started.state
    assert params["iss"] == ISSUER  # RFC 9207
    response = redeem(bridge, started, params["code"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == {"openid", "realdid_verified", "age_over_18"}
    assert "refresh_token" not in token

    claims = _id_token(bridge, token["id_token"], audience="news")
    assert claims["nonce"] == started.nonce
    assert claims["aud"] == "news"
    assert claims["acr"] == ACR_VERIFIED_PERSON
    assert claims["auth_time"] == bridge.clock.now()
    assert claims["real_name_verified"] is True
    assert claims["age_over_18"] is True
    assert claims["sub"] == pairwise_subject(b"p" * 32, "news.test", SITE_DID)
    assert SITE_DID not in json.dumps(claims)
    assert "did:realdid" not in json.dumps(claims)

    userinfo = bridge.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert userinfo.status_code == 200
    assert userinfo.json() == {
        "sub": claims["sub"],
        "real_name_verified": True,
        "age_over_18": True,
    }


def test_client_secret_post_works(bridge: Bridge) -> None:
    started = start(bridge)
    bridge.rp.answer()
    params = complete(bridge, started)
    response = redeem(bridge, started, params["code"], basic=False)
    assert response.status_code == 200, response.text


def test_openid_only_releases_sub_and_asks_wallet_for_no_age(bridge: Bridge) -> None:
    _, token = login(bridge, scope="openid")
    assert set(bridge.rp.queries[-1].credentials[0].claims) == {"verified_person"}
    claims = _id_token(bridge, token["id_token"], audience="news")
    assert "real_name_verified" not in claims
    assert "age_over_18" not in claims


def test_scopes_beyond_the_clients_allowance_are_not_granted(bridge: Bridge) -> None:
    _started, token = login(bridge, SHOP, scope="openid realdid_verified age_over_18")
    assert token["scope"] == "openid realdid_verified"
    assert set(bridge.rp.queries[-1].credentials[0].claims) == {"verified_person"}
    claims = _id_token(bridge, token["id_token"], audience="shop")
    assert claims["real_name_verified"] is True
    assert "age_over_18" not in claims


def test_unknown_scopes_are_ignored(bridge: Bridge) -> None:
    _, token = login(bridge, scope="openid profile email")
    assert token["scope"] == "openid"


# -- pairwise subjects ----------------------------------------------------------------------------
def test_pairwise_sub_differs_between_clients_and_is_stable_per_client(bridge: Bridge) -> None:
    subs = []
    for client in (NEWS, SHOP, NEWS):
        _, token = login(bridge, client, scope="openid")
        subs.append(_id_token(bridge, token["id_token"], audience=client.client_id)["sub"])
    assert subs[0] != subs[1]
    assert subs[0] == subs[2]


def test_pairwise_subject_is_keyed_and_sector_bound() -> None:
    a = pairwise_subject(b"k" * 32, "news.test", SITE_DID)
    assert a == pairwise_subject(b"k" * 32, "news.test", SITE_DID)
    assert a != pairwise_subject(b"x" * 32, "news.test", SITE_DID)
    assert a != pairwise_subject(b"k" * 32, "shop.test", SITE_DID)
    assert a != pairwise_subject(b"k" * 32, "news.test", SITE_DID + "x")
    assert len(a) == 43
    assert "=" not in a


# -- refusals at the authorization endpoint ---------------------------------------------------------
def test_authorize_is_rate_limited_per_client(tmp_path: Path) -> None:
    now = [0.0]
    limits = RateLimiter({"login-requests": Rate(per_second=1, burst=2)}, clock=lambda: now[0])
    bridge = make_bridge(tmp_path, rate_limits=limits)
    start(bridge)
    start(bridge)
    params = authorize_params(NEWS)
    params.pop("_verifier")
    refused = bridge.client.get("/authorize?" + urlencode(params))
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"] == "urn:realdid:problem:rate-limited"
    assert len(bridge.rp.queries) == 2  # no wallet login was started for it
    now[0] += 1.0
    start(bridge)
    assert len(bridge.rp.queries) == 3


def _authorize(bridge: Bridge, **overrides: str | None) -> object:
    params = authorize_params(NEWS, **overrides)
    params.pop("_verifier")
    return bridge.client.get("/authorize?" + urlencode(params))


def _error_redirect(response: object) -> dict[str, str]:
    assert response.status_code == 302, response.text  # type: ignore[attr-defined]
    location = response.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith(NEWS.redirect_uris[0] + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_unknown_client_gets_an_error_page_not_a_redirect(bridge: Bridge) -> None:
    response = _authorize(bridge, client_id="nobody")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "location" not in response.headers  # type: ignore[attr-defined]
    assert "not registered" in response.text  # type: ignore[attr-defined]
    assert bridge.rp.queries == []


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(bridge: Bridge) -> None:
    evil = "https://evil.test/steal"
    response = _authorize(bridge, redirect_uri=evil)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "location" not in response.headers  # type: ignore[attr-defined]
    assert "return address" in response.text  # type: ignore[attr-defined]
    assert bridge.rp.queries == []


def test_missing_redirect_uri_gets_an_error_page(bridge: Bridge) -> None:
    response = _authorize(bridge, redirect_uri=None)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "location" not in response.headers  # type: ignore[attr-defined]


def test_hostile_client_id_is_escaped(bridge: Bridge) -> None:
    response = _authorize(bridge, client_id="<script>alert(1)</script>")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "<script>alert" not in response.text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"scope": "realdid_verified age_over_18"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"prompt": "none"}, "login_required"),
    ],
    ids=[
        "no-pkce",
        "pkce-method-missing",
        "pkce-plain",
        "bad-challenge",
        "no-openid",
        "implicit",
        "hybrid",
        "prompt-none",
    ],
)
def test_invalid_requests_redirect_with_an_error(
    bridge: Bridge, overrides: dict[str, str | None], error: str
) -> None:
    params = _error_redirect(_authorize(bridge, state="st-1", **overrides))
    assert params["error"] == error
    assert params["state"] == "st-1"
    assert params["iss"] == ISSUER
    assert "code" not in params
    assert bridge.rp.queries == []


def test_repeated_parameters_are_refused(bridge: Bridge) -> None:
    params = authorize_params(NEWS)
    params.pop("_verifier")
    query = urlencode(params) + "&scope=openid"
    response = bridge.client.get("/authorize?" + query)
    assert response.status_code == 400  # which one to trust? neither: a page, no redirect
    assert "location" not in response.headers
    assert "invalid sign-in request" in response.text


def test_too_many_parameters_are_refused(bridge: Bridge) -> None:
    response = bridge.client.get("/authorize?" + "&".join(f"p{i}=x" for i in range(100)))
    assert response.status_code == 413


# -- wallet outcomes ------------------------------------------------------------------------------
@pytest.mark.parametrize("wallet_error", ["access_denied", "revoked", "holder-deactivated"])
def test_failed_wallet_login_returns_access_denied(bridge: Bridge, wallet_error: str) -> None:
    started = start(bridge)
    bridge.rp.fail(wallet_error)
    params = complete(bridge, started)
    assert params["error"] == "access_denied"
    assert params["state"] == started.state
    assert params["iss"] == ISSUER
    assert "code" not in params


def test_expired_wallet_login_returns_access_denied(bridge: Bridge) -> None:
    started = start(bridge)
    bridge.rp.outcomes.clear()  # the RP no longer knows the request: expired
    params = complete(bridge, started)
    assert params["error"] == "access_denied"
    assert "expired" in params["error_description"]


def test_pending_login_shows_the_login_page_again(bridge: Bridge) -> None:
    started = start(bridge)
    response = bridge.client.get(f"/authorize/complete?authorization={started.authorization}")
    assert response.status_code == 200
    assert "ABCD-EFGH" in response.text


def test_completion_from_another_browser_is_refused(bridge: Bridge, tmp_path: Path) -> None:
    started = start(bridge)
    bridge.rp.answer()
    from ._fakes import TestClient

    other = TestClient(bridge.app, base_url=ISSUER, follow_redirects=False)
    response = other.get(f"/authorize/complete?authorization={started.authorization}")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert other.get(f"/authorize/status?authorization={started.authorization}").json() == {
        "state": "done",
        "error": None,
    }
    # ... and the rightful browser still completes
    assert "code" in complete(bridge, started)


def test_an_authorization_completes_once(bridge: Bridge) -> None:
    started = start(bridge)
    bridge.rp.answer()
    complete(bridge, started)
    response = bridge.client.get(f"/authorize/complete?authorization={started.authorization}")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_same_device_completion_uses_the_latest_login(bridge: Bridge) -> None:
    start(bridge)
    bridge.rp.answer()
    response = bridge.client.get("/login/complete")
    assert response.status_code == 302
    assert response.headers["location"].startswith(NEWS.redirect_uris[0] + "?code=")


def test_nonce_replay_is_refused(bridge: Bridge) -> None:
    started, _ = login(bridge)
    params = _error_redirect(_authorize(bridge, nonce=started.nonce))
    assert params["error"] == "invalid_request"


# -- refusals at the token endpoint ---------------------------------------------------------------
def _code(bridge: Bridge, client: BridgeClient = NEWS) -> tuple[object, str]:
    started = start(bridge, client)
    bridge.rp.answer()
    return started, complete(bridge, started)["code"]


def test_wrong_code_verifier_is_refused(bridge: Bridge) -> None:
    started, code = _code(bridge)
    response = redeem(bridge, started, code, verifier="x" * 50)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_refused(bridge: Bridge) -> None:
    started, code = _code(bridge)
    response = redeem(bridge, started, code, verifier="")  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_code_is_single_use_and_reuse_revokes_its_tokens(bridge: Bridge) -> None:
    started, code = _code(bridge)
    first = redeem(bridge, started, code)  # type: ignore[arg-type]
    assert first.status_code == 200
    access = first.json()["access_token"]
    auth = {"Authorization": f"Bearer {access}"}
    assert bridge.client.get("/userinfo", headers=auth).status_code == 200
    second = redeem(bridge, started, code)  # type: ignore[arg-type]
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert bridge.client.get("/userinfo", headers=auth).status_code == 401


def test_code_of_another_client_is_refused(bridge: Bridge) -> None:
    started, code = _code(bridge)
    response = redeem(
        bridge,
        started,  # type: ignore[arg-type]
        code,
        client_id="shop",
        secret=SHOP.client_secret,
        redirect_uri=SHOP.redirect_uris[0],
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    # the other client's attempt did not burn the code
    assert redeem(bridge, started, code).status_code == 200  # type: ignore[arg-type]


def test_wrong_client_secret_is_refused(bridge: Bridge) -> None:
    started, code = _code(bridge)
    for basic in (True, False):
        response = redeem(bridge, started, code, secret="wrong-secret-0123456789", basic=basic)  # type: ignore[arg-type]
        assert response.status_code in {400, 401}
        assert response.json()["error"] == "invalid_client"
    assert redeem(bridge, started, code).status_code == 200  # type: ignore[arg-type]


def test_mismatched_redirect_uri_is_refused(bridge: Bridge) -> None:
    started, code = _code(bridge)
    response = redeem(bridge, started, code, redirect_uri="https://news.test/other")  # type: ignore[arg-type]
    assert response.json()["error"] == "invalid_grant"


def test_expired_code_is_refused(bridge: Bridge) -> None:
    started, code = _code(bridge)
    bridge.clock.advance(Lifetimes().code)
    response = redeem(bridge, started, code)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unknown_code_and_grant_type_are_refused(bridge: Bridge) -> None:
    started, _ = _code(bridge)
    assert redeem(bridge, started, "nope").json()["error"] == "invalid_grant"  # type: ignore[arg-type]
    response = bridge.client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=("news", NEWS.client_secret),
    )
    assert response.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_wants_a_form(bridge: Bridge) -> None:
    response = bridge.client.post("/token", json={"grant_type": "authorization_code"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    big = bridge.client.post(
        "/token",
        content=b"a=" + b"x" * 20000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413


# -- userinfo -------------------------------------------------------------------------------------
def test_userinfo_refuses_missing_unknown_and_expired_tokens(bridge: Bridge) -> None:
    assert bridge.client.get("/userinfo").status_code == 401
    bad = bridge.client.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["www-authenticate"]
    _, token = login(bridge)
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert bridge.client.get("/userinfo", headers=auth).status_code == 200
    bridge.clock.advance(token["expires_in"])
    assert bridge.client.get("/userinfo", headers=auth).status_code == 401


def test_store_holds_hashes_not_codes_tokens_or_dids(bridge: Bridge, tmp_path: Path) -> None:
    _started, token = login(bridge)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("bridge.db*"))
    assert token["access_token"].encode() not in raw
    assert SITE_DID.encode() not in raw


# -- configuration ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"redirect_uris": ["http://news.test/cb"]},
        {"redirect_uris": ["https://news.test/cb#frag"]},
        {"redirect_uris": []},
        {"allowed_scopes": {"openid", "email"}},
        {"client_secret": "short"},
        {"sector_identifier": "a\nb"},
    ],
)
def test_bad_client_configuration_is_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "client_id": "c",
        "client_secret": "0123456789abcdef0123",
        "redirect_uris": ["https://c.test/cb"],
        "allowed_scopes": {"openid"},
        "sector_identifier": "c.test",
    }
    with pytest.raises(ValueError):  # noqa: PT011
        BridgeClient(**{**base, **kwargs})  # type: ignore[arg-type]


def test_keys_are_created_private_and_reloaded(tmp_path: Path) -> None:
    first = load_or_create_bridge_keys(tmp_path / "keys")
    again = load_or_create_bridge_keys(tmp_path / "keys")
    assert first.signing_key.thumbprint() == again.signing_key.thumbprint()
    assert first.pairwise_secret == again.pairwise_secret
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_corrupt_key_files_are_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    load_or_create_bridge_keys(keys)
    (keys / "bridge-pairwise-secret").write_bytes(b"short")
    with pytest.raises(BridgeKeyError):
        load_or_create_bridge_keys(keys)
    (keys / "bridge-pairwise-secret").unlink()
    (keys / "bridge-signing-key.pem").write_text("not a key")
    with pytest.raises(BridgeKeyError):
        load_or_create_bridge_keys(keys)


def test_concurrent_redemptions_of_one_code_yield_one_token(bridge: Bridge) -> None:
    import threading

    started, code = _code(bridge)
    results: list[int] = []

    def redeem_once() -> None:
        results.append(redeem(bridge, started, code).status_code)  # type: ignore[arg-type]

    threads = [threading.Thread(target=redeem_once) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 400, 400, 400, 400, 400]
