"""The audit log's chain and its append-only triggers, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Callable, Iterator

import pytest

from realdid.authority import AuthorityDatabase
from realdid.authority._audit import (
    GENESIS_HASH,
    AuditChainError,
    AuditEntry,
    AuditLog,
    entry_hash,
)
from realdid.clock import FixedClock
from realdid.storage import StorageError, StoreLocation

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z

Locate = Callable[[str], StoreLocation]
_TRIGGERS = ("audit_log_no_update", "audit_log_no_delete", "audit_log_extends_head")


@pytest.fixture
def db(both_engines: str, store_at: Locate) -> Iterator[AuthorityDatabase]:
    opened = AuthorityDatabase(store_at("authority"))
    assert opened.engine == both_engines
    yield opened
    opened.close()


def _log(db: AuthorityDatabase) -> tuple[AuditLog, FixedClock]:
    clock = FixedClock(T0)
    return AuditLog(db, clock), clock


def _fill(log: AuditLog, clock: FixedClock, n: int) -> list[AuditEntry]:
    """``n`` entries, committed."""
    out = []
    with log.transaction() as tx:
        for i in range(n):
            out.append(
                log.append(tx, "op_1", "revoke", f"did:realdid:r{i}", {"i": i, "why": "fraud"})
            )
            clock.advance(60)
    return out


def _execute(db: AuthorityDatabase, sql: str, params: tuple[object, ...] = ()) -> None:
    """One statement in a transaction of its own (a refused one aborts only that one)."""
    with db.transaction() as tx:
        tx.execute(sql, params)


def _drop_triggers(db: AuthorityDatabase) -> None:
    """What someone who can write the database can do: the chain must still tell."""
    on_table = " ON audit_log" if db.engine == "postgresql" else ""
    with db.transaction() as tx:
        for name in _TRIGGERS:
            tx.execute(f"DROP TRIGGER {name}{on_table}")


def test_append_chains_and_verifies(db: AuthorityDatabase) -> None:
    log, clock = _log(db)
    assert log.head() is None
    assert log.verify() == 0
    entries = _fill(log, clock, 5)
    assert entries[0].seq == 1
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[0].at == "2027-01-15T08:00:00Z"
    for a, b in itertools.pairwise(entries):
        assert b.prev_hash == a.entry_hash
        assert b.seq == a.seq + 1
    assert log.head() == entries[-1]
    assert entries[0].to_json() == {
        "seq": 1,
        "at": "2027-01-15T08:00:00Z",
        "actor": "op_1",
        "action": "revoke",
        "target": "did:realdid:r0",
        "detail": {"i": 0, "why": "fraud"},
        "prev_hash": GENESIS_HASH,
        "entry_hash": entries[0].entry_hash,
    }
    assert log.verify() == 5
    assert log.entries() == entries
    assert log.entries(after=2, limit=2) == entries[2:4]
    assert log.entries(after=5) == []


def test_canonical_hash_is_stable(db: AuthorityDatabase) -> None:
    # Pinned: a change to the hashed body or its encoding is a breaking change.
    body = (
        '{"action":"enroll","actor":"op_1","at":"2027-01-15T08:00:00Z",'
        '"detail":{"a":null,"b":true,"n":7,"s":"x"},"prev_hash":"' + GENESIS_HASH + '",'
        '"seq":1,"target":"did:realdid:r"}'
    )
    expected = hashlib.sha256(body.encode()).hexdigest()
    got = entry_hash(
        seq=1,
        at="2027-01-15T08:00:00Z",
        actor="op_1",
        action="enroll",
        target="did:realdid:r",
        detail={"s": "x", "n": 7, "b": True, "a": None},  # key order does not matter
        prev_hash=GENESIS_HASH,
    )
    assert got == expected
    log, _ = _log(db)
    with log.transaction() as tx:
        detail = {"s": "x", "n": 7, "b": True, "a": None}
        entry = log.append(tx, "op_1", "enroll", "did:realdid:r", detail)
    assert entry.entry_hash == expected


def test_update_and_delete_refused_by_triggers(db: AuthorityDatabase) -> None:
    log, clock = _log(db)
    _fill(log, clock, 3)
    for sql in (
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(StorageError, match="append-only"):
            _execute(db, sql)
    assert log.verify() == 3


def test_truncate_refused_on_postgresql(both_engines: str, store_at: Locate) -> None:
    if both_engines != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (its DELETE fires the row trigger)")
    db = AuthorityDatabase(store_at("authority"))
    try:
        log, clock = _log(db)
        _fill(log, clock, 2)
        with pytest.raises(StorageError, match="append-only: TRUNCATE refused"):
            _execute(db, "TRUNCATE audit_log")
        assert log.verify() == 2
    finally:
        db.close()


def test_insert_that_does_not_extend_head_refused(db: AuthorityDatabase) -> None:
    log, clock = _log(db)
    entries = _fill(log, clock, 2)
    row = ("t", "a", "b", "c", "{}", entries[0].entry_hash, "0" * 64)
    statements = [
        # overwrite seq 2, the portable way (SQLite and PostgreSQL upsert)
        "INSERT INTO audit_log VALUES (2, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (seq) DO UPDATE SET actor = excluded.actor",
        "INSERT INTO audit_log VALUES (5, ?, ?, ?, ?, ?, ?, ?)",  # gap
        "INSERT INTO audit_log VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO audit_log VALUES (3, ?, ?, ?, ?, ?, ?, ?)",  # wrong prev_hash
    ]
    if db.engine == "sqlite":
        statements.append("INSERT OR REPLACE INTO audit_log VALUES (2, ?, ?, ?, ?, ?, ?, ?)")
    for sql in statements:
        with pytest.raises(StorageError, match="append-only"):
            _execute(db, sql, row)
    assert log.verify() == 2
    assert log.head() == entries[1]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "'mallory'"),
        ("at", "'2030-01-01T00:00:00Z'"),
        ("detail", """'{"i":3,"why":"mistake"}'"""),
        ("detail", """'{"why":"fraud", "i":3}'"""),  # same object, not canonical text
        ("detail", "'not json'"),
        ("entry_hash", "'" + "f" * 64 + "'"),
        ("prev_hash", "'" + "0" * 64 + "'"),
        ("target", "X'7878'"),  # a blob, not text
    ],
)
def test_edit_with_triggers_dropped_detected_at_seq(
    db: AuthorityDatabase, column: str, value: str
) -> None:
    if value.startswith("X'") and db.engine == "postgresql":
        pytest.skip("a PostgreSQL TEXT column cannot hold a blob")
    log, clock = _log(db)
    _fill(log, clock, 6)
    _drop_triggers(db)
    _execute(db, f"UPDATE audit_log SET {column} = {value} WHERE seq = 4")  # noqa: S608
    with pytest.raises(AuditChainError) as info:
        log.verify()
    assert info.value.seq == 4
    assert info.value.code == "audit-chain-broken"
    assert "seq 4" in info.value.diagnostics()


def test_consistent_rewrite_of_an_entry_breaks_the_next_link(db: AuthorityDatabase) -> None:
    # An attacker recomputing entry 3's own hash still breaks entry 4's prev_hash.
    log, clock = _log(db)
    entries = _fill(log, clock, 5)
    _drop_triggers(db)
    forged = dataclasses.replace(entries[2], actor="mallory")
    _execute(
        db,
        "UPDATE audit_log SET actor = ?, entry_hash = ? WHERE seq = 3",
        ("mallory", forged.computed_hash()),
    )
    with pytest.raises(AuditChainError) as info:
        log.verify()
    assert info.value.seq == 4


def test_deleted_middle_entry_detected(db: AuthorityDatabase) -> None:
    log, clock = _log(db)
    _fill(log, clock, 5)
    _drop_triggers(db)
    _execute(db, "DELETE FROM audit_log WHERE seq = 2")
    with pytest.raises(AuditChainError) as info:
        log.verify()
    assert info.value.seq == 2


class _GiveUpError(Exception):
    """Raised inside a transaction to roll it back."""


def test_append_in_rolled_back_transaction_leaves_nothing(db: AuthorityDatabase) -> None:
    log, clock = _log(db)
    _fill(log, clock, 2)

    def append_two_then_give_up() -> None:
        with log.transaction() as tx:
            log.append(tx, "op_1", "enroll", "did:realdid:x", {})
            log.append(tx, "op_1", "enroll", "did:realdid:y", {})
            assert log.verify(tx=tx) == 4  # visible inside the transaction
            raise _GiveUpError

    with pytest.raises(_GiveUpError):
        append_two_then_give_up()
    assert log.verify() == 2
    assert [e.target for e in log.entries()] == ["did:realdid:r0", "did:realdid:r1"]
    # and the chain continues from the committed head
    with log.transaction() as tx:
        entry = log.append(tx, "op_1", "enroll", "did:realdid:z", {})
    assert entry.seq == 3
    assert log.verify() == 3


def test_append_does_not_commit(db: AuthorityDatabase) -> None:
    log, _ = _log(db)
    with log.transaction() as tx:
        log.append(tx, "op_1", "enroll", "did:realdid:x", {})
        assert log.verify(tx=tx) == 1
        assert log.verify() == 0  # a read outside the transaction: nothing committed yet
        assert log.head() is None
    assert log.verify() == 1


def test_reopening_keeps_the_chain_and_applies_no_schema_twice(
    both_engines: str, store_at: Locate
) -> None:
    where = store_at("authority")
    first = AuthorityDatabase(where)
    log, clock = _log(first)
    _fill(log, clock, 3)
    first.close()
    reopened = AuthorityDatabase(where)
    try:
        again = AuditLog(reopened, clock)
        assert again.verify() == 3
        with again.transaction() as tx:
            assert again.append(tx, "op_2", "a", "t", {}).seq == 4
    finally:
        reopened.close()


def test_invalid_inputs_rejected(db: AuthorityDatabase) -> None:
    log, _ = _log(db)
    bad_calls: list[tuple[str, str, str, object]] = [
        ("", "a", "t", {}),
        ("x" * 257, "a", "t", {}),
        ("op", "a\n", "t", {}),
        ("op", "a", "t", {"k": 1.5}),
        ("op", "a", "t", {"k": 2**53}),
        ("op", "a", "t", {"k": [1]}),
        ("op", "a", "t", {"": 1}),
        ("op", "a", "t", {"k": "x" * 257}),
        ("op", "a", "t", {f"k{i}": i for i in range(33)}),
    ]
    with log.transaction() as tx:
        for actor, action, target, detail in bad_calls:
            with pytest.raises(ValueError, match="audit"):
                log.append(tx, actor, action, target, detail)  # type: ignore[arg-type]
    assert log.head() is None
    for after, limit in ((-1, 10), (0, 0), (0, 1001)):
        with pytest.raises(ValueError, match=r"after|limit"):
            log.entries(after=after, limit=limit)


def test_trigger_genesis_literal_matches_constant(db: AuthorityDatabase) -> None:
    query = (
        "SELECT sql FROM sqlite_master WHERE name = 'audit_log_extends_head'"
        if db.engine == "sqlite"
        else "SELECT prosrc FROM pg_proc WHERE proname = 'audit_log_extends_head'"
    )
    with db.reading() as tx:
        (sql,) = tx.execute(query).fetchone()
    assert f"'{GENESIS_HASH}'" in sql
