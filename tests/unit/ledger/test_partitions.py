"""On PostgreSQL the node's index and outcomes are hash-partitioned, and a lookup touches one
partition (issue 12: no one table holds a nation).

Checked against a real private PostgreSQL server: the catalogue says how ``dids`` and
``operations`` are partitioned, ``EXPLAIN ANALYZE`` of the store's own lookups says how
many partitions each one reads, and a node database written before partitioning keeps
every row when it is migrated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from realdid.ledger import AnchorRecord, OperationOutcome, RegistryStore
from realdid.ledger._state_codec import suffix_key
from realdid.storage import TemporaryPostgres, open_database

from ...conftest import new_postgres_database
from .test_store import anchor, migrations_before, state_for

PARTITIONS = 16


@pytest.fixture
def url(postgres_server: TemporaryPostgres) -> str:
    return new_postgres_database(postgres_server)


@pytest.fixture
def node_sql(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, options="-c search_path=node", autocommit=True) as conn:
        yield conn


def _partitions(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
        " WHERE p.relname = %s AND n.nspname = 'node' ORDER BY c.relname",
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def _strategy(conn: psycopg.Connection[Any], table: str) -> str | None:
    row = conn.execute(
        "SELECT pt.partstrat FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = %s AND n.nspname = 'node'",
        (table,),
    ).fetchone()
    return None if row is None else str(row[0])


def _partitions_read(conn: psycopg.Connection[Any], sql: str, value: bytes) -> list[str]:
    """The partitions an execution of ``sql`` with ``value`` actually scanned."""
    plan = conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}", (value,)).fetchall()
    text = "\n".join(row[0] for row in plan)
    named = {word for word in text.split() if word.startswith(("dids_p", "operations_p"))}
    return sorted(word for word in named if not word.endswith("_pkey"))  # not its index


def test_the_index_and_the_outcomes_are_hash_partitioned(
    url: str, node_sql: psycopg.Connection[Any]
) -> None:
    RegistryStore(url).close()
    for table in ("dids", "operations"):
        assert _strategy(node_sql, table) == "h"
        assert _partitions(node_sql, table) == [f"{table}_p{n:02d}" for n in range(PARTITIONS)]
    assert _strategy(node_sql, "queue") is None  # transient: not partitioned


def test_a_lookup_reads_one_partition(url: str, node_sql: psycopg.Connection[Any]) -> None:
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(64)]
    states = [state_for(i) for i in range(64)]  # enough rows that most partitions hold some
    store = RegistryStore(url)
    try:
        store.commit_anchor(
            AnchorRecord(anchor(0, len(hashes)), tuple(hashes), True, None),
            [OperationOutcome(h.hex(), 0, i, True) for i, h in enumerate(hashes)],
            states,
        )
        assert store.state(states[5].suffix) == states[5]  # the store reads through them
        assert store.outcome(hashes[5].hex()) == OperationOutcome(hashes[5].hex(), 0, 5, True)
    finally:
        store.close()
    touched: set[str] = set()
    for state in states:
        read = _partitions_read(
            node_sql, "SELECT state FROM dids WHERE suffix = %s", suffix_key(state.suffix)
        )
        assert len(read) == 1, read
        touched.update(read)
    assert len(touched) > PARTITIONS // 2  # the rows are spread over the partitions
    for digest in hashes:
        read = _partitions_read(
            node_sql, "SELECT sequence, leaf FROM operations WHERE hash = %s", digest
        )
        assert len(read) == 1, read


def test_a_node_database_from_before_partitioning_keeps_every_row(
    url: str, tmp_path: Path, node_sql: psycopg.Connection[Any]
) -> None:
    before = migrations_before(tmp_path, 3)  # the schema as the release before left it
    old = open_database(url, store="node", migrations=before)
    with old.transaction() as tx:
        tx.execute("INSERT INTO dids (suffix, state) VALUES (?, ?)", (b"\x01" * 32, b"s1"))
        tx.execute(
            "INSERT INTO operations (hash, sequence, leaf, applied, reason) VALUES (?, ?, ?, ?, ?)",
            (b"\x02" * 32, 7, 3, 0, "stale-previous"),
        )
    old.close()
    assert _strategy(node_sql, "dids") is None

    RegistryStore(url).close()  # this release: migrates to the partitioned tables

    assert _strategy(node_sql, "dids") == "h"
    assert node_sql.execute("SELECT suffix, state FROM dids").fetchall() == [(b"\x01" * 32, b"s1")]
    assert node_sql.execute(
        "SELECT hash, sequence, leaf, applied, reason FROM operations"
    ).fetchall() == [(b"\x02" * 32, 7, 3, 0, "stale-previous")]
