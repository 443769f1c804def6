"""The demo sites run on the clock and randomness they are given (FixedClock, seeded source)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

from realdid.clock import FixedClock
from realdid.randomness import Randomness
from realdid.web import GuestBook, create_forum_app, create_hotel_app
from realdid.web._bootstrap import _current_registration
from realdid.web._forum import USED_LOGIN_TTL, ForumDatabase
from realdid.web._hotel import SESSION_MAX_AGE, Guest
from realdid.web._settings import DEMO_RPS

from .conftest import SECRET, FakeRp, TestClient, session_of
from .test_demo import RP_DID, StoredWallet, registration
from .test_forum import csrf_of, sign_in
from .test_hotel import check_in

T0 = 1_780_000_000


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def db(clock: FixedClock) -> Iterator[ForumDatabase]:
    database = ForumDatabase(":memory:", clock=clock)
    yield database
    database.close()


# -- the forum --------------------------------------------------------------------------------
def test_a_forum_account_is_created_at_the_clocks_time(
    db: ForumDatabase, clock: FixedClock
) -> None:
    db.account("did:realdid:a")
    clock.advance(60)
    db.account("did:realdid:a")  # an existing account keeps its time
    with db._db.reading() as tx:
        (created,) = tx.execute("SELECT created_at FROM accounts").fetchone()
    assert created == T0


def test_posts_are_stamped_by_the_clock(db: ForumDatabase, clock: FixedClock) -> None:
    db.account("did:realdid:a")
    clock.advance(90)
    db.add_post("did:realdid:a", "hello")
    (post,) = db.posts()
    expected = datetime.datetime.fromtimestamp(T0 + 90, datetime.UTC)
    assert post.created_at == expected.strftime("%Y-%m-%d %H:%M UTC")


def test_used_logins_are_forgotten_after_their_ttl_on_the_clock(
    db: ForumDatabase, clock: FixedClock
) -> None:
    assert db.use_login("tx")
    clock.advance(USED_LOGIN_TTL)
    assert not db.use_login("tx")  # still remembered at the TTL
    clock.advance(1)
    assert db.use_login("other")  # each login purges what is older than the TTL
    assert db.use_login("tx")


def test_forum_csrf_tokens_come_from_the_sites_randomness(
    tmp_path: Path, rp: FakeRp, clock: FixedClock
) -> None:
    app = create_forum_app(
        rp,  # type: ignore[arg-type]
        session_secret=SECRET,
        db_path=tmp_path / "forum.db",
        clock=clock,
        randomness=Randomness.seeded(21),
    )
    replay = Randomness.seeded(21)  # the same draws, in the order the site makes them
    with TestClient(app, follow_redirects=False) as client:
        first = client.get("/login").text
        sign_in(client, rp)
        page = client.get("/").text
    app.state.db.close()
    assert f'<script nonce="{replay.token(16)}">' in first
    replay.token(16)  # the nonce of sign_in's login page
    assert csrf_of(page) == replay.token(32)  # drawn when the signed-in session began


# -- the hotel --------------------------------------------------------------------------------
def test_a_guest_expires_exactly_after_the_ttl(clock: FixedClock) -> None:
    book = GuestBook(ttl=600, clock=clock)
    key = book.add(Guest("王小明", "110105********002X", clock.now()))
    clock.advance(600)
    assert book.get(key) is not None  # valid through the last second of the TTL
    clock.advance(1)
    assert book.get(key) is None
    assert book.get(key) is None  # and gone for good


def test_guest_keys_come_from_the_books_randomness(clock: FixedClock) -> None:
    book = GuestBook(clock=clock, randomness=Randomness.seeded(5))
    assert book.add(Guest("a", "b", T0)) == Randomness.seeded(5).token(24)


def test_a_hotel_check_in_is_stamped_and_expires_on_the_sites_clock(
    hotel_rp: FakeRp, clock: FixedClock
) -> None:
    app = create_hotel_app(
        hotel_rp,  # type: ignore[arg-type]
        session_secret=SECRET,
        clock=clock,
        randomness=Randomness.seeded(8),
    )
    with TestClient(app, follow_redirects=False) as client:
        check_in(client, hotel_rp)
        key = session_of(client, "hotel_session")["guest"]
        guest = app.state.guests.get(key)
        assert guest is not None
        assert guest.checked_in_at == T0
        replay = Randomness.seeded(8)
        replay.token(16)  # the login page's script nonce
        assert key == replay.token(24)
        clock.advance(SESSION_MAX_AGE)
        assert 'id="guest-name"' in client.get("/").text
        clock.advance(1)
        page = client.get("/").text
    assert 'id="guest-name"' not in page
    assert 'id="check-in"' in page


def test_hotel_used_logins_are_forgotten_on_the_books_clock(clock: FixedClock) -> None:
    book = GuestBook(clock=clock)
    assert book.use_login("tx")
    clock.advance(86_400)
    assert not book.use_login("tx")
    clock.advance(1)
    assert book.use_login("tx")


# -- the bootstrap ----------------------------------------------------------------------------
def test_a_stored_registration_is_reused_until_a_day_before_it_expires_on_the_clock() -> None:
    entry = registration(exp=T0 + 2 * 86_400)
    wallet = StoredWallet(entry)
    clock = FixedClock(T0 + 86_400)
    assert _current_registration(wallet, RP_DID, DEMO_RPS[0], clock) == entry["credential"]  # type: ignore[arg-type]
    clock.advance(1)
    assert _current_registration(wallet, RP_DID, DEMO_RPS[0], clock) is None  # type: ignore[arg-type]
