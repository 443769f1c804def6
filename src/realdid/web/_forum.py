"""The demo community forum: members are verified adults known only by a pseudonym.

The forum asks the resident's wallet for a ``urn:realdid:SiteProof`` with
``verified_person`` and ``age_over_18``. The credential's subject is the wallet's per-site
DID for this forum, so the account key is that DID and the member name shown to others is
derived from a hash of it (``member-3f9a1c``): the forum never learns a real name, and two
sites cannot link one resident through it.

Routes: ``/`` (posts; post form when signed in), ``/login`` (the shared login page),
``/login/complete`` (the login checks of :class:`~realdid.web._site.DemoSite`, then the
account), ``/posts``, ``/account``, ``/logout``, plus the RP SDK's OpenID4VP routes under
its prefix. A successful login starts a fresh session with a new CSRF token.
"""

from __future__ import annotations

import datetime
import hashlib
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
from realdid.storage import Database, StoreLocation, migrations_of, open_database

from ._pages import templates
from ._site import DemoSite

SITE_NAME = "RealDID Community Forum"
PURPOSE = "Community forum: members must be verified adults"
CLAIMS = ("verified_person", "age_over_18")
COOKIE = "forum_session"
MAX_POST_CHARS = 2000
PAGE_POSTS = 50
SESSION_MAX_AGE = 8 * 3600
USED_LOGIN_TTL = 86400  # longer than any login request lives


def login_query() -> DcqlQuery:
    """What the forum asks for: a site proof saying "verified real person, 18 or older"."""
    return DcqlQuery((CredentialQuery("site_proof", (CredentialType.SITE_PROOF,), CLAIMS),))


SITE = DemoSite(SITE_NAME, "forum", COOKIE, SESSION_MAX_AGE, "sign-in", login_query(), CLAIMS)


def pseudonym_for(did: str, length: int = 6) -> str:
    """The public member name for a per-site DID: ``member-`` + the first hex of SHA-256."""
    return "member-" + hashlib.sha256(did.encode()).hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class Post:
    author: str
    body: str
    created_at: str


