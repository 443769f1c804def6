"""The batch writer (realdid.ledger._writer): cut, store, anchor; retry when the ledger fails."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from realdid.clock import FixedClock
from realdid.crypto import KeyType, LocalSigner
from realdid.did import CreateOperation, DocumentContent, ParsedOperation, commitment_of, to_dict
from realdid.ledger import (
    Anchor,
    AnchorRequest,
    BatchWriter,
    Ledger,
    LedgerUnavailableError,
    MemoryContentStore,
    Observer,
    RegistryStore,
    SoloLedger,
    decode_batch,
    merkle_tree_of,
)

T0 = 1_700_000_000
LEDGER_KEY = LocalSigner(KeyType.ED25519, bytes(range(32)))


def new_create() -> ParsedOperation:
    return ParsedOperation.from_value(
        to_dict(
            CreateOperation(
                DocumentContent(),
                commitment_of(LocalSigner.generate().public_key),
                commitment_of(LocalSigner.generate().public_key),
            )
        )
    )


class FlakyLedger:
    """A :class:`Ledger` that fails its first ``failures`` anchors, then delegates."""

    def __init__(self, inner: SoloLedger, failures: int = 1) -> None:
        self._inner = inner
        self.failures = failures
        self.attempts: list[AnchorRequest] = []

    @property
    def name(self) -> str:
        return "flaky"

    def anchor(self, request: AnchorRequest) -> Anchor:
        self.attempts.append(request)
        if self.failures > 0:
            self.failures -= 1
            raise LedgerUnavailableError("ledger is down (test double)")
        return self._inner.anchor(request)

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        return self._inner.anchors_after(sequence, limit)

    def close(self) -> None:
        self._inner.close()


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


def test_flaky_ledger_is_a_ledger(ledger: SoloLedger) -> None:
    assert isinstance(FlakyLedger(ledger), Ledger)


def test_empty_queue_cuts_nothing(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    writer = BatchWriter(store, cas, ledger, max_operations=10)
    assert writer.cut() is None
    assert ledger.head() == -1


def test_cut_stores_and_anchors_the_queue_in_arrival_order(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    ops = [new_create() for _ in range(3)]
    store.enqueue(ops[:2], T0)
    store.enqueue(ops[2:], T0 + 1)
    anchor = BatchWriter(store, cas, ledger, max_operations=10).cut()
    assert anchor is not None
    assert (anchor.sequence, anchor.operation_count) == (0, 3)
    batch = cas.get(anchor.batch_hash)
    assert hashlib.sha256(batch).hexdigest() == anchor.batch_hash
    assert decode_batch(batch) == [p.canonical for p in ops]
    root = merkle_tree_of([bytes.fromhex(p.hash) for p in ops]).root
    assert anchor.merkle_root == root.hex()
    assert ledger.anchors_after(-1, 10) == [anchor]


def test_cut_respects_max_operations(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    ops = [new_create() for _ in range(5)]
    store.enqueue(ops, T0)
    writer = BatchWriter(store, cas, ledger, max_operations=2)
    counts = []
    while (anchor := writer.cut()) is not None:
        counts.append(anchor.operation_count)
    assert counts == [2, 2, 1]
    anchored = [
        line for a in ledger.anchors_after(-1, 10) for line in decode_batch(cas.get(a.batch_hash))
    ]
    assert anchored == [p.canonical for p in ops]


def test_claimed_operations_are_not_anchored_twice_before_observation(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    store.enqueue([new_create()], T0)
    writer = BatchWriter(store, cas, ledger, max_operations=10)
    assert writer.cut() is not None
    assert store.queue_length() == 1  # the observer removes it, not the writer
    assert writer.cut() is None
    late = new_create()
    store.enqueue([late], T0)
    anchor = writer.cut()
    assert anchor is not None
    assert decode_batch(cas.get(anchor.batch_hash)) == [late.canonical]


def test_retry_after_ledger_unavailable(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    ops = [new_create() for _ in range(2)]
    store.enqueue(ops, T0)
    flaky = FlakyLedger(ledger, failures=1)
    writer = BatchWriter(store, cas, flaky, max_operations=10)
    with pytest.raises(LedgerUnavailableError):
        writer.cut()
    assert ledger.head() == -1
    assert store.queue_length() == 2
    assert all(store.is_queued(p.hash) for p in ops)

    anchor = writer.cut()  # the next cut anchors the same operations
    assert anchor is not None
    assert anchor.sequence == 0
    assert anchor.operation_count == 2
    assert flaky.attempts[0] == flaky.attempts[1]  # same batch, same root: a plain retry
    Observer(store, cas, flaky).catch_up()
    assert store.queue_length() == 0
    assert all(store.outcome(p.hash).applied for p in ops)  # type: ignore[union-attr]


def test_operations_arriving_during_an_outage_join_the_retry(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    first, second = new_create(), new_create()
    store.enqueue([first], T0)
    writer = BatchWriter(store, cas, FlakyLedger(ledger, failures=2), max_operations=10)
    for _ in range(2):
        with pytest.raises(LedgerUnavailableError):
            writer.cut()
        store.enqueue([second], T0)  # idempotent: a resubmission does not queue twice
    anchor = writer.cut()
    assert anchor is not None
    assert decode_batch(cas.get(anchor.batch_hash)) == [first.canonical, second.canonical]


def test_reset_claims_reanchors_and_the_observer_applies_once(
    store: RegistryStore, cas: MemoryContentStore, ledger: SoloLedger
) -> None:
    """The crash-restart path: anchored, not observed, claims forgotten, anchored again."""
    op = new_create()
    store.enqueue([op], T0)
    writer = BatchWriter(store, cas, ledger, max_operations=10)
    assert writer.cut() is not None
    writer.reset_claims()
    again = writer.cut()
    assert again is not None
    assert again.sequence == 1
    assert Observer(store, cas, ledger).catch_up() == 2
    outcome = store.outcome(op.hash)
    assert outcome is not None
    assert (outcome.sequence, outcome.applied) == (0, True)
    assert store.did_count() == 1
    assert store.queue_length() == 0
