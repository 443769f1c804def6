"""The demo hotel check-in: real name by law, masked ID shown, nothing kept beyond the session."""

from __future__ import annotations

import re

import pytest

from realdid.web import GuestBook, mask_id_number
from realdid.web._hotel import Guest, login_query

from .conftest import FakeRp, TestClient, session_of

REAL_NAME = "urn:realdid:RealName"
ROOT_DID = "did:realdid:QmRootDidOfAliceAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
ID_NUMBER = "11010519491231002X"


def check_in(
    client: TestClient,
    rp: FakeRp,
    *,
    family: str = "王",
    given: str = "小明",
    id_number: str = ID_NUMBER,
) -> None:
    assert client.get("/login").status_code == 200
    rp.succeed(
        ROOT_DID,
        REAL_NAME,
        family_name=family,
        given_name=given,
        id_number=id_number,
        verified_person=True,
        assurance_level="high",
    )
    done = client.get("/login/complete")
    assert done.status_code == 303, done.text


def test_check_in_page_explains_the_legal_purpose(hotel: TestClient) -> None:
    page = hotel.get("/")
    assert page.status_code == 200
    assert "Hotel guest registration required by law" in page.text
    assert 'href="/login">Check in with RealDID</a>' in page.text
    assert 'id="guest-name"' not in page.text


def test_login_asks_for_name_and_id_number_only(hotel: TestClient, hotel_rp: FakeRp) -> None:
    page = hotel.get("/login")
    (query,) = hotel_rp.queries
    assert query == login_query()
    (credential,) = query.credentials
    assert credential.vct_values == (REAL_NAME,)
    assert credential.claims == ("family_name", "given_name", "id_number")
    assert hotel_rp.last.code in page.text
    assert "your national ID number" in page.text
    assert session_of(hotel, "hotel_session")["login_tx"] == hotel_rp.last.transaction


def test_checked_in_shows_name_and_masked_id(hotel: TestClient, hotel_rp: FakeRp) -> None:
    check_in(hotel, hotel_rp)
    page = hotel.get("/")
    assert '<dd id="guest-name">Checked in: 王小明</dd>' in page.text
    assert '<dd id="guest-id"><code>110105********002X</code></dd>' in page.text
    assert ID_NUMBER not in page.text


def test_no_personal_data_in_the_cookie(hotel: TestClient, hotel_rp: FakeRp) -> None:
    check_in(hotel, hotel_rp)
    raw = hotel.cookies["hotel_session"]
    session = session_of(hotel, "hotel_session")
    text = repr(session) + raw
    for personal in ("王", "小明", ID_NUMBER, "110105", "002X", ROOT_DID):
        assert personal not in text
    assert set(session) == {"guest", "csrf"}


def test_hostile_name_is_escaped(hotel: TestClient, hotel_rp: FakeRp) -> None:
    check_in(hotel, hotel_rp, family="<script>alert(1)</script>", given="<b>")
    page = hotel.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert "Checked in: &lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;" in page


@pytest.mark.parametrize(
    "missing",
    [
        {"family_name": ""},
        {"given_name": None},
        {"id_number": 12345},
    ],
)
def test_incomplete_identity_is_refused(
    hotel: TestClient, hotel_rp: FakeRp, missing: dict[str, object]
) -> None:
    hotel.get("/login")
    claims: dict[str, object] = {
        "family_name": "王",
        "given_name": "小明",
        "id_number": ID_NUMBER,
        **missing,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    hotel_rp.succeed(ROOT_DID, REAL_NAME, **claims)
    page = hotel.get("/login/complete")
    assert page.status_code == 400
    assert "did not share the identity" in page.text
    assert 'id="guest-name"' not in hotel.get("/").text


def test_failed_check_in_shows_error(hotel: TestClient, hotel_rp: FakeRp) -> None:
    hotel.get("/login")
    hotel_rp.fail("revoked")
    page = hotel.get("/login/complete")
    assert page.status_code == 401
    assert "Check-in failed" in page.text
    assert "(revoked)" in page.text
    assert 'id="guest-name"' not in hotel.get("/").text


def test_expired_check_in(hotel: TestClient, hotel_rp: FakeRp) -> None:
    hotel.get("/login")
    hotel_rp.fail(None, "expired")  # type: ignore[arg-type]
    assert hotel.get("/login/complete").status_code == 410


def test_pending_and_missing_transactions(hotel: TestClient, hotel_rp: FakeRp) -> None:
    assert hotel.get("/login/complete").status_code == 400
    hotel.get("/login")
    assert hotel.get("/login/complete").status_code == 409


def test_another_browser_cannot_complete_my_check_in(hotel: TestClient, hotel_rp: FakeRp) -> None:
    hotel.get("/login")
    victim_tx = hotel_rp.last.transaction
    hotel_rp.succeed(ROOT_DID, REAL_NAME, family_name="王", given_name="小明", id_number=ID_NUMBER)
    with TestClient(hotel.app, follow_redirects=False) as attacker:
        assert attacker.get(f"/login/complete?transaction={victim_tx}").status_code == 400
        assert 'id="guest-name"' not in attacker.get("/").text
    assert hotel.get("/login/complete").status_code == 303


def test_copied_pre_check_in_cookie_cannot_check_in_again(
    hotel: TestClient, hotel_rp: FakeRp
) -> None:
    hotel.get("/login")
    copied = hotel.cookies["hotel_session"]
    hotel_rp.succeed(ROOT_DID, REAL_NAME, family_name="王", given_name="小明", id_number=ID_NUMBER)
    assert hotel.get("/login/complete").status_code == 303
    with TestClient(hotel.app, follow_redirects=False) as other:
        other.cookies.set("hotel_session", copied)
        assert other.get("/login/complete").status_code == 409
        assert 'id="guest-name"' not in other.get("/").text


def test_checkout_forgets_the_guest(hotel: TestClient, hotel_rp: FakeRp) -> None:
    check_in(hotel, hotel_rp)
    page = hotel.get("/").text
    assert hotel.post("/checkout", data={"csrf": "nope"}).status_code == 403
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    key = session_of(hotel, "hotel_session")["guest"]
    assert hotel.post("/checkout", data={"csrf": token.group(1)}).status_code == 303
    assert 'id="guest-name"' not in hotel.get("/").text
    assert hotel.app.state.guests.get(key) is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("id_number", "masked"),
    [
        ("11010519491231002X", "110105********002X"),
        ("110105194912310", "110105*****2310"),
        ("12345678901", "123456*8901"),
        ("1234567890", "**********"),
        ("", ""),
    ],
)
def test_mask_id_number(id_number: str, masked: str) -> None:
    assert mask_id_number(id_number) == masked


def test_guest_book_expires_and_is_bounded() -> None:
    book = GuestBook(ttl=0, max_entries=2)
    expired = book.add(Guest("a", "b", 0))
    assert book.get(expired) is None
    keys = [book.add(Guest(str(i), "x", 2_000_000_000)) for i in range(3)]
    assert book.get(keys[0]) is None  # evicted: the oldest beyond the bound
    assert book.get(keys[2]) is not None
    assert book.get(None) is None
    assert book.get(42) is None
    assert book.use_login("tx")
    assert not book.use_login("tx")
