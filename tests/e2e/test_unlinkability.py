"""Unlinkability: one person logs in to two websites; the websites can share nothing.

Against a real node and authority (``realdid serve``), two enterprises are registered as
relying parties and serve their login routes in this process. Everything each site
*receives* is recorded: every HTTP request the wallet sends it (paths, queries, bodies), every
response it sends back, and every DID document and status list it resolves. The same
resident then logs in to both with ``realdid wallet login``.

The two recordings are broken down into atoms — every string of at least 12 characters
found anywhere, including inside JWT headers and payloads, SD-JWT disclosures (salt, name,
value) and form fields — and the test asserts that the two sites share none of them except
public material of the authority (its DID, keys and status list) and protocol constants.
So they share no identifier, key, signature, salt or credential bytes. Network-level facts
(the client's IP address, the HTTP client's User-Agent) are outside the scope of this test.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realdid.credentials import CredentialQuery, DcqlQuery
from realdid.crypto import DEFAULT_POLICY
from realdid.rp import (
    HttpDidResolver,
    LoginRequestStore,
    RelyingParty,
    RelyingPartyConfig,
    ResolvedDid,
    StatusListCache,
    login_routes,
)
from realdid.wallet import Wallet

from ._cli import PASSPHRASE, free_port, realdid, succeeds
from .test_enrollment import (  # noqa: F401 - ``server`` is the module-scoped fixture
    Server,
    business_register,
    enrolled,
    new_holder,
    registered_rp,
    server,
)

pytestmark = pytest.mark.e2e

SITE_PROOF = "urn:realdid:SiteProof"
_MIN_ATOM = 12
_TOKEN = re.compile(r"[A-Za-z0-9_\-.:~/+=%#]+")


@dataclass
class Recording:
    """Everything one site received and sent, as text."""

    texts: list[str] = field(default_factory=list)

    def add(self, value: Any) -> None:
        self.texts.append(value if isinstance(value, str) else json.dumps(value))


class RecordingMiddleware:
    """Records each request's path, query and body and each response body."""

    def __init__(self, app: ASGIApp, recording: Recording) -> None:
        self.app = app
        self.recording = recording

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.recording.add(scope["path"])
        self.recording.add(scope.get("query_string", b"").decode("latin-1"))

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.recording.add(message.get("body", b"").decode("latin-1"))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                self.recording.add(message.get("body", b"").decode("latin-1"))
            await send(message)

        await self.app(scope, recording_receive, recording_send)


class RecordingResolver(HttpDidResolver):
    def __init__(self, node: str, recording: Recording) -> None:
        super().__init__(node, ttl=5)
        self.recording = recording

    def document(self, did: str) -> ResolvedDid:
        resolved = super().document(did)
        self.recording.add(resolved.document)
        return resolved


@dataclass
class Site:
    rp: RelyingParty
    base_url: str
    recording: Recording


