"""Registry node benchmark: DID creations end to end, resolution latency, bytes per DID.

Run with ``make bench`` (or ``.venv/bin/python bench/bench_node.py --help``). Every result
is printed next to the raw PyNaCl Ed25519 sign/verify rates measured in the same run, the
cost that bounds everything in the architecture (ARCHITECTURE.md section 9).

Phases:

1. raw crypto limit: PyNaCl Ed25519 signs/s and verifies/s on one core;
2. end to end: a real node process (uvicorn, SQLite, solo ledger) receives ``--creates``
   create operations in bulk requests from ``--clients`` client threads; the clock stops
   when the last operation is anchored and resolvable;
3. index at scale: ``--dids`` DIDs are pushed through the same batch writer and observer
   in-process (no HTTP, to build the data set in minutes), then the node is started on that
   data directory and resolved over HTTP from random DIDs: p50/p99 latency and throughput;
4. bytes stored per DID: node database + ledger + batch files, divided by DIDs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import nacl.signing

from realdid.clock import SystemClock
from realdid.crypto import LocalSigner
from realdid.did import (
    CreateOperation,
    DocumentContent,
    ParsedOperation,
    PublicKeyEntry,
    commitment_of,
    to_dict,
)
from realdid.ledger import BatchWriter, FileContentStore, Observer, RegistryStore, SoloLedger
from realdid.ledger._state_codec import suffix_from_key

REALDID = Path(sys.executable).with_name("realdid")


def raw_crypto_limit(seconds: float = 1.0) -> tuple[float, float]:
    key = nacl.signing.SigningKey.generate()
    message = b"x" * 200
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            signed = key.sign(message)
        n += 500
    sign_rate = n / (time.perf_counter() - start)
    verify_key = key.verify_key
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            verify_key.verify(signed)
        n += 500
    return sign_rate, n / (time.perf_counter() - start)


def _make_creates(args: tuple[int, int]) -> list[bytes]:
    """Canonical create operations with fresh keys (one signing, update and recovery key)."""
    seed, count = args
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        signing, update, recovery = (LocalSigner(_kt(), rng.randbytes(32)) for _ in range(3))
        create = CreateOperation(
            DocumentContent(
                (
                    PublicKeyEntry(
                        "key-1", signing.public_key, ("authentication", "assertionMethod")
                    ),
                ),
                (),
            ),
            commitment_of(update.public_key),
            commitment_of(recovery.public_key),
        )
        out.append(ParsedOperation.from_value(to_dict(create)).canonical)
    return out


def _kt():  # type: ignore[no-untyped-def]
    from realdid.crypto import KeyType

    return KeyType.ED25519


def generate_creates(count: int, workers: int = 2, seed: int = 0) -> list[bytes]:
    """``count`` canonical creates made on ``workers`` processes; the same ``seed`` gives
    the same operations (a caller that submits twice to one node gives another seed)."""
    chunk = max(1, count // (workers * 8))
    jobs = [(seed + i, min(chunk, count - i * chunk)) for i in range((count + chunk - 1) // chunk)]
    with multiprocessing.Pool(workers) as pool:
        return [op for part in pool.map(_make_creates, jobs) for op in part]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(
    data_dir: Path, port: int, *, batch_interval: float, max_batch: int
) -> subprocess.Popen[bytes]:
    log = (data_dir.parent / f"node-{port}.log").open("wb")
    proc = subprocess.Popen(
        [
            str(REALDID),
            "serve",
            "--authority-port",
            "0",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--batch-interval",
            str(batch_interval),
            "--max-batch",
            str(max_batch),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "REALDID_RATE_LIMITS__EXEMPT": "127.0.0.1"},  # one load client
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("node did not start")


def submit_all(url: str, creates: list[bytes], bulk: int, clients: int) -> None:
    """Submit canonical operations in bulk requests from ``clients`` threads."""
    bodies = [b"[" + b",".join(creates[i : i + bulk]) + b"]" for i in range(0, len(creates), bulk)]

    def send(indexes: range) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in indexes:
                r = http.post(
                    "/1.0/operations",
                    content=bodies[i],
                    headers={"content-type": "application/json"},
                )
                if r.status_code != 202:
                    raise RuntimeError(f"submission refused: {r.status_code} {r.text[:200]}")

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, [range(c, len(bodies), clients) for c in range(clients)]))


def wait_until(url: str, operation_hash: str, timeout: float = 3600) -> None:
    """Until the queue is empty and ``operation_hash`` is anchored and applied."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=30) as http:
        while time.monotonic() < deadline:
            health = http.get("/healthz").json()
            status = http.get(f"/1.0/operations/{operation_hash}").json()
            if health["queueLength"] == 0 and status.get("status") == "anchored":
                return
            time.sleep(0.02)
    raise RuntimeError("operations were not anchored in time")


