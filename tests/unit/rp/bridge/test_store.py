"""The bridge's store on both engines (issue 11): single use, replay revocation, purge."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from realdid.rp.bridge._store import (
    BridgeStore,
    StoredAuthorization,
    StoredCode,
    StoredToken,
    secret_hash,
)
from realdid.storage import StoreLocation

Locate = Callable[[str], StoreLocation]


@pytest.fixture
def store(both_engines: str, store_at: Locate) -> BridgeStore:
    opened = BridgeStore(store_at("bridge"))
    yield opened  # type: ignore[misc]
    opened.close()


def _code(client: str = "client-a", expires_at: int = 1000) -> StoredCode:
    return StoredCode(
        code_hash="",
        client_id=client,
        redirect_uri="https://site.example/cb",
        scope="openid",
        nonce="n-1",
        code_challenge="c" * 43,
        code_challenge_method="S256",
        subject="pairwise-sub",
        claims={"age_over_18": True},
        auth_time=100,
        expires_at=expires_at,
    )


def _token(code: str) -> StoredToken:
    return StoredToken(
        token_hash="",
        client_id="client-a",
        scope="openid",
        subject="pairwise-sub",
        claims={"age_over_18": True},
        auth_time=100,
        issued_at=110,
        expires_at=2000,
        revoked=False,
    )


def test_an_authorization_is_used_once_even_by_racing_requests(store: BridgeStore) -> None:
    store.add_authorization(
        StoredAuthorization(
            id="a1",
            client_id="client-a",
            params=(("scope", "openid"), ("state", "xyz")),
            transaction="tx-handle",
            pending={"code": "ABCD"},
            expires_at=500,
            used=False,
        )
    )
    found = store.authorization("a1")
    assert found is not None
    assert found.params == (("scope", "openid"), ("state", "xyz"))
    assert found.pending == {"code": "ABCD"}
    assert not found.used
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def use() -> None:
        barrier.wait()
        results.append(store.use_authorization("a1"))

    threads = [threading.Thread(target=use) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert store.authorization("a1").used  # type: ignore[union-attr]
    assert store.authorization("nope") is None


def test_a_code_redeems_once_and_a_replay_revokes_its_tokens(store: BridgeStore) -> None:
    store.add_code("the-code", _code())
    assert store.nonce_used("client-a", "n-1")
    assert not store.nonce_used("client-b", "n-1")
    assert store.take_code("the-code", "client-b", now=200) is None  # not that client's
    taken = store.take_code("the-code", "client-a", now=200)
    assert taken is not None
    assert taken.claims == {"age_over_18": True}
    assert taken.code_hash == secret_hash("the-code")
    store.add_token("the-token", _token("the-code"), secret_hash("the-code"))
    assert not store.token("the-token").revoked  # type: ignore[union-attr]
    assert store.take_code("the-code", "client-a", now=201) is None  # replay
    assert store.token("the-token").revoked  # type: ignore[union-attr]
    assert store.token("other") is None


def test_an_expired_code_is_consumed_but_yields_nothing(store: BridgeStore) -> None:
    store.add_code("old", _code(expires_at=150))
    assert store.take_code("old", "client-a", now=150) is None
    assert store.take_code("old", "client-a", now=100) is None  # used now


def test_purge_keeps_used_codes_for_the_replay_window(store: BridgeStore) -> None:
    store.add_code("c1", _code(expires_at=100))
    store.add_token("t1", _token("c1"), secret_hash("c1"))
    store.purge(now=150, keep_codes_for=100)
    assert store.counts() == {"authorizations": 0, "codes": 1, "tokens": 1}
    store.purge(now=2500, keep_codes_for=100)
    assert store.counts() == {"authorizations": 0, "codes": 0, "tokens": 0}