def _b64json(segment: str) -> Any:
    """The JSON object or array ``segment`` encodes in base64url, else None."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return _json(raw.decode())
    except ValueError:
        return None


def atoms(text: str) -> set[str]:
    """Every value of >= 12 characters in ``text``, recursively through its encodings.

    Containers (JSON documents, forms and query strings, base64url-encoded JSON such as JWT
    headers and payloads and SD-JWT disclosures) are opened and their values collected
    instead of the container itself: two equal containers have equal values, so nothing
    shared goes unseen, while field names and fixed headers (protocol) do not count.
    """
    found: set[str] = set()
    pending = [text]
    while pending:
        current = pending.pop()
        decoded = _json(current)
        if decoded is not None:
            pending.extend(_values(decoded))
            continue
        if "=" in current:  # a form or a URL with a query
            pending.extend(v for _, v in parse_qsl(urlsplit(current).query or current))
        for token in _TOKEN.findall(current):
            pieces = token.split("~") if "~" in token else [token]
            pieces += [p for piece in pieces if piece.count(".") == 2 for p in piece.split(".")]
            for piece in pieces:
                if len(piece) < _MIN_ATOM or piece in found or "=" in piece:
                    continue
                inner = _b64json(piece)
                if inner is not None:
                    pending.extend(_values(inner))
                else:
                    found.add(piece)
    return found


def _json(text: str) -> Any:
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict | list) else None


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _values(v)]
    if isinstance(value, list):
        return [s for item in value for s in _values(item)]
    return []


def serve_site(server: Server, name: str, company: dict[str, str]) -> Iterator[Site]:  # noqa: F811
    purpose = f"{name} accounts for verified adults"
    holder, registration = registered_rp(server, name, company, purpose)
    wallet = Wallet.open(holder.wallet, PASSPHRASE)
    issuer = httpx.get(f"{server.authority}/healthz", timeout=5).json()["issuer"]
    recording = Recording()
    resolver = RecordingResolver(server.node, recording)
    trusted = frozenset({issuer})

    def fetch_status_list(uri: str) -> str:
        jwt = httpx.get(uri, timeout=10).text
        recording.add(jwt)
        return jwt

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    rp = RelyingParty(
        RelyingPartyConfig(
            base_url=base_url,
            client_did=holder.did,
            key_id=wallet.key_id(holder.did),
            registration=registration,
            trusted_issuers=trusted,
        ),
        signer=wallet.signing_key(holder.did),
        store=LoginRequestStore(server.scratch / f"{name}-logins.db"),
        resolver=resolver,
        status_lists=StatusListCache(
            fetch_status_list, resolver=resolver, trusted_issuers=trusted, policy=DEFAULT_POLICY
        ),
    )
    app = FastAPI()
    app.include_router(login_routes(rp))
    recorded = RecordingMiddleware(app, recording)
    web = uvicorn.Server(uvicorn.Config(recorded, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started:
        assert thread.is_alive(), f"{name} did not start"
        assert time.monotonic() < deadline, f"{name} did not start in time"
        time.sleep(0.05)
    try:
        yield Site(rp, base_url, recording)
    finally:
        web.should_exit = True
        thread.join(timeout=10)
        rp.close()


@pytest.fixture(scope="module")
def companies(server: Server) -> list[dict[str, str]]:  # noqa: F811 - the imported fixture
    return business_register(server, "unlinkability", count=2)


@pytest.fixture(scope="module")
def forum(server: Server, companies: list[dict[str, str]]) -> Iterator[Site]:  # noqa: F811
    yield from serve_site(server, "forum", companies[0])


@pytest.fixture(scope="module")
def shop(server: Server, companies: list[dict[str, str]]) -> Iterator[Site]:  # noqa: F811
    yield from serve_site(server, "shop", companies[1])


def log_in(server: Server, wallet: str, site: Site) -> str:  # noqa: F811
    pending = site.rp.create_request(
        DcqlQuery((CredentialQuery("person", (SITE_PROOF,), ("age_over_18",)),))
    )
    result = succeeds(
        realdid(
            "wallet", "login", pending.code, "--site", site.base_url, "--wallet-dir", wallet,
            "--node", server.node, "--consent", "allow",
        )
    )  # fmt: skip
    outcome = site.rp.outcome(pending.transaction)
    assert outcome.state == "done", outcome
    assert outcome.login is not None
    assert result.stdout.strip().endswith(outcome.login.subject)
    return outcome.login.subject


def _is_status_list_token(text: str) -> bool:
    header = _b64json(text.split(".", maxsplit=1)[0]) if text.count(".") == 2 else None
    return isinstance(header, dict) and header.get("typ") == "statuslist+jwt"


def public_authority_material(server: Server) -> set[str]:  # noqa: F811
    """Atoms anyone can fetch from the authority and the registry: allowed in both."""
    issuer = httpx.get(f"{server.authority}/healthz", timeout=5).json()["issuer"]
    material = atoms(httpx.get(f"{server.node}/1.0/identifiers/{issuer}", timeout=5).text)
    material |= atoms(httpx.get(f"{server.authority}/status-lists/1", timeout=5).text)
    material |= atoms(
        httpx.get(f"{server.authority}/.well-known/openid-credential-issuer", timeout=5).text
    )
    return material | {issuer, f"{server.authority}/status-lists/1"}


def test_two_sites_share_nothing_about_the_person(
    server: Server,  # noqa: F811
    forum: Site,
    shop: Site,
) -> None:
    holder = new_holder(server, "una")
    enrolled(server, holder, server.residents[9])
    forum_did = log_in(server, str(holder.wallet), forum)
    shop_did = log_in(server, str(holder.wallet), shop)
    assert forum_did != shop_did
    assert holder.did not in forum_did + shop_did

    seen_by_forum = set().union(*(atoms(t) for t in forum.recording.texts))
    seen_by_shop = set().union(*(atoms(t) for t in shop.recording.texts))
    # The recordings really hold the person's material: DID, key, credential, disclosures.
    assert forum_did in seen_by_forum
    assert shop_did in seen_by_shop
    presentation = _presentation(forum)
    issuer_jwt, *disclosures, kb_jwt = presentation.split("~")
    salt = _b64json(disclosures[0])[0]
    holder_x = _b64json(issuer_jwt.split(".")[1])["cnf"]["jwk"]["x"]
    for category in (salt, holder_x, issuer_jwt.split(".")[2], kb_jwt.split(".")[2]):
        assert category in seen_by_forum  # so a salt, key or signature shared would be caught

    # A status list token is the same for every holder on the list (each worker process
    # of the authority signs its own copy): whatever token a site fetched is public.
    status_tokens = [
        t for t in forum.recording.texts + shop.recording.texts if _is_status_list_token(t)
    ]
    public = public_authority_material(server).union(*(atoms(t) for t in status_tokens))
    shared = (seen_by_forum & seen_by_shop) - public
    protocol = {
        SITE_PROOF,
        "urn:realdid:RpRegistration",
        "decentralized_identifier",
        "https://self-issued.me/v2",
        "verified_person",
        "assurance_level",
        "/oid4vp/responses",
        "application/did+ld+json",
        "oauth-authz-req+jwt",
        "openid4vp://",
    }
    leaked = {a for a in shared if a not in protocol and not _is_protocol_path(a)}
    assert not leaked, f"the two sites received the same values: {sorted(leaked)[:10]}"

    # And explicitly: the status entries and holder keys differ.
    forum_login, shop_login = _credential_payloads(forum), _credential_payloads(shop)
    assert forum_login["status"]["status_list"]["idx"] != shop_login["status"]["status_list"]["idx"]
    assert forum_login["cnf"] != shop_login["cnf"]


def _is_protocol_path(atom: str) -> bool:
    """Paths of the public DID and status-list APIs, and JSON-LD context URLs."""
    return atom.startswith(("https://www.w3.org/", "https://w3id.org/", "/1.0/identifiers/"))


def _presentation(site: Site) -> str:
    for text in site.recording.texts:
        if "vp_token=" in text:
            token = json.loads(dict(parse_qsl(text))["vp_token"])
            (presentation,) = next(iter(token.values()))
            return str(presentation)
    raise AssertionError("the site received no presentation")


def _credential_payloads(site: Site) -> dict[str, Any]:
    payload: dict[str, Any] = _b64json(_presentation(site).split("~")[0].split(".")[1])
    return payload
