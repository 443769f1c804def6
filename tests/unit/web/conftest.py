"""A relying-party stand-in for the demo web apps, and clients for them.

:class:`FakeRp` has the part of :class:`realdid.rp.RelyingParty` the sites use
(``config.prefix``, ``purpose``, ``create_request``, ``outcome``); each test decides the
outcome of each login transaction. The pending logins are real :class:`PendingLogin`
objects, so the login page renders a real QR code.
"""

from __future__ import annotations

import base64
import json
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from realdid.credentials import DcqlQuery
from realdid.rp import LoginOutcome, PendingLogin, VerifiedLogin
from realdid.web import create_forum_app, create_hotel_app

with warnings.catch_warnings():
    # starlette>=1.x warns at import that its TestClient prefers httpx2 (see tests/unit/node).
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BASE_URL = "http://testserver"
SECRET = b"s" * 32
FORUM_DID = "did:realdid:QmForumSiteDidOfAliceAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@dataclass
class _Config:
    base_url: str = BASE_URL
    prefix: str = "/oid4vp"
    complete_path: str = "/login/complete"

    @property
    def complete_url(self) -> str:
        return f"{self.base_url}{self.complete_path}"


@dataclass
class FakeRp:
    """Records the queries it was asked for; outcomes are set per transaction by the test."""

    purpose: str = "Test purpose"
    name: str = "Test RP Ltd"
    config: _Config = field(default_factory=_Config)
    queries: list[DcqlQuery] = field(default_factory=list)
    pending: list[PendingLogin] = field(default_factory=list)
    outcomes: dict[str, LoginOutcome] = field(default_factory=dict)

    def create_request(self, query: DcqlQuery) -> PendingLogin:
        self.queries.append(query)
        request_id = secrets.token_urlsafe(16)
        code = "ABCD-" + secrets.token_hex(2).upper()
        pending = PendingLogin(
            request_id=request_id,
            transaction=secrets.token_urlsafe(32),
            code=code,
            authorization_url=f"openid4vp://?client_id=x&request_uri={BASE_URL}/r/{request_id}",
            request_uri=f"{BASE_URL}{self.config.prefix}/requests/{request_id}",
            code_url=f"{BASE_URL}{self.config.prefix}/codes/{code}",
            expires_at=2_000_000_000,
        )
        self.pending.append(pending)
        return pending

    def outcome(self, transaction: str) -> LoginOutcome:
        return self.outcomes.get(transaction, LoginOutcome("pending"))

    # -- test helpers -----------------------------------------------------------------------
    @property
    def last(self) -> PendingLogin:
        return self.pending[-1]

    def succeed(self, subject: str, credential_type: str, **claims: Any) -> None:
        """The wallet answered the newest request; the RP verified it."""
        self.outcomes[self.last.transaction] = LoginOutcome(
            "done",
            VerifiedLogin(subject, credential_type, claims, "did:realdid:authority", 1),
        )

    def fail(self, error: str = "wrong-nonce", state: str = "failed") -> None:
        self.outcomes[self.last.transaction] = LoginOutcome(state, None, error)  # type: ignore[arg-type]


def session_of(client: TestClient, cookie: str) -> dict[str, Any]:
    """The decoded (signed, not encrypted) session cookie: what anyone holding it can read."""
    value = client.cookies.get(cookie)
    if value is None:
        return {}
    payload = value.split(".", 1)[0]
    decoded: dict[str, Any] = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


@pytest.fixture
def rp() -> FakeRp:
    return FakeRp(purpose="Community forum: members must be verified adults")


@pytest.fixture
def forum(rp: FakeRp, tmp_path: Path) -> Iterator[TestClient]:
    app = create_forum_app(rp, session_secret=SECRET, db_path=tmp_path / "forum.db")  # type: ignore[arg-type]
    with TestClient(app, follow_redirects=False) as client:
        yield client
    app.state.db.close()


@pytest.fixture
def hotel_rp() -> FakeRp:
    return FakeRp(purpose="Hotel guest registration required by law")


@pytest.fixture
def hotel(hotel_rp: FakeRp) -> Iterator[TestClient]:
    with TestClient(
        create_hotel_app(hotel_rp, session_secret=SECRET),  # type: ignore[arg-type]
        follow_redirects=False,
    ) as client:
        yield client
