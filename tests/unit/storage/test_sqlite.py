"""connect_sqlite: the one SQLite connection setup (realdid.storage)."""

from __future__ import annotations

import doctest
import sqlite3
import threading
from pathlib import Path

import pytest

import realdid.storage._sqlite
from realdid.storage import IN_MEMORY, connect_sqlite, immediate_transaction

# PRAGMA synchronous reads back as a number.
FULL, NORMAL = 2, 1


def pragma(conn: sqlite3.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_module_example_runs() -> None:
    assert doctest.testmod(realdid.storage._sqlite).failed == 0


@pytest.mark.parametrize(("synchronous", "level"), [("FULL", FULL), ("NORMAL", NORMAL)])
def test_a_file_is_wal_autocommit_with_the_chosen_durability(
    tmp_path: Path, synchronous: str, level: int
) -> None:
    conn = connect_sqlite(tmp_path / "a.db", synchronous=synchronous)  # type: ignore[arg-type]
    try:
        assert pragma(conn, "journal_mode") == "wal"
        assert pragma(conn, "synchronous") == level
        assert pragma(conn, "foreign_keys") == 0
        assert conn.isolation_level is None
        conn.execute("CREATE TABLE t (x)")
        assert not conn.in_transaction  # autocommit: callers BEGIN IMMEDIATE themselves
    finally:
        conn.close()


def test_unknown_durability_is_refused_before_it_reaches_a_pragma(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        connect_sqlite(tmp_path / "a.db", synchronous="OFF; DROP TABLE t")  # type: ignore[arg-type]


def test_in_memory_has_no_wal() -> None:
    conn = connect_sqlite(IN_MEMORY, synchronous="NORMAL")
    try:
        assert pragma(conn, "journal_mode") == "memory"
    finally:
        conn.close()


def test_foreign_keys_and_cache_size(tmp_path: Path) -> None:
    conn = connect_sqlite(tmp_path / "a.db", synchronous="FULL", foreign_keys=True, cache_kib=65536)
    try:
        assert pragma(conn, "foreign_keys") == 1
        assert pragma(conn, "cache_size") == -65536
    finally:
        conn.close()


def test_cache_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        connect_sqlite(tmp_path / "a.db", synchronous="FULL", cache_kib=0)


def test_busy_timeout_is_applied(tmp_path: Path) -> None:
    conn = connect_sqlite(tmp_path / "a.db", synchronous="FULL", timeout=30.0)
    try:
        assert pragma(conn, "busy_timeout") == 30_000
    finally:
        conn.close()


def test_thread_check_follows_the_argument(tmp_path: Path) -> None:
    own = connect_sqlite(tmp_path / "a.db", synchronous="FULL")
    shared = connect_sqlite(tmp_path / "a.db", synchronous="FULL", check_same_thread=False)
    errors: list[BaseException] = []

    def use_both() -> None:
        shared.execute("SELECT 1")
        try:
            own.execute("SELECT 1")
        except sqlite3.ProgrammingError as e:
            errors.append(e)

    thread = threading.Thread(target=use_both)
    thread.start()
    thread.join()
    own.close()
    shared.close()
    assert len(errors) == 1


def test_read_only_opens_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    writer = connect_sqlite(path, synchronous="FULL")
    writer.execute("CREATE TABLE t (x)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.close()
    reader = connect_sqlite(path, synchronous="FULL", read_only=True, check_same_thread=False)
    try:
        assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.execute("INSERT INTO t VALUES (2)")
    finally:
        reader.close()


def test_read_only_never_creates_a_database(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        connect_sqlite(tmp_path / "missing.db", synchronous="FULL", read_only=True)
    assert not (tmp_path / "missing.db").exists()


# -- immediate_transaction ---------------------------------------------------------------------
def _table(tmp_path: Path) -> sqlite3.Connection:
    conn = connect_sqlite(tmp_path / "t.db", synchronous="NORMAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    return conn


def test_a_transaction_commits_what_its_block_wrote(tmp_path: Path) -> None:
    conn = _table(tmp_path)
    with immediate_transaction(conn):
        assert conn.in_transaction
        conn.execute("INSERT INTO t VALUES (1)")
    assert not conn.in_transaction
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


@pytest.mark.parametrize("error", [ValueError("no"), KeyboardInterrupt()])
def test_any_exception_rolls_the_block_back_and_propagates(
    tmp_path: Path, error: BaseException
) -> None:
    conn = _table(tmp_path)

    def write_then_fail() -> None:
        with immediate_transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            raise error

    with pytest.raises(type(error)):
        write_then_fail()
    assert not conn.in_transaction
    assert conn.execute("SELECT x FROM t").fetchall() == []


def test_a_block_that_rolls_back_itself_commits_nothing(tmp_path: Path) -> None:
    conn = _table(tmp_path)
    with immediate_transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("ROLLBACK")
    assert not conn.in_transaction
    assert conn.execute("SELECT x FROM t").fetchall() == []


def test_the_write_lock_is_taken_up_front(tmp_path: Path) -> None:
    conn = _table(tmp_path)
    other = connect_sqlite(tmp_path / "t.db", synchronous="NORMAL")
    other.execute("PRAGMA busy_timeout=0")
    with immediate_transaction(conn), pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    other.close()
    conn.close()
