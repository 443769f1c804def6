"""Real browser, real server, real wallet CLI: "Sign in with RealDID" on the demo sites.

Each test opens a site in Chromium, reads the short code from the login page, runs
``realdid wallet login <code> --site <url>`` like a resident at a terminal, and waits — with
no reload — for the page's own polling to move on to the signed-in page.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from ..e2e._cli import succeeds
from .conftest import Demo, screenshot, wallet_login

CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")


def login_code(page: Any) -> str:
    """The short code on the shared login page (after checking the page shows all it should)."""
    code = page.locator("#login-code")
    expect(code).to_be_visible()
    text = str(code.inner_text()).strip()
    assert CODE.fullmatch(text), text
    expect(page.locator("figure.qr svg")).to_be_visible()
    expect(page.get_by_role("link", name="Open in wallet on this device")).to_have_attribute(
        "href", re.compile(r"^openid4vp://\?client_id=decentralized_identifier%3Adid%3Arealdid%3A")
    )
    return text


def forum_sign_in(page: Any, demo: Demo) -> str:
    """Sign in to the forum from its home page; the pseudonymous account name shown."""
    page.goto(f"{demo.forum}/")
    page.get_by_role("link", name="Sign in with RealDID").click()
    code = login_code(page)
    expect(page.locator("#login-command")).to_contain_text(
        f"realdid wallet login {code} --site {demo.forum} --wallet-dir"
    )
    result = succeeds(wallet_login(demo, code, demo.forum))
    assert result.stdout.startswith("logged in to "), result.stdout
    account = page.locator("#account-name")
    expect(account).to_be_visible()  # the login page's script moved on by itself
    expect(page.locator("#verified-badge")).to_have_text("Verified real person")
    assert page.url == f"{demo.forum}/"
    return str(account.inner_text()).strip()


def test_forum_sign_in_is_pseudonymous(page: Any, demo: Demo) -> None:
    name = forum_sign_in(page, demo)
    assert re.fullmatch(r"member-[0-9a-f]{6,}", name), name
    expect(page.locator("#age-badge")).to_have_text("18+")
    # Nothing about the person's identity is on the page.
    body = page.locator("body").inner_text()
    assert demo.resident.name not in body
    assert demo.resident.id_number not in body
    page.locator("#post-body").fill("Hello from a verified adult <b>not bold</b>")
    page.get_by_role("button", name="Post").click()
    expect(page.locator("ol.posts li").first).to_contain_text(
        "Hello from a verified adult <b>not bold</b>"
    )
    expect(page.locator("ol.posts li .author").first).to_have_text(name)
    screenshot(page, "test_forum_sign_in_is_pseudonymous")


def test_forum_second_login_same_account(page: Any, browser: Any, demo: Demo) -> None:
    first = forum_sign_in(page, demo)
    other = browser.new_context()  # another browser session, same wallet
    try:
        second_page = other.new_page()
        second_page.set_default_timeout(20_000)
        assert forum_sign_in(second_page, demo) == first
        screenshot(second_page, "test_forum_second_login_same_account")
    finally:
        other.close()


def test_hotel_check_in_shows_the_real_name(page: Any, demo: Demo) -> None:
    page.goto(f"{demo.hotel}/")
    page.get_by_role("link", name="Check in with RealDID").click()
    code = login_code(page)
    expect(page.locator("main")).to_contain_text("Hotel guest registration required by law")
    succeeds(wallet_login(demo, code, demo.hotel))
    expect(page.locator("#guest-name")).to_have_text(f"Checked in: {demo.resident.name}")
    id_number = demo.resident.id_number
    expect(page.locator("#guest-id")).to_have_text(
        id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
    )
    assert id_number not in page.content()
    screenshot(page, "test_hotel_check_in_shows_the_real_name")


def test_declined_login_shows_the_error_on_the_page(page: Any, demo: Demo) -> None:
    page.goto(f"{demo.forum}/login")
    code = login_code(page)
    refused = wallet_login(demo, code, demo.forum, consent="deny")
    assert refused.returncode != 0
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("You declined the request in your wallet")
    expect(page.locator("#account-name")).to_have_count(0)
    screenshot(page, "test_declined_login_shows_the_error_on_the_page")


def test_oidc_site_sign_in_through_the_bridge(page: Any, demo: Demo) -> None:
    page.goto(f"{demo.oidc_site}/")
    page.get_by_role("link", name="Sign in with RealDID").click()
    page.wait_for_url(re.compile(re.escape(demo.bridge) + r"/authorize\?"))
    code = login_code(page)
    succeeds(wallet_login(demo, code, demo.bridge))
    subject = page.locator("#oidc-sub")
    expect(subject).to_be_visible()
    assert page.url.startswith(f"{demo.oidc_site}/")
    expect(page.locator("#verified-badge")).to_be_visible()
    sub = str(subject.inner_text()).strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sub), sub  # pairwise: an HMAC, not a DID
    assert "did:" not in page.locator("body").inner_text()
    screenshot(page, "test_oidc_site_sign_in_through_the_bridge")