def bench_end_to_end(
    creates: list[bytes], clients: int, bulk: int, max_batch: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="realdid-bench-e2e-") as tmp:
        port = free_port()
        proc = start_node(Path(tmp) / "node", port, batch_interval=0.2, max_batch=max_batch)
        url = f"http://127.0.0.1:{port}"
        last_hash = ParsedOperation.from_canonical(creates[-1]).hash
        try:
            start = time.perf_counter()
            submit_all(url, creates, bulk, clients)
            accepted = time.perf_counter() - start
            wait_until(url, last_hash)
            elapsed = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(30)
    return {
        "operations": len(creates),
        "accepted_s": accepted,
        "elapsed_s": elapsed,
        "rate": len(creates) / elapsed,
    }


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the main process, which stops between batches."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def build_index(
    data_dir: Path,
    dids: int,
    batch: int,
    database: str | None = None,
    *,
    on_batch: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> float:
    """Push creates through the real batch writer and observer, in-process (into the SQLite
    files of ``data_dir``, or the PostgreSQL ``database``), until the index holds ``dids``.

    A data directory built before (``solo-ledger.key``) is continued, as a node restarting
    would: anchors not applied yet are applied and queued operations anchored first, then
    batches are added. Each batch is one anchor, and its key seed is 1,000,000 + the
    ledger height it lands at, so a continued build never makes a DID twice.
    ``on_batch(stored)`` replaces the progress line; ``should_stop()`` ends the build
    between batches (each batch is durable when the next starts)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "solo-ledger.key"
    if key_file.exists():
        signer = LocalSigner(_kt(), key_file.read_bytes())
    else:
        signer = LocalSigner.generate()
        key_file.write_bytes(signer.secret_bytes())
    store = RegistryStore(database or data_dir / "node.db")
    cas = FileContentStore(data_dir / "cas")
    ledger = SoloLedger(database or data_dir / "ledger.db", signer, SystemClock())
    writer = BatchWriter(store, cas, ledger, max_operations=batch)
    observer = Observer(store, cas, ledger)
    start = time.perf_counter()
    observer.catch_up()  # what a crash left anchored but not applied, then what it left queued
    while writer.cut() is not None:
        observer.catch_up()
    stored = store.did_count()
    missing = max(0, dids - stored)
    first = 1_000_000 + ledger.head() + 1
    try:
        with multiprocessing.Pool(2, initializer=_ignore_sigint) as pool:
            jobs = [
                (first + i, min(batch, missing - i * batch))
                for i in range((missing + batch - 1) // batch)
            ]
            for canonical in pool.imap(_make_creates, jobs):
                store.enqueue(
                    [ParsedOperation.from_canonical(c) for c in canonical], int(time.time())
                )
                writer.cut()
                observer.catch_up()
                stored = store.did_count()
                if on_batch is not None:
                    on_batch(stored)
                else:
                    rate = stored / (time.perf_counter() - start)
                    print(
                        f"  built {stored:,} DIDs ({rate:,.0f}/s incl. key generation)",
                        end="\r",
                        flush=True,
                    )
                if should_stop is not None and should_stop():
                    break
    finally:
        if on_batch is None:
            print()
        store.close()
        ledger.close()
    return time.perf_counter() - start


def sample_dids(data_dir: Path, count: int, rng: random.Random) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(data_dir / "node.db")
    total = conn.execute("SELECT count(*) FROM dids").fetchone()[0]
    suffixes = []
    for offset in sorted(rng.sample(range(total), min(count, total))):
        key = conn.execute("SELECT suffix FROM dids LIMIT 1 OFFSET ?", (offset,)).fetchone()[0]
        suffixes.append(suffix_from_key(key))
    conn.close()
    rng.shuffle(suffixes)
    return [f"did:realdid:{s}" for s in suffixes]


def bench_resolution(data_dir: Path, requests: int, clients: int) -> dict[str, float]:
    rng = random.Random(7)
    dids = sample_dids(data_dir, 2000, rng)
    port = free_port()
    proc = start_node(data_dir, port, batch_interval=0.5, max_batch=10_000)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as http:  # warm-up: caches, connections
            for did in dids[:500]:
                http.get(f"/1.0/identifiers/{did}")
        latencies: list[float] = []
        with httpx.Client(base_url=url, timeout=10) as http:
            for i in range(requests):
                t0 = time.perf_counter()
                r = http.get(f"/1.0/identifiers/{dids[i % len(dids)]}")
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"resolution failed: {r.status_code}")
        latencies.sort()
        lock = threading.Lock()
        count = 0

        def load(offset: int) -> None:
            nonlocal count
            n = 0
            with httpx.Client(base_url=url, timeout=10) as http:
                for i in range(requests // clients):
                    http.get(f"/1.0/identifiers/{dids[(offset + i) % len(dids)]}")
                    n += 1
            with lock:
                count += n

        start = time.perf_counter()
        threads = [threading.Thread(target=load, args=(c * 97,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        throughput = count / (time.perf_counter() - start)
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rate": throughput,
    }


def _size(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if path.is_dir()
        else path.stat().st_size
    )


def storage_bytes(data_dir: Path, database: str | None = None) -> dict[str, int]:
    """Bytes on disk of the index, the solo ledger's block log and the batch files.

    SQLite: the files ``node.db`` and ``ledger.db`` after a WAL checkpoint. PostgreSQL
    (``database``): ``pg_total_relation_size`` (table, indexes, TOAST) of every table of the
    schemas ``node`` and ``solo``, each partition of a partitioned table included (the
    server's WAL, shared by all, is not counted)."""
    if database is None:
        import sqlite3

        for name in ("node.db", "ledger.db"):
            conn = sqlite3.connect(data_dir / name)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
        index, ledger = _size(data_dir / "node.db"), _size(data_dir / "ledger.db")
    else:
        index, ledger = schema_bytes(database, "node"), schema_bytes(database, "solo")
    return {"index": index, "ledger": ledger, "batch files": _size(data_dir / "cas")}


def schema_bytes(database: str, schema: str) -> int:
    """``pg_total_relation_size`` summed over the tables of ``schema``: every partition of
    a partitioned table (the parent itself has no storage), with indexes and TOAST."""
    import psycopg

    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
            (schema,),
        ).fetchone()
    return int(row[0]) if row else 0


