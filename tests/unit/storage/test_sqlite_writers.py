"""Writer processes of one SQLite file queue on ``<file>.writer-lock``: the next one runs the
moment the lock is released (no busy-handler sleeps), a writer killed while holding it
holds nothing, and threads of several processes writing several databases are never
refused as a deadlock (they were, with POSIX record locks)."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from realdid.storage import SqliteDatabase, StorageError

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)"


def _open(path: Path) -> SqliteDatabase:
    db = SqliteDatabase(path, timeout=30.0)
    with db.transaction() as tx:
        tx.execute(SCHEMA)
    return db


def _child_holding_the_write(path: Path, then: str) -> int:
    """Fork a writer that opens a write transaction, tells us, then ``then`` ('commit'
    after 0.5 s, or 'die' by SIGKILL inside it); its pid."""
    ready, told = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        try:
            db = SqliteDatabase(path)
            with db.transaction() as tx:
                tx.execute("INSERT INTO t VALUES ('child', ?)", (time.monotonic_ns(),))
                os.write(told, b"x")
                if then == "die":
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(0.5)
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.close(told)
    assert os.read(ready, 1) == b"x"
    os.close(ready)
    return pid


def test_a_writer_waits_for_the_other_process_and_goes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = _open(path)
    assert (tmp_path / "w.db.writer-lock").exists()
    pid = _child_holding_the_write(path, "commit")
    probe = os.open(tmp_path / "w.db.writer-lock", os.O_RDWR)
    with pytest.raises(BlockingIOError):  # the child's transaction holds the writer lock
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(probe)
    started = time.monotonic()
    with db.transaction() as tx:
        waited = time.monotonic() - started
        tx.execute("INSERT INTO t VALUES ('parent', 1)")
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert waited >= 0.3  # it queued behind the child's open transaction
    with db.reading() as tx:
        assert {r[0] for r in tx.execute("SELECT k FROM t")} == {"child", "parent"}
    db.close()


def test_a_writer_killed_inside_its_transaction_blocks_nobody(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = _open(path)
    pid = _child_holding_the_write(path, "die")
    status = os.waitpid(pid, 0)[1]
    assert os.WIFSIGNALED(status)
    started = time.monotonic()
    with db.transaction() as tx:
        tx.execute("INSERT INTO t VALUES ('parent', 1)")
    assert time.monotonic() - started < 5  # not SQLite's 30 s timeout: nothing is held
    with db.reading() as tx:
        assert [r[0] for r in tx.execute("SELECT k FROM t")] == [
            "parent"
        ]  # the child's rolled back
    db.close()


def test_read_only_and_in_memory_databases_take_no_writer_lock(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    _open(path).close()
    (tmp_path / "r.db.writer-lock").unlink()
    SqliteDatabase(path, read_only=True).close()
    assert not (tmp_path / "r.db.writer-lock").exists()
    SqliteDatabase(":memory:").close()


def _write_both_for(folder: str, seconds: float) -> list[str]:
    """One worker process: a thread per database, each writing its own for ``seconds``;
    the errors they met (runs in a spawned process)."""
    databases = [SqliteDatabase(Path(folder) / name) for name in ("a.db", "b.db")]
    errors: list[str] = []

    def write(db: SqliteDatabase) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with db.transaction(durable=False) as tx:
                    tx.execute("INSERT INTO t VALUES (?, 1)", (os.urandom(8).hex(),))
            except (OSError, StorageError) as e:
                errors.append(repr(e))

    threads = [threading.Thread(target=write, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for db in databases:
        db.close()
    return errors


def test_threads_of_two_processes_writing_two_databases_are_never_refused(
    tmp_path: Path,
) -> None:
    # With lockf this refused ~70,000 transactions a second with EDEADLK: each process
    # held one database's lock in one thread while another thread waited for the other's.
    for name in ("a.db", "b.db"):
        _open(tmp_path / name).close()
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        errors = pool.starmap(_write_both_for, [(str(tmp_path), 1.5)] * 2)
    assert errors == [[], []]
    total = 0
    for name in ("a.db", "b.db"):
        db = SqliteDatabase(tmp_path / name)
        with db.reading() as tx:
            total += tx.execute("SELECT count(*) FROM t").fetchone()[0]
        db.close()
    assert total > 100  # they wrote, all four threads, for the whole time


def test_a_write_inside_another_databases_write_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    outer, inner = _open(tmp_path / "outer.db"), _open(tmp_path / "inner.db")

    def nested_writes() -> None:
        with outer.transaction() as tx:
            tx.execute("INSERT INTO t VALUES ('outer', 1)")
            with inner.transaction() as nested:
                nested.execute("INSERT INTO t VALUES ('inner', 1)")

    with pytest.raises(StorageError, match="write to one database at a time"):
        nested_writes()
    for db in (outer, inner):
        with db.reading() as tx:
            assert tx.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    with outer.transaction() as tx:  # the refusal released everything
        tx.execute("INSERT INTO t VALUES ('after', 1)")
    with inner.transaction() as tx:
        tx.execute("INSERT INTO t VALUES ('after', 1)")
    outer.close()
    inner.close()
