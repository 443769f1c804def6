"""Solo ledger: appends, persistence, durability, pinned signer, tamper detection."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realdid.clock import FixedClock
from realdid.crypto import KeyType, LocalSigner
from realdid.ledger import (
    AnchorRequest,
    Block,
    BlockIntegrityError,
    InvalidAnchorRequestError,
    Ledger,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
    SoloLedger,
    _solo,
)
from realdid.storage import StoreLocation

T0 = 1_700_000_000
SIGNER = LocalSigner(KeyType.ED25519, bytes(range(32)))
OTHER = LocalSigner(KeyType.ED25519, bytes(range(1, 33)))


def request(i: int) -> AnchorRequest:
    return AnchorRequest(
        batch_hash=hashlib.sha256(f"batch-{i}".encode()).hexdigest(),
        merkle_root=hashlib.sha256(f"root-{i}".encode()).hexdigest(),
        operation_count=i + 1,
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "solo.db"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def ledger(path: Path, clock: FixedClock) -> Iterator[SoloLedger]:
    with SoloLedger(path, SIGNER, clock) as solo:
        yield solo


def fill(path: Path, count: int) -> None:
    clock = FixedClock(T0)
    with SoloLedger(path, SIGNER, clock) as solo:
        for i in range(count):
            solo.anchor(request(i))
            clock.advance(10)


def sql(path: Path, statement: str, *params: Any) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(statement, params)
    finally:
        conn.close()


def rewrite_block(path: Path, height: int, key: LocalSigner = SIGNER, **changes: Any) -> None:
    """Change a block's header and re-hash and re-sign it, as a key holder could."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM blocks WHERE height = ?", (height,)).fetchone()
        block = Block(
            height=row["height"],
            previous_hash=row["previous_hash"],
            timestamp=row["timestamp"],
            batch_hash=row["batch_hash"],
            merkle_root=row["merkle_root"],
            operation_count=row["operation_count"],
            signer=row["signer"],
        )
        block = dataclasses.replace(block, **changes)
        with conn:
            conn.execute(
                "UPDATE blocks SET previous_hash = ?, timestamp = ?, batch_hash = ?, "
                "merkle_root = ?, operation_count = ?, signer = ?, block_hash = ?, "
                "signature = ? WHERE height = ?",
                (
                    block.previous_hash,
                    block.timestamp,
                    block.batch_hash,
                    block.merkle_root,
                    block.operation_count,
                    block.signer,
                    block.block_hash,
                    key.sign(block.signing_message()),
                    height,
                ),
            )
    finally:
        conn.close()


def assert_integrity_error(path: Path, message: str, height: int | None = None) -> None:
    with SoloLedger.open_readonly(path) as solo, pytest.raises(LedgerIntegrityError) as info:
        solo.verify(SIGNER.public_key)
    assert str(info.value) == message
    assert info.value.code == "ledger-integrity"
    if height is not None:
        assert isinstance(info.value, BlockIntegrityError)
        assert info.value.height == height


# -- appending and reading ---------------------------------------------------------------------


def test_is_a_ledger(ledger: SoloLedger) -> None:
    assert isinstance(ledger, Ledger)
    assert ledger.name == "solo"


def test_empty_ledger(ledger: SoloLedger) -> None:
    assert ledger.head() == -1
    assert ledger.anchors_after(-1, 10) == []
    assert ledger.signer is None
    report = ledger.verify(SIGNER.public_key)
    assert (report.block_count, report.head_height, report.head_hash) == (0, -1, None)


def test_append_and_read(ledger: SoloLedger, clock: FixedClock) -> None:
    first = ledger.anchor(request(0))
    clock.advance(5)
    second = ledger.anchor(request(1))

    assert first.sequence == first.block_number == 0
    assert second.sequence == second.block_number == 1
    assert first.batch_hash == request(0).batch_hash
    assert first.merkle_root == request(0).merkle_root
    assert first.operation_count == 1
    assert first.transaction_id == first.block_hash
    assert first.anchorer == SIGNER.public_key.to_multibase()
    assert (first.timestamp, second.timestamp) == (T0, T0 + 5)
    assert ledger.head() == 1
    assert ledger.signer == SIGNER.public_key.to_multibase()

    assert ledger.anchors_after(-1, 10) == [first, second]
    assert ledger.anchors_after(0, 10) == [second]
    assert ledger.anchors_after(-1, 1) == [first]
    assert ledger.anchors_after(1, 10) == []
    assert ledger.anchors_after(-1, 0) == []