def storage_per_did(data_dir: Path, dids: int, database: str | None = None) -> dict[str, float]:
    sizes = storage_bytes(data_dir, database)
    parts = {
        f"index ({'schema node' if database else 'node.db'})": sizes["index"],
        f"ledger ({'schema solo' if database else 'ledger.db'})": sizes["ledger"],
        "batch files (cas/)": sizes["batch files"],
    }
    return {k: v / dids for k, v in parts.items()} | {"total": sum(parts.values()) / dids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--creates", type=int, default=50_000, help="create operations in the end-to-end run"
    )
    parser.add_argument("--bulk", type=int, default=1000, help="operations per bulk request")
    parser.add_argument("--clients", type=int, default=2, help="concurrent client threads")
    parser.add_argument(
        "--dids", type=int, default=1_000_000, help="DIDs stored for the resolution run"
    )
    parser.add_argument("--requests", type=int, default=20_000, help="resolution requests to time")
    parser.add_argument(
        "--keep", type=Path, default=None, help="reuse/keep the --dids data dir here"
    )
    args = parser.parse_args()

    print(f"RealDID registry benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    sign_rate, verify_rate = raw_crypto_limit()
    print(
        f"raw limit   PyNaCl Ed25519: {sign_rate:,.0f} signs/s, {verify_rate:,.0f} verifies/s (one core)"
    )

    creates = generate_creates(args.creates)
    e2e = bench_end_to_end(creates, args.clients, args.bulk, max_batch=10_000)
    print(
        f"end to end  {e2e['rate']:,.0f} DID creations/s submitted -> anchored and resolvable "
        f"({e2e['operations']:,} ops in {e2e['elapsed_s']:.2f} s; all accepted after {e2e['accepted_s']:.2f} s) "
        f"| raw limit {verify_rate:,.0f} verifies/s"
    )

    with tempfile.TemporaryDirectory(prefix="realdid-bench-index-") as tmp:
        data_dir = args.keep or Path(tmp) / "node"
        if not (data_dir / "node.db").exists():
            took = build_index(data_dir, args.dids, 10_000)
            print(
                f"index build {args.dids:,} DIDs through writer + observer in {took:.0f} s ({args.dids / took:,.0f}/s incl. key generation)"
            )
        dids = RegistryStore(data_dir / "node.db").did_count()
        res = bench_resolution(data_dir, args.requests, args.clients)
        print(
            f"resolution  {dids:,} DIDs stored: p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms (sequential, HTTP); "
            f"{res['rate']:,.0f} resolutions/s with {args.clients} clients | raw limit {verify_rate:,.0f} verifies/s"
        )
        storage = storage_per_did(data_dir, dids)
        print(
            "storage     " + ", ".join(f"{k} {v:,.0f} B" for k, v in storage.items()) + " per DID"
        )
    print(
        json.dumps(
            {
                "sign_rate": sign_rate,
                "verify_rate": verify_rate,
                "e2e": e2e,
                "resolution": res,
                "storage": storage,
            }
        )
    )


if __name__ == "__main__":
    main()
