"""Crash safety of a registry node (ARCHITECTURE.md sections 5 and 10).

Requirement: "Killing the node with SIGKILL at random moments while operations stream in
loses no operation that was answered 202, and applies none twice (repeatedly)."

Several client threads stream signed operations at a real ``realdid serve`` process over
HTTP, as single submissions and as bulk arrays: creates of fresh DIDs, and update chains on
a few DIDs, each update building on (``previous``) the chain's last operation and sent only
once that operation is known to be durable (answered 202, or answered "already processed"
when resent). Meanwhile the node is SIGKILLed at random moments and restarted on the same
data directory and port, several times. Requests whose connection dropped are resent later
(the node must treat a resent operation idempotently), some are left unresolved on purpose.

Afterwards, with the queue drained, the test proves:

* every operation answered 202 is anchored and applied (HTTP status and ``node.db``);
* operations never answered are either absent or anchored and applied — never half there;
* every acknowledged create resolves; each chain's DIDs resolves to the chain's last
  durable operation, and the operations present on the ledger are exactly a prefix of the
  chain (nothing skipped, nothing out of order);
* no operation has two outcomes and no operation was rejected (an operation applied twice
  would be rejected the second time, or would show as a second row);
* ``realdid ledger verify`` re-derives the same index from the ledger and batch files.

The seed of the kill schedule and of the clients' choices is printed; set
``REALDID_CRASH_SEED`` to replay a schedule (key material is always fresh).
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from realdid.crypto import LocalSigner
from realdid.did import (
    CreateOperation,
    DocumentContent,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
)

REALDID = Path(sys.executable).with_name("realdid")
SEED_ENV = "REALDID_CRASH_SEED"
KILL_CYCLES = 6
CREATE_STREAMS = 2
CHAIN_STREAMS = 2
CHAINS_PER_STREAM = 4
MAX_BULK = 12
ALREADY_PROCESSED = "urn:realdid:problem:operation-already-processed"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


# -- operations -------------------------------------------------------------------------------
def new_create() -> tuple[ParsedOperation, LocalSigner]:
    """A create of a fresh DID, and its update key."""
    signing, update, recovery = (
        LocalSigner.generate(),
        LocalSigner.generate(),
        LocalSigner.generate(),
    )
    operation = CreateOperation(
        DocumentContent((PublicKeyEntry("key-1", signing.public_key, ("authentication",)),), ()),
        commitment_of(update.public_key),
        commitment_of(recovery.public_key),
    )
    return ParsedOperation.from_value(to_dict(operation)), update


def service(n: int) -> ServiceEntry:
    return ServiceEntry(f"s{n}", "LinkedDomains", f"https://example.org/{n}")


@dataclass
class Chain:
    """A DID driven through create, update, update, ...; one operation in flight at most."""

    name: str
    ops: list[ParsedOperation] = field(default_factory=list)  # every operation built, in order
    durable: int = 0  # how many of ``ops`` the node has confirmed (answered 202 or "already")
    unanswered: bool = False  # the newest op was sent but its answer was lost
    update_key: LocalSigner | None = None
    next_key: LocalSigner | None = None

    @property
    def in_flight(self) -> ParsedOperation | None:
        return self.ops[-1] if len(self.ops) > self.durable else None

    def next_operation(self) -> ParsedOperation:
        """The operation to send now: the one in flight, else a new one on the durable head."""
        if self.in_flight is not None:
            return self.in_flight
        if not self.ops:
            parsed, self.update_key = new_create()
        else:
            assert self.update_key is not None
            n = len(self.ops)  # the n-th update adds service sN and removes s(N-1)
            patches: tuple[Patch, ...] = (Patch("add-services", services=(service(n),)),)
            if n > 1:
                patches = (Patch("remove-services", ids=(f"s{n - 1}",)), *patches)
            self.next_key = LocalSigner.generate()
            operation = UpdateOperation(
                self.ops[0].did,
                self.ops[-1].hash,
                self.update_key.public_key,
                patches,
                commitment_of(self.next_key.public_key),
            )
            parsed = ParsedOperation.from_value(to_dict(sign(operation, self.update_key)))
        self.ops.append(parsed)
        return parsed

    def confirmed(self) -> None:
        """The in-flight operation is durable: the next one may build on it."""
        assert self.in_flight is not None
        if self.durable > 0:
            self.update_key = self.next_key
        self.durable += 1
        self.unanswered = False


# -- bookkeeping ------------------------------------------------------------------------------
@dataclass
class Book:
    """What was sent and what the node answered, shared by all client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, ParsedOperation] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)  # answered 202
    already: set[str] = field(default_factory=set)  # resent, answered "already processed"
    unanswered: set[str] = field(default_factory=set)  # never got any answer
    unexpected: list[str] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    def record_sent(self, ops: list[ParsedOperation]) -> None:
        with self.lock:
            for p in ops:
                self.sent[p.hash] = p

    def record(self, outcome: str, ops: list[ParsedOperation]) -> None:
        with self.lock:
            self.stats[outcome] += 1
            hashes = {p.hash for p in ops}
            if outcome == "acked":
                self.acked |= hashes
                self.unanswered -= hashes
            elif outcome == "already":
                self.already |= hashes
                self.unanswered -= hashes
            elif outcome == "unanswered":
                self.unanswered |= hashes - self.acked - self.already

    def count(self, what: str) -> None:
        with self.lock:
            self.stats[what] += 1

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)


