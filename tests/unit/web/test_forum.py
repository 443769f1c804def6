"""The demo forum: pseudonymous accounts from per-site DIDs, login outcomes, posts, CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from realdid.http import Rate, RateLimiter
from realdid.storage import DatabaseUnavailableError, StoreLocation
from realdid.web import create_forum_app, pseudonym_for
from realdid.web._forum import MAX_POST_CHARS, ForumDatabase, login_query

from .conftest import FORUM_DID, SECRET, FakeRp, TestClient, session_of

SITE_PROOF = "urn:realdid:SiteProof"


def sign_in(client: TestClient, rp: FakeRp, did: str = FORUM_DID, *, adult: bool = True) -> None:
    assert client.get("/login").status_code == 200
    rp.succeed(did, SITE_PROOF, verified_person=True, assurance_level="high", age_over_18=adult)
    done = client.get("/login/complete")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


# -- pages ----------------------------------------------------------------------------------
def test_home_anonymous_offers_sign_in(forum: TestClient) -> None:
    page = forum.get("/")
    assert page.status_code == 200
    assert 'href="/login">Sign in with RealDID</a>' in page.text
    assert 'id="account-name"' not in page.text
    assert 'id="no-posts"' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_login_asks_for_a_site_proof_of_a_verified_adult(forum: TestClient, rp: FakeRp) -> None:
    page = forum.get("/login")
    assert page.status_code == 200
    (query,) = rp.queries
    assert query == login_query()
    (credential,) = query.credentials
    assert credential.vct_values == (SITE_PROOF,)
    assert credential.claims == ("verified_person", "age_over_18")
    pending = rp.last
    assert f'id="login-code" aria-label="Login code">{pending.code}<' in page.text
    assert "<svg" in page.text
    assert f"/oid4vp/transactions/{pending.transaction}" in page.text
    assert "Community forum: members must be verified adults" in page.text
    assert session_of(forum, "forum_session")["login_tx"] == pending.transaction


def test_login_starts_are_rate_limited_per_client(rp: FakeRp, tmp_path: Path) -> None:
    now = [0.0]
    limits = RateLimiter({"login-requests": Rate(per_second=0.5, burst=1)}, clock=lambda: now[0])
    app = create_forum_app(
        rp,  # type: ignore[arg-type]
        session_secret=SECRET,
        db_path=tmp_path / "forum.db",
        rate_limits=limits,
    )
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/login").status_code == 200
        refused = client.get("/login")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["type"] == "urn:realdid:problem:rate-limited"
        assert len(rp.queries) == 1  # no login request was created for it
        now[0] += 2.0
        assert client.get("/login").status_code == 200
    app.state.db.close()


def test_a_database_outage_is_a_try_again_page_not_a_500(
    forum: TestClient, rp: FakeRp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the crash-under-load test: GET /login answered a plain-text 500 while the
    # relying party's PostgreSQL restarted.
    def down(query: object) -> None:
        raise DatabaseUnavailableError("connection refused")

    monkeypatch.setattr(rp, "create_request", down)
    page = forum.get("/login")
    assert page.status_code == 503
    assert page.headers["retry-after"] == "5"
    assert page.headers["content-type"].startswith("text/html")
    assert "Try again in a moment" in page.text
    assert "connection refused" not in page.text  # the operator's detail stays in the log
    assert page.headers["x-frame-options"] == "DENY"  # still behind the site's middleware


def test_session_cookie_is_lax_httponly_and_named_for_the_site(forum: TestClient) -> None:
    cookie = forum.get("/login").headers["set-cookie"]
    assert cookie.startswith("forum_session=")
    assert "samesite=lax" in cookie.lower()
    assert "httponly" in cookie.lower()


def test_login_done_shows_pseudonym_badges_and_age(forum: TestClient, rp: FakeRp) -> None:
    sign_in(forum, rp)
    page = forum.get("/")
    name = pseudonym_for(FORUM_DID)
    assert re.fullmatch(r"member-[0-9a-f]{6}", name)
    assert f'id="account-name" title="Your pseudonymous account">{name}</a>' in page.text
    assert 'id="verified-badge">Verified real person<' in page.text
    assert 'id="age-badge">18+<' in page.text
    assert FORUM_DID not in page.text  # the DID is not shown to anyone on the home page
    session = session_of(forum, "forum_session")
    assert "login_tx" not in session
    assert session["user"] == {"did": FORUM_DID, "verified": True, "adult": True}


def test_no_age_badge_when_not_18(forum: TestClient, rp: FakeRp) -> None:
    sign_in(forum, rp, adult=False)
    page = forum.get("/")
    assert 'id="verified-badge"' in page.text
    assert 'id="age-badge"' not in page.text


def test_same_site_did_same_account_other_did_other_account(forum: TestClient, rp: FakeRp) -> None:
    sign_in(forum, rp)
    assert pseudonym_for(FORUM_DID) in forum.get("/").text
    forum.cookies.clear()  # another day, another browser session
    sign_in(forum, rp)
    assert pseudonym_for(FORUM_DID) in forum.get("/").text
    forum.cookies.clear()
    other = FORUM_DID.replace("Alice", "Bobby")
    sign_in(forum, rp, other)
    page = forum.get("/").text
    assert pseudonym_for(other) in page
    assert pseudonym_for(FORUM_DID) not in page


def test_account_page_shows_what_the_forum_knows_escaped(forum: TestClient, rp: FakeRp) -> None:
    hostile = 'did:realdid:<script>alert("x")</script>'
    sign_in(forum, rp, hostile)
    page = forum.get("/account")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "did:realdid:&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert pseudonym_for(hostile) in page.text


def test_account_page_needs_sign_in(forum: TestClient) -> None:
    assert forum.get("/account").headers["location"] == "/"


# -- failed logins ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "error", "status", "message"),
    [
        ("failed", "wrong-nonce", 401, "(wrong-nonce)"),
        ("failed", "access-denied", 401, "You declined the request"),
        ("expired", None, 410, "expired"),
    ],
)
def test_failed_login_shows_error_and_signs_nobody_in(
    forum: TestClient, rp: FakeRp, state: str, error: str | None, status: int, message: str
) -> None:
    forum.get("/login")
    rp.fail(error, state)  # type: ignore[arg-type]
    page = forum.get("/login/complete")
    assert page.status_code == status
    assert message in page.text
    assert 'id="error-message"' in page.text
    assert "user" not in session_of(forum, "forum_session")
    assert 'id="account-name"' not in forum.get("/").text


def test_complete_while_pending_keeps_the_transaction(forum: TestClient, rp: FakeRp) -> None:
    forum.get("/login")
    assert forum.get("/login/complete").status_code == 409
    rp.succeed(FORUM_DID, SITE_PROOF, verified_person=True, age_over_18=True)
    assert forum.get("/login/complete").status_code == 303


def test_complete_without_login_in_progress(forum: TestClient) -> None:
    page = forum.get("/login/complete")
    assert page.status_code == 400
    assert "no sign-in in progress" in page.text


def test_another_browser_cannot_complete_my_login(forum: TestClient, rp: FakeRp) -> None:
    """Session fixation / login hijack: the transaction is only in the starting session."""
    forum.get("/login")
    victim_tx = rp.last.transaction
    rp.succeed(FORUM_DID, SITE_PROOF, verified_person=True, age_over_18=True)
    with TestClient(forum.app, follow_redirects=False) as attacker:
        for attempt in (
            "/login/complete",
            f"/login/complete?transaction={victim_tx}",
            f"/login/complete?login_tx={victim_tx}",
        ):
            assert attacker.get(attempt).status_code == 400
        attacker.cookies.set("login_tx", victim_tx)
        assert attacker.get("/login/complete").status_code == 400
        # A session the attacker starts himself holds his own transaction, never the victim's.
        attacker.get("/login")
        assert session_of(attacker, "forum_session")["login_tx"] != victim_tx
        assert attacker.get("/login/complete").status_code == 409
        assert 'id="account-name"' not in attacker.get("/").text
    assert forum.get("/login/complete").status_code == 303


def test_a_forged_session_cookie_is_ignored(forum: TestClient, rp: FakeRp) -> None:
    sign_in(forum, rp)
    forged = forum.cookies["forum_session"]
    payload, signature = forged.split(".", 1)
    forum.cookies.clear()
    forum.cookies.set("forum_session", payload[:-2] + "xx." + signature)
    assert 'id="account-name"' not in forum.get("/").text


def test_a_copied_pre_login_cookie_cannot_complete_the_login_again(
    forum: TestClient, rp: FakeRp
) -> None:
    forum.get("/login")
    copied = forum.cookies["forum_session"]
    rp.succeed(FORUM_DID, SITE_PROOF, verified_person=True, age_over_18=True)
    assert forum.get("/login/complete").status_code == 303
    with TestClient(forum.app, follow_redirects=False) as other:
        other.cookies.set("forum_session", copied)
        replay = other.get("/login/complete")
        assert replay.status_code == 409
        assert "already used" in replay.text
        assert 'id="account-name"' not in other.get("/").text


def test_login_rotates_the_csrf_token(forum: TestClient, rp: FakeRp) -> None:
    forum.get("/")  # an anonymous visitor's session gets a token with the first page
    forum.get("/login")
    anonymous = session_of(forum, "forum_session")["csrf"]
    rp.succeed(FORUM_DID, SITE_PROOF, verified_person=True, age_over_18=True)
    forum.get("/login/complete")
    signed_in = session_of(forum, "forum_session")["csrf"]
    assert signed_in != anonymous
    assert forum.post("/posts", data={"body": "x", "csrf": anonymous}).status_code == 403


# -- posting ----------------------------------------------------------------------------------
def test_post_appears_under_the_pseudonym_escaped(forum: TestClient, rp: FakeRp) -> None:
    sign_in(forum, rp)
    token = csrf_of(forum.get("/").text)
    hostile = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    posted = forum.post("/posts", data={"body": hostile, "csrf": token})
    assert posted.status_code == 303
    page = forum.get("/").text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert (
        "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
        in page
    )
    assert f'<span class="author">{pseudonym_for(FORUM_DID)}</span>' in page
    # Anonymous visitors see posts too.
    forum.cookies.clear()
    assert pseudonym_for(FORUM_DID) in forum.get("/").text


def test_post_needs_sign_in(forum: TestClient) -> None:
    forum.get("/")
    token = session_of(forum, "forum_session")["csrf"]
    assert forum.post("/posts", data={"body": "hi", "csrf": token}).status_code == 401


@pytest.mark.parametrize("token", ["", "wrong", None])
def test_post_needs_the_session_csrf_token(
    forum: TestClient, rp: FakeRp, token: str | None
) -> None:
    sign_in(forum, rp)
    data = {"body": "hello"} if token is None else {"body": "hello", "csrf": token}
    response = forum.post("/posts", data=data)
    assert response.status_code == 403
    assert "hello" not in forum.get("/").text


def test_csrf_token_of_another_session_is_refused(forum: TestClient, rp: FakeRp) -> None:
    sign_in(forum, rp)
    with TestClient(forum.app, follow_redirects=False) as other:
        other.get("/")
        foreign = session_of(other, "forum_session")["csrf"]
    assert forum.post("/posts", data={"body": "hello", "csrf": foreign}).status_code == 403


@pytest.mark.parametrize("body", ["", "   \n ", "x" * (MAX_POST_CHARS + 1)])
def test_post_length_limits(forum: TestClient, rp: FakeRp, body: str) -> None:
    sign_in(forum, rp)
    token = csrf_of(forum.get("/").text)
    assert forum.post("/posts", data={"body": body, "csrf": token}).status_code == 400


def test_logout_needs_csrf_and_ends_the_session(forum: TestClient, rp: FakeRp) -> None:
    sign_in(forum, rp)
    assert forum.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert 'id="account-name"' in forum.get("/").text
    token = csrf_of(forum.get("/").text)
    assert forum.post("/logout", data={"csrf": token}).status_code == 303
    assert 'id="account-name"' not in forum.get("/").text


def test_oid4vp_routes_are_mounted(forum: TestClient, rp: FakeRp) -> None:
    forum.get("/login")
    polled = forum.get(f"/oid4vp/transactions/{rp.last.transaction}")
    assert polled.status_code == 200
    assert polled.json() == {"state": "pending", "error": None}


# -- the database ---------------------------------------------------------------------------
def test_pseudonym_clash_grows_the_name(
    both_engines: str, store_at: Callable[[str], StoreLocation]
) -> None:
    db = ForumDatabase(store_at("forum"))
    try:
        name = db.account("did:realdid:a")
        assert name == pseudonym_for("did:realdid:a")
        # Simulate a clash: another DID whose 6-hex name is already taken.
        with db._db.transaction() as tx:
            tx.execute("UPDATE accounts SET pseudonym = ?", (pseudonym_for("did:realdid:b"),))
        grown = db.account("did:realdid:b")
        assert grown == pseudonym_for("did:realdid:b", 8)
        assert db.account("did:realdid:b") == grown
    finally:
        db.close()


def test_accounts_and_posts_survive_a_restart(tmp_path: Path, rp: FakeRp) -> None:
    path = tmp_path / "forum.db"
    for _ in range(2):
        app = create_forum_app(rp, session_secret=SECRET, db_path=path)  # type: ignore[arg-type]
        with TestClient(app, follow_redirects=False) as client:
            sign_in(client, rp)
            token = csrf_of(client.get("/").text)
            client.post("/posts", data={"body": "persisted", "csrf": token})
        app.state.db.close()
    db = ForumDatabase(path)
    try:
        posts = db.posts()
        assert [p.body for p in posts] == ["persisted", "persisted"]
        assert {p.author for p in posts} == {pseudonym_for(FORUM_DID)}
    finally:
        db.close()


def test_used_logins_and_posts_on_both_engines(
    both_engines: str, store_at: Callable[[str], StoreLocation]
) -> None:
    db = ForumDatabase(store_at("forum"))
    try:
        assert db.use_login("tx-1")
        assert not db.use_login("tx-1")  # a copied cookie cannot complete the login again
        db.account("did:realdid:a")
        db.add_post("did:realdid:a", "first")
        db.add_post("did:realdid:a", "second")
        assert [p.body for p in db.posts()] == ["second", "first"]
        assert db.pseudonym("did:realdid:a") == pseudonym_for("did:realdid:a")
        assert db.pseudonym("did:realdid:nobody") is None
    finally:
        db.close()
