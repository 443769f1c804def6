"""The node database (realdid.ledger._store): queue, outcomes, index, atomic anchor commits."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from realdid.crypto import KeyType, LocalSigner, multihash_b58
from realdid.did import (
    AnchorPoint,
    CreateOperation,
    DidState,
    DocumentContent,
    ParsedOperation,
    PublicKeyEntry,
    ServiceEntry,
    commitment_of,
    to_dict,
)
from realdid.ledger import (
    Anchor,
    AnchorRecord,
    LedgerIntegrityError,
    OperationOutcome,
    RegistryStore,
    _store,
)
from realdid.storage import (
    IntegrityError,
    StorageError,
    StoreLocation,
    migrations_of,
    open_database,
)

T0 = 1_700_000_000


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


def anchor(sequence: int, count: int = 1) -> Anchor:
    digest = hashlib.sha256(f"anchor-{sequence}".encode()).hexdigest()
    return Anchor(
        sequence=sequence,
        batch_hash=digest,
        merkle_root=hashlib.sha256(digest.encode()).hexdigest(),
        operation_count=count,
        block_number=sequence,
        block_hash=hashlib.sha256(b"block" + digest.encode()).hexdigest(),
        transaction_id=hashlib.sha256(b"tx" + digest.encode()).hexdigest(),
        timestamp=T0 + sequence,
        anchorer="z6MkTestAnchorer",
    )


def state_for(i: int, *, deactivated: bool = False, rich: bool = False) -> DidState:
    document = DocumentContent()
    if rich:
        document = DocumentContent(
            tuple(
                PublicKeyEntry(f"key-{n}", LocalSigner.generate(kind).public_key, purposes)
                for n, (kind, purposes) in enumerate(
                    [
                        (KeyType.ED25519, ("authentication",)),
                        (KeyType.P256, ("assertionMethod", "authentication")),
                        (KeyType.SECP256K1, ("capabilityDelegation",)),
                    ]
                )
            ),
            (ServiceEntry("hub", "LinkedDomains", "https://hub.example/path?q=1"),),
        )
    created = AnchorPoint(i, 0, T0 + i)
    return DidState(
        suffix=multihash_b58(f"did-{i}".encode()),
        document=DocumentContent() if deactivated else document,
        update_commitment=None if deactivated else multihash_b58(f"u-{i}".encode()),
        recovery_commitment=None if deactivated else multihash_b58(f"r-{i}".encode()),
        version_id=hashlib.sha256(f"v-{i}".encode()).hexdigest(),
        created=created,
        updated=AnchorPoint(i + 1, 3, T0 + i + 5) if deactivated or rich else created,
        deactivated=deactivated,
    )


@pytest.fixture
def path(both_engines: str, store_at: Callable[[str], StoreLocation]) -> StoreLocation:
    """Where the node database lives: every test here runs on SQLite and on PostgreSQL."""
    return store_at("node")


@pytest.fixture
def store(path: StoreLocation) -> Iterator[RegistryStore]:
    s = RegistryStore(path)
    yield s
    s.close()


# -- queue -------------------------------------------------------------------------------------
def test_new_store_is_empty(store: RegistryStore) -> None:
    assert store.cursor() == -1
    assert store.queue_length() == 0
    assert store.did_count() == 0
    assert list(store.all_states()) == []
    assert store.queued_after(0, 10) == []


def test_enqueue_keeps_arrival_order_and_ignores_duplicates(store: RegistryStore) -> None:
    a, b, c = new_create(), new_create(), new_create()
    store.enqueue([a, b], T0)
    store.enqueue([b, c, a], T0 + 1)
    queued = store.queued_after(0, 10)
    assert [q.hash for q in queued] == [a.hash, b.hash, c.hash]
    assert [q.body for q in queued] == [a.canonical, b.canonical, c.canonical]
    assert [q.suffix for q in queued] == [a.did.suffix, b.did.suffix, c.did.suffix]
    assert store.queue_length() == 3
    assert store.is_queued(b.hash)
    assert not store.is_queued("00" * 32)
    assert store.has_queued_for(c.did.suffix)
    assert not store.has_queued_for(multihash_b58(b"nobody"))


def test_queued_after_pages(store: RegistryStore) -> None:
    ops = [new_create() for _ in range(5)]
    store.enqueue(ops, T0)
    first = store.queued_after(0, 2)
    second = store.queued_after(first[-1].seq, 2)
    third = store.queued_after(second[-1].seq, 2)
    assert [q.hash for q in first + second + third] == [p.hash for p in ops]
    assert store.queued_after(third[-1].seq, 2) == []


def test_queue_survives_reopen(path: StoreLocation) -> None:
    op = new_create()
    first = RegistryStore(path)
    first.enqueue([op], T0)
    first.close()
    second = RegistryStore(path)
    try:
        assert second.is_queued(op.hash)
        assert second.queued_after(0, 1)[0].body == op.canonical
    finally:
        second.close()


def test_concurrent_enqueues_from_threads(store: RegistryStore) -> None:
    ops = [new_create() for _ in range(40)]
    errors: list[BaseException] = []

    def worker(chunk: list[ParsedOperation]) -> None:
        try:
            for op in chunk:
                store.enqueue([op], T0)
        except BaseException as e:  # reported below, in the test thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(ops[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.queue_length() == 40
    assert {q.hash for q in store.queued_after(0, 100)} == {p.hash for p in ops}


def test_a_reader_following_the_queue_misses_nothing_enqueued_concurrently(
    store: RegistryStore,
) -> None:
    """The writer reads the queue past the last sequence it claimed: sequence numbers must
    become visible in order, or one committed late would be skipped for ever."""
    ops = [new_create() for _ in range(200)]
    done = threading.Event()
    seen: list[str] = []

    def follow() -> None:
        last = 0
        while True:
            finished = done.is_set()
            for queued in store.queued_after(last, 1000):
                seen.append(queued.hash)
                last = queued.seq
            if finished:
                return

    def produce(chunk: list[ParsedOperation]) -> None:
        for op in chunk:
            store.enqueue([op], T0)

    follower = threading.Thread(target=follow)
    follower.start()
    producers = [threading.Thread(target=produce, args=(ops[i::8],)) for i in range(8)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    done.set()
    follower.join()
    assert sorted(seen) == sorted(p.hash for p in ops)


def test_a_read_only_store_reads_but_never_writes(path: StoreLocation) -> None:
    op = new_create()
    writer = RegistryStore(path)
    writer.enqueue([op], T0)
    writer.commit_anchor(AnchorRecord(anchor(0), (), True, None), [], [state_for(3)])
    replica = RegistryStore(path, read_only=True)
    try:
        assert replica.state(state_for(3).suffix) == state_for(3)
        assert replica.is_queued(op.hash)
        with pytest.raises(StorageError, match="read-only"):
            replica.enqueue([new_create()], T0)
        assert writer.queue_length() == 1
    finally:
        replica.close()
        writer.close()


# -- anchors, outcomes and the index -----------------------------------------------------------
def test_commit_anchor_records_everything(store: RegistryStore) -> None:
    a, b = new_create(), new_create()
    store.enqueue([a, b], T0)
    leaves = (bytes.fromhex(a.hash), bytes.fromhex(b.hash))
    states = [state_for(0, rich=True), state_for(1, deactivated=True)]
    store.commit_anchor(
        AnchorRecord(anchor(0, 2), leaves, True, None),
        [OperationOutcome(a.hash, 0, 0, True), OperationOutcome(b.hash, 0, 1, False, "did-exists")],
        states,
    )
    assert store.cursor() == 0
    assert store.queue_length() == 0
    assert store.outcome(a.hash) == OperationOutcome(a.hash, 0, 0, True, None)
    assert store.outcome(b.hash) == OperationOutcome(b.hash, 0, 1, False, "did-exists")
    assert store.outcome("ff" * 32) is None
    record = store.anchor_record(0)
    assert record == AnchorRecord(anchor(0, 2), leaves, True, None)
    assert store.anchor_record(1) is None
    for expected in states:
        assert store.state(expected.suffix) == expected
    assert store.states([s.suffix for s in states] * 2) == {s.suffix: s for s in states}
    assert sorted(store.all_states(), key=lambda s: s.suffix) == sorted(
        states, key=lambda s: s.suffix
    )
    assert store.did_count() == 2
    assert store.processed(leaves) == set(leaves)


def test_invalid_anchor_record_round_trips(store: RegistryStore) -> None:
    op = new_create()
    store.enqueue([op], T0)
    store.commit_anchor(AnchorRecord(anchor(0), (), False, "bad root"), [], [])
    assert store.anchor_record(0) == AnchorRecord(anchor(0), (), False, "bad root")
    assert store.cursor() == 0
    assert store.is_queued(op.hash)  # an invalid anchor anchors nothing


def test_state_is_replaced_by_a_later_anchor(store: RegistryStore) -> None:
    before = state_for(0)
    store.commit_anchor(AnchorRecord(anchor(0), (), True, None), [], [before])
    after = DidState(
        before.suffix,
        before.document,
        multihash_b58(b"next"),
        before.recovery_commitment,
        "ab" * 32,
        before.created,
        AnchorPoint(1, 0, T0 + 10),
    )
    store.commit_anchor(AnchorRecord(anchor(1), (), True, None), [], [after])
    assert store.state(before.suffix) == after
    assert store.did_count() == 1
    assert store.cursor() == 1


def test_failed_commit_changes_nothing(store: RegistryStore) -> None:
    """An anchor is committed whole or not at all (what makes the observer crash-safe)."""
    op = new_create()
    store.enqueue([op], T0)
    duplicate = OperationOutcome(op.hash, 0, 0, True)
    with pytest.raises(IntegrityError):
        store.commit_anchor(
            AnchorRecord(anchor(0), (bytes.fromhex(op.hash),), True, None),
            [duplicate, duplicate],  # the second insert violates the primary key
            [state_for(0)],
        )
    assert store.cursor() == -1
    assert store.anchor_record(0) is None
    assert store.outcome(op.hash) is None
    assert store.state(state_for(0).suffix) is None
    assert store.is_queued(op.hash)
    # The store is still usable afterwards.
    store.commit_anchor(
        AnchorRecord(anchor(0), (bytes.fromhex(op.hash),), True, None), [duplicate], []
    )
    assert store.cursor() == 0


def test_anchor_cannot_be_committed_twice(store: RegistryStore) -> None:
    store.commit_anchor(AnchorRecord(anchor(0), (), True, None), [], [state_for(0)])
    with pytest.raises(IntegrityError):
        store.commit_anchor(AnchorRecord(anchor(0), (), True, None), [], [state_for(1)])
    assert store.state(state_for(1).suffix) is None


def test_commit_removes_every_leaf_from_the_queue(store: RegistryStore) -> None:
    """Leaves without a new outcome (skipped duplicates) leave the queue too."""
    skipped, applied = new_create(), new_create()
    store.enqueue([skipped, applied], T0)
    leaves = (bytes.fromhex(skipped.hash), bytes.fromhex(applied.hash))
    store.commit_anchor(
        AnchorRecord(anchor(0, 2), leaves, True, None),
        [OperationOutcome(applied.hash, 0, 1, True)],
        [],
    )
    assert store.queue_length() == 0


def test_processed_and_states_work_across_chunks(store: RegistryStore) -> None:
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(1234)]
    states = [state_for(i) for i in range(1234)]
    store.commit_anchor(
        AnchorRecord(anchor(0, len(hashes)), tuple(hashes), True, None),
        [OperationOutcome(h.hex(), 0, i, True) for i, h in enumerate(hashes)],
        states,
    )
    unknown = [hashlib.sha256(b"x" + h).digest() for h in hashes[:600]]
    assert store.processed(hashes + unknown) == set(hashes)
    assert store.processed(iter(hashes[:3])) == set(hashes[:3])
    found = store.states(s.suffix for s in states)
    assert len(found) == 1234
    assert found[states[777].suffix] == states[777]
    assert store.did_count() == 1234
    record = store.anchor_record(0)
    assert record is not None
    assert record.leaves == tuple(hashes)


def test_all_states_pages_through_the_whole_index(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store, "_PAGE", 7)
    states = [state_for(i) for i in range(30)]
    store.commit_anchor(AnchorRecord(anchor(0), (), True, None), [], states)
    listed = list(store.all_states())
    assert sorted(s.suffix for s in listed) == sorted(s.suffix for s in states)
    assert len(listed) == 30
    assert {s.suffix: s for s in listed}[states[17].suffix] == states[17]


def test_index_survives_reopen(path: StoreLocation) -> None:
    state = state_for(7, rich=True)
    first = RegistryStore(path)
    first.commit_anchor(AnchorRecord(anchor(0), (), True, None), [], [state])
    first.close()
    second = RegistryStore(path)
    try:
        assert second.state(state.suffix) == state
        assert second.cursor() == 0
    finally:
        second.close()


def test_a_database_of_another_schema_version_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    RegistryStore(tmp_path / "node.db").close()
    conn = sqlite3.connect(tmp_path / "node.db")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerIntegrityError, match="schema 1"):
        RegistryStore(tmp_path / "node.db")


def migrations_before(folder: Path, version: int) -> Path:
    """The node's migrations as a release before ``version`` had them, copied into ``folder``."""
    copy = folder / "migrations"
    shutil.copytree(Path(str(migrations_of("realdid.ledger", "node"))), copy)
    for script in copy.glob("*/*.sql"):
        if int(script.name[:4]) >= version:
            script.unlink()
    return copy


