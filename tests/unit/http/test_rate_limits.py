"""Per-client token buckets (``realdid.http.RateLimiter``): the arithmetic, the sharing
between forked workers, survival of a worker killed mid-update, and bounded memory."""

from __future__ import annotations

import fcntl
import math
import os
import signal
import warnings

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from realdid.http import NO_RATE_LIMITS, Rate, RateLimiter, client_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient warns at import; warnings are errors
    from starlette.testclient import TestClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def limiter(clock: Clock, **kwargs: object) -> RateLimiter:
    return RateLimiter({"challenges": Rate(per_second=2, burst=3)}, clock=clock, **kwargs)  # type: ignore[arg-type]


def test_a_burst_then_the_rate(clock: Clock) -> None:
    limits = limiter(clock)
    assert [limits.retry_after("challenges", "10.0.0.1") for _ in range(3)] == [0.0] * 3
    assert limits.retry_after("challenges", "10.0.0.1") == pytest.approx(0.5)
    assert limits.retry_after("challenges", "10.0.0.1") == pytest.approx(0.5)  # nothing taken
    clock.now += 0.5
    assert limits.retry_after("challenges", "10.0.0.1") == 0.0
    assert limits.retry_after("challenges", "10.0.0.1") == pytest.approx(0.5)
    clock.now += 3600  # a long pause refills to the burst, not beyond
    assert [limits.retry_after("challenges", "10.0.0.1") for _ in range(4)][-1] > 0


def test_costs_and_their_cap(clock: Clock) -> None:
    limits = limiter(clock)
    assert limits.retry_after("challenges", "10.0.0.1", cost=2) == 0.0
    assert limits.retry_after("challenges", "10.0.0.1", cost=2) == pytest.approx(0.5)
    # More than the burst is charged as the burst: the largest request passes on a full bucket.
    assert limits.retry_after("challenges", "10.0.0.2", cost=50) == 0.0
    assert limits.retry_after("challenges", "10.0.0.2") == pytest.approx(0.5)


def test_clients_and_rules_count_apart(clock: Clock) -> None:
    limits = RateLimiter(
        {"challenges": Rate(1, 1), "enrollments": Rate(1, 1)}, clock=clock, exempt=["192.0.2.0/24"]
    )
    assert limits.retry_after("challenges", "10.0.0.1") == 0.0
    assert limits.retry_after("challenges", "10.0.0.1") > 0
    assert limits.retry_after("enrollments", "10.0.0.1") == 0.0  # another rule
    assert limits.retry_after("challenges", "10.0.0.2") == 0.0  # another client
    assert limits.retry_after("operations", "10.0.0.1") == 0.0  # a rule with no rate is free
    for _ in range(10):
        assert limits.retry_after("challenges", "192.0.2.7") == 0.0  # exempt network


def test_an_ipv6_client_is_its_slash_64(clock: Clock) -> None:
    limits = RateLimiter({"challenges": Rate(1, 1)}, clock=clock)
    assert limits.retry_after("challenges", "2001:db8:1:2::1") == 0.0
    assert limits.retry_after("challenges", "2001:db8:1:2:ffff::9") > 0  # same /64
    assert limits.retry_after("challenges", "2001:db8:1:3::1") == 0.0  # the next /64
    assert client_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key(None) == "unknown"


def test_no_rate_limits_never_refuses() -> None:
    for _ in range(1000):
        assert NO_RATE_LIMITS.retry_after("operations", "10.0.0.1", cost=1000) == 0.0


@pytest.mark.parametrize("rate", [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (1, 0)])
def test_nonsense_rates_are_refused(rate: tuple[float, int]) -> None:
    with pytest.raises(ValueError, match="rate needs"):
        Rate(*rate)


def test_memory_is_bounded_and_a_full_table_refuses_no_newcomer(clock: Clock) -> None:
    limits = RateLimiter({"challenges": Rate(per_second=0.001, burst=1)}, clock=clock, buckets=64)
    for i in range(20_000):  # an attacker cycling through addresses, each bucket emptied
        limits.retry_after("challenges", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert limits._memory is not None
    assert len(limits._memory) == 64 * 24  # the table did not grow
    # Every bucket is an attacker's, empty; a newcomer evicts one and starts full.
    for i in range(100):
        assert limits.retry_after("challenges", f"198.51.100.{i}") == 0.0


def _in_child(work: object) -> int:
    """Run ``work`` in a forked child; its exit status (0: it returned True)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        try:
            os._exit(0 if work() else 1)  # type: ignore[operator]
        except BaseException:
            os._exit(2)
    return os.waitpid(pid, 0)[1]


def test_forked_workers_share_one_allowance(clock: Clock) -> None:
    limits = limiter(clock)
    status = _in_child(
        lambda: [limits.retry_after("challenges", "10.0.0.1") for _ in range(3)] == [0.0] * 3
    )
    assert os.waitstatus_to_exitcode(status) == 0
    # The child spent the client's burst; this process sees it spent.
    assert limits.retry_after("challenges", "10.0.0.1") == pytest.approx(0.5)


def test_a_worker_killed_holding_the_lock_does_not_wedge_the_others(clock: Clock) -> None:
    limits = limiter(clock)
    assert limits._lock_file is not None
    lock_file = limits._lock_file

    def die_holding_every_lock() -> bool:
        fcntl.lockf(lock_file, fcntl.LOCK_EX, 0, 0)  # the whole file: every bucket's range
        os.kill(os.getpid(), signal.SIGKILL)
        return True

    status = _in_child(die_holding_every_lock)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL
    assert limits.retry_after("challenges", "10.0.0.1") == 0.0  # the kernel freed the lock


def test_the_refusal_is_a_problem_with_retry_after(clock: Clock) -> None:
    limits = RateLimiter({"login-requests": Rate(per_second=0.25, burst=1)}, clock=clock)

    def endpoint(request: Request) -> Response:
        refused = limits.refusal("login-requests", request)
        return refused if refused is not None else PlainTextResponse("ok")

    with TestClient(Starlette(routes=[Route("/", endpoint)])) as client:
        assert client.get("/").text == "ok"
        refused = client.get("/")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "4"
    assert refused.headers["cache-control"] == "no-store"
    assert refused.json() == {
        "type": "urn:realdid:problem:rate-limited",
        "title": "rate limited",
        "status": 429,
        "detail": "too many login requests from this client: retry in 4 s",
    }
