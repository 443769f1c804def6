"""``realdid ledger verify`` finds and locates every kind of tampering with a node's data.

A real node anchors a few batches (DID creates and an update, over HTTP) and is stopped.
Then each store the node keeps is edited behind its back — a batch file in ``cas/``, a
block of the solo ledger in ``ledger.db``, a DID's entry in the resolution index in
``node.db`` — and ``realdid ledger verify`` must exit 1 with one line ``error: ...`` that
names the damaged anchor, block or DID, and no traceback. Every edit is made on a fresh
copy of a directory that verifies, so each failure comes from that one edit alone.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from realdid.crypto import LocalSigner
from realdid.did import (
    CreateOperation,
    DocumentContent,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
)
from realdid.ledger import FileContentStore, RegistryStore

REALDID = Path(sys.executable).with_name("realdid")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("REALDID_TEST_ENGINE", "sqlite") != "sqlite",
        reason="edits the SQLite files of copied data directories (on PostgreSQL,"
        " test_crash_safety runs ledger verify on a node's data)",
    ),
]


@dataclass(frozen=True)
class Registry:
    data_dir: Path
    dids: list[str]  # every DID created, in creation order

    @property
    def ledger_db(self) -> Path:
        return self.data_dir / "ledger.db"

    @property
    def node_db(self) -> Path:
        return self.data_dir / "node.db"


def new_create() -> tuple[ParsedOperation, LocalSigner]:
    signing, update, recovery = (
        LocalSigner.generate(),
        LocalSigner.generate(),
        LocalSigner.generate(),
    )
    operation = CreateOperation(
        DocumentContent((PublicKeyEntry("key-1", signing.public_key, ("authentication",)),), ()),
        commitment_of(update.public_key),
        commitment_of(recovery.public_key),
    )
    return ParsedOperation.from_value(to_dict(operation)), update


def submit_and_wait(client: httpx.Client, ops: list[ParsedOperation]) -> None:
    """Submit ``ops`` in one request and wait until all are anchored (one anchor per call)."""
    body: Any = [to_dict(p.operation) for p in ops]
    response = client.post("/1.0/operations", json=body)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 20
    for p in ops:
        while (status := client.get(f"/1.0/operations/{p.hash}").json())["status"] != "anchored":
            assert status["status"] == "pending", status
            assert time.monotonic() < deadline, f"{p.hash} not anchored"
            time.sleep(0.02)


@pytest.fixture(scope="module")
def anchored(module_node_factory: Callable[..., Any]) -> Registry:
    """A stopped node's data: anchor 0 = three creates, anchor 1 = one create,
    anchor 2 = an update of the first DID. Built once; tests get copies."""
    node = module_node_factory("tamper")
    first, first_update_key = new_create()
    others = [new_create()[0] for _ in range(3)]
    with httpx.Client(base_url=node.url, timeout=10.0) as client:
        submit_and_wait(client, [first, *others[:2]])
        submit_and_wait(client, [others[2]])
        hub = ServiceEntry("hub", "LinkedDomains", "https://example.org")
        update = UpdateOperation(
            first.did,
            first.hash,
            first_update_key.public_key,
            (Patch("add-services", services=(hub,)),),
            commitment_of(LocalSigner.generate().public_key),
        )
        submit_and_wait(
            client, [ParsedOperation.from_value(to_dict(sign(update, first_update_key)))]
        )
        assert client.get("/healthz").json()["anchorSequence"] == 2
    node.stop()
    return Registry(node.data_dir, [str(p.did) for p in (first, *others)])


def copy_of(registry: Registry, directory: Path) -> Registry:
    """A private copy of the data directory, free to damage."""
    shutil.copytree(registry.data_dir, directory)
    return Registry(directory, registry.dids)


def verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REALDID), "ledger", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def verify_all(registries: list[Registry]) -> list[subprocess.CompletedProcess[str]]:
    """Verify several damaged copies side by side (each run is mostly interpreter start-up)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(verify, [r.data_dir for r in registries]))


