"""HttpDidResolver over a registry node's resolution endpoint, with a bounded TTL cache."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from realdid.clock import FixedClock
from realdid.crypto import KeyType, LocalSigner
from realdid.did import RESOLUTION_MEDIA_TYPE
from realdid.rp import HttpDidResolver, ResolverUnavailableError, authentication_keys
from realdid.rp._resolver import issuer_key

from .conftest import DictResolver

NODE = "http://node.test"


class FakeNode:
    """Answers ``GET /1.0/identifiers/{did}`` as a registry node does."""

    def __init__(self, resolver: DictResolver) -> None:
        self.resolver = resolver
        self.requests: list[str] = []
        self.status_override: int | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        did = request.url.path.removeprefix("/1.0/identifiers/")
        self.requests.append(did)
        if self.status_override is not None:
            return httpx.Response(self.status_override, text="oops")
        document = self.resolver.documents.get(did)
        if document is None:
            return httpx.Response(
                404,
                json={
                    "type": "urn:realdid:problem:did-not-found",
                    "title": "DID not found",
                    "status": 404,
                    "detail": "no anchored DID with this identifier",
                    "didDocument": None,
                    "didResolutionMetadata": {"error": "notFound"},
                },
            )
        deactivated = did in self.resolver.deactivated
        body: dict[str, Any] = {
            "didDocument": {"id": did} if deactivated else document,
            "didResolutionMetadata": {"contentType": "application/did+json"},
            "didDocumentMetadata": {"deactivated": deactivated},
        }
        return httpx.Response(
            410 if deactivated else 200,
            json=body,
            headers={"content-type": RESOLUTION_MEDIA_TYPE},
        )


@pytest.fixture
def dids() -> DictResolver:
    return DictResolver()


@pytest.fixture
def node(dids: DictResolver) -> FakeNode:
    return FakeNode(dids)


def resolver_for(node: FakeNode, clock: FixedClock, **kwargs: Any) -> HttpDidResolver:
    return HttpDidResolver(NODE, ttl=60, clock=clock, transport=httpx.MockTransport(node), **kwargs)


def test_resolves_and_caches_for_ttl(node: FakeNode, dids: DictResolver, clock: FixedClock) -> None:
    holder = dids.create()
    resolver = resolver_for(node, clock)
    resolved = resolver.document(holder.did)
    assert resolved.document == dids.documents[holder.did]
    assert not resolved.deactivated
    clock.advance(59)
    resolver.document(holder.did)
    assert len(node.requests) == 1
    clock.advance(1)
    resolver.document(holder.did)
    assert len(node.requests) == 2
    resolver.close()


def test_deactivated(node: FakeNode, dids: DictResolver, clock: FixedClock) -> None:
    holder = dids.create()
    dids.deactivated.add(holder.did)
    resolved = resolver_for(node, clock).document(holder.did)
    assert resolved.deactivated
    assert resolved.document == {"id": holder.did}


def test_deactivation_reaches_the_cache_within_ttl(
    node: FakeNode, dids: DictResolver, clock: FixedClock
) -> None:
    holder = dids.create()
    resolver = resolver_for(node, clock)
    assert not resolver.document(holder.did).deactivated
    dids.deactivated.add(holder.did)
    assert not resolver.document(holder.did).deactivated  # bounded staleness
    clock.advance(60)
    assert resolver.document(holder.did).deactivated


def test_not_found_is_not_cached(node: FakeNode, dids: DictResolver, clock: FixedClock) -> None:
    holder = dids.create()
    document = dids.documents.pop(holder.did)
    resolver = resolver_for(node, clock)
    with pytest.raises(LookupError):
        resolver.document(holder.did)
    dids.documents[holder.did] = document  # anchored a moment later
    assert resolver.document(holder.did).document == document


@pytest.mark.parametrize("did", ["alice", "did:web:example.com", "did:realdid:", "x" * 5000])
def test_invalid_dids_are_not_sent_to_the_node(node: FakeNode, clock: FixedClock, did: str) -> None:
    with pytest.raises(LookupError):
        resolver_for(node, clock).document(did)
    assert node.requests == []


@pytest.mark.parametrize("status", [500, 502, 400])
def test_node_errors_are_unavailable(
    node: FakeNode, dids: DictResolver, clock: FixedClock, status: int
) -> None:
    holder = dids.create()
    node.status_override = status
    with pytest.raises(ResolverUnavailableError):
        resolver_for(node, clock).document(holder.did)


def test_unreachable_node(dids: DictResolver, clock: FixedClock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    resolver = HttpDidResolver(NODE, ttl=60, clock=clock, transport=httpx.MockTransport(refuse))
    with pytest.raises(ResolverUnavailableError):
        resolver.document(dids.create().did)


def test_cache_is_bounded_lru(node: FakeNode, dids: DictResolver, clock: FixedClock) -> None:
    a, b, c = dids.create(), dids.create(), dids.create()
    resolver = resolver_for(node, clock, max_entries=2)
    resolver.document(a.did)
    resolver.document(b.did)
    resolver.document(a.did)  # a is now the most recently used
    resolver.document(c.did)  # evicts b
    assert node.requests == [a.did, b.did, c.did]
    resolver.document(a.did)
    assert len(node.requests) == 3
    resolver.document(b.did)
    assert node.requests[-1] == b.did


def test_authentication_keys(dids: DictResolver) -> None:
    holder = dids.create(KeyType.P256, ("authentication",))
    assertion_only = dids.create(KeyType.P256, ("assertionMethod",))
    assert authentication_keys(dids.documents[holder.did]) == [holder.signer.public_key]
    assert authentication_keys(dids.documents[assertion_only.did]) == []
    embedded = LocalSigner.generate()
    document = {
        "authentication": [
            {"id": "x#k", "publicKeyMultibase": embedded.public_key.to_multibase()},
            {"id": "x#bad", "publicKeyMultibase": "zNotAKey"},
            "x#missing",
            42,
        ]
    }
    assert authentication_keys(document) == [embedded.public_key]


def test_issuer_key_rules(dids: DictResolver) -> None:
    issuer = dids.create(KeyType.P256, ("assertionMethod",))
    trusted = frozenset({issuer.did})
    assert issuer_key(dids, trusted, issuer.did, issuer.key_id) == issuer.signer.public_key
    other = dids.create(KeyType.P256, ("assertionMethod",))
    with pytest.raises(LookupError, match="not trusted"):
        issuer_key(dids, trusted, other.did, other.key_id)
    with pytest.raises(LookupError, match="not a key of the issuer"):
        issuer_key(dids, trusted, issuer.did, other.key_id)
    with pytest.raises(LookupError, match="no such assertion key"):
        issuer_key(dids, trusted, issuer.did, issuer.did + "#key-9")
    dids.deactivated.add(issuer.did)
    with pytest.raises(LookupError, match="deactivated"):
        issuer_key(dids, trusted, issuer.did, issuer.key_id)


def test_for_node_wires_resolver_status_lists_and_store(clock: FixedClock, tmp_path: Any) -> None:
    """RelyingParty.for_node: one login against a fake node and status endpoint over HTTP."""
    from realdid.rp import RelyingParty

    from .conftest import STATUS_URI, StatusServer, Wallet, build_rp

    dids = DictResolver()
    issuer = dids.create(KeyType.P256, ("assertionMethod",))
    status = StatusServer(issuer, clock)
    template = build_rp(clock, dids, issuer, status)  # for its DIDs, registration and helpers
    node = FakeNode(dids)

    def route(request: httpx.Request) -> httpx.Response:
        if str(request.url) == STATUS_URI:
            return httpx.Response(200, text=status.token())
        return node(request)

    rp = RelyingParty.for_node(
        template.rp.config,
        signer=template.rp_holder.signer,
        node_url=NODE,
        store_path=tmp_path / "logins.db",
        clock=clock,
        transport=httpx.MockTransport(route),
    )
    template.rp.close()
    template.rp = rp
    holder = template.site_holder()
    wallet = Wallet(template, template.request())
    login = rp.verify_response(wallet.answer(template.issue(holder)))
    assert login.subject == holder.did
    assert holder.did in node.requests
    rp.close()
