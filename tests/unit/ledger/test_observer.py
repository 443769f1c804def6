"""The observer (realdid.ledger._observer): applies anchored batches in ledger order.

Everything real except the network: a :class:`RegistryStore` on disk, a
:class:`MemoryContentStore` and a :class:`SoloLedger` with a fixed clock. Operations are
built and signed with :mod:`realdid.did` exactly as a wallet would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from realdid.clock import FixedClock
from realdid.crypto import KeyType, LocalSigner, canonicalize
from realdid.did import (
    CreateOperation,
    DeactivateOperation,
    Did,
    DocumentContent,
    ParsedOperation,
    Patch,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
)
from realdid.ledger import (
    Anchor,
    AnchorRequest,
    BatchUnavailableError,
    BatchWriter,
    MemoryContentStore,
    Observer,
    RegistryStore,
    SoloLedger,
    encode_batch,
    evaluate_batch,
    merkle_tree_of,
)
from realdid.ledger._state_codec import suffix_key

T0 = 1_700_000_000
LEDGER_KEY = LocalSigner(KeyType.ED25519, bytes(range(32)))


# -- operations, as a controller builds them -------------------------------------------------
@dataclass
class Controller:
    """One DID's keys: ``updates[i]`` is the i-th update key, revealed by the i-th update."""

    updates: list[LocalSigner] = field(default_factory=lambda: [LocalSigner.generate()])
    recovery: LocalSigner = field(default_factory=LocalSigner.generate)

    def __post_init__(self) -> None:
        self.create = ParsedOperation.from_value(
            to_dict(
                CreateOperation(
                    DocumentContent(),
                    commitment_of(self.updates[0].public_key),
                    commitment_of(self.recovery.public_key),
                )
            )
        )

    @property
    def did(self) -> Did:
        return self.create.did

    def update(self, previous: str, service: str, *, key: int = 0) -> ParsedOperation:
        """Update revealing update key ``key`` and committing to key ``key + 1``."""
        while len(self.updates) < key + 2:
            self.updates.append(LocalSigner.generate())
        entry = ServiceEntry(service, "LinkedDomains", f"https://{service}.example")
        op = UpdateOperation(
            self.did,
            previous,
            self.updates[key].public_key,
            (Patch("add-services", services=(entry,)),),
            commitment_of(self.updates[key + 1].public_key),
        )
        return ParsedOperation.from_value(to_dict(sign(op, self.updates[key])))

    def deactivate(self, previous: str) -> ParsedOperation:
        op = DeactivateOperation(self.did, previous, self.recovery.public_key)
        return ParsedOperation.from_value(to_dict(sign(op, self.recovery)))


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[RegistryStore]:
    s = RegistryStore(tmp_path / "node.db")
    yield s
    s.close()


@pytest.fixture
def cas() -> MemoryContentStore:
    return MemoryContentStore()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SoloLedger]:
    with SoloLedger(tmp_path / "ledger.db", LEDGER_KEY, FixedClock(T0)) as solo:
        yield solo


@pytest.fixture
def observer(store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger) -> Observer:
    return Observer(store, cas, ledger)


def anchor_lines(
    ledger: SoloLedger,
    cas: MemoryContentStore,
    lines: Sequence[bytes],
    *,
    count: int | None = None,
    root: str | None = None,
) -> Anchor:
    """Store a batch of ``lines`` and anchor it (optionally with a lying count or root)."""
    batch = encode_batch(lines)
    address = cas.put(batch)
    tree = merkle_tree_of([hashlib.sha256(line).digest() for line in lines])
    return ledger.anchor(
        AnchorRequest(
            address,
            tree.root.hex() if root is None else root,
            len(lines) if count is None else count,
        )
    )


def anchor_ops(
    ledger: SoloLedger, cas: MemoryContentStore, ops: Sequence[ParsedOperation]
) -> Anchor:
    return anchor_lines(ledger, cas, [p.canonical for p in ops])


