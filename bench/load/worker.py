"""One client process: an asyncio loop (uvloop) with one :class:`httpx.AsyncClient`.

A Python client spends about as much CPU per request as the services it loads, so the
parent starts several of these (``--processes``), each with its share of the rate or of
the virtual users, and merges what they measured. Each process:

1. reads the authority's metadata, asks every site for one login request (which also
   caches the site's request-signing key) and learns the anchored state of the root DIDs
   it will update (its own slice of the pool: one DID is only ever updated by one process);
2. reports ready and waits for the common start time;
3. runs the schedule:

   * **open loop** (``--open-loop --rate R``): operation *i* is due at
     ``start + i / r`` (or at Poisson arrivals) whether or not earlier ones finished, and
     its latency counts from that due time, so a server that stalls is charged for the
     whole stall (no coordinated omission). ``--concurrency`` caps operations in flight;
     an operation waiting for a free slot is late, and the lateness is in its latency and
     in the *schedule lag* the summary shows;
   * **closed loop** (``--concurrency C``): C virtual users, each starting its next
     operation when the last one finished, paced to ``--rate`` in total if one is given;
     latency counts from the actual start;

4. sends a snapshot every half second (the live progress) and, at the end, its
   histograms, error counts, CPU time and where its DID updates got to.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import multiprocessing.synchronize
import random
import resource
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx

from realdid.crypto import LocalSigner

from .acklog import AckLog
from .histogram import LatencyHistogram
from .mix import KINDS, WeightedCycle
from .pool import Applicant, PooledResident, SiteAccount, SiteInfo, derive, site_base
from .protocol import Deployment, StepError, Timer, UpdateTarget

TICK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class RunPlan:
    """The run, the same for every process (rates and concurrency are totals)."""

    node: str
    authority: str
    sites: tuple[SiteInfo, ...]
    mix: dict[str, float]
    open_loop: bool
    rate: float | None
    concurrency: int
    processes: int
    duration: float
    warmup: float
    timeout: float
    poll_interval: float
    anchor_timeout: float
    settle: float
    login_complete: bool
    arrivals: str
    seed: int
    acknowledged: str | None = None  # --acknowledged: the acknowledgement log (acklog.py)


@dataclass(slots=True)
class Share:
    """One process's part: the whole pool (logins, resolutions), its own update DIDs and
    its own register rows to enroll."""

    index: int
    pool: list[PooledResident]
    updates: list[PooledResident]
    applicants: list[Applicant]
    slots: int  # closed loop: virtual users; open loop: operations in flight at most


class FatalError(Exception):
    """The process cannot run its share; the message is the run's one error line."""


# -- what one process measured ----------------------------------------------------------------
@dataclass(slots=True)
class KindRecord:
    ok: LatencyHistogram = field(default_factory=LatencyHistogram)
    failed: int = 0
    errors: dict[str, dict[str, int]] = field(default_factory=dict)  # type -> step -> n
    steps: dict[str, LatencyHistogram] = field(default_factory=dict)
    warmup_ok: int = 0
    warmup_failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok.to_dict(),
            "failed": self.failed,
            "errors": self.errors,
            "steps": {step: h.to_dict() for step, h in self.steps.items()},
            "warmup": {"ok": self.warmup_ok, "failed": self.warmup_failed},
        }


