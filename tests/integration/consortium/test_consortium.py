"""A consortium of three registry nodes on a real EVM chain survives the faults of issue 3.

Each test starts anvil, deploys the anchor contract with ``realdid ledger deploy`` and runs
three ``realdid serve --ledger evm --confirmations 0`` processes (nodes a, b, c), each with
its own anchorer key, data directory and ``--peers`` naming the other two (see
``conftest.py``). Clients only talk HTTP to the nodes; nothing is read from a node's
memory. What each test proves:

* round-robin: operations submitted to the three nodes in turn (creates, then updates and
  deactivations built on acknowledged operations) are anchored by all three anchorers and
  resolve byte for byte identically on every node; the nodes' indexes are equal row by row;
* SIGKILL: a node killed mid-stream and restarted catches up from the chain and its peers,
  loses none of the operations it acknowledged (queued or anchored) and converges;
* tampered peer: a batch file served with the wrong bytes is detected by its hash, fetched
  from the next peer, and the bad peer is reported (``/healthz`` ``badPeers``, metric
  ``bad-hash``); a node whose only peers serve a bad copy or none stalls at that anchor
  with a visible error instead of skipping it, and resumes once a valid copy appears;
* chain endpoint down and back: nodes keep acknowledging, then anchoring and observing
  resume; every acknowledged operation has exactly one outcome and is in exactly one anchor;
* permissions: the contract refuses a non-anchorer (directly and from a node, which says so
  on ``/healthz``) until ``realdid ledger anchorer add``; anchors whose batch breaks the rules
  are ignored by every node alike (explorer says "ignored") and the nodes move past them.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from realdid.crypto import LocalSigner
from realdid.did import (
    CreateOperation,
    DeactivateOperation,
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
from realdid.ledger import (
    Anchor,
    AnchorRejectedError,
    AnchorRequest,
    EvmAnchorAdmin,
    EvmLedger,
    encode_batch,
    merkle_tree_of,
)

from .conftest import Consortium, EvmNode, TestPeer, free_port, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

ALREADY_PROCESSED = "urn:realdid:problem:operation-already-processed"
CONVERGE_TIMEOUT = 60.0
OUTSIDER = 5  # dev account that is never made an anchorer (until a test permits it)


# -- DIDs and their operations ------------------------------------------------------------------
@dataclass
class Identity:
    """A DID and the keys to extend it; ``head`` is its last acknowledged operation."""

    create: ParsedOperation
    update_key: LocalSigner
    recovery_key: LocalSigner
    head: str = ""
    acked: list[str] = field(default_factory=list)  # acknowledged operations, in order
    maybe: str | None = None  # sent at the end without an answer: may or may not exist
    _next_key: LocalSigner | None = None

    @classmethod
    def new(cls) -> Identity:
        signing, update, recovery = (LocalSigner.generate() for _ in range(3))
        operation = CreateOperation(
            DocumentContent(
                (PublicKeyEntry("key-1", signing.public_key, ("authentication",)),), ()
            ),
            commitment_of(update.public_key),
            commitment_of(recovery.public_key),
        )
        parsed = ParsedOperation.from_value(to_dict(operation))
        return cls(parsed, update, recovery)

    @property
    def did(self) -> str:
        return str(self.create.did)

    def update(self) -> ParsedOperation:
        """An update built on ``head`` that replaces the DID's service by a new one;
        :meth:`acknowledged` moves the DID on to it."""
        n = len(self.acked)
        self._next_key = LocalSigner.generate()
        patches: tuple[Patch, ...] = (
            Patch(
                "add-services",
                services=(ServiceEntry(f"s{n}", "LinkedDomains", f"https://example.org/{n}"),),
            ),
        )
        if n > 1:  # the previous update added s{n-1}
            patches = (Patch("remove-services", ids=(f"s{n - 1}",)), *patches)
        operation = UpdateOperation(
            self.create.did,
            self.head,
            self.update_key.public_key,
            patches,
            commitment_of(self._next_key.public_key),
        )
        return ParsedOperation.from_value(to_dict(sign(operation, self.update_key)))

    def deactivate(self) -> ParsedOperation:
        operation = DeactivateOperation(self.create.did, self.head, self.recovery_key.public_key)
        return ParsedOperation.from_value(to_dict(sign(operation, self.recovery_key)))

    def acknowledged(self, parsed: ParsedOperation) -> None:
        """``parsed`` (built on ``head``) was acknowledged by a node: it is the new head."""
        if parsed.operation.type == "update":
            assert self._next_key is not None
            self.update_key, self._next_key = self._next_key, None
        self.head = parsed.hash
        self.acked.append(parsed.hash)
        self.maybe = None


def submit(client: httpx.Client, node: EvmNode, parsed: ParsedOperation) -> httpx.Response:
    return client.post(f"{node.url}/1.0/operations", json=to_dict(parsed.operation))


def submit_ok(client: httpx.Client, node: EvmNode, parsed: ParsedOperation) -> None:
    response = submit(client, node, parsed)
    assert response.status_code == 202, (
        f"{node.name} answered {response.status_code}: {response.text}"
    )
    assert response.json()["operationHash"] == parsed.hash


def create_round_robin(
    client: httpx.Client, nodes: Sequence[EvmNode], count: int, turn: Iterable[int] | None = None
) -> list[Identity]:
    """``count`` new DIDs, each create sent to the next node in turn; all must be accepted."""
    turns = iter(turn) if turn is not None else itertools.count()
    identities = []
    for _ in range(count):
        identity = Identity.new()
        submit_ok(client, nodes[next(turns) % len(nodes)], identity.create)
        identity.acknowledged(identity.create)
        identities.append(identity)
    return identities


# -- watching nodes ----------------------------------------------------------------------------
def health(client: httpx.Client, node: EvmNode) -> tuple[int, dict[str, Any]]:
    response = client.get(f"{node.url}/healthz")
    return response.status_code, response.json()


def metric(client: httpx.Client, node: EvmNode, name: str, **labels: str) -> float | None:
    """One sample of ``/metrics`` (``name`` with the suffix, e.g. ``..._total``), or ``None``."""
    text = client.get(f"{node.url}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


class NotYet(str):
    """A predicate's "not yet", with the reason shown if the wait times out."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False


