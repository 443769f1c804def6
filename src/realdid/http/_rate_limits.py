"""Per-client rate limits: token buckets shared by every worker process of a machine.

A service asks :meth:`RateLimiter.refusal` before work an outsider can make it repeat
cheaply (operation intake, enrollment challenges, enrollments, login requests); the answer
is ``None`` or a ``429 rate-limited`` RFC 9457 problem with ``Retry-After``.

Why written here rather than taken from a library: the Python limiters (``limits``,
``slowapi``) keep per-process memory or need Redis/memcached. RealDID's workers are forked
from one parent (``realdid.serving.WorkerPool``), so the buckets live in one anonymous
shared memory map created before the fork and every worker sees the same counts: a client
gets its rate once per machine, not once per worker. Each bucket is guarded by a POSIX
byte-range lock (``fcntl.lockf``), which the kernel releases when its holder dies — a
worker killed mid-update never wedges the others (a semaphore would stay taken).

Memory is bounded whatever the clients do: the table has a fixed number of buckets in
4-way sets, keyed by a keyed BLAKE2b hash of (rule, client); a client not in its set takes
the set's least recently used bucket. An attacker cycling through addresses can only evict
buckets (whose owners then start again full) — limits turn lenient, they never refuse an
innocent client. Each machine counts on its own: behind a load balancer, send one client
to one machine (hash on the address) to keep the per-client figure exact.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import math
import mmap
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse

from ._problems import ProblemType, problem_response

__all__ = ["NO_RATE_LIMITS", "RATE_LIMITED", "Rate", "RateLimiter", "client_key"]

#: The problem every service answers a refused request with (each service's table lists it).
RATE_LIMITED = ProblemType("rate-limited", 429, "rate limited")

_WAYS = 4
_SLOT = struct.Struct("<Qdd")  # key hash (0: empty), tokens, last refill (monotonic seconds)
_SET_BYTES = _WAYS * _SLOT.size


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: ``per_second`` tokens flow in, at most ``burst`` are kept."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise ValueError("a rate needs a positive, finite per_second")
        if self.burst < 1:
            raise ValueError("a rate needs a burst of at least 1")


def client_key(host: str | None) -> str:
    """What one client is: its IPv4 address, or the /64 network of its IPv6 address (one
    subscriber's allocation, which it can cycle through freely)."""
    if host is None:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # Starlette's test client calls itself "testclient"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """Token buckets per (rule, client) for the rules in ``rates``; other rules are free.

    Create it in the parent before worker processes fork (``realdid serve`` does); the
    workers then share it. ``exempt`` networks (an operator's own batch clients, a test
    harness) are never limited.
    """

    def __init__(
        self,
        rates: Mapping[str, Rate],
        *,
        exempt: Iterable[str] = (),
        buckets: int = 65_536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if buckets < _WAYS:
            raise ValueError(f"a rate limiter needs at least {_WAYS} buckets")
        self._rates = dict(rates)
        self._exempt = tuple(ipaddress.ip_network(n, strict=False) for n in exempt)
        self._clock = clock
        self._sets = buckets // _WAYS
        self._secret = os.urandom(16)
        self._thread_lock = threading.Lock()  # lockf is per process: threads queue here
        self._memory: mmap.mmap | None = None
        self._lock_file: int | None = None
        if self._rates:
            self._memory = mmap.mmap(-1, self._sets * _SET_BYTES)  # MAP_SHARED | MAP_ANONYMOUS
            with tempfile.TemporaryFile() as f:  # unlinked at once; the descriptor lives on
                self._lock_file = os.dup(f.fileno())

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    def retry_after(self, rule: str, host: str | None, cost: int = 1) -> float:
        """Take ``cost`` tokens for this client; ``0.0`` if it may go on, otherwise the
        seconds until it may (nothing is taken then). A cost above the burst is charged
        as the burst: the largest request an API allows can always pass on a full bucket."""
        rate = self._rates.get(rule)
        if rate is None or self._memory is None or self._is_exempt(host):
            return 0.0
        cost = min(max(cost, 1), rate.burst)
        digest = hashlib.blake2b(
            f"{rule}\0{client_key(host)}".encode(), key=self._secret, digest_size=8
        ).digest()
        key = int.from_bytes(digest, "little") | 1  # never 0, the empty slot
        offset = (key >> 32) % self._sets * _SET_BYTES
        with self._thread_lock:
            assert self._lock_file is not None
            fcntl.lockf(self._lock_file, fcntl.LOCK_EX, _SET_BYTES, offset)
            try:
                return self._take(self._memory, offset, key, rate, cost)
            finally:
                fcntl.lockf(self._lock_file, fcntl.LOCK_UN, _SET_BYTES, offset)

    def refusal(self, rule: str, request: Request, cost: int = 1) -> JSONResponse | None:
        """``None``, or the ``429 rate-limited`` problem to answer ``request`` with."""
        host = request.client.host if request.client is not None else None
        wait = self.retry_after(rule, host, cost)
        if wait <= 0:
            return None
        seconds = max(1, math.ceil(wait))
        return problem_response(
            RATE_LIMITED,
            f"too many {rule.replace('-', ' ')} from this client: retry in {seconds} s",
            headers={"Retry-After": str(seconds), "Cache-Control": "no-store"},
        )

    def _is_exempt(self, host: str | None) -> bool:
        if not self._exempt or host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._exempt)

    def _take(self, memory: mmap.mmap, offset: int, key: int, rate: Rate, cost: int) -> float:
        now = self._clock()
        slots = [_SLOT.unpack_from(memory, offset + way * _SLOT.size) for way in range(_WAYS)]
        way = next((w for w, slot in enumerate(slots) if slot[0] == key), None)
        if way is None:  # a new client takes the least recently used bucket of its set
            way = min(range(_WAYS), key=lambda w: slots[w][2])
            tokens = float(rate.burst)
        else:
            _, tokens, last = slots[way]
            tokens = min(float(rate.burst), tokens + max(0.0, now - last) * rate.per_second)
        wait = 0.0
        if tokens >= cost:
            tokens -= cost
        else:
            wait = (cost - tokens) / rate.per_second
        _SLOT.pack_into(memory, offset + way * _SLOT.size, key, tokens, now)
        return wait


#: The limiter of an app built without one (libraries, tests): never refuses.
NO_RATE_LIMITS = RateLimiter({})