def submit(
    client: httpx.Client, book: Book, ops: list[ParsedOperation], *, as_array: bool, resend: bool
) -> str:
    """POST ``ops``; return ``acked``, ``already`` (resend of a processed op), ``unanswered``
    (no answer: the node may or may not have it) or ``refused`` (recorded as unexpected)."""
    body: Any = [to_dict(p.operation) for p in ops] if as_array else to_dict(ops[0].operation)
    try:
        response = client.post("/1.0/operations", json=body)
    except httpx.ConnectError:
        return "down"  # nothing was sent: the same request may simply be sent again
    except httpx.HTTPError as e:
        book.count(f"dropped:{type(e).__name__}")
        return "unanswered"
    if response.status_code == 202:
        receipts = response.json()
        receipts = receipts if as_array else [receipts]
        if [r["operationHash"] for r in receipts] != [p.hash for p in ops]:
            book.unexpected.append(f"receipt hashes differ from submitted ones: {receipts}")
            return "refused"
        return "acked"
    if resend and response.status_code == 409 and response.json().get("type") == ALREADY_PROCESSED:
        return "already"
    book.unexpected.append(
        f"{'resend' if resend else 'submission'} answered {response.status_code}: "
        f"{response.text}\n  {describe(client, ops)}"
    )
    return "refused"


def describe(client: httpx.Client, ops: list[ParsedOperation]) -> str:
    """For a refusal: each operation's ``previous`` against the DID's version right now."""
    lines = []
    for p in ops:
        previous = getattr(p.operation, "previous", None)
        try:
            found = client.get(f"/1.0/identifiers/{p.did}")
            now = found.json().get("didDocumentMetadata", {}).get("versionId")
        except httpx.HTTPError as e:
            now = type(e).__name__
        lines.append(
            f"{type(p.operation).__name__} {p.hash[:12]} of {p.did}: previous "
            f"{(previous or '-')[:12]}, DID now at {(now or '-')[:12]}"
        )
    return "\n  ".join(lines)


def send_until_sent(
    client: httpx.Client,
    book: Book,
    ops: list[ParsedOperation],
    stop: threading.Event,
    *,
    as_array: bool,
    resend: bool,
) -> str:
    """Submit, re-sending while the node is down (connection refused: nothing was sent)."""
    while True:
        outcome = submit(client, book, ops, as_array=as_array, resend=resend)
        if outcome != "down":
            book.record(outcome, ops)
            return outcome
        book.count("connection refused")
        if stop.is_set():
            book.record("unanswered", ops)  # never sent; accounted for like a lost answer
            return "unanswered"
        time.sleep(0.05)