# -- applying ----------------------------------------------------------------------------------
def test_create_anchor_observe_applies(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    anchor = anchor_ops(ledger, cas, [alice.create])
    assert store.state(alice.did.suffix) is None
    assert observer.catch_up() == 1
    state = store.state(alice.did.suffix)
    assert state is not None
    assert state.version_id == alice.create.hash
    assert (state.created.sequence, state.created.leaf_index) == (0, 0)
    assert state.created.timestamp == anchor.timestamp == T0
    assert state.update_commitment == commitment_of(alice.updates[0].public_key)
    outcome = store.outcome(alice.create.hash)
    assert outcome is not None
    assert (outcome.applied, outcome.sequence, outcome.leaf, outcome.reason) == (True, 0, 0, None)
    assert store.cursor() == 0
    assert observer.catch_up() == 0  # nothing new: idempotent


def test_update_chain_and_deactivate_apply_in_order(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    first = alice.update(alice.create.hash, "one", key=0)
    second = alice.update(first.hash, "two", key=1)
    deactivate = alice.deactivate(second.hash)
    anchor_ops(ledger, cas, [alice.create, first])
    anchor_ops(ledger, cas, [second, deactivate])
    assert observer.catch_up() == 2
    state = store.state(alice.did.suffix)
    assert state is not None
    assert state.deactivated
    assert state.version_id == deactivate.hash
    assert (state.updated.sequence, state.updated.leaf_index) == (1, 1)
    assert (state.created.sequence, state.created.leaf_index) == (0, 0)
    for op in (alice.create, first, second, deactivate):
        outcome = store.outcome(op.hash)
        assert outcome is not None
        assert outcome.applied


def test_operations_leave_the_queue_when_their_anchor_is_applied(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice, bob = Controller(), Controller()
    store.enqueue([alice.create, bob.create], T0)
    writer = BatchWriter(store, cas, ledger, max_operations=100)
    assert writer.cut() is not None
    # Anchored but not yet observed: still queued, no outcome.
    assert store.queue_length() == 2
    assert store.outcome(alice.create.hash) is None
    observer.catch_up()
    assert store.queue_length() == 0
    assert not store.has_queued_for(alice.did.suffix)
    assert store.state(alice.did.suffix) is not None
    assert store.state(bob.did.suffix) is not None


# -- invalid anchors ---------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["count", "root", "undecodable"])
def test_invalid_anchor_is_recorded_and_ignored(
    fault: str,
    store: RegistryStore,
    cas: MemoryContentStore,
    ledger: SoloLedger,
    observer: Observer,
) -> None:
    alice, bob = Controller(), Controller()
    store.enqueue([alice.create], T0)
    lines = [alice.create.canonical]
    if fault == "count":
        anchor_lines(ledger, cas, lines, count=2)
    elif fault == "root":
        anchor_lines(ledger, cas, lines, root="ab" * 32)
    else:
        address = cas.put(b"this is not a gzip batch file")
        ledger.anchor(AnchorRequest(address, "ab" * 32, 1))
    anchor_ops(ledger, cas, [bob.create])  # a later, valid anchor is still applied

    assert observer.catch_up() == 2
    record = store.anchor_record(0)
    assert record is not None
    assert not record.valid
    assert record.reason
    assert record.leaves == ()
    assert store.state(alice.did.suffix) is None
    assert store.outcome(alice.create.hash) is None
    assert store.is_queued(alice.create.hash)  # not anchored, so still waiting
    assert store.state(bob.did.suffix) is not None
    assert store.cursor() == 1


def test_invalid_anchor_reasons_name_the_fault(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    lines = [alice.create.canonical]
    anchor_lines(ledger, cas, lines, count=3)
    anchor_lines(ledger, cas, lines, root="cd" * 32)
    ledger.anchor(AnchorRequest(cas.put(b"junk"), "ab" * 32, 1))
    observer.catch_up()
    reasons = [store.anchor_record(i).reason for i in range(3)]  # type: ignore[union-attr]
    assert "anchor says 3" in str(reasons[0])
    assert "Merkle root" in str(reasons[1])
    assert "undecodable" in str(reasons[2])


# -- rejected operations -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json", "malformed-operation"),
        (b'{"type":"rename"}', "malformed-operation"),
        (b"[]", "malformed-operation"),
        # valid JSON, but not RFC 8785 canonical (member order): refused
        (b'{"type":"create","document":{"services":[],"publicKeys":[]}}', "malformed-operation"),
    ],
)
def test_malformed_line_is_rejected_with_reason(
    line: bytes,
    reason: str,
    store: RegistryStore,
    cas: MemoryContentStore,
    ledger: SoloLedger,
    observer: Observer,
) -> None:
    alice = Controller()
    anchor_lines(ledger, cas, [line, alice.create.canonical])
    observer.catch_up()
    outcome = store.outcome(hashlib.sha256(line).hexdigest())
    assert outcome is not None
    assert (outcome.applied, outcome.reason, outcome.leaf) == (False, reason, 0)
    assert store.state(alice.did.suffix) is not None  # the rest of the batch still applies
    assert store.did_count() == 1


def test_non_canonical_create_is_not_applied(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    spaced = alice.create.canonical.replace(b":", b": ")
    anchor_lines(ledger, cas, [spaced])
    observer.catch_up()
    assert store.did_count() == 0
    outcome = store.outcome(hashlib.sha256(spaced).hexdigest())
    assert outcome is not None
    assert outcome.reason == "malformed-operation"


def test_rule_violations_are_rejected_with_their_codes(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice, ghost = Controller(), Controller()
    # A valid signature by the right key, but over another operation.
    value = to_dict(alice.update(alice.create.hash, "one").operation)
    value["signature"] = to_dict(alice.update(alice.create.hash, "two").operation)["signature"]
    bad_signature = ParsedOperation.from_value(value)
    unknown = ghost.update(ghost.create.hash, "nowhere")
    # Signed correctly, but by a key alice never committed to.
    stranger = ghost.updates[0]
    wrong_key = ParsedOperation.from_value(
        to_dict(
            sign(
                UpdateOperation(
                    alice.did,
                    alice.create.hash,
                    stranger.public_key,
                    (
                        Patch(
                            "add-services", services=(ServiceEntry("x", "T", "https://x.example"),)
                        ),
                    ),
                    commitment_of(LocalSigner.generate().public_key),
                ),
                stranger,
            )
        )
    )
    remove_missing = ParsedOperation.from_value(
        to_dict(
            sign(
                UpdateOperation(
                    alice.did,
                    alice.create.hash,
                    alice.updates[0].public_key,
                    (Patch("remove-services", ids=("absent",)),),
                    commitment_of(LocalSigner.generate().public_key),
                ),
                alice.updates[0],
            )
        )
    )
    anchor_ops(ledger, cas, [alice.create])
    anchor_ops(ledger, cas, [bad_signature, unknown, wrong_key, remove_missing])
    observer.catch_up()
    reasons = {
        name: store.outcome(op.hash).reason  # type: ignore[union-attr]
        for name, op in {
            "bad_signature": bad_signature,
            "unknown": unknown,
            "wrong_key": wrong_key,
            "remove_missing": remove_missing,
        }.items()
    }
    assert reasons == {
        "bad_signature": "invalid-signature",
        "unknown": "did-not-found",
        "wrong_key": "commitment-mismatch",
        "remove_missing": "invalid-patch",
    }
    state = store.state(alice.did.suffix)
    assert state is not None
    assert state.version_id == alice.create.hash  # nothing applied


def test_operation_on_deactivated_did_is_rejected(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    deactivate = alice.deactivate(alice.create.hash)
    late = alice.update(deactivate.hash, "late")
    anchor_ops(ledger, cas, [alice.create, deactivate, late])
    observer.catch_up()
    assert store.outcome(late.hash).reason == "did-deactivated"  # type: ignore[union-attr]


# -- ordering and duplicates -------------------------------------------------------------------
def test_first_of_two_updates_on_the_same_previous_wins(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    anchor_ops(ledger, cas, [alice.create])
    winner = alice.update(alice.create.hash, "winner")
    loser = alice.update(alice.create.hash, "loser")
    assert winner.hash != loser.hash
    anchor_ops(ledger, cas, [winner, loser])
    observer.catch_up()
    assert store.outcome(winner.hash).applied  # type: ignore[union-attr]
    lost = store.outcome(loser.hash)
    assert lost is not None
    assert (lost.applied, lost.reason, lost.leaf) == (False, "stale-previous", 1)
    state = store.state(alice.did.suffix)
    assert state is not None
    assert state.version_id == winner.hash
    assert [s.id for s in state.document.services] == ["winner"]


def test_spent_update_key_is_refused_after_it_was_used(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    first = alice.update(alice.create.hash, "first", key=0)
    # Builds on the right version, but reveals the update key that `first` already spent.
    reuse = alice.update(first.hash, "reuse", key=0)
    anchor_ops(ledger, cas, [alice.create, first, reuse])
    observer.catch_up()
    assert store.outcome(reuse.hash).reason == "commitment-mismatch"  # type: ignore[union-attr]


def test_duplicate_in_a_later_batch_is_skipped(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    update = alice.update(alice.create.hash, "once")
    anchor_ops(ledger, cas, [alice.create, update])
    observer.catch_up()
    before = store.state(alice.did.suffix)

    anchor_ops(ledger, cas, [update, alice.create])  # re-anchored, e.g. after a crash
    observer.catch_up()
    assert store.cursor() == 1
    assert store.state(alice.did.suffix) == before  # no double apply
    outcome = store.outcome(update.hash)
    assert outcome is not None
    assert (outcome.sequence, outcome.leaf, outcome.applied) == (0, 1, True)  # first stands
    record = store.anchor_record(1)
    assert record is not None
    assert record.valid
    assert len(record.leaves) == 2  # the batch is valid; only its operations were skipped


def test_duplicate_in_the_same_batch_is_skipped(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    alice = Controller()
    anchor_ops(ledger, cas, [alice.create, alice.create])
    observer.catch_up()
    outcome = store.outcome(alice.create.hash)
    assert outcome is not None
    assert (outcome.leaf, outcome.applied) == (0, True)
    assert store.did_count() == 1


def test_requeued_duplicate_leaves_the_queue_when_anchored_again(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger, observer: Observer
) -> None:
    """An operation queued again after it was anchored (a resubmission racing the observer)
    must not stay in the queue forever once its second anchor is processed."""
    alice = Controller()
    store.enqueue([alice.create], T0)
    writer = BatchWriter(store, cas, ledger, max_operations=100)
    writer.cut()
    observer.catch_up()
    store.enqueue([alice.create], T0)  # the race: enqueued once more after it was applied
    assert store.queue_length() == 1
    writer.cut()
    observer.catch_up()
    assert store.queue_length() == 0
    assert not store.has_queued_for(alice.did.suffix)
    assert store.outcome(alice.create.hash).sequence == 0  # type: ignore[union-attr]


# -- stalls ------------------------------------------------------------------------------------
def test_missing_batch_file_stalls_without_advancing(
    store: RegistryStore, ledger: SoloLedger, tmp_path: Path
) -> None:
    alice = Controller()
    batch = encode_batch([alice.create.canonical])
    address = hashlib.sha256(batch).hexdigest()
    root = merkle_tree_of([bytes.fromhex(alice.create.hash)]).root.hex()
    ledger.anchor(AnchorRequest(address, root, 1))
    cas = MemoryContentStore()  # the batch file is not here (yet)
    observer = Observer(store, cas, ledger)
    with pytest.raises(BatchUnavailableError, match="anchor 0"):
        observer.catch_up()
    assert store.cursor() == -1
    assert store.anchor_record(0) is None
    assert store.state(alice.did.suffix) is None
    # Once the file arrives (e.g. fetched from a peer) the observer resumes.
    cas.put(batch)
    assert observer.catch_up() == 1
    assert store.state(alice.did.suffix) is not None


class LyingContentStore:
    """A ContentStore whose ``get`` returns other bytes than were stored."""

    def put(self, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def get(self, address: str) -> bytes:
        return encode_batch([b"{}"])

    def has(self, address: str) -> bool:
        return True


def test_batch_not_matching_its_hash_stalls(store: RegistryStore, ledger: SoloLedger) -> None:
    alice = Controller()
    cas = LyingContentStore()
    batch = encode_batch([alice.create.canonical])
    root = merkle_tree_of([bytes.fromhex(alice.create.hash)]).root.hex()
    ledger.anchor(AnchorRequest(cas.put(batch), root, 1))
    with pytest.raises(BatchUnavailableError, match="no valid copy of batch file"):
        Observer(store, cas, ledger).catch_up()
    assert store.cursor() == -1


class GappyLedger:
    """A ledger that (wrongly) reports anchor 1 without anchor 0."""

    def __init__(self, anchor: Anchor) -> None:
        self._anchor = anchor

    @property
    def name(self) -> str:
        return "gappy"

    def anchor(self, request: AnchorRequest) -> Anchor:
        raise NotImplementedError

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        return [self._anchor] if sequence < self._anchor.sequence else []

    def close(self) -> None:
        pass


def test_gap_in_ledger_sequence_stalls(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    alice = Controller()
    anchor_ops(ledger, cas, [alice.create])
    real = ledger.anchors_after(-1, 1)[0]
    gap = Anchor(**{**{f: getattr(real, f) for f in real.__slots__}, "sequence": 1})
    with pytest.raises(BatchUnavailableError, match="skipped"):
        Observer(store, cas, GappyLedger(gap)).catch_up()
    assert store.cursor() == -1


# -- determinism -------------------------------------------------------------------------------
def test_two_nodes_fed_the_same_anchors_agree(
    tmp_path: Path, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    alice, bob = Controller(), Controller()
    u1 = alice.update(alice.create.hash, "a")
    u2 = alice.update(alice.create.hash, "b")
    anchor_ops(ledger, cas, [alice.create, bob.create, u1, u2])
    anchor_ops(ledger, cas, [bob.deactivate(bob.create.hash)])
    stores = [RegistryStore(tmp_path / f"node-{i}.db") for i in range(2)]
    try:
        for s in stores:
            Observer(s, cas, ledger).catch_up()
        first, second = ([canonicalize(st.to_dict()) for st in s.all_states()] for s in stores)
        assert first == second
        assert len(first) == 2
        for op in (alice.create, bob.create, u1, u2):
            assert stores[0].outcome(op.hash) == stores[1].outcome(op.hash)
    finally:
        for s in stores:
            s.close()


def test_evaluate_batch_only_reads_the_store(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    alice = Controller()
    anchor = anchor_ops(ledger, cas, [alice.create])
    result = evaluate_batch(anchor, cas.get(anchor.batch_hash), store)
    assert [o.hash for o in result.outcomes] == [alice.create.hash]
    assert [key for key, _ in result.states] == [suffix_key(alice.did.suffix)]
    assert result.record.valid
    assert store.cursor() == -1
    assert store.state(alice.did.suffix) is None