class ForumDatabase:
    """Accounts (per-site DID → pseudonym) and posts; thread-safe. ``where`` is a SQLite
    file, a ``postgresql://`` URL (schema ``forum``) or an open :class:`Database`.

    Accounts, posts and used logins are stamped with ``clock`` (default: the system clock).
    Every write is durable: an acknowledged post survives power loss.
    """

    def __init__(self, where: Database | StoreLocation, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._db = open_database(
            where, store="forum", migrations=migrations_of("realdid.web", "forum")
        )

    def close(self) -> None:
        self._db.close()

    def account(self, did: str) -> str:
        """The pseudonym of ``did``, creating the account on first login.

        On the (rare) clash of the 6-hex-digit name with another DID the name grows until it
        is unique, so a member name always belongs to exactly one account.
        """
        select = "SELECT pseudonym FROM accounts WHERE did = ?"
        with self._db.transaction() as tx:
            row = tx.execute(select, (did,)).fetchone()
            if row is not None:
                return str(row[0])
            for length in range(6, 65, 2):
                name = pseudonym_for(did, length)
                # ON CONFLICT, not a caught IntegrityError: on PostgreSQL a failed statement
                # aborts the whole transaction.
                inserted = tx.execute(
                    "INSERT INTO accounts (did, pseudonym, created_at) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING RETURNING pseudonym",
                    (did, name, self._clock.now()),
                ).fetchone()
                if inserted is not None:
                    return name
                row = tx.execute(select, (did,)).fetchone()  # another login made it meanwhile
                if row is not None:
                    return str(row[0])
        raise RuntimeError("no unique pseudonym")  # unreachable: SHA-256 hex is unique per DID

    def use_login(self, transaction: str) -> bool:
        """Mark a completed login transaction used; False if it already was.

        The signed session cookie cannot be revoked, so a copy of a cookie taken before a
        login completed must not be able to complete that login a second time.
        """
        digest = hashlib.sha256(transaction.encode()).digest()
        now = self._clock.now()
        with self._db.transaction() as tx:
            cursor = tx.execute(
                "INSERT INTO used_logins (transaction_hash, used_at) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (digest, now),
            )
            tx.execute("DELETE FROM used_logins WHERE used_at < ?", (now - USED_LOGIN_TTL,))
            return cursor.rowcount == 1

    def pseudonym(self, did: str) -> str | None:
        with self._db.reading() as tx:
            row = tx.execute("SELECT pseudonym FROM accounts WHERE did = ?", (did,)).fetchone()
        return None if row is None else str(row[0])

    def add_post(self, did: str, body: str) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO posts (did, body, created_at) VALUES (?, ?, ?)",
                (did, body, self._clock.now()),
            )

    def posts(self, limit: int = PAGE_POSTS) -> list[Post]:
        with self._db.reading() as tx:
            rows = tx.execute(
                "SELECT a.pseudonym, p.body, p.created_at FROM posts p"
                " JOIN accounts a ON a.did = p.did ORDER BY p.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Post(author, body, _utc(created)) for author, body, created in rows]


def _utc(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def create_forum_app(
    rp: RelyingParty,
    *,
    session_secret: bytes,
    db_path: StoreLocation,
    clock: Clock | None = None,
    randomness: Randomness | None = None,
    rate_limits: RateLimiter = NO_RATE_LIMITS,
) -> FastAPI:
    """The forum as an ASGI app; ``rp`` is this site's relying party (its base URL is ours).

    The app's database is ``app.state.db``; whoever serves the app closes it when done (the
    app may run under several servers or test clients, so it does not close it itself).
    ``clock`` stamps accounts and posts; ``randomness`` draws the CSRF tokens and login-page
    script nonces (defaults: the system clock, :mod:`secrets`).
    """
    randomness = randomness or Randomness()
    db = ForumDatabase(db_path, clock=clock)
    app = SITE.app(
        rp, session_secret=session_secret, randomness=randomness, rate_limits=rate_limits
    )
    app.state.db = db

    def member(request: Request) -> dict[str, Any] | None:
        user = request.session.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("did"), str):
            return None
        name = db.pseudonym(user["did"])
        return None if name is None else {**user, "name": name}

    def page(request: Request, template: str, **context: Any) -> Response:
        return render_page(
            template,
            templates=templates(),
            title=context.pop("title", SITE_NAME),
            site_name=SITE_NAME,
            member=member(request),
            csrf=csrf_token(request.session, randomness),
            **context,
        )

    @app.get("/")
    def home(request: Request) -> Response:
        return page(request, "forum.html", posts=db.posts(), max_post=MAX_POST_CHARS)

    @app.get("/login/complete")
    def complete(request: Request) -> Response:
        login = SITE.finished_login(request, rp, db.use_login)
        if isinstance(login, Response):
            return login
        db.account(login.subject)
        request.session.clear()  # a new session for the signed-in member (fresh CSRF token)
        request.session["user"] = {
            "did": login.subject,
            "verified": login.claims.get("verified_person") is True,
            "adult": login.claims.get("age_over_18") is True,
        }
        csrf_token(request.session, randomness)
        return RedirectResponse("/", status_code=303)

    @app.post("/posts")
    def post(request: Request, body: str = Form(""), csrf: str = Form("")) -> Response:
        who = member(request)
        if who is None:
            return SITE.failed("Sign in to post.", 401)
        if not csrf_ok(request.session, csrf):
            return SITE.failed("This form has expired. Reload the page and try again.", 403)
        text = body.strip()
        if not text or len(text) > MAX_POST_CHARS:
            return SITE.failed(f"A post must have 1 to {MAX_POST_CHARS} characters.", 400)
        db.add_post(who["did"], text)
        return RedirectResponse("/", status_code=303)

    @app.get("/account")
    def account(request: Request) -> Response:
        if member(request) is None:
            return RedirectResponse("/", status_code=303)
        return page(request, "forum_account.html", title=f"Your account — {SITE_NAME}")

    @app.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        if not csrf_ok(request.session, csrf):
            return SITE.failed("This form has expired. Reload the page and try again.", 403)
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    return app