def test_block_header_and_chain(ledger: SoloLedger) -> None:
    first = ledger.anchor(request(0))
    second = ledger.anchor(request(1))
    header = {
        "height": 1,
        "previousHash": first.block_hash,
        "timestamp": T0,
        "batchHash": request(1).batch_hash,
        "merkleRoot": request(1).merkle_root,
        "operationCount": 2,
        "signer": SIGNER.public_key.to_multibase(),
    }
    # ASCII strings and small integers: sorted compact JSON is the RFC 8785 form.
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    assert second.block_hash == hashlib.sha256(canonical).hexdigest()
    assert Block.from_dict(header).block_hash == second.block_hash


def test_genesis_block_links_to_zero_hash(ledger: SoloLedger, path: Path) -> None:
    ledger.anchor(request(0))
    conn = sqlite3.connect(path)
    try:
        (previous,) = conn.execute("SELECT previous_hash FROM blocks WHERE height = 0").fetchone()
    finally:
        conn.close()
    assert previous == "0" * 64


def test_verify_report(path: Path) -> None:
    fill(path, 5)
    with SoloLedger.open_readonly(path) as solo:
        report = solo.verify(SIGNER.public_key)
        last = solo.anchors_after(3, 1)[0]
    assert report.block_count == 5
    assert report.head_height == 4
    assert report.head_hash == last.block_hash
    assert report.signer == SIGNER.public_key.to_multibase()


@pytest.mark.parametrize("key_type", list(KeyType))
def test_every_key_type_can_sign_blocks(path: Path, key_type: KeyType) -> None:
    signer = LocalSigner.generate(key_type)
    with SoloLedger(path, signer, FixedClock(T0)) as solo:
        solo.anchor(request(0))
        solo.anchor(request(1))
        assert solo.verify(signer.public_key).block_count == 2


@pytest.mark.parametrize(
    "bad",
    [
        AnchorRequest("AB" * 32, "cd" * 32, 1),
        AnchorRequest("ab" * 31, "cd" * 32, 1),
        AnchorRequest("ab" * 32, "../" * 20 + "abcd", 1),
        AnchorRequest("ab" * 32, "cd" * 32, -1),
        AnchorRequest("ab" * 32, "cd" * 32, True),
    ],
)
def test_malformed_requests_are_refused(ledger: SoloLedger, bad: AnchorRequest) -> None:
    with pytest.raises(InvalidAnchorRequestError) as info:
        ledger.anchor(bad)
    assert info.value.code == "invalid-anchor-request"
    assert ledger.head() == -1


# -- clock -------------------------------------------------------------------------------------


def test_fixed_clock_timestamps(ledger: SoloLedger, clock: FixedClock) -> None:
    stamps = []
    for i in range(4):
        stamps.append(ledger.anchor(request(i)).timestamp)
        clock.advance(i)
    assert stamps == [T0, T0, T0 + 1, T0 + 3]


def test_clock_going_back_never_makes_timestamps_decrease(
    ledger: SoloLedger, clock: FixedClock
) -> None:
    ledger.anchor(request(0))
    clock.advance(-100)
    assert ledger.anchor(request(1)).timestamp == T0
    assert ledger.verify(SIGNER.public_key).block_count == 2


# -- persistence and durability ----------------------------------------------------------------


def test_persists_across_reopen(path: Path) -> None:
    fill(path, 3)
    with SoloLedger(path, SIGNER, FixedClock(T0 + 100)) as solo:
        assert solo.head() == 2
        fourth = solo.anchor(request(3))
        assert fourth.sequence == 3
        anchors = solo.anchors_after(-1, 10)
    assert [a.sequence for a in anchors] == [0, 1, 2, 3]
    with SoloLedger.open_readonly(path) as solo:
        assert solo.anchors_after(-1, 10) == anchors
        assert solo.verify(SIGNER.public_key).block_count == 4