def stream_creates(
    url: str, book: Book, stop: threading.Event, rng: random.Random, stalled: threading.Event
) -> None:
    """Creates of fresh DIDs, single or bulk; operations that lost their answer are resent
    one by one later (about half of them), the rest stay unresolved."""
    resend: list[ParsedOperation] = []
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while not stop.is_set():
            if resend and rng.random() < 0.3:
                op = resend.pop(rng.randrange(len(resend)))
                if send_until_sent(client, book, [op], stop, as_array=False, resend=True) == (
                    "unanswered"
                ):
                    resend.append(op)
                continue
            count = 1 if rng.random() < 0.4 else rng.randint(2, MAX_BULK)
            ops = [new_create()[0] for _ in range(count)]
            book.record_sent(ops)
            as_array = count > 1 or rng.random() < 0.2
            outcome = send_until_sent(client, book, ops, stop, as_array=as_array, resend=False)
            if outcome == "unanswered" and rng.random() < 0.5:
                resend.extend(ops)
            elif outcome == "refused":
                stalled.set()
                return
            time.sleep(rng.uniform(0, 0.01))


def stream_chains(
    url: str,
    book: Book,
    stop: threading.Event,
    rng: random.Random,
    chains: list[Chain],
    stalled: threading.Event,
) -> None:
    """Update chains: each round sends the next operation of some chains (bulk when more
    than one); a chain whose operation lost its answer resends exactly that operation."""
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while not stop.is_set():
            lost = [c for c in chains if c.unanswered]
            if lost and rng.random() < 0.5:
                chain = rng.choice(lost)
                op = chain.next_operation()
                outcome = send_until_sent(client, book, [op], stop, as_array=False, resend=True)
                if outcome in ("acked", "already"):
                    chain.confirmed()
                elif outcome == "refused":
                    stalled.set()
                    return
                continue
            ready = [c for c in chains if not c.unanswered]
            if not ready:
                time.sleep(0.01)
                continue
            chosen = rng.sample(ready, rng.randint(1, len(ready)))
            ops = [c.next_operation() for c in chosen]
            book.record_sent(ops)
            as_array = len(ops) > 1 or rng.random() < 0.2
            outcome = send_until_sent(client, book, ops, stop, as_array=as_array, resend=False)
            if outcome == "acked":
                for c in chosen:
                    c.confirmed()
            elif outcome == "unanswered":
                for c in chosen:
                    c.unanswered = True
            elif outcome == "refused":
                stalled.set()
                return
            time.sleep(rng.uniform(0, 0.01))


def guarded(target: Callable[..., None], errors: list[BaseException]) -> Callable[..., None]:
    def run(*args: Any) -> None:
        try:
            target(*args)
        except BaseException as e:  # reported by the test thread
            errors.append(e)

    return run


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def wait_for_more_acks(book: Book, since: int, what: str) -> None:
    wait_for(lambda: book.acked_count() > since, 20, what)