def assert_verified(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok: 3 blocks, 5 operations, 4 DIDs verified\n", result.stdout
    assert result.stderr == ""


def assert_refused(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """Exit code 1, exactly one ``error:`` line on stderr naming all of ``names``."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for name in names:
        assert name in lines[0], f"{name!r} not in {lines[0]!r}"
    return lines[0]


@contextmanager
def sql(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def batch_hash_of_block(registry: Registry, height: int) -> str:
    with sql(registry.ledger_db) as conn:
        row = conn.execute("SELECT batch_hash FROM blocks WHERE height = ?", (height,)).fetchone()
    return str(row[0])


def test_untouched_data_directory_verifies(anchored: Registry, tmp_path: Path) -> None:
    assert_verified(verify(copy_of(anchored, tmp_path / "data").data_dir))


BATCH_DAMAGES: dict[str, Callable[[bytes], bytes] | None] = {
    "one-bit-flipped": lambda b: b[:10] + bytes([b[10] ^ 0x01]) + b[11:],
    "truncated": lambda b: b[:-1],
    "deleted": None,
}


def test_damaged_batch_file_names_its_anchor(anchored: Registry, tmp_path: Path) -> None:
    batch_hash = batch_hash_of_block(anchored, 1)
    copies = [copy_of(anchored, tmp_path / name) for name in BATCH_DAMAGES]
    for copy, damage in zip(copies, BATCH_DAMAGES.values(), strict=True):
        path = FileContentStore(copy.data_dir / "cas").path_for(batch_hash)
        if damage is None:
            path.unlink()
        else:
            path.write_bytes(damage(path.read_bytes()))

    for name, result in zip(BATCH_DAMAGES, verify_all(copies), strict=True):
        line = assert_refused(result, "anchor 1", batch_hash)
        assert "anchor 0" not in line, (name, line)
        assert "anchor 2" not in line, (name, line)

    # Restoring the file is all it takes: verification left nothing behind.
    flipped = copies[0]
    original = FileContentStore(anchored.data_dir / "cas").path_for(batch_hash).read_bytes()
    FileContentStore(flipped.data_dir / "cas").path_for(batch_hash).write_bytes(original)
    assert_verified(verify(flipped.data_dir))


def other_hex(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


# One column per check of the block walk: a header field (covered by the block hash), the
# stored hash itself, and the signature.
BLOCK_EDITS: dict[str, Callable[[Any], Any]] = {
    "merkle_root": other_hex,
    "operation_count": lambda v: v + 1,
    "block_hash": other_hex,
    "signature": lambda v: bytes([v[0] ^ 0x01]) + v[1:],
}


def test_edited_block_names_its_height(anchored: Registry, tmp_path: Path) -> None:
    """One column of block 1 edited with plain SQL, a fresh copy per column."""
    copies = [copy_of(anchored, tmp_path / column) for column in BLOCK_EDITS]
    for copy, (column, edit) in zip(copies, BLOCK_EDITS.items(), strict=True):
        with sql(copy.ledger_db) as conn:
            (original,) = conn.execute(
                f"SELECT {column} FROM blocks WHERE height = 1"  # noqa: S608 - fixed column names
            ).fetchone()
            conn.execute(
                f"UPDATE blocks SET {column} = ? WHERE height = 1",  # noqa: S608
                (edit(original),),
            )

    for column, result in zip(BLOCK_EDITS, verify_all(copies), strict=True):
        line = assert_refused(result, "block 1")
        assert "block 0" not in line, (column, line)
        assert "block 2" not in line, (column, line)


def test_edited_index_entry_names_the_did(anchored: Registry, tmp_path: Path) -> None:
    """The ``dids`` table is touched without knowing its encoding: rows are matched to DIDs
    by the store's own order, and an entry is damaged by giving it another DID's state, or
    by deleting it."""
    store = RegistryStore(anchored.node_db)
    try:
        in_order = [f"did:realdid:{s.suffix}" for s in store.all_states()]
    finally:
        store.close()
    assert sorted(in_order) == sorted(anchored.dids)
    victim_did = in_order[0]

    swapped, deleted = (
        copy_of(anchored, tmp_path / "swapped"),
        copy_of(anchored, tmp_path / "deleted"),
    )
    with sql(swapped.node_db) as conn:
        victim, donor = [k for (k,) in conn.execute("SELECT suffix FROM dids ORDER BY suffix")][:2]
        conn.execute(
            "UPDATE dids SET state = (SELECT state FROM dids WHERE suffix = ?) WHERE suffix = ?",
            (donor, victim),
        )
    with sql(deleted.node_db) as conn:
        conn.execute("DELETE FROM dids WHERE suffix = ?", (victim,))

    changed, missing = verify_all([swapped, deleted])
    assert_refused(changed, victim_did, "differs from the state derived from the ledger")
    assert_refused(missing, victim_did, "missing")