def test_the_did_count_counts_new_dids_not_updates(store: RegistryStore) -> None:
    first, second = state_for(1), state_for(2)
    store.commit_anchor(AnchorRecord(anchor(0), (), True, None), [], [first, second])
    assert store.did_count() == 2
    again = dataclasses.replace(first, version_id="ab" * 32)  # the same DID, updated
    store.commit_anchor(AnchorRecord(anchor(1), (), True, None), [], [again, state_for(3)])
    assert store.did_count() == 3
    with store.database.reading() as tx:
        assert tx.execute("SELECT count(*) FROM dids").fetchone()[0] == 3
    with pytest.raises(IntegrityError):  # an anchor committed twice counts nothing twice
        store.commit_anchor(AnchorRecord(anchor(1), (), True, None), [], [state_for(4)])
    assert store.did_count() == 3


def test_a_node_database_from_before_the_counter_counts_its_dids(
    path: StoreLocation, tmp_path: Path
) -> None:
    old = open_database(path, store="node", migrations=migrations_before(tmp_path, 4))
    with old.transaction() as tx:
        for n in range(5):
            tx.execute("INSERT INTO dids (suffix, state) VALUES (?, ?)", (bytes([n]) * 32, b"s"))
    old.close()
    store = RegistryStore(path)  # this release: migration 4 counts what is there
    try:
        assert store.did_count() == 5
        store.commit_anchor(AnchorRecord(anchor(0), (), True, None), [], [state_for(1)])
        assert store.did_count() == 6
    finally:
        store.close()
