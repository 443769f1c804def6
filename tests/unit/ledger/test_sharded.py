"""A backlog applied on worker processes, sharded by DID, gives the index one-by-one gives.

Each test builds one ledger, then catches up two fresh stores from it: one with the plain
:class:`Observer`, one with a :class:`ShardedEvaluator` (real ``spawn`` worker processes),
and compares every row of the index — outcomes, states, anchors.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from realdid.did import ParsedOperation, operation_suffix
from realdid.ledger import (
    BatchUnavailableError,
    MemoryContentStore,
    Observer,
    RegistryStore,
    ShardedEvaluator,
    SoloLedger,
)
from realdid.ledger._sharded import shard_of

from .test_observer import LEDGER_KEY, T0, Controller, anchor_lines, anchor_ops


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SoloLedger]:
    from realdid.clock import FixedClock

    with SoloLedger(tmp_path / "ledger.db", LEDGER_KEY, FixedClock(T0)) as solo:
        yield solo


@pytest.fixture(scope="module")
def sharded() -> Iterator[ShardedEvaluator]:
    """Two worker processes, used for any backlog (started once for the module)."""
    evaluator = ShardedEvaluator(2, min_operations=1)
    yield evaluator
    evaluator.close()


def _rows(store: RegistryStore) -> dict[str, list[tuple[object, ...]]]:
    with store.database.reading() as tx:
        return {
            table: [tuple(row) for row in tx.execute(f"SELECT * FROM {table} ORDER BY 1")]  # noqa: S608 - fixed names
            for table in ("operations", "dids", "anchors")
        }


def _both(
    tmp_path: Path, cas: MemoryContentStore, ledger: SoloLedger, sharded: ShardedEvaluator
) -> tuple[dict[str, list[tuple[object, ...]]], dict[str, list[tuple[object, ...]]]]:
    """The index after one-by-one and after sharded application of the whole ledger."""
    rows = []
    for name, evaluator in (("one", None), ("sharded", sharded)):
        store = RegistryStore(tmp_path / f"{name}.db")
        try:
            observer = Observer(store, cas, ledger, sharded=evaluator)
            while observer.catch_up(max_anchors=3) > 0:
                pass
            rows.append(_rows(store))
        finally:
            store.close()
    return rows[0], rows[1]


def _history(ledger: SoloLedger, cas: MemoryContentStore) -> list[Controller]:
    """Anchors with everything the rules decide: creates, updates of DIDs made in earlier
    anchors and in the same one, a deactivation, then an update after it (refused), a
    replayed update (refused), lines that do not parse, duplicates within an anchor and
    across anchors, and an anchor whose Merkle root lies (ignored whole)."""
    people = [Controller() for _ in range(12)]
    anchor_ops(ledger, cas, [p.create for p in people[:8]])
    first = [p.update(p.create.hash, "one", key=0) for p in people[:8]]
    anchor_ops(ledger, cas, [*first[:4], people[8].create, people[8].create])
    late = people[9]
    late_update = late.update(late.create.hash, "late", key=0)
    anchor_lines(
        ledger,
        cas,
        [
            *(op.canonical for op in first[4:]),
            late.create.canonical,
            late_update.canonical,  # same anchor as its create
            b"{not json",
            json.dumps({"type": "update", "did": 7}).encode(),
            b'{"type": "create"}',  # not canonical (and not a whole create)
            first[0].canonical,  # anchored before: skipped
        ],
    )
    gone = people[0].deactivate(first[0].hash)
    anchor_ops(ledger, cas, [gone, people[0].update(gone.hash, "after", key=1)])
    anchor_ops(ledger, cas, [people[1].update(people[1].create.hash, "replay", key=0)])
    anchor_lines(ledger, cas, [people[10].create.canonical], root="00" * 32)
    anchor_ops(
        ledger,
        cas,
        [
            people[11].create,
            *(p.update(f.hash, "two", key=1) for p, f in zip(people[2:8], first[2:8], strict=True)),
        ],
    )
    return people


def test_sharded_application_gives_the_same_index(
    tmp_path: Path, ledger: SoloLedger, sharded: ShardedEvaluator
) -> None:
    cas = MemoryContentStore()
    _history(ledger, cas)
    one, many = _both(tmp_path, cas, ledger, sharded)
    assert many == one
    # The history exercised what it meant to: refusals, skips and an ignored anchor.
    reasons = {row[4] for row in one["operations"] if row[3] == 0}
    assert len(reasons) >= 3, reasons
    assert len(one["dids"]) == 11  # people[10]'s create was in the ignored anchor
    assert [row[0] for row in one["anchors"]] == list(range(7))


def test_an_anchor_without_its_batch_stalls_after_the_ones_before(
    tmp_path: Path, ledger: SoloLedger, sharded: ShardedEvaluator
) -> None:
    cas = MemoryContentStore()
    alice, bob = Controller(), Controller()
    anchor_ops(ledger, cas, [alice.create])
    missing = anchor_ops(ledger, cas, [bob.create])
    anchor_ops(ledger, cas, [alice.update(alice.create.hash, "x", key=0)])
    del cas._items[missing.batch_hash]
    store = RegistryStore(tmp_path / "node.db")
    try:
        observer = Observer(store, cas, ledger, sharded=sharded)
        with pytest.raises(BatchUnavailableError, match=f"anchor {missing.sequence}"):
            observer.catch_up()
        assert store.cursor() == missing.sequence - 1
        assert store.state(alice.did.suffix) is not None
    finally:
        store.close()


def test_a_small_backlog_starts_no_worker(tmp_path: Path, ledger: SoloLedger) -> None:
    cas = MemoryContentStore()
    anchor_ops(ledger, cas, [Controller().create for _ in range(3)])
    evaluator = ShardedEvaluator(2, min_operations=4)
    store = RegistryStore(tmp_path / "node.db")
    try:
        assert Observer(store, cas, ledger, sharded=evaluator).catch_up() == 1
        assert evaluator._pool is None
        assert store.did_count() == 3
    finally:
        store.close()
        evaluator.close()


def test_a_dead_worker_costs_speed_not_results(tmp_path: Path, ledger: SoloLedger) -> None:
    cas = MemoryContentStore()
    _history(ledger, cas)
    evaluator = ShardedEvaluator(2, min_operations=1)
    try:
        # Start the workers, then kill one: the next window finds the pool broken.
        warm = RegistryStore(tmp_path / "warm.db")
        Observer(warm, cas, ledger, sharded=evaluator).catch_up(max_anchors=1)
        warm.close()
        pool = evaluator._pool
        assert pool is not None
        os.kill(next(iter(pool._processes)), signal.SIGKILL)
        one, many = _both(tmp_path, cas, ledger, evaluator)
    finally:
        evaluator.close()
    assert many == one


def test_the_shard_key_is_the_parsers_did() -> None:
    alice = Controller()
    ops = [alice.create, alice.update(alice.create.hash, "x"), alice.deactivate(alice.create.hash)]
    for op in ops:
        digest = bytes.fromhex(op.hash)
        assert operation_suffix(op.canonical, digest) == op.did.suffix
        assert shard_of(op.did.suffix, 4) == shard_of(alice.did.suffix, 4)
    assert ParsedOperation.from_canonical(ops[1].canonical).did == alice.did
    for line in (b"{", b"[]", b'{"type":"update"}', b'{"did":"did:web:x","type":"update"}'):
        assert operation_suffix(line, b"\0" * 32) is None
    assert shard_of(None, 4) == 0
    assert {shard_of(Controller().did.suffix, 2) for _ in range(40)} == {0, 1}


def test_sharding_needs_two_processes() -> None:
    with pytest.raises(ValueError, match="at least two"):
        ShardedEvaluator(1)