# -- the test ---------------------------------------------------------------------------------
@pytest.mark.parametrize("victim", ["node", "writer", "worker"])
def test_sigkill_while_streaming_loses_no_acknowledged_operation_and_applies_none_twice(
    node_factory: Callable[..., Any], victim: str
) -> None:
    """``victim`` "node": the whole node (one process) is killed and restarted; "writer":
    the node runs two worker processes and the elected writer is killed — the other takes
    over by itself and the supervisor replaces the dead one, with no restart; "worker": a
    worker that is not the writer is killed mid-request — the writer keeps its role and
    the node keeps serving while the supervisor replaces the dead one."""
    seed = int(os.environ.get(SEED_ENV) or secrets.randbelow(2**32))
    print(f"crash-safety seed: {seed} (replay with {SEED_ENV}={seed})")
    rng = random.Random(seed)
    workers = 1 if victim == "node" else 2
    node = node_factory("crash", batch_interval=0.05, max_batch=50, workers=workers)

    book = Book()
    stop, stalled = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    chain_groups = [
        [Chain(f"chain-{t}-{i}") for i in range(CHAINS_PER_STREAM)] for t in range(CHAIN_STREAMS)
    ]
    threads = [
        threading.Thread(
            target=guarded(stream_creates, errors),
            args=(node.url, book, stop, random.Random(rng.getrandbits(64)), stalled),
            name=f"creates-{t}",
        )
        for t in range(CREATE_STREAMS)
    ] + [
        threading.Thread(
            target=guarded(stream_chains, errors),
            args=(node.url, book, stop, random.Random(rng.getrandbits(64)), group, stalled),
            name=f"chains-{t}",
        )
        for t, group in enumerate(chain_groups)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    kills: list[tuple[float, int]] = []
    try:
        for _ in range(KILL_CYCLES):
            # Kill only once operations are flowing again, at a random moment after that.
            wait_for_more_acks(book, book.acked_count(), "operations to flow")
            if stalled.wait(rng.uniform(0.2, 1.0)):
                break
            if victim == "writer":
                killed = node.kill_writer()
                kills.append((round(time.monotonic() - started, 2), book.acked_count()))
                node.writer_pid(other_than=killed, timeout=5.0)  # taken over within seconds
            elif victim == "worker":
                writer = node.writer_pid()
                node.kill_worker()
                kills.append((round(time.monotonic() - started, 2), book.acked_count()))
                assert node.writer_pid() == writer  # the writer was not disturbed
            else:
                node.kill9()
                kills.append((round(time.monotonic() - started, 2), book.acked_count()))
                time.sleep(rng.uniform(0, 0.2))
                node.restart()
        wait_for_more_acks(book, book.acked_count(), "operations to flow after the last restart")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    streamed = time.monotonic() - started

    assert not errors, f"seed {seed}: client thread failed: {errors!r}"
    assert not book.unexpected, f"seed {seed}: unexpected answers:\n" + "\n".join(
        book.unexpected[:20]
    )
    assert len(kills) == KILL_CYCLES, f"seed {seed}: only {len(kills)} kills"

    with httpx.Client(base_url=node.url, timeout=10.0) as client:
        wait_for(
            lambda: client.get("/healthz").json()["queueLength"] == 0, 30, "the queue to drain"
        )
        health = client.get("/healthz").json()
        assert health["status"] == "ok", health

        # -- every acknowledged operation is anchored and applied; the rest are all-or-nothing
        durable = book.acked | book.already
        status_of: dict[str, dict[str, Any]] = {}
        lost: list[str] = []
        for h in sorted(durable | book.unanswered):
            response = client.get(f"/1.0/operations/{h}")
            if response.status_code == 404:
                if h in durable:
                    lost.append(h)
                continue
            assert response.status_code == 200, response.text
            status_of[h] = response.json()
            assert status_of[h]["status"] == "anchored", (
                f"seed {seed}: operation {h} is {status_of[h]}"
            )
        assert not lost, f"seed {seed}: {len(lost)} acknowledged operations were lost: {lost[:5]}"

        # -- acknowledged creates resolve to themselves (plain DIDs) -----------------------------
        chain_hashes = {p.hash for group in chain_groups for c in group for p in c.ops}
        for h in sorted(durable - chain_hashes):
            did = book.sent[h].did
            response = client.get(f"/1.0/identifiers/{did}")
            assert response.status_code == 200, f"seed {seed}: {did}: {response.text}"
            assert response.json()["didDocumentMetadata"]["versionId"] == h

        # -- each chain's DID is at the chain's last operation present on the ledger ---------
        for chain in (c for group in chain_groups for c in group):
            if not chain.ops:
                continue
            present = [p.hash in status_of for p in chain.ops]
            prefix = present.index(False) if False in present else len(present)
            assert not any(present[prefix:]), (
                f"seed {seed}: {chain.name}: operations on the ledger are not a prefix of the "
                f"chain: {present}"
            )
            assert prefix >= chain.durable, (
                f"seed {seed}: {chain.name}: {chain.durable} operations acknowledged, "
                f"only {prefix} anchored"
            )
            if prefix == 0:
                continue  # the create itself never got an answer and is not there
            did = chain.ops[0].did
            response = client.get(f"/1.0/identifiers/{did}")
            assert response.status_code == 200, response.text
            result = response.json()
            assert result["didDocumentMetadata"]["versionId"] == chain.ops[prefix - 1].hash, (
                f"seed {seed}: {chain.name} resolves to the wrong version"
            )
            services = result["didDocument"].get("service", [])
            expected = [] if prefix == 1 else [f"{did}#s{prefix - 1}"]
            assert [s["id"] for s in services] == expected, f"seed {seed}: {chain.name}"

    # -- a last SIGKILL, at rest; then read what is on disk ------------------------------------
    node.kill9()
    data_dir: Path = node.data_dir
    # On the PostgreSQL run the node kept nothing in SQLite files.
    assert (data_dir / "node.db").exists() == (node.databases.engine == "sqlite")
    assert (data_dir / "ledger.db").exists() == (node.databases.engine == "sqlite")
    db = node.databases.open(data_dir, "node", "node.db")
    try:
        with db.reading() as tx:
            rows, unique, rejected = tx.execute(
                "SELECT count(*), count(DISTINCT hash), count(*) - sum(applied) FROM operations"
            ).fetchone()
            outcomes = {
                bytes(r[0]).hex(): r[1] for r in tx.execute("SELECT hash, sequence FROM operations")
            }
            queued = tx.execute("SELECT count(*) FROM queue").fetchone()[0]
            leaves: Counter[str] = Counter()
            for (blob,) in tx.execute("SELECT leaves FROM anchors WHERE valid = 1"):
                leaves.update(bytes(blob[i : i + 32]).hex() for i in range(0, len(blob), 32))
            dids = tx.execute("SELECT count(*) FROM dids").fetchone()[0]
    finally:
        db.close()
    assert rows == unique, f"seed {seed}: an operation hash has two outcomes"
    assert rejected == 0, f"seed {seed}: {rejected} operations were rejected (applied twice?)"
    assert queued == 0
    assert set(outcomes) == set(leaves), "every anchored operation has exactly one outcome"
    assert not set(outcomes) - set(book.sent), "the node applied an operation nobody sent"
    assert not durable - set(outcomes), f"seed {seed}: acknowledged operations not in node.db"
    assert not set(outcomes) - durable - book.unanswered
    for h, status in status_of.items():
        assert status["anchor"]["sequence"] == outcomes[h]
    creates = sum(isinstance(book.sent[h].operation, CreateOperation) for h in outcomes)
    assert dids == creates

    verify = subprocess.run(
        [str(REALDID), "ledger", "verify", "--data-dir", str(data_dir)],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, f"seed {seed}: {verify.stdout}{verify.stderr}"
    assert verify.stdout.startswith("ok:"), verify.stdout
    assert f"{creates} DIDs verified" in verify.stdout, verify.stdout

    duplicates = sum(n - 1 for n in leaves.values())
    print(
        f"seed {seed}: {len(kills)} SIGKILLs at (s, acked so far) {kills}; streamed {streamed:.1f} s; "
        f"{len(book.sent)} operations sent, {len(book.acked)} answered 202, "
        f"{len(book.already)} confirmed on resend, {len(book.unanswered)} never answered "
        f"({len(book.unanswered & set(outcomes))} of them anchored); "
        f"{len(outcomes)} anchored in {len(set(outcomes.values()))} anchors, "
        f"{duplicates} re-anchored duplicates; chain lengths "
        f"{[c.durable for g in chain_groups for c in g]}; client stats {dict(book.stats)}"
    )
