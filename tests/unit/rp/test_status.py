"""StatusListCache: verified lists, bounded staleness, single flight, refusal when unsure."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from realdid.clock import FixedClock
from realdid.credentials import MAX_STATUS_LIST_JWT_BYTES, StatusList, sign_status_list
from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner
from realdid.rp import (
    ResolverUnavailableError,
    StatusListCache,
    StatusReferenceError,
    StatusUnavailableError,
)

from .conftest import STATUS_URI, DictResolver, Holder, StatusServer


@pytest.fixture
def resolver() -> DictResolver:
    return DictResolver()


@pytest.fixture
def issuer(resolver: DictResolver) -> Holder:
    return resolver.create(KeyType.P256, ("assertionMethod",))


@pytest.fixture
def server(issuer: Holder, clock: FixedClock) -> StatusServer:
    return StatusServer(issuer, clock)


def cache_for(
    server: StatusServer,
    resolver: DictResolver,
    clock: FixedClock,
    *,
    trusted: frozenset[str] | None = None,
    max_ttl: int = 300,
) -> StatusListCache:
    return StatusListCache(
        server,
        resolver=resolver,
        trusted_issuers=trusted if trusted is not None else frozenset({server.issuer.did}),
        clock=clock,
        policy=DEFAULT_POLICY,
        max_ttl=max_ttl,
    )


def test_values_and_caching_until_ttl(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    cache = cache_for(server, resolver, clock)
    server.revoke(3)
    assert cache.status(STATUS_URI, 3) == 1
    assert cache.status(STATUS_URI, 4, issuer=server.issuer.did) == 0
    assert len(server.fetches) == 1
    server.revoke(4)
    clock.advance(server.ttl - 1)
    assert cache.status(STATUS_URI, 4) == 0  # stale by design, within the token's ttl
    clock.advance(1)
    assert cache.status(STATUS_URI, 4) == 1
    assert len(server.fetches) == 2


def test_max_ttl_caps_the_tokens_ttl(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    server.ttl = 86_400
    cache = cache_for(server, resolver, clock, max_ttl=30)
    cache.status(STATUS_URI, 0)
    clock.advance(29)
    cache.status(STATUS_URI, 0)
    assert len(server.fetches) == 1
    clock.advance(1)
    cache.status(STATUS_URI, 0)
    assert len(server.fetches) == 2


def test_token_exp_caps_the_cache(
    issuer: Holder, resolver: DictResolver, clock: FixedClock
) -> None:
    fetched: list[str] = []

    def fetch(uri: str) -> str:
        fetched.append(uri)
        now = clock.now()
        return sign_status_list(
            StatusList(16),
            uri=uri,
            issuer=issuer.did,
            signer=issuer.signer,
            key_id=issuer.key_id,
            issued_at=now,
            expires_at=now + 10,
            ttl=3600,
        )

    cache = StatusListCache(
        fetch,
        resolver=resolver,
        trusted_issuers=frozenset({issuer.did}),
        clock=clock,
        policy=DEFAULT_POLICY,
    )
    cache.status(STATUS_URI, 0)
    clock.advance(9)
    cache.status(STATUS_URI, 0)
    clock.advance(1)
    cache.status(STATUS_URI, 0)
    assert len(fetched) == 2


def test_unreachable_without_a_fresh_copy_is_unavailable(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    cache = cache_for(server, resolver, clock)
    cache.status(STATUS_URI, 0)
    server.down = True
    clock.advance(server.ttl)  # the cached copy is stale now: no answer rather than "valid"
    with pytest.raises(StatusUnavailableError):
        cache.status(STATUS_URI, 0)
    server.down = False
    assert cache.status(STATUS_URI, 0) == 0


def test_list_from_an_untrusted_issuer(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    cache = cache_for(server, resolver, clock, trusted=frozenset({"did:realdid:someone-else"}))
    with pytest.raises(StatusUnavailableError, match="untrusted-issuer"):
        cache.status(STATUS_URI, 0)


def test_list_of_another_issuer_than_the_credentials(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    other = resolver.create(KeyType.P256, ("assertionMethod",))
    cache = cache_for(server, resolver, clock, trusted=frozenset({server.issuer.did, other.did}))
    with pytest.raises(StatusUnavailableError, match="not the credential issuer"):
        cache.status(STATUS_URI, 0, issuer=other.did)


def test_forged_list_signature(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    forger = LocalSigner.generate(KeyType.P256)
    cache = StatusListCache(
        lambda uri: server.token(signer=forger),
        resolver=resolver,
        trusted_issuers=frozenset({server.issuer.did}),
        clock=clock,
        policy=DEFAULT_POLICY,
    )
    with pytest.raises(StatusUnavailableError, match="invalid-issuer-signature"):
        cache.status(STATUS_URI, 0)


def test_list_served_for_another_uri(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    cache = StatusListCache(
        lambda uri: server.token(),
        resolver=resolver,
        trusted_issuers=frozenset({server.issuer.did}),
        clock=clock,
        policy=DEFAULT_POLICY,
    )
    with pytest.raises(StatusUnavailableError, match="uri-mismatch"):
        cache.status("https://authority.test/status-lists/2", 0)


def test_garbage_list(server: StatusServer, resolver: DictResolver, clock: FixedClock) -> None:
    cache = StatusListCache(
        lambda uri: "not.a.jwt",
        resolver=resolver,
        trusted_issuers=frozenset({server.issuer.did}),
        clock=clock,
        policy=DEFAULT_POLICY,
    )
    with pytest.raises(StatusUnavailableError):
        cache.status(STATUS_URI, 0)


def test_registry_down_while_resolving_the_list_issuer(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    cache = cache_for(server, resolver, clock)
    resolver.fail = ResolverUnavailableError("down")
    with pytest.raises(StatusUnavailableError, match="cannot be resolved"):
        cache.status(STATUS_URI, 0)


def test_index_outside_the_list(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    cache = cache_for(server, resolver, clock)
    with pytest.raises(StatusReferenceError):
        cache.status(STATUS_URI, 1024)


def test_concurrent_callers_fetch_once(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    def slow_fetch(uri: str) -> str:
        time.sleep(0.05)
        return server(uri)

    cache = StatusListCache(
        slow_fetch,
        resolver=resolver,
        trusted_issuers=frozenset({server.issuer.did}),
        clock=clock,
        policy=DEFAULT_POLICY,
    )
    barrier = threading.Barrier(6)
    values: list[int] = []

    def check() -> None:
        barrier.wait()
        values.append(cache.status(STATUS_URI, 0))

    threads = [threading.Thread(target=check) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert values == [0] * 6
    assert len(server.fetches) == 1


# -- the default HTTP fetcher ---------------------------------------------------------------------
def http_cache(
    server: StatusServer, resolver: DictResolver, clock: FixedClock, handler: httpx.MockTransport
) -> StatusListCache:
    return StatusListCache(
        resolver=resolver,
        trusted_issuers=frozenset({server.issuer.did}),
        clock=clock,
        policy=DEFAULT_POLICY,
        transport=handler,
    )


def test_http_fetch(server: StatusServer, resolver: DictResolver, clock: FixedClock) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=server.token() + "\n")

    cache = http_cache(server, resolver, clock, httpx.MockTransport(handle))
    assert cache.status(STATUS_URI, 0) == 0
    assert seen[0].headers["accept"] == "application/statuslist+jwt"
    assert str(seen[0].url) == STATUS_URI
    cache.close()


@pytest.mark.parametrize(
    ("response", "uri"),
    [
        (httpx.Response(404, text="no"), STATUS_URI),
        (httpx.Response(302, headers={"location": "http://evil.test/"}), STATUS_URI),
        (httpx.Response(200, content=b"x" * (8 * 1024 * 1024 + 1)), STATUS_URI),
        (httpx.Response(200, content="é".encode()), STATUS_URI),
        (httpx.Response(200, text="unused"), "file:///etc/passwd"),
    ],
)
def test_http_fetch_failures_are_unavailable(
    server: StatusServer,
    resolver: DictResolver,
    clock: FixedClock,
    response: httpx.Response,
    uri: str,
) -> None:
    cache = http_cache(server, resolver, clock, httpx.MockTransport(lambda request: response))
    with pytest.raises(StatusUnavailableError):
        cache.status(uri, 0)
    cache.close()


def test_http_transport_error_is_unavailable(
    server: StatusServer, resolver: DictResolver, clock: FixedClock
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    cache = http_cache(server, resolver, clock, httpx.MockTransport(refuse))
    with pytest.raises(StatusUnavailableError, match="ConnectError"):
        cache.status(STATUS_URI, 0)


class _CountingBody(httpx.SyncByteStream):
    """``total`` bytes in 4 KiB pieces; ``sent`` says how many the client pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self.total:
            piece = b"x" * min(4096, self.total - self.sent)
            self.sent += len(piece)
            yield piece


@pytest.mark.parametrize("announced", [False, True], ids=["streamed", "content-length"])
def test_oversize_list_is_refused_without_reading_past_the_cap(
    server: StatusServer, resolver: DictResolver, clock: FixedClock, announced: bool
) -> None:
    body = _CountingBody(100 * MAX_STATUS_LIST_JWT_BYTES)
    headers = {"content-length": str(body.total)} if announced else {}
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, headers=headers, stream=body)
    )
    cache = http_cache(server, resolver, clock, transport)
    with pytest.raises(StatusUnavailableError, match="too large"):
        cache.status(STATUS_URI, 0)
    # A declared length over the cap is refused before the body; a stream at the cap.
    assert body.sent == 0 if announced else body.sent <= MAX_STATUS_LIST_JWT_BYTES + 4096
    cache.close()