def test_database_uses_wal(ledger: SoloLedger, path: Path) -> None:
    ledger.anchor(request(0))
    conn = sqlite3.connect(path)
    try:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()
    assert mode == "wal"


def test_anchor_is_durable_when_it_returns(path: Path) -> None:
    # A child process anchors and dies abruptly (no close, no cleanup); the block is there.
    child = textwrap.dedent(
        f"""
        import hashlib, os, sys
        from pathlib import Path
        from realdid.clock import FixedClock
        from realdid.crypto import KeyType, LocalSigner
        from realdid.ledger import AnchorRequest, SoloLedger
        signer = LocalSigner(KeyType.ED25519, bytes(range(32)))
        ledger = SoloLedger(Path(sys.argv[1]), signer, FixedClock({T0}))
        h = hashlib.sha256(b"x").hexdigest()
        anchor = ledger.anchor(AnchorRequest(h, h, 7))
        print(anchor.block_hash, flush=True)
        os._exit(0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child, str(path)], capture_output=True, text=True, check=True
    )
    with SoloLedger.open_readonly(path) as solo:
        (anchor,) = solo.anchors_after(-1, 10)
        assert anchor.block_hash == result.stdout.strip()
        assert anchor.operation_count == 7
        assert solo.verify(SIGNER.public_key).block_count == 1


def test_readers_see_committed_blocks_while_writer_is_open(ledger: SoloLedger, path: Path) -> None:
    anchor = ledger.anchor(request(0))
    with SoloLedger.open_readonly(path) as reader:
        assert reader.anchors_after(-1, 10) == [anchor]
        ledger.anchor(request(1))
        assert reader.head() == 1


def test_readonly_cannot_anchor(path: Path) -> None:
    fill(path, 1)
    with SoloLedger.open_readonly(path) as solo, pytest.raises(LedgerError):
        solo.anchor(request(1))


def test_readonly_of_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailableError):
        SoloLedger.open_readonly(tmp_path / "missing.db")


def test_not_a_solo_ledger(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sql(other, "CREATE TABLE t (x)")
    with pytest.raises(LedgerError):
        SoloLedger.open_readonly(other)


# -- pinned signer -----------------------------------------------------------------------------


def test_different_signer_is_refused_on_open(path: Path) -> None:
    fill(path, 1)
    with pytest.raises(LedgerIntegrityError, match="pinned to signer"):
        SoloLedger(path, OTHER, FixedClock(T0))


def test_different_signer_is_refused_on_anchor(path: Path) -> None:
    with (
        SoloLedger(path, SIGNER, FixedClock(T0)) as first,
        SoloLedger(path, OTHER, FixedClock(T0)) as second,
    ):
        first.anchor(request(0))
        with pytest.raises(LedgerIntegrityError, match="pinned to signer"):
            second.anchor(request(1))
        assert first.head() == 0


def test_verify_with_wrong_expected_signer(path: Path) -> None:
    fill(path, 2)
    with SoloLedger.open_readonly(path) as solo, pytest.raises(LedgerIntegrityError):
        solo.verify(OTHER.public_key)


def test_verify_without_expected_signer_uses_the_pin(path: Path) -> None:
    fill(path, 2)
    with SoloLedger.open_readonly(path) as solo:
        assert solo.verify().signer == SIGNER.public_key.to_multibase()


# -- tamper detection --------------------------------------------------------------------------

HEIGHT = 17


@pytest.fixture
def chain(path: Path) -> Path:
    fill(path, 25)
    return path


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("previous_hash", "ab" * 32),
        ("timestamp", T0 + 171),
        ("batch_hash", "ef" * 32),
        ("merkle_root", "ef" * 32),
        ("operation_count", 999),
        ("signer", OTHER.public_key.to_multibase()),
        ("block_hash", "00" * 32),
    ],
)
def test_tampered_header_column_is_located(chain: Path, column: str, value: object) -> None:
    sql(chain, f"UPDATE blocks SET {column} = ? WHERE height = ?", value, HEIGHT)  # noqa: S608
    assert_integrity_error(chain, f"block {HEIGHT}: stored hash does not match header", HEIGHT)


def test_tampered_signature_is_located(chain: Path) -> None:
    sql(chain, "UPDATE blocks SET signature = ? WHERE height = 3", b"\x00" * 64)
    assert_integrity_error(chain, "block 3: signature does not verify", 3)


def test_signature_replaced_with_text_is_located(chain: Path) -> None:
    sql(chain, "UPDATE blocks SET signature = 'AAAA' WHERE height = 3")
    assert_integrity_error(chain, "block 3: signature is not stored as bytes", 3)


def test_header_column_with_wrong_type_is_located(chain: Path) -> None:
    sql(chain, "UPDATE blocks SET operation_count = 'many' WHERE height = 5")
    with SoloLedger.open_readonly(chain) as solo, pytest.raises(BlockIntegrityError) as info:
        solo.verify(SIGNER.public_key)
    assert info.value.height == 5
    assert str(info.value).startswith("block 5: malformed header")


def test_rewritten_block_breaks_the_link_of_the_next(chain: Path) -> None:
    # Block 17 is altered and even re-signed with the right key: block 18 no longer links.
    rewrite_block(chain, HEIGHT, batch_hash="ef" * 32)
    assert_integrity_error(
        chain, f"block {HEIGHT + 1}: previousHash does not link to block {HEIGHT}", HEIGHT + 1
    )


def test_rewritten_block_signed_by_another_key(chain: Path) -> None:
    rewrite_block(chain, 3, key=OTHER, batch_hash="ef" * 32)
    assert_integrity_error(chain, "block 3: signature does not verify", 3)


def test_block_claiming_another_signer(chain: Path) -> None:
    other = OTHER.public_key.to_multibase()
    rewrite_block(chain, 3, key=OTHER, signer=other)
    assert_integrity_error(chain, f"block 3: signer {other} is not the pinned signer", 3)


def test_decreasing_timestamp_is_located(chain: Path) -> None:
    rewrite_block(chain, 24, timestamp=T0)
    assert_integrity_error(chain, "block 24: timestamp decreases from block 23", 24)


def test_nonzero_genesis_link_is_located(chain: Path) -> None:
    rewrite_block(chain, 0, previous_hash="11" * 32)
    assert_integrity_error(chain, "block 0: previousHash of the first block is not zero", 0)


def test_deleted_block_is_located(chain: Path) -> None:
    sql(chain, "DELETE FROM blocks WHERE height = ?", HEIGHT)
    assert_integrity_error(chain, f"block {HEIGHT}: missing (next stored height is 18)", HEIGHT)


def test_deleted_genesis_is_located(chain: Path) -> None:
    sql(chain, "DELETE FROM blocks WHERE height = 0")
    assert_integrity_error(chain, "block 0: missing (next stored height is 1)", 0)


def test_renumbered_block_is_located(chain: Path) -> None:
    sql(chain, "UPDATE blocks SET height = 99 WHERE height = ?", HEIGHT)
    assert_integrity_error(chain, f"block {HEIGHT}: missing (next stored height is 18)", HEIGHT)


def test_renumbered_last_block_is_located(chain: Path) -> None:
    sql(chain, "UPDATE blocks SET height = 25 WHERE height = 24")
    assert_integrity_error(chain, "block 24: missing (next stored height is 25)", 24)


def test_swapped_pin_is_detected(chain: Path) -> None:
    sql(chain, "UPDATE meta SET value = ? WHERE key = 'signer'", OTHER.public_key.to_multibase())
    with SoloLedger.open_readonly(chain) as solo:
        with pytest.raises(LedgerIntegrityError, match="pinned to signer"):
            solo.verify(SIGNER.public_key)
        with pytest.raises(BlockIntegrityError, match="block 0: signer"):
            solo.verify()


def test_removed_pin_is_detected(chain: Path) -> None:
    sql(chain, "DELETE FROM meta WHERE key = 'signer'")
    assert_integrity_error(chain, "block 0: no pinned signer recorded in meta", 0)


def test_untampered_chain_verifies(chain: Path) -> None:
    with SoloLedger.open_readonly(chain) as solo:
        assert solo.verify(SIGNER.public_key).block_count == 25


# -- Block ---------------------------------------------------------------------------------------

hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
uint = st.integers(min_value=0, max_value=2**53 - 1)


@given(
    st.builds(
        Block,
        height=uint,
        previous_hash=hex64,
        timestamp=uint,
        batch_hash=hex64,
        merkle_root=hex64,
        operation_count=uint,
        signer=st.just(SIGNER.public_key.to_multibase()),
    )
)
def test_block_dict_round_trip(block: Block) -> None:
    assert Block.from_dict(block.to_dict()) == block
    assert Block.from_dict(json.loads(json.dumps(block.to_dict()))).block_hash == block.block_hash


@pytest.mark.parametrize(
    "change",
    [
        {"height": -1},
        {"height": True},
        {"timestamp": "1"},
        {"previousHash": "AB" * 32},
        {"batchHash": "ab"},
        {"merkleRoot": None},
        {"operationCount": 1.5},
        {"signer": "not-multibase"},
        {"extra": 1},
    ],
)
def test_block_from_dict_rejects_malformed(change: dict[str, object]) -> None:
    header = {
        "height": 0,
        "previousHash": "0" * 64,
        "timestamp": T0,
        "batchHash": "ab" * 32,
        "merkleRoot": "cd" * 32,
        "operationCount": 1,
        "signer": SIGNER.public_key.to_multibase(),
    }
    with pytest.raises(ValueError, match="must"):
        Block.from_dict({**header, **change})


# -- on both engines ---------------------------------------------------------------------------


@pytest.fixture
def shared(both_engines: str, store_at: Callable[[str], StoreLocation]) -> StoreLocation:
    """The solo log on SQLite and on PostgreSQL (where every process of a node reads it)."""
    return store_at("solo")


def test_append_verify_and_reopen_on_both_engines(shared: StoreLocation) -> None:
    clock = FixedClock(T0)
    with SoloLedger(shared, SIGNER, clock) as solo:
        anchors = [solo.anchor(request(i)) for i in range(3)]
    assert [a.sequence for a in anchors] == [0, 1, 2]
    with SoloLedger.open_readonly(shared) as reader:
        assert reader.head() == 2
        assert reader.anchors_after(0, 10) == anchors[1:]
        report = reader.verify(SIGNER.public_key)
        assert (report.block_count, report.head_hash) == (3, anchors[-1].block_hash)
        with pytest.raises(LedgerError, match="read-only"):
            reader.anchor(request(3))
    with pytest.raises(LedgerIntegrityError, match="pinned to signer"):
        SoloLedger(shared, OTHER, clock)


def test_appenders_in_parallel_build_one_unbroken_chain(shared: StoreLocation) -> None:
    """Two ledgers on one database (two processes of a node) append concurrently: every
    block gets its own height and links to the block before it."""
    ledgers = [SoloLedger(shared, SIGNER, FixedClock(T0)) for _ in range(2)]
    errors: list[BaseException] = []

    def append(solo: SoloLedger, first: int) -> None:
        try:
            for i in range(first, first + 20):
                solo.anchor(request(i))
        except BaseException as e:  # reported below, in the test thread
            errors.append(e)

    threads = [threading.Thread(target=append, args=(s, 100 * n)) for n, s in enumerate(ledgers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert ledgers[0].head() == 39
        assert ledgers[1].verify(SIGNER.public_key).block_count == 40
    finally:
        for solo in ledgers:
            solo.close()


def test_verify_walks_past_one_page(shared: StoreLocation, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_solo, "_VERIFY_PAGE", 3)
    with SoloLedger(shared, SIGNER, FixedClock(T0)) as solo:
        for i in range(8):
            solo.anchor(request(i))
        assert solo.verify(SIGNER.public_key).block_count == 8