def wait_for(
    what: str,
    predicate: Callable[[], Any],
    *,
    timeout: float = CONVERGE_TIMEOUT,
    every: float = 0.1,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except httpx.HTTPError as e:
            last = f"{type(e).__name__}: {e}"
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def status_of(client: httpx.Client, node: EvmNode, operation_hash: str) -> str:
    response = client.get(f"{node.url}/1.0/operations/{operation_hash}")
    return str(response.json().get("status")) if response.status_code == 200 else "absent"


def converge(
    client: httpx.Client,
    nodes: Sequence[EvmNode],
    operations: Iterable[str],
    *,
    timeout: float = CONVERGE_TIMEOUT,
) -> int:
    """Wait until every node is healthy with an empty queue at the same anchor sequence and
    every operation in ``operations`` is anchored on every node; return that sequence."""
    pending = set(operations)

    def settled() -> tuple[str, int] | NotYet:
        states = [health(client, n) for n in nodes]
        summary = {
            n.name: (code, h.get("anchorSequence"), h.get("queueLength"), h.get("error"))
            for n, (code, h) in zip(nodes, states, strict=True)
        }
        if any(code != 200 or h["queueLength"] != 0 for code, h in states):
            return NotYet(f"not settled: {summary}")
        sequences = {h["anchorSequence"] for _, h in states}
        if len(sequences) != 1:
            return NotYet(f"different sequences: {summary}")
        for op in sorted(pending):
            for node in nodes:
                status = status_of(client, node, op)
                if status != "anchored":
                    return NotYet(f"{op[:12]} is {status} on {node.name}; {summary}")
            pending.discard(op)
        return ("settled", sequences.pop())

    return int(wait_for(f"{[n.name for n in nodes]} to converge", settled, timeout=timeout)[1])


def assert_identical_resolution(
    client: httpx.Client, nodes: Sequence[EvmNode], dids: Iterable[str], operations: Iterable[str]
) -> None:
    """Every DID resolves, and every operation's status reads, byte for byte the same on all
    nodes (status 200 or 410 for a deactivated DID; operations anchored)."""
    for did in dids:
        answers = [client.get(f"{n.url}/1.0/identifiers/{did}") for n in nodes]
        assert answers[0].status_code in (200, 410), f"{did} on {nodes[0].name}: {answers[0].text}"
        for node, answer in zip(nodes[1:], answers[1:], strict=True):
            assert answer.status_code == answers[0].status_code, did
            assert answer.content == answers[0].content, f"{did} differs on {node.name}"
    for op in operations:
        answers = [client.get(f"{n.url}/1.0/operations/{op}") for n in nodes]
        assert answers[0].status_code == 200, answers[0].text
        assert answers[0].json()["status"] == "anchored", answers[0].text
        for node, answer in zip(nodes[1:], answers[1:], strict=True):
            assert answer.content == answers[0].content, f"operation {op} differs on {node.name}"


def index_of(node: EvmNode) -> dict[str, list[tuple[Any, ...]]]:
    """The node's derived index, read from its store: outcomes, DID states, anchors."""
    tables = {
        "operations": "SELECT hash, sequence, leaf, applied, reason FROM operations ORDER BY hash",
        "dids": "SELECT suffix, state FROM dids ORDER BY suffix",
        "anchors": "SELECT sequence, anchor, leaves, valid, reason FROM anchors ORDER BY sequence",
    }
    db = node.databases.open(node.data_dir, "node", "node.db")
    try:
        with db.reading() as tx:
            return {name: [tuple(r) for r in tx.execute(sql)] for name, sql in tables.items()}
    finally:
        db.close()


def queued_operations(node: EvmNode) -> list[str]:
    """Hashes of the operations in the node's durable queue (read from its store)."""
    db = node.databases.open(node.data_dir, "node", "node.db")
    try:
        with db.reading() as tx:
            rows = tx.execute("SELECT hash FROM queue ORDER BY seq").fetchall()
    finally:
        db.close()
    return [bytes(row[0]).hex() for row in rows]


def assert_identical_index(nodes: Sequence[EvmNode]) -> dict[str, list[tuple[Any, ...]]]:
    first = index_of(nodes[0])
    for node in nodes[1:]:
        other = index_of(node)
        for table in first:
            assert other[table] == first[table], (
                f"table {table} of {node.name} differs from {nodes[0].name}"
            )
    return first


def chain_anchors(consortium: Consortium, directory: Path) -> list[Anchor]:
    """Every anchor on the chain, read by a follower of the test's own."""
    with EvmLedger(
        consortium.anvil.url,
        consortium.contract,
        None,
        directory / "test-follower.db",
        confirmations=0,
    ) as follower:
        return follower.anchors_after(-1, 10_000)


@dataclass
class Stream:
    """Client threads sending creates round-robin (and update chains) until ``stop``."""

    nodes: Sequence[EvmNode]
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: list[Identity] = field(default_factory=list)
    unanswered: list[Identity] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    sent_to: Counter[str] = field(default_factory=Counter)
    failed_on: Counter[str] = field(default_factory=Counter)
    turn: itertools.count[int] = field(default_factory=itertools.count)
    threads: list[threading.Thread] = field(default_factory=list)

    def next_node(self) -> EvmNode:
        with self.lock:
            return self.nodes[next(self.turn) % len(self.nodes)]

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def creates(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self.stop.is_set():
                identity = Identity.new()
                node = self.next_node()
                try:
                    response = submit(client, node, identity.create)
                except httpx.HTTPError:
                    with self.lock:
                        self.unanswered.append(identity)
                        self.failed_on[node.name] += 1
                    time.sleep(0.02)
                    continue
                with self.lock:
                    self.sent_to[node.name] += 1
                    if response.status_code == 202:
                        identity.acknowledged(identity.create)
                        self.acked.append(identity)
                    else:
                        self.refused.append(f"{node.name}: {response.status_code} {response.text}")
                time.sleep(0.05)

    def chain(self, identities: Sequence[Identity]) -> None:
        """Updates on ``identities`` in turn, each built on the DID's acknowledged head and
        sent round-robin to a node that already has that head anchored; an update whose
        answer was lost is resent (to the next node) until some node answers."""
        with httpx.Client(timeout=5.0) as client:
            for step in itertools.count():
                identity = identities[step % len(identities)]
                parsed = identity.update()
                while True:
                    if self.stop.is_set():
                        return  # ``maybe`` tells whether ``parsed`` may have reached a node
                    node = self.next_node()
                    try:
                        if status_of(client, node, identity.head) != "anchored":
                            time.sleep(0.05)
                            continue
                        identity.maybe = parsed.hash
                        response = submit(client, node, parsed)
                    except httpx.HTTPError:
                        with self.lock:
                            self.failed_on[node.name] += 1
                        time.sleep(0.05)
                        continue
                    if response.status_code == 202 or (
                        response.status_code == 409
                        and response.json().get("type") == ALREADY_PROCESSED
                    ):
                        with self.lock:
                            identity.acknowledged(parsed)
                        break
                    with self.lock:
                        self.refused.append(f"{node.name}: {response.status_code} {response.text}")
                    time.sleep(0.05)

    def start(self, creators: int, chains: Sequence[Identity] = ()) -> None:
        self.threads = [threading.Thread(target=self.creates, daemon=True) for _ in range(creators)]
        if chains:
            self.threads.append(threading.Thread(target=self.chain, args=(chains,), daemon=True))
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "a client thread hangs"


# -- 1. round robin ----------------------------------------------------------------------------
def test_round_robin_operations_resolve_identically_on_all_nodes(
    consortium_factory: Callable[..., Consortium],
) -> None:
    consortium = consortium_factory()
    nodes = consortium.nodes
    turn = itertools.count()
    with httpx.Client(timeout=10.0) as client:
        identities = create_round_robin(client, nodes, 60, turn)
        converge(client, nodes, [i.head for i in identities])

        # Updates on acknowledged (and by now anchored) creates, to the next node in turn.
        for identity in identities[:30]:
            parsed = identity.update()
            submit_ok(client, nodes[next(turn) % 3], parsed)
            identity.acknowledged(parsed)
        converge(client, nodes, [i.head for i in identities[:30]])

        # A second update on some, a deactivation of others: again each on its predecessor.
        for identity in identities[:15]:
            parsed = identity.update()
            submit_ok(client, nodes[next(turn) % 3], parsed)
            identity.acknowledged(parsed)
        for identity in identities[30:36]:
            parsed = identity.deactivate()
            submit_ok(client, nodes[next(turn) % 3], parsed)
            identity.acknowledged(parsed)
        converge(client, nodes, [i.head for i in identities])

        all_ops = [op for i in identities for op in i.acked]
        assert len(all_ops) == 60 + 30 + 15 + 6
        assert_identical_resolution(client, nodes, [i.did for i in identities], all_ops)
        for identity in identities:
            document = client.get(f"{nodes[0].url}/1.0/identifiers/{identity.did}").json()
            assert document["didDocumentMetadata"]["versionId"] == identity.head
            assert document["didDocumentMetadata"]["deactivated"] == (identity in identities[30:36])

        # Every node anchored batches of its own, with its own key, and the others followed.
        anchorers = set()
        for node in nodes:
            written = metric(client, node, "realdid_anchors_written_total")
            assert written, f"{node.name} anchored nothing"
        for op in all_ops:
            anchorers.add(
                client.get(f"{nodes[0].url}/1.0/operations/{op}").json()["anchor"]["anchorer"]
            )
        assert anchorers == {consortium.address(i) for i in (1, 2, 3)}

    index = assert_identical_index(nodes)
    assert len(index["operations"]) == len(all_ops)
    assert all(row[3] == 1 for row in index["operations"])  # all applied, none rejected

    # Each node's index re-derives from the chain (read afresh) plus its batch files.
    for node in nodes:
        verified = run_cli(
            "ledger",
            "verify",
            "--data-dir",
            str(node.data_dir),
            "--ledger",
            "evm",
            "--evm-url",
            consortium.anvil.url,
            "--anchor-contract",
            consortium.contract,
            env=node.env,
        )
        assert verified.startswith("ok: ")
        assert f"{len(identities)} DIDs verified" in verified


# -- 2. SIGKILL --------------------------------------------------------------------------------
def test_node_killed_mid_stream_catches_up_and_loses_nothing(
    consortium_factory: Callable[..., Consortium],
) -> None:
    consortium = consortium_factory()
    nodes = consortium.nodes
    victim = nodes[1]
    with httpx.Client(timeout=10.0) as client:
        chained = create_round_robin(client, nodes, 6)
        converge(client, nodes, [i.head for i in chained])

        stream = Stream(nodes)
        stream.start(creators=2, chains=chained)
        try:
            wait_for("a first part of the stream", lambda: stream.acked_count() >= 20, timeout=30)
            # Kill the victim while it holds operations it acknowledged but has not applied
            # (not yet anchored, or anchored and not yet applied).
            wait_for(
                "the victim to hold queued operations",
                lambda: health(client, victim)[1]["queueLength"] > 0,
                timeout=20,
                every=0.005,
            )
            victim.kill9()
            queued_at_kill = queued_operations(victim)
            failed_before = stream.failed_on[victim.name]
            wait_for(
                "requests to the killed node to fail",
                lambda: stream.failed_on[victim.name] >= failed_before + 3,
                timeout=20,
            )
            acked_while_down = stream.acked_count()
            victim.start()  # same data dir, port and peers
            wait_for(
                "the stream to go on after the restart",
                lambda: stream.acked_count() >= acked_while_down + 20,
                timeout=30,
            )
        finally:
            stream.finish()

        assert victim.starts == 2
        assert queued_at_kill, "the victim held no queued operation when it was killed"
        assert stream.sent_to[victim.name] > 0
        assert stream.failed_on[victim.name] >= 3
        # Updates went only to nodes that had their predecessor anchored: nothing refused.
        assert not stream.refused, stream.refused

        acked_ops = [op for i in stream.acked for op in i.acked] + [
            op for i in chained for op in i.acked
        ]
        converge(client, nodes, acked_ops)
        assert_identical_resolution(
            client, nodes, [i.did for i in stream.acked + chained], acked_ops
        )
        # What the victim had queued when it died is anchored, whether its answer got out or not.
        assert_identical_resolution(client, nodes, [], queued_at_kill)

        # Chains: each DID is at its last acknowledged update (or at the one update sent
        # when the stream stopped, if that reached a node).
        for identity in chained:
            meta = client.get(f"{nodes[0].url}/1.0/identifiers/{identity.did}").json()[
                "didDocumentMetadata"
            ]
            assert meta["versionId"] in {identity.head, identity.maybe}, identity.did
        assert sum(len(i.acked) for i in chained) > len(chained), "no update was acknowledged"

        # Creates whose answer was lost: the same (absent, or anchored) on every node.
        for identity in stream.unanswered:
            answers = [client.get(f"{n.url}/1.0/operations/{identity.create.hash}") for n in nodes]
            assert len({(a.status_code, a.content) for a in answers}) == 1

    index = assert_identical_index(nodes)
    outcomes = {row[0].hex(): row for row in index["operations"]}
    assert all(outcomes[op][3] == 1 for op in acked_ops)


# -- 3. tampered peer, and a peer set without any valid copy -------------------------------------
def test_tampered_batch_is_refused_and_without_a_valid_copy_the_node_stalls(
    consortium_factory: Callable[..., Consortium],
    test_peers: Callable[..., TestPeer],
    tmp_path: Path,
) -> None:
    consortium = consortium_factory()
    a, b, c = consortium.nodes
    with httpx.Client(timeout=10.0) as client:
        before = create_round_robin(client, [a, b, c], 6)
        converge(client, [a, b, c], [i.head for i in before])

        # c is down while a and b anchor more batches: c lacks their batch files.
        c.stop()
        missed = []
        for _ in range(3):  # three rounds: several anchors by each of a and b
            missed += create_round_robin(client, [a, b], 4)
            converge(client, [a, b], [i.head for i in missed])
        sequence_c = index_of(c)["anchors"][-1][0]
        anchors = chain_anchors(consortium, tmp_path)
        lacking = [x for x in anchors if x.sequence > sequence_c]
        assert len(lacking) >= 2
        assert {x.anchorer for x in lacking} <= {consortium.address(1), consortium.address(2)}
        assert not any(
            (c.data_dir / "cas" / x.batch_hash[:2] / x.batch_hash[2:4] / x.batch_hash).exists()
            for x in lacking
        )

        # The first peer c asks serves tampered bytes for every batch file.
        tamper = test_peers(lambda address: b"tampered copy of " + address.encode())
        c.start(peers=[tamper.url, a.url, b.url])
        everything = [i.head for i in before + missed]
        converge(client, [a, b, c], everything)
        assert_identical_resolution(client, [a, b, c], [i.did for i in before + missed], everything)

        code, c_health = health(client, c)
        assert code == 200
        assert c_health["badPeers"] == {tamper.url: lacking[-1].batch_hash}
        for x in lacking:
            assert tamper.asked_for(x.batch_hash) == 1
        assert metric(
            client, c, "realdid_peer_batch_fetches_total", peer=tamper.url, outcome="bad-hash"
        ) == len(lacking)
        assert metric(
            client, c, "realdid_peer_batch_fetches_total", peer=a.url, outcome="ok"
        ) == len(lacking)
        assert "badPeers" not in health(client, a)[1]

        # A follower whose peers are a proxy that tampers with one batch in the middle of the
        # ledger, and a peer that is not there, cannot get that batch: it must stall there.
        target = anchors[len(anchors) // 2]
        assert 0 < target.sequence < anchors[-1].sequence

        def from_a(address: str) -> bytes | None:
            response = httpx.get(f"{a.url}/cas/{address}", timeout=5.0)
            return response.content if response.status_code == 200 else None

        proxy = test_peers(
            lambda address: b"evil" if address == target.batch_hash else from_a(address)
        )
        nowhere = f"http://127.0.0.1:{free_port()}"
        d = consortium.add_node("d", key_index=None, peers=[proxy.url, nowhere], healthy=False)

        def stalled() -> dict[str, Any] | None:
            code, body = health(client, d)
            return body if code == 503 and body["anchorSequence"] == target.sequence - 1 else None

        stall = wait_for("the follower to stall", stalled, timeout=30)
        assert stall["status"] == "degraded"
        assert f"anchor {target.sequence}:" in stall["error"]
        assert target.batch_hash in stall["error"]
        assert stall["error"].startswith("batch-unavailable")
        assert stall["badPeers"] == {proxy.url: target.batch_hash}
        assert metric(client, d, "realdid_observer_stalled") == 1.0
        assert metric(client, d, "realdid_observer_anchor_sequence") == target.sequence - 1
        assert metric(
            client, d, "realdid_peer_batch_fetches_total", peer=nowhere, outcome="unreachable"
        )

        # Later anchors keep coming (and their batches are available): d does not skip ahead.
        more = create_round_robin(client, [a, b, c], 3)
        converge(client, [a, b, c], [i.head for i in more])
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            code, body = health(client, d)
            assert (code, body["anchorSequence"]) == (503, target.sequence - 1)
            time.sleep(0.1)
        assert client.get(f"{d.url}/explorer/anchors/{target.sequence + 1}").status_code == 404
        for identity in more:
            assert status_of(client, d, identity.head) == "absent"

        # Once a valid copy can be had, d goes on from exactly that anchor and converges.
        proxy.serve = from_a
        everything += [i.head for i in more]
        converge(client, [a, b, c, d], everything)
        assert_identical_resolution(
            client, [a, b, c, d], [i.did for i in before + missed + more], everything
        )
    assert_identical_index([a, b, c, d])


# -- 4. chain endpoint down and back -------------------------------------------------------------
def test_chain_endpoint_going_away_and_back_loses_and_duplicates_nothing(
    consortium_factory: Callable[..., Consortium],
) -> None:
    consortium = consortium_factory(state=True)
    nodes = consortium.nodes
    anvil = consortium.anvil
    with httpx.Client(timeout=10.0) as client:
        first = create_round_robin(client, nodes, 6)
        converge(client, nodes, [i.head for i in first])

        stream = Stream(nodes)
        stream.start(creators=2)
        try:
            wait_for("operations before the outage", lambda: stream.acked_count() >= 10, timeout=30)
            anvil.stop()  # SIGTERM: anvil writes its chain to the --state file and exits
            assert anvil.state_path is not None
            assert anvil.state_path.stat().st_size > 0
            down_at = stream.acked_count()
            wait_for(
                "operations acknowledged while the chain is down",
                lambda: stream.acked_count() >= down_at + 15,
                timeout=30,
            )
            queued = wait_for(
                "operations to wait in the nodes' queues",
                lambda: sum(health(client, n)[1]["queueLength"] for n in nodes) or None,
                timeout=10,
            )
            assert queued > 0
            anvil.start()  # same port, chain restored from the state file
            back_at = stream.acked_count()
            wait_for(
                "operations after the chain came back",
                lambda: stream.acked_count() >= back_at + 10,
                timeout=30,
            )
        finally:
            stream.finish()

        assert not stream.refused
        assert not stream.unanswered
        identities = first + stream.acked
        acked_ops = [i.head for i in identities]
        assert len(set(acked_ops)) == len(acked_ops)
        converge(client, nodes, acked_ops)
        assert_identical_resolution(client, nodes, [i.did for i in identities], acked_ops)

    index = assert_identical_index(nodes)
    # Exactly once: one outcome per acknowledged operation, applied, and each in one anchor.
    assert sorted(row[0].hex() for row in index["operations"]) == sorted(acked_ops)
    assert all(row[3] == 1 for row in index["operations"])
    leaves = Counter(
        row[2][i : i + 32].hex() for row in index["anchors"] for i in range(0, len(row[2]), 32)
    )
    assert {op: n for op, n in leaves.items() if n != 1} == {}
    assert set(leaves) == set(acked_ops)


# -- 5. permissions and rule-breaking anchors ----------------------------------------------------
def test_non_anchorer_is_refused_and_invalid_anchors_are_ignored_by_every_node(
    consortium_factory: Callable[..., Consortium],
    test_peers: Callable[..., TestPeer],
    tmp_path: Path,
) -> None:
    forged: dict[str, bytes] = {}
    forger = test_peers(forged.get)
    consortium = consortium_factory(extra_peers=[forger.url], reserve=["d"])
    a, b, c = consortium.nodes
    anvil_url, contract = consortium.anvil.url, consortium.contract
    with httpx.Client(timeout=10.0) as client:
        identities = create_round_robin(client, [a, b, c], 3)
        sequence = converge(client, [a, b, c], [i.head for i in identities])

        # An address that is not a permitted anchorer: the contract refuses the transaction.
        outsider = Identity.new()
        batch = encode_batch([outsider.create.canonical])
        request = AnchorRequest(
            hashlib.sha256(batch).hexdigest(),
            merkle_tree_of([bytes.fromhex(outsider.create.hash)]).root.hex(),
            1,
        )
        with EvmLedger(
            anvil_url,
            contract,
            consortium.keys[OUTSIDER],
            tmp_path / "outsider.db",
            confirmations=0,
        ) as ledger:
            with pytest.raises(AnchorRejectedError) as refused:
                ledger.anchor(request)
            assert refused.value.reason == "NotAnchorer"
            assert [x.sequence for x in ledger.anchors_after(-1, 100)] == list(range(sequence + 1))

        # A node with a key that was never permitted takes operations but cannot anchor them.
        d = consortium.add_node("d", key_index=4, peers=[a.url, b.url, c.url, forger.url])
        newcomer = Identity.new()
        submit_ok(client, d, newcomer.create)
        newcomer.acknowledged(newcomer.create)

        def rejected() -> dict[str, Any] | None:
            code, body = health(client, d)
            return body if code == 503 else None

        body = wait_for("d to report the rejection", rejected, timeout=30)
        assert body["error"].startswith("anchor-rejected:"), body
        assert "NotAnchorer" in body["error"], body
        assert body["queueLength"] == 1
        assert body["anchorSequence"] == sequence
        assert metric(client, d, "realdid_observer_stalled") == 1.0
        for node in (a, b, c):
            assert status_of(client, node, newcomer.create.hash) == "absent"

        # The admin permits d's address with the CLI: d anchors, every node follows.
        out = run_cli(
            "ledger",
            "anchorer",
            "add",
            consortium.address(4),
            "--evm-url",
            anvil_url,
            "--anchor-contract",
            contract,
            "--admin-key-file",
            str(consortium.admin_key_file),
        )
        assert out == f"{consortium.address(4)} is a permitted anchorer"
        converge(client, [a, b, c, d], [newcomer.create.hash])
        evidence = client.get(f"{a.url}/1.0/operations/{newcomer.create.hash}").json()
        assert evidence["anchor"]["anchorer"] == consortium.address(4)

        # A permitted anchorer anchors batches that break the rules; the batch files are
        # served (by the forger, a peer of every node) and match their anchored hashes.
        with EvmAnchorAdmin(anvil_url, contract, consortium.keys[0]) as admin:
            admin.add_anchorer(consortium.address(OUTSIDER))
        x, y, z = Identity.new(), Identity.new(), Identity.new()
        two = encode_batch([x.create.canonical, y.create.canonical])
        one = encode_batch([z.create.canonical])
        garbage = b"this is not a gzip batch file"
        for data in (two, one, garbage):
            forged[hashlib.sha256(data).hexdigest()] = data
        bad_anchors = [
            # right hash and count, wrong Merkle root (that of the two in the other order)
            AnchorRequest(
                hashlib.sha256(two).hexdigest(),
                merkle_tree_of(
                    [bytes.fromhex(y.create.hash), bytes.fromhex(x.create.hash)]
                ).root.hex(),
                2,
            ),
            # right hash and root, wrong operation count
            AnchorRequest(
                hashlib.sha256(one).hexdigest(),
                merkle_tree_of([bytes.fromhex(z.create.hash)]).root.hex(),
                3,
            ),
            # a file that is no batch at all
            AnchorRequest(hashlib.sha256(garbage).hexdigest(), "00" * 32, 1),
        ]
        with EvmLedger(
            anvil_url, contract, consortium.keys[OUTSIDER], tmp_path / "forger.db", confirmations=0
        ) as ledger:
            invalid = [ledger.anchor(r).sequence for r in bad_anchors]
        after = create_round_robin(client, [a, b, c, d], 4)
        nodes = [a, b, c, d]
        final = converge(client, nodes, [i.head for i in after])
        assert final > max(invalid)

        reasons = {
            invalid[0]: "Merkle root of the batch does not match the anchor",
            invalid[1]: "batch holds 1 operations, anchor says 3",
            invalid[2]: "undecodable batch file",
        }
        for seq, reason in reasons.items():
            pages = [client.get(f"{n.url}/explorer/anchors/{seq}") for n in nodes]
            assert pages[0].status_code == 200
            assert "ignored by every node" in pages[0].text, pages[0].text
            assert reason in pages[0].text, pages[0].text
            for node, page in zip(nodes[1:], pages[1:], strict=True):
                assert page.content == pages[0].content, f"anchor {seq} page differs on {node.name}"
        for ghost in (x, y, z):
            for node in nodes:
                assert client.get(f"{node.url}/1.0/identifiers/{ghost.did}").status_code == 404
                assert status_of(client, node, ghost.create.hash) == "absent"
        everyone = [*identities, newcomer, *after]
        assert_identical_resolution(
            client, nodes, [i.did for i in everyone], [i.head for i in everyone]
        )
    index = assert_identical_index(nodes)
    ignored = [row for row in index["anchors"] if row[3] == 0]
    assert [row[0] for row in ignored] == invalid
