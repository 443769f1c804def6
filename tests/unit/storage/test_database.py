"""realdid.storage.Database: the same behaviour on SQLite and on PostgreSQL (issue 11).

Every test runs on both engines (``both_engines``) against the test store in
``_fixture_store/migrations/demo``: a real SQLite file, and a real PostgreSQL server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from realdid.storage import (
    Database,
    IntegrityError,
    StorageError,
    StoreLocation,
    load_migrations,
    open_database,
)

MIGRATIONS = Path(__file__).parent / "_fixture_store" / "migrations" / "demo"

Locate = Callable[[str], StoreLocation]


def _open(where: StoreLocation, **options: object) -> Database:
    return open_database(where, store="demo", migrations=MIGRATIONS, **options)  # type: ignore[arg-type]


@pytest.fixture
def db(both_engines: str, store_at: Locate) -> Database:
    database = _open(store_at("demo"))
    assert database.engine == both_engines
    yield database  # type: ignore[misc]
    database.close()


def _value(db: Database, name: str) -> int | None:
    with db.reading() as tx:
        row = tx.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def test_migrations_ran_in_order_and_seeded_a_row_containing_a_semicolon(db: Database) -> None:
    assert _value(db, "seeded; by 0002") == 1
    with db.reading() as tx:
        assert [tuple(r) for r in tx.execute("SELECT version, name FROM schema_migrations")] == [
            (1, "initial"),
            (2, "events"),
        ]


def test_reopening_applies_nothing_twice(both_engines: str, store_at: Locate) -> None:
    where = store_at("demo")
    first = _open(where)
    first.close()
    again = _open(where)
    assert again.migrate(load_migrations(MIGRATIONS, again.engine)) == []
    assert _value(again, "seeded; by 0002") == 1
    again.close()


def test_committed_write_is_read_back_with_bytes_and_64_bit_integers(db: Database) -> None:
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO counters (name, value, blob) VALUES (?, ?, ?)",
            ("a", 2**63 - 1, b"\x00\xff"),
        )
    with db.reading() as tx:
        row = tx.execute("SELECT value, blob FROM counters WHERE name = 'a'").fetchone()
    assert (row[0], bytes(row[1])) == (2**63 - 1, b"\x00\xff")


def test_an_exception_in_the_block_rolls_everything_back(db: Database) -> None:
    def insert_then_fail() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO counters (name, value) VALUES ('gone', 1)")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        insert_then_fail()
    assert _value(db, "gone") is None


def test_a_duplicate_key_is_an_integrity_error_and_changes_nothing(db: Database) -> None:
    with db.transaction() as tx:
        tx.execute("INSERT INTO counters (name, value) VALUES ('k', 1)")

    def update_then_conflict() -> None:
        with db.transaction() as tx:
            tx.execute("UPDATE counters SET value = 5 WHERE name = 'k'")
            tx.execute("INSERT INTO counters (name, value) VALUES ('k', 2)")

    with pytest.raises(IntegrityError) as caught:
        update_then_conflict()
    assert caught.value.http_status == 409
    assert _value(db, "k") == 1


def test_integrity_errors_do_not_quote_the_conflicting_value(db: Database) -> None:
    secret = "110101199003070000"
    with db.transaction() as tx:
        tx.execute("INSERT INTO counters (name, value) VALUES (?, 1)", (secret,))
    with pytest.raises(IntegrityError) as caught, db.transaction() as tx:
        tx.execute("INSERT INTO counters (name, value) VALUES (?, 1)", (secret,))
    assert secret not in str(caught.value)


def test_a_check_constraint_is_an_integrity_error(db: Database) -> None:
    with pytest.raises(IntegrityError), db.transaction() as tx:
        tx.execute("INSERT INTO events (note) VALUES ('')")


def test_bad_sql_is_a_storage_error(db: Database) -> None:
    with pytest.raises(StorageError), db.reading() as tx:
        tx.execute("SELECT nope FROM counters")


def test_on_conflict_do_nothing_and_returning_work_alike(db: Database) -> None:
    with db.transaction() as tx:
        inserted = tx.execute(
            "INSERT INTO counters (name, value) VALUES ('x', 1) ON CONFLICT DO NOTHING"
            " RETURNING value"
        ).fetchall()
        again = tx.execute(
            "INSERT INTO counters (name, value) VALUES ('x', 9) ON CONFLICT DO NOTHING"
            " RETURNING value"
        ).fetchall()
    assert [tuple(r) for r in inserted] == [(1,)]
    assert again == []


def test_executemany_and_rowcount(db: Database) -> None:
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?)", [(f"n{i}", i) for i in range(50)]
        )
        updated = tx.execute("UPDATE counters SET value = value + 1 WHERE name LIKE 'n%'")
        assert updated.rowcount == 50
    assert _value(db, "n49") == 50


def test_a_non_durable_transaction_commits_too(db: Database) -> None:
    with db.transaction(durable=False) as tx:
        tx.execute("INSERT INTO counters (name, value) VALUES ('nd', 3)")
    with db.transaction() as tx:
        tx.execute("UPDATE counters SET value = 4 WHERE name = 'nd'")
    assert _value(db, "nd") == 4


def test_locked_read_modify_write_loses_no_update_across_threads(db: Database) -> None:
    # PostgreSQL runs these transactions concurrently (READ COMMITTED): without the lock,
    # two threads would read the same value and one increment would be lost.
    with db.transaction() as tx:
        tx.execute("INSERT INTO counters (name, value) VALUES ('c', 0)")

    def bump() -> None:
        for _ in range(25):
            with db.transaction() as tx:
                tx.lock("counter c")
                (value,) = tx.execute("SELECT value FROM counters WHERE name = 'c'").fetchone()
                tx.execute("UPDATE counters SET value = ? WHERE name = 'c'", (value + 1,))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _value(db, "c") == 100


def test_a_read_only_database_reads_but_refuses_writes(db: Database, store_at: Locate) -> None:
    with db.transaction() as tx:
        tx.execute("INSERT INTO counters (name, value) VALUES ('r', 7)")
    replica = _open(store_at("demo"), read_only=True)
    try:
        assert _value(replica, "r") == 7
        with pytest.raises(StorageError, match="read-only"), replica.transaction():
            pass
    finally:
        replica.close()


def test_a_read_only_replica_refuses_an_unmigrated_database(
    both_engines: str, store_at: Locate, tmp_path: Path
) -> None:
    where = store_at("demo")
    if both_engines == "sqlite":  # a SQLite replica needs the file to exist
        Path(str(where)).touch()
    with pytest.raises(StorageError, match="lacks schema version 1"):
        _open(where, read_only=True)


def test_a_database_newer_than_the_release_is_refused(db: Database, store_at: Locate) -> None:
    with db.transaction() as tx:
        tx.execute("INSERT INTO schema_migrations (version, name) VALUES (3, 'future')")
    with pytest.raises(StorageError, match="schema version 3, newer than this release"):
        _open(store_at("demo"))


def test_a_failing_migration_leaves_the_old_schema(
    both_engines: str, store_at: Locate, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    for engine_name in ("sqlite", "postgresql"):
        (broken / engine_name).mkdir(parents=True)
        (broken / engine_name / "0001_initial.sql").write_text(
            (MIGRATIONS / engine_name / "0001_initial.sql").read_text()
        )
        (broken / engine_name / "0002_broken.sql").write_text(
            "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n"
        )
    where = store_at("demo")
    with pytest.raises(StorageError):
        open_database(where, store="demo", migrations=broken)
    database = open_database(where, store="demo", migrations=MIGRATIONS)  # the good release
    try:
        with database.reading() as tx:
            versions = [r[0] for r in tx.execute("SELECT version FROM schema_migrations")]
        assert versions == [1, 2]  # nothing of the broken step was kept, so 0002 ran cleanly
    finally:
        database.close()


def test_migration_files_must_be_numbered_without_gaps(tmp_path: Path) -> None:
    (tmp_path / "sqlite").mkdir()
    (tmp_path / "sqlite" / "0002_late.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="not numbered"):
        load_migrations(tmp_path, "sqlite")
    (tmp_path / "sqlite" / "README").write_text("stray")
    with pytest.raises(ValueError, match="stray file"):
        load_migrations(tmp_path, "sqlite")


def test_store_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="store name"):
        open_database(tmp_path / "x.db", store="Robert'); DROP", migrations=MIGRATIONS)


def test_both_engines_ship_the_same_migration_steps() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations(MIGRATIONS, "sqlite")]
    postgres = [(m.version, m.name) for m in load_migrations(MIGRATIONS, "postgresql")]
    assert sqlite == postgres


def test_every_store_of_the_project_ships_the_same_steps_for_both_engines() -> None:
    import realdid

    stores = sorted(Path(realdid.__file__).parent.glob("**/migrations/*"))
    assert stores, "no store migrations found in src/realdid"
    for folder in stores:
        sqlite = [(m.version, m.name) for m in load_migrations(folder, "sqlite")]
        postgres = [(m.version, m.name) for m in load_migrations(folder, "postgresql")]
        assert sqlite == postgres, folder
        assert sqlite, folder


def test_sqlite_users_do_not_load_the_postgresql_driver() -> None:
    # psycopg costs ~0.2 s to import: every CLI command would pay it on SQLite.
    import subprocess
    import sys

    probe = (
        "import sys, realdid.cli, realdid.storage, realdid.rp, realdid.rp.bridge;"
        "print('psycopg' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