class Recorder:
    """Latencies of successful operations, errors by type and step, step times, lag."""

    def __init__(self) -> None:
        self.kinds = {kind: KindRecord() for kind in KINDS}
        self.lag = LatencyHistogram()
        self.slot_waits = 0

    def timer(self, kind: str, measured: bool) -> Timer:
        if not measured:
            return Timer()
        steps = self.kinds[kind].steps

        def sink(step: str, seconds: float) -> None:
            histogram = steps.get(step)
            if histogram is None:
                histogram = steps[step] = LatencyHistogram()
            histogram.record(seconds)

        return Timer(sink)

    def success(self, kind: str, seconds: float, measured: bool) -> None:
        record = self.kinds[kind]
        if measured:
            record.ok.record(seconds)
        else:
            record.warmup_ok += 1

    def failure(self, kind: str, type_: str, step: str, measured: bool) -> None:
        record = self.kinds[kind]
        if not measured:
            record.warmup_failed += 1
            return
        record.failed += 1
        by_step = record.errors.setdefault(type_, {})
        by_step[step] = by_step.get(step, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """What the live progress needs: per kind operations done, failed, latencies."""
        return {
            kind: {
                "done": r.ok.count + r.failed + r.warmup_ok + r.warmup_failed,
                "failed": r.failed + r.warmup_failed,
                "ok": r.ok.to_dict(),
            }
            for kind, r in self.kinds.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": {kind: r.to_dict() for kind, r in self.kinds.items()},
            "lag": self.lag.to_dict(),
            "slot_waits": self.slot_waits,
        }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _NoCookies(http.cookiejar.CookieJar):
    """Concurrent logins must not share a session cookie: each login carries its own."""

    def __init__(self) -> None:
        super().__init__(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


# -- the process --------------------------------------------------------------------------------
def process_main(
    plan: RunPlan,
    share: Share,
    queue: Any,
    go: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    start_at: Any,
) -> None:
    """Entry point of a client process (``multiprocessing`` spawn)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and tells us
    try:
        import uvloop

        result = uvloop.run(ClientProcess(plan, share, queue, go, stop, start_at).run())
    except FatalError as e:
        queue.put(("fatal", share.index, str(e)))
    except BaseException as e:  # one line for the parent, whatever went wrong
        queue.put(("fatal", share.index, f"client process {share.index}: {type(e).__name__}: {e}"))
    else:
        queue.put(("done", share.index, result))


class ClientProcess:
    def __init__(
        self,
        plan: RunPlan,
        share: Share,
        queue: Any,
        go: multiprocessing.synchronize.Event,
        stop: multiprocessing.synchronize.Event,
        start_at: Any,
    ) -> None:
        self.plan = plan
        self.share = share
        self.queue = queue
        self.go = go
        self.stop = stop
        self.start_at = start_at
        self.recorder = Recorder()
        self.cycle = WeightedCycle(plan.mix)
        self.stopping = False
        self.stopped_at: float | None = None  # when a Ctrl-C in the parent was noticed
        self.measure_from = 0.0
        self.accounts: list[tuple[SiteInfo, SiteAccount, LocalSigner]] = []
        self.dids: list[str] = []
        self.targets: list[UpdateTarget] = []
        self.cursors = dict.fromkeys(KINDS, 0)
        self.dep: Deployment | None = None

    async def run(self) -> dict[str, Any]:
        slots = max(1, self.share.slots)
        limits = httpx.Limits(
            max_connections=slots + 8, max_keepalive_connections=slots + 8, keepalive_expiry=4.0
        )
        acknowledged = AckLog(self.plan.acknowledged)
        async with httpx.AsyncClient(
            timeout=self.plan.timeout,
            follow_redirects=False,
            cookies=_NoCookies(),
            transport=httpx.AsyncHTTPTransport(retries=0, limits=limits),
        ) as client:
            dep = self.dep = Deployment(
                client,
                self.plan.node,
                self.plan.authority,
                poll_interval=self.plan.poll_interval,
                anchor_timeout=self.plan.anchor_timeout,
                acknowledged=acknowledged,
            )
            await self.set_up(dep)
            self.queue.put(("ready", self.share.index))
            await asyncio.get_running_loop().run_in_executor(None, self.go.wait)
            start = float(self.start_at.value)
            end = start + self.plan.duration
            self.measure_from = start + self.plan.warmup
            cpu_before = cpu_seconds()
            ticker = asyncio.create_task(self.tick())
            if self.share.slots > 0:
                if self.plan.open_loop:
                    await self.open_loop(start, end)
                else:
                    await self.closed_loop(start, end)
            drained = time.monotonic()
            scheduled_until = min(end, drained, self.stopped_at or end)
            cpu = cpu_seconds() - cpu_before
            ticker.cancel()
            chains = await self.settle(dep)
        acknowledged.close()
        return {
            "index": self.share.index,
            "recorder": self.recorder.to_dict(),
            "cpu_seconds": cpu,
            "scheduled_until": scheduled_until - start,
            "drained_at": drained - start,
            "update_chains": chains,
            "updates": [
                {
                    "row": t.resident.row,
                    "update_counter": t.resident.update_counter,
                    "previous": t.resident.previous,
                    "has_service": t.resident.has_service,
                    "disabled": t.disabled,
                }
                for t in self.targets
            ],
        }

    # -- before the start -------------------------------------------------------------------------
    async def set_up(self, dep: Deployment) -> None:
        mix = self.plan.mix
        if mix["enroll"] > 0:
            try:
                await dep.setup_authority()
            except StepError as e:
                raise FatalError(f"the authority's metadata: {e.type} at {e.step}") from None
            if not self.share.applicants:
                raise FatalError("no register rows to enroll: every resident is in the login pool")
        if mix["login"] > 0:
            now = time.time()
            for site in self.plan.sites:
                try:
                    seen = await dep.discover(site.url)
                except StepError as e:
                    raise FatalError(f"the site {site.url}: {e.type} at {e.step}") from None
                if seen.rp_did != site.rp_did:
                    raise FatalError(
                        f"the site {site.url} now signs as another DID than when the pool was"
                        " prepared: run prepare again"
                    )
                for resident in self.share.pool:
                    account = resident.sites.get(site.url)
                    if account is None or account.expires_at < now + self.plan.duration + 60:
                        continue
                    signer = derive(resident.seed_bytes, site_base(site.rp_did), "signing")
                    self.accounts.append((site, account, signer))
            if not self.accounts:
                raise FatalError("no pooled resident holds a usable site proof: run prepare again")
            _rotate(self.accounts, self.share.index, self.plan.processes)
        if mix["resolve"] > 0:
            self.dids = [r.root_did for r in self.share.pool] + [
                a.did for r in self.share.pool for a in r.sites.values()
            ]
            if not self.dids:
                raise FatalError("the pool holds no DIDs to resolve: run prepare first")
            _rotate(self.dids, self.share.index, self.plan.processes)
        if mix["update"] > 0:
            self.targets = [UpdateTarget(r) for r in self.share.updates]
            gate = asyncio.Semaphore(16)

            async def sync(target: UpdateTarget) -> None:
                async with gate:
                    try:
                        await dep.resync(target)
                    except StepError as e:
                        target.disabled = target.disabled or e.type.removeprefix("client:")

            await asyncio.gather(*(sync(t) for t in self.targets))
            if self.targets and all(t.disabled for t in self.targets):
                reasons = sorted({t.disabled for t in self.targets})
                raise FatalError(f"no pooled DID can be updated ({', '.join(reasons)})")

    # -- the schedules ------------------------------------------------------------------------------
    async def open_loop(self, start: float, end: float) -> None:
        assert self.plan.rate is not None
        rate = self.plan.rate / self.plan.processes
        rng = random.Random(self.plan.seed + self.share.index)
        poisson = self.plan.arrivals == "poisson"
        slots = asyncio.Semaphore(self.share.slots)
        running: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            slots.release()

        due = start + self.share.index / self.plan.rate  # processes interleave their arrivals
        while due < end and not self.stopping:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if slots.locked() and due >= self.measure_from:
                self.recorder.slot_waits += 1  # the deployment is not keeping up with the rate
            await slots.acquire()
            task = asyncio.create_task(self.operation(self.cycle.next(), due, open_loop=True))
            running.add(task)
            task.add_done_callback(finished)
            due += rng.expovariate(rate) if poisson else 1 / rate
        if running:
            await asyncio.gather(*running)

    async def closed_loop(self, start: float, end: float) -> None:
        interval = self.plan.processes / self.plan.rate if self.plan.rate else 0.0
        next_slot = start + (self.share.index / self.plan.rate if self.plan.rate else 0.0)

        async def user() -> None:
            nonlocal next_slot
            while not self.stopping:
                if interval:
                    slot = max(next_slot, time.monotonic())
                    next_slot = slot + interval
                    if slot >= end:
                        return
                    await asyncio.sleep(slot - time.monotonic())
                began = time.monotonic()
                if began >= end or self.stopping:
                    return
                await self.operation(self.cycle.next(), began, open_loop=False)

        await asyncio.sleep(max(0.0, start - time.monotonic()))
        await asyncio.gather(*(user() for _ in range(self.share.slots)))

    async def operation(self, kind: str, due: float, *, open_loop: bool) -> None:
        """Run one operation of ``kind`` due at ``due``; record its outcome."""
        began = time.monotonic()
        measured = due >= self.measure_from
        if open_loop and measured:
            self.recorder.lag.record(began - due)
        timer = self.recorder.timer(kind, measured)
        try:
            await self._steps(kind, timer)
        except StepError as e:
            self.recorder.failure(kind, e.type, e.step, measured)
        except Exception as e:  # a fault of the generator itself: visible, not fatal
            self.recorder.failure(kind, f"client:{type(e).__name__}", "generator", measured)
        else:
            self.recorder.success(kind, time.monotonic() - due, measured)

    def _steps(self, kind: str, timer: Timer) -> Awaitable[None]:
        dep = self.dep
        assert dep is not None
        if kind == "enroll":
            applicant = self._next(kind, self.share.applicants)
            return _discard(dep.enroll(applicant, timer))
        if kind == "login":
            site, account, signer = self._next(kind, self.accounts)
            return dep.login(site, account, signer, timer, complete=self.plan.login_complete)
        if kind == "resolve":
            return dep.resolve(self._next(kind, self.dids), timer)
        return dep.update(self._pick_target(), timer)

    def _next(self, kind: str, items: list[Any]) -> Any:
        index = self.cursors[kind]
        self.cursors[kind] = index + 1
        return items[index % len(items)]

    def _pick_target(self) -> UpdateTarget:
        """The next pooled DID with no update in flight (else the next one, to queue on)."""
        live = [t for t in self.targets if not t.disabled] or self.targets
        if not live:
            raise StepError("client:no-update-dids", "generator")
        start = self.cursors["update"]
        self.cursors["update"] = start + 1
        for offset in range(len(live)):
            target = live[(start + offset) % len(live)]
            if not target.lock.locked():
                self.cursors["update"] = start + offset + 1
                return target
        return live[start % len(live)]

    # -- around the run ------------------------------------------------------------------------------
    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self.stop.is_set() and not self.stopping:
                self.stopping = True
                self.stopped_at = time.monotonic()
            self.queue.put(("tick", self.share.index, self.recorder.snapshot()))

    async def settle(self, dep: Deployment) -> dict[str, int]:
        """Where each updated DID's last operation ended: anchored (the whole chain was
        applied), rejected, or still pending after ``settle`` seconds. Not measured."""
        counts = {"dids": 0, "anchored": 0, "rejected": 0, "pending": 0, "unknown": 0}
        updated = [t for t in self.targets if t.submitted]
        deadline = time.monotonic() + self.plan.settle
        gate = asyncio.Semaphore(16)

        async def check(target: UpdateTarget) -> None:
            async with gate:
                status = "pending"
                while True:
                    try:
                        status = await dep.operation_status(target.last_hash, "settle")
                    except StepError:
                        status = "unknown"
                    if status != "pending" or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(dep.poll_interval)
                counts[status if status in counts else "unknown"] += 1

        await asyncio.gather(*(check(t) for t in updated))
        counts["dids"] = len(updated)
        return counts


async def _discard(awaitable: Awaitable[object]) -> None:
    await awaitable


def _rotate(items: list[Any], index: int, parts: int) -> None:
    """Start each process at another place in a shared list, so they spread over it."""
    if items:
        shift = len(items) * index // parts
        items[:] = items[shift:] + items[:shift]
