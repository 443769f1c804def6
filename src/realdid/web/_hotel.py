"""The demo hotel check-in: the one site that must learn who the guest is.

Hotels must register their guests' identity by law, so this site asks for the RealName
credential's ``family_name``, ``given_name`` and ``id_number`` — the wallet warns the
resident that the site learns who they are. The check-in is shown once, with the ID number
masked (first 6 and last 4 characters), and nothing is written to disk: the guest record
lives in server memory under a random key held by the session, for the session's lifetime.
Personal data therefore never sits in a cookie (Starlette session cookies are signed, not
encrypted) nor in a log.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Form, Request
from starlette.responses import RedirectResponse, Response

from realdid.clock import Clock, SystemClock
from realdid.credentials import CredentialQuery, CredentialType, DcqlQuery
from realdid.http import NO_RATE_LIMITS, RateLimiter
from realdid.randomness import Randomness
from realdid.rp import RelyingParty
from realdid.rp.pages import csrf_ok, csrf_token, render_page

from ._pages import templates
from ._site import DemoSite

SITE_NAME = "Harbour Hotel"
PURPOSE = "Hotel guest registration required by law"
CLAIMS = ("family_name", "given_name", "id_number")
COOKIE = "hotel_session"
SESSION_MAX_AGE = 3600
MAX_GUESTS = 10_000
USED_LOGIN_TTL = 86400


def login_query() -> DcqlQuery:
    """What the hotel asks for: the legally required identity from the RealName credential."""
    return DcqlQuery((CredentialQuery("real_name", (CredentialType.REAL_NAME,), CLAIMS),))


SITE = DemoSite(SITE_NAME, "hotel", COOKIE, SESSION_MAX_AGE, "check-in", login_query(), CLAIMS)


def mask_id_number(id_number: str) -> str:
    """Show only the first 6 (region) and last 4 characters, e.g. ``110105********123X``."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


@dataclass(frozen=True, slots=True)
class Guest:
    name: str
    masked_id: str
    checked_in_at: int


class GuestBook:
    """Checked-in guests in memory only, bounded and expiring with the session.

    A guest expires ``ttl`` seconds after ``checked_in_at`` on ``clock``; the session's key
    to its guest is drawn from ``randomness``.
    """

    def __init__(
        self,
        *,
        ttl: int = SESSION_MAX_AGE,
        max_entries: int = MAX_GUESTS,
        clock: Clock | None = None,
        randomness: Randomness | None = None,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock or SystemClock()
        self._randomness = randomness or Randomness()
        self._lock = threading.Lock()
        self._guests: OrderedDict[str, Guest] = OrderedDict()
        self._used: OrderedDict[bytes, int] = OrderedDict()

    def add(self, guest: Guest) -> str:
        key = self._randomness.token(24)
        with self._lock:
            self._guests[key] = guest
            while len(self._guests) > self._max:
                self._guests.popitem(last=False)
        return key

    def get(self, key: object) -> Guest | None:
        if not isinstance(key, str):
            return None
        with self._lock:
            guest = self._guests.get(key)
            if guest is not None and guest.checked_in_at + self._ttl < self._clock.now():
                del self._guests[key]
                return None
        return guest

    def use_login(self, transaction: str) -> bool:
        """Mark a completed check-in transaction used; False if it already was (a replayed
        copy of the pre-check-in session cookie cannot check in a second time)."""
        digest = hashlib.sha256(transaction.encode()).digest()
        now = self._clock.now()
        with self._lock:
            while self._used and next(iter(self._used.values())) + USED_LOGIN_TTL < now:
                self._used.popitem(last=False)
            if digest in self._used:
                return False
            self._used[digest] = now
            while len(self._used) > self._max:
                self._used.popitem(last=False)
        return True

    def remove(self, key: object) -> None:
        if isinstance(key, str):
            with self._lock:
                self._guests.pop(key, None)


def create_hotel_app(
    rp: RelyingParty,
    *,
    session_secret: bytes,
    clock: Clock | None = None,
    randomness: Randomness | None = None,
    rate_limits: RateLimiter = NO_RATE_LIMITS,
) -> FastAPI:
    """The hotel check-in as an ASGI app; ``rp`` is this site's relying party.

    ``clock`` times check-ins and their expiry; ``randomness`` draws the guest keys, CSRF
    tokens and login-page script nonces (defaults: the system clock, :mod:`secrets`).
    """
    clock = clock or SystemClock()
    randomness = randomness or Randomness()
    book = GuestBook(clock=clock, randomness=randomness)
    app = SITE.app(
        rp, session_secret=session_secret, randomness=randomness, rate_limits=rate_limits
    )
    app.state.guests = book

    @app.get("/")
    def home(request: Request) -> Response:
        guest = book.get(request.session.get("guest"))
        context: dict[str, Any] = {
            "title": SITE_NAME,
            "site_name": SITE_NAME,
            "csrf": csrf_token(request.session, randomness),
        }
        if guest is not None:
            return render_page("hotel_done.html", templates=templates(), guest=guest, **context)
        return render_page("hotel.html", templates=templates(), purpose=rp.purpose, **context)

    @app.get("/login/complete")
    def complete(request: Request) -> Response:
        login = SITE.finished_login(request, rp, book.use_login)
        if isinstance(login, Response):
            return login
        claims = login.claims
        family, given, id_number = (_text(claims.get(name)) for name in CLAIMS)
        if not (family and given and id_number):
            return SITE.failed("The wallet did not share the identity the law requires.", 400)
        book.remove(request.session.get("guest"))
        request.session.clear()
        request.session["guest"] = book.add(
            Guest(family + given, mask_id_number(id_number), clock.now())
        )
        csrf_token(request.session, randomness)
        return RedirectResponse("/", status_code=303)

    @app.post("/checkout")
    def checkout(request: Request, csrf: str = Form("")) -> Response:
        if not csrf_ok(request.session, csrf):
            return SITE.failed("This form has expired. Reload the page and try again.", 403)
        book.remove(request.session.get("guest"))
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    return app


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
