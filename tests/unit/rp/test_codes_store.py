"""Short codes at the RP (lookup, expiry, single use) and the login request store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from realdid.rp import LoginError, LoginRequestStore, StoredRequest
from realdid.rp._store import KEEP_AFTER_EXPIRY, DuplicateRequestError
from realdid.storage import StoreLocation

from .conftest import RpEnv, Wallet


def test_code_resolves_to_the_authorization_url(env: RpEnv) -> None:
    pending = env.request()
    typed = pending.code.lower().replace("-", " ").replace("1", "l").replace("0", "o")
    assert env.rp.authorization_url_for_code(typed) == pending.authorization_url
    assert env.rp.authorization_url_for_code(pending.code) == pending.authorization_url


@pytest.mark.parametrize("typed", ["ZZZZ-ZZZZ", "garbage", "", "x" * 100])
def test_unknown_codes(env: RpEnv, typed: str) -> None:
    env.request()
    with pytest.raises(LoginError) as caught:
        env.rp.authorization_url_for_code(typed)
    assert (caught.value.code, caught.value.http_status) == ("unknown-code", 404)


def test_codes_expire_with_their_request(env: RpEnv) -> None:
    pending = env.request()
    env.clock.advance(299)
    env.rp.authorization_url_for_code(pending.code)
    env.clock.advance(1)
    with pytest.raises(LoginError, match="no live login request"):
        env.rp.authorization_url_for_code(pending.code)


def test_codes_are_single_use(env: RpEnv) -> None:
    pending = env.request()
    wallet = Wallet(env, pending)
    env.rp.verify_response(wallet.answer(env.issue(env.site_holder())))
    with pytest.raises(LoginError) as caught:
        env.rp.authorization_url_for_code(pending.code)
    assert caught.value.code == "unknown-code"


def test_expired_rows_are_purged_after_a_grace_period(env: RpEnv) -> None:
    old = env.request()
    env.clock.advance(300 + KEEP_AFTER_EXPIRY)
    env.request()  # not yet: purged only once expired for longer than the grace period
    assert env.store.count() == 2
    env.clock.advance(61)
    fresh = env.request()
    assert env.store.count() == 2
    assert env.rp.outcome(old.transaction).state == "expired"  # unknown reads as expired
    assert env.rp.outcome(fresh.transaction).state == "pending"


def stored(n: int, **overrides: object) -> StoredRequest:
    values: dict[str, object] = {
        "request_id": f"r{n}",
        "transaction": f"t{n}",
        "code": f"C{n}",
        "nonce": f"n{n}",
        "state": f"s{n}",
        "query": {"credentials": []},
        "created_at": 1000,
        "expires_at": 1300,
    }
    values.update(overrides)
    return StoredRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("column", ["request_id", "transaction", "code", "state"])
def test_store_refuses_duplicates(column: str) -> None:
    store = LoginRequestStore(":memory:")
    store.insert(stored(1))
    with pytest.raises(DuplicateRequestError):
        store.insert(stored(2, **{column: getattr(stored(1), column)}))
    store.close()


def test_store_lookups_and_single_use(tmp_path: Path) -> None:
    path = tmp_path / "logins.db"
    store = LoginRequestStore(path)
    store.insert(stored(1))
    assert store.by_id("r1") == store.by_state("s1") == store.by_code("C1") == stored(1)
    assert store.by_transaction("t1") == stored(1)
    assert store.by_id("nope") is None
    assert store.finish("r1", {"state": "failed", "error": "revoked"})
    assert not store.finish("r1", {"state": "done", "login": {}})  # the first outcome stands
    assert not store.finish("nope", {"state": "failed", "error": "revoked"})
    store.close()
    reopened = LoginRequestStore(path)  # state survives a restart
    row = reopened.by_id("r1")
    assert row is not None
    assert row.answered
    assert row.outcome == {"state": "failed", "error": "revoked"}
    reopened.close()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_purge_forced(tmp_path: Path) -> None:
    store = LoginRequestStore(":memory:")
    store.insert(stored(1, expires_at=100))
    store.insert(stored(2, expires_at=10_000))
    assert store.purge(100 + KEEP_AFTER_EXPIRY + 1, force=True) == 1
    assert store.by_id("r1") is None
    assert store.by_id("r2") is not None


def test_single_use_across_two_processes_sharing_the_file(tmp_path: Path) -> None:
    """Two workers with their own connections to one database: one claim wins."""
    import threading

    path = tmp_path / "logins.db"
    first, second = LoginRequestStore(path), LoginRequestStore(path)
    first.insert(stored(1))
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def claim(store: LoginRequestStore) -> None:
        barrier.wait()
        results.append(store.finish("r1", {"state": "failed", "error": "x"}))

    threads = [threading.Thread(target=claim, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    first.close()
    second.close()


# -- the same store on PostgreSQL (issue 11): the behaviour above, on both engines ---------


def test_store_behaves_alike_on_both_engines(
    both_engines: str, store_at: Callable[[str], StoreLocation]
) -> None:
    where = store_at("logins")
    store = LoginRequestStore(where)
    store.insert(stored(1))
    store.insert(stored(3, expires_at=100))
    for column in ("request_id", "transaction", "code", "state"):
        with pytest.raises(DuplicateRequestError):
            store.insert(stored(2, **{column: getattr(stored(1), column)}))
    assert store.by_id("r1") == store.by_state("s1") == store.by_code("C1") == stored(1)
    assert store.by_transaction("t1") == stored(1)
    assert store.by_id("nope") is None
    assert store.finish("r1", {"state": "failed", "error": "revoked"})
    assert not store.finish("r1", {"state": "done", "login": {}})
    assert store.purge(100 + KEEP_AFTER_EXPIRY + 1, force=True) == 1
    assert store.count() == 1
    store.close()
    reopened = LoginRequestStore(where)  # state survives a restart
    row = reopened.by_id("r1")
    assert row is not None
    assert row.answered
    assert row.outcome == {"state": "failed", "error": "revoked"}
    reopened.close()


def test_single_use_across_stores_on_both_engines(
    both_engines: str, store_at: Callable[[str], StoreLocation]
) -> None:
    """Eight workers with their own connections claim one request at once: one wins."""
    import threading

    where = store_at("logins")
    stores = [LoginRequestStore(where) for _ in range(8)]
    stores[0].insert(stored(1))
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def claim(store: LoginRequestStore) -> None:
        barrier.wait()
        results.append(store.finish("r1", {"state": "failed", "error": "x"}))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    for store in stores:
        store.close()
