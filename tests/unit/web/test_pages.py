"""The shared login page, page rendering helpers, and the demo's "starting" wrapper."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from starlette.responses import PlainTextResponse

from realdid.randomness import Randomness
from realdid.rp.pages import (
    SecurityHeaders,
    claim_label,
    csrf_ok,
    csrf_token,
    login_failure_message,
    render_login,
    render_page,
)
from realdid.web import DeferredApp, derive_secret, templates

from .conftest import FakeRp, TestClient


def login_page(**overrides: Any) -> tuple[str, dict[str, str], FakeRp]:
    rp = FakeRp()
    pending = rp.create_request(None)  # type: ignore[arg-type]
    arguments: dict[str, Any] = {
        "title": "Sign in — Forum",
        "site_name": "Forum",
        "pending": pending,
        "poll_url": f"/oid4vp/transactions/{pending.transaction}",
        "complete_url": "/login/complete",
        "purpose": "Community forum: members must be verified adults",
        "claims": ["verified_person", "age_over_18"],
        **overrides,
    }
    response = render_login(**arguments)
    assert response.status_code == 200
    return response.body.decode(), dict(response.headers), rp


def test_login_page_has_code_qr_cli_command_and_same_device_link() -> None:
    html, _, rp = login_page()
    pending = rp.last
    assert f'id="login-code" aria-label="Login code">{pending.code}</p>' in html
    assert "<svg" in html  # the QR code, inline
    assert "<?xml" not in html
    command = f"realdid wallet login {pending.code} --site http://testserver --wallet-dir &lt;your wallet&gt;"
    assert command in html
    link = pending.authorization_url.replace("&", "&amp;")
    assert f'href="{link}">Open in wallet on this device</a>' in html
    assert 'id="login-error"' in html


def test_login_page_says_what_is_requested_and_why() -> None:
    html, _, _ = login_page()
    assert "Community forum: members must be verified adults" in html
    assert "whether you are 18 or older" in html
    assert "(age_over_18)" in html
    assert "that you are a verified real person" in html


def test_login_page_polls_every_second_and_continues_on_done() -> None:
    html, headers, rp = login_page()
    assert f'var pollUrl = "/oid4vp/transactions/{rp.last.transaction}";' in html
    assert 'var completeUrl = "/login/complete";' in html
    assert "setTimeout(poll, 1000)" in html
    assert "location.assign(completeUrl)" in html
    assert 'body.state === "failed"' in html
    assert 'body.state === "expired"' in html
    # Exactly one script, allowed by a fresh nonce; no external assets at all.
    nonces = re.findall(r'<script nonce="([^"]+)">', html)
    assert len(nonces) == 1
    assert html.count("<script") == 1
    assert f"script-src 'nonce-{nonces[0]}'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert 'rel="stylesheet"' not in html


def test_login_page_nonce_is_fresh_per_page() -> None:
    _, first, _ = login_page()
    _, second, _ = login_page()
    assert first["content-security-policy"] != second["content-security-policy"]


def test_login_page_site_url_override() -> None:
    html, _, rp = login_page(site_url="https://forum.example")
    assert f"realdid wallet login {rp.last.code} --site https://forum.example " in html


def test_login_page_escapes_everything_but_the_qr() -> None:
    html, _, _ = login_page(
        site_name="<b>Evil</b>",
        purpose='"><script>alert(1)</script>',
        claims=["<img src=x onerror=alert(1)>"],
        complete_url='/x";alert(1);"</script>',
    )
    assert "<b>Evil</b>" not in html
    assert "&lt;b&gt;Evil&lt;/b&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    # URLs in the script are JSON strings that cannot close the script (tojson escapes <>&).
    assert 'var completeUrl = "/x\\";alert(1);\\"\\u003c/script\\u003e";' in html
    assert html.count("</script>") == 1


def test_claim_labels() -> None:
    assert claim_label("id_number") == "your national ID number"
    assert claim_label("something_new") == "something_new"


def test_templates_autoescape() -> None:
    env = templates()
    assert env.autoescape is True
    rendered = env.from_string("{{ value }}").render(value="<script>")
    assert rendered == "&lt;script&gt;"


def test_render_page_without_nonce_allows_no_script() -> None:
    response = render_page("error.html", title="t", site_name="s", message="m", retry_url=None)
    policy = response.headers["content-security-policy"]
    assert "script-src" not in policy
    assert "default-src 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("state", "error", "expected"),
    [
        ("expired", None, "expired"),
        ("failed", "access-denied", "declined"),
        ("failed", "access_denied", "declined"),
        ("failed", "wrong-nonce", "(wrong-nonce)"),
        ("failed", None, "(unknown error)"),
    ],
)
def test_login_failure_message(state: str, error: str | None, expected: str) -> None:
    assert expected in login_failure_message(state, error)


def test_csrf_token_is_stable_per_session_and_checked_in_constant_time() -> None:
    session: dict[str, Any] = {}
    token = csrf_token(session)
    assert csrf_token(session) == token
    assert len(token) >= 40
    assert csrf_ok(session, token)
    assert not csrf_ok(session, token + "x")
    assert not csrf_ok(session, "")
    assert not csrf_ok(session, None)
    assert not csrf_ok({}, token)  # a session without a token accepts nothing


def test_csrf_token_is_drawn_from_the_injected_source() -> None:
    session: dict[str, Any] = {}
    token = csrf_token(session, Randomness.seeded(4))
    assert token == Randomness.seeded(4).token(32)
    assert csrf_token(session, Randomness.seeded(5)) == token  # made once per session


def test_login_page_script_nonce_is_drawn_from_the_injected_source() -> None:
    html, headers, _ = login_page(randomness=Randomness.seeded(6))
    nonce = Randomness.seeded(6).token(16)
    assert f'<script nonce="{nonce}">' in html
    assert headers["content-security-policy"].endswith(f"script-src 'nonce-{nonce}'")


def test_derived_secrets_differ_per_site() -> None:
    secret = b"k" * 32
    assert derive_secret(secret, "forum") != derive_secret(secret, "hotel")
    assert derive_secret(secret, "forum") == derive_secret(secret, "forum")
    assert derive_secret(secret, "forum") != derive_secret(b"j" * 32, "forum")


# -- DeferredApp -----------------------------------------------------------------------------
def test_deferred_app_answers_503_until_set_then_delegates() -> None:
    app = DeferredApp("Forum")
    with TestClient(app) as client:  # lifespan startup/shutdown are answered by the wrapper
        starting = client.get("/anything")
        assert starting.status_code == 503
        assert starting.headers["retry-after"] == "2"
        assert 'id="starting"' in starting.text
        assert "Forum" in starting.text
        assert '<meta http-equiv="refresh"' in starting.text
        assert not app.ready
        app.set(PlainTextResponse("ready"))
        assert app.ready
        assert client.get("/anything").text == "ready"


def test_deferred_app_failed_page_stops_refreshing() -> None:
    app = DeferredApp("Forum")
    app.fail()
    with TestClient(app) as client:
        page = client.get("/")
    assert page.status_code == 503
    assert "could not start" in page.text
    assert "refresh" not in page.text


def test_security_headers_middleware_keeps_a_page_s_own_policy() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        response = PlainTextResponse("x", headers={"Content-Security-Policy": "own"})
        await response(scope, receive, send)

    response = TestClient(SecurityHeaders(app)).get("/")  # no lifespan: a bare ASGI app
    assert response.headers["content-security-policy"] == "own"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_deferred_app_ignores_websockets_until_ready(
    run_coroutine: Callable[[Coroutine[Any, Any, Any]], Any],
) -> None:
    app = DeferredApp("Forum")
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    run_coroutine(app({"type": "websocket"}, receive, send))
    assert sent == []
