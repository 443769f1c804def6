from __future__ import annotations

import dataclasses
import hashlib
import itertools
import sqlite3
from pathlib import Path

import pytest

from realdid.authority._audit import (
    GENESIS_HASH,
    AuditChainError,
    AuditEntry,
    AuditLog,
    entry_hash,
)
from realdid.clock import FixedClock

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z


def _log(conn: sqlite3.Connection | None = None) -> tuple[AuditLog, sqlite3.Connection, FixedClock]:
    conn = conn or sqlite3.connect(":memory:")
    clock = FixedClock(T0)
    return AuditLog(conn, clock), conn, clock


def _fill(log: AuditLog, clock: FixedClock, n: int) -> list[AuditEntry]:
    out = []
    for i in range(n):
        out.append(log.append("op_1", "revoke", f"did:realdid:r{i}", {"i": i, "why": "fraud"}))
        clock.advance(60)
    return out


def test_append_chains_and_verifies() -> None:
    log, conn, clock = _log()
    assert log.head() is None
    assert log.verify() == 0
    entries = _fill(log, clock, 5)
    conn.commit()
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


def test_canonical_hash_is_stable() -> None:
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
    log, _, _ = _log()
    entry = log.append("op_1", "enroll", "did:realdid:r", {"s": "x", "n": 7, "b": True, "a": None})
    assert entry.entry_hash == expected


def test_update_and_delete_refused_by_triggers() -> None:
    log, conn, clock = _log()
    _fill(log, clock, 3)
    conn.commit()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    conn.rollback()
    assert log.verify() == 3


def test_insert_that_does_not_extend_head_refused() -> None:
    log, conn, clock = _log()
    entries = _fill(log, clock, 2)
    conn.commit()
    row = ("t", "a", "b", "c", "{}", entries[0].entry_hash, "0" * 64)
    for sql in (
        "INSERT OR REPLACE INTO audit_log VALUES (2, ?, ?, ?, ?, ?, ?, ?)",  # overwrite seq 2
        "INSERT INTO audit_log VALUES (5, ?, ?, ?, ?, ?, ?, ?)",  # gap
        "INSERT INTO audit_log VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql, row)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):  # wrong prev_hash
        conn.execute("INSERT INTO audit_log VALUES (3, ?, ?, ?, ?, ?, ?, ?)", row)
    conn.rollback()
    assert log.verify() == 2
    assert log.head() == entries[1]


def _drop_triggers(conn: sqlite3.Connection) -> None:
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_extends_head"):
        conn.execute(f"DROP TRIGGER {name}")


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
def test_edit_with_triggers_dropped_detected_at_seq(column: str, value: str) -> None:
    log, conn, clock = _log()
    _fill(log, clock, 6)
    _drop_triggers(conn)
    conn.execute(f"UPDATE audit_log SET {column} = {value} WHERE seq = 4")  # noqa: S608
    with pytest.raises(AuditChainError) as info:
        log.verify()
    assert info.value.seq == 4
    assert info.value.code == "audit-chain-broken"
    assert "seq 4" in info.value.diagnostics()


def test_consistent_rewrite_of_an_entry_breaks_the_next_link() -> None:
    # An attacker recomputing entry 3's own hash still breaks entry 4's prev_hash.
    log, conn, clock = _log()
    entries = _fill(log, clock, 5)
    _drop_triggers(conn)
    forged = dataclasses.replace(entries[2], actor="mallory")
    conn.execute(
        "UPDATE audit_log SET actor = ?, entry_hash = ? WHERE seq = 3",
        ("mallory", forged.computed_hash()),
    )
    with pytest.raises(AuditChainError) as info:
        log.verify()
    assert info.value.seq == 4


def test_deleted_middle_entry_detected() -> None:
    log, conn, clock = _log()
    _fill(log, clock, 5)
    _drop_triggers(conn)
    conn.execute("DELETE FROM audit_log WHERE seq = 2")
    with pytest.raises(AuditChainError) as info:
        log.verify()
    assert info.value.seq == 2


def test_append_in_rolled_back_transaction_leaves_nothing() -> None:
    log, conn, clock = _log()
    _fill(log, clock, 2)
    conn.commit()
    conn.execute("BEGIN")
    log.append("op_1", "enroll", "did:realdid:x", {})
    log.append("op_1", "enroll", "did:realdid:y", {})
    assert log.verify() == 4  # visible inside the transaction
    conn.rollback()
    assert log.verify() == 2
    assert [e.target for e in log.entries()] == ["did:realdid:r0", "did:realdid:r1"]
    # and the chain continues from the committed head
    entry = log.append("op_1", "enroll", "did:realdid:z", {})
    assert entry.seq == 3
    conn.commit()
    assert log.verify() == 3


def test_append_does_not_commit(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log, conn, _ = _log(sqlite3.connect(path))
    conn.commit()
    log.append("op_1", "enroll", "did:realdid:x", {})
    assert conn.in_transaction
    other = sqlite3.connect(path)
    assert other.execute("SELECT count(*) FROM audit_log").fetchone() == (0,)
    conn.commit()
    assert other.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)
    other.close()
    conn.close()


def test_schema_creation_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log, conn, clock = _log(sqlite3.connect(path))
    _fill(log, clock, 3)
    conn.commit()
    conn.close()
    again = AuditLog(sqlite3.connect(path), clock)
    assert again.verify() == 3
    assert again.append("op_2", "a", "t", {}).seq == 4


def test_invalid_inputs_rejected() -> None:
    log, _, _ = _log()
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
    for actor, action, target, detail in bad_calls:
        with pytest.raises(ValueError, match="audit"):
            log.append(actor, action, target, detail)  # type: ignore[arg-type]
    assert log.head() is None
    for after, limit in ((-1, 10), (0, 0), (0, 1001)):
        with pytest.raises(ValueError, match=r"after|limit"):
            log.entries(after=after, limit=limit)


def test_trigger_genesis_literal_matches_constant() -> None:
    conn = sqlite3.connect(":memory:")
    AuditLog(conn, FixedClock(T0))
    (sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'audit_log_extends_head'"
    ).fetchone()
    assert f"'{GENESIS_HASH}'" in sql
