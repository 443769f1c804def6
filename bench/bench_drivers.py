"""PostgreSQL drivers on RealDID's hot paths: psycopg 3 (sync, as the stores use it) vs asyncpg.

Measured on a private server (``TemporaryPostgres(durable=True)``: fsync on, as deployed):

* lookup — the resolver's read: one row by a 32-byte primary key, from a table of ``--rows``;
* single-use — the relying party's write: ``INSERT … ON CONFLICT DO NOTHING RETURNING`` in
  its own durable commit (what stops a login response from being replayed).

Each runs one client connection, so the figure is the driver's per-statement cost plus one
loopback round trip; the raw Ed25519 verify rate of the same run is printed beside it.

    .venv/bin/python bench/bench_drivers.py [--rows 100000] [--n 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable

import asyncpg
import nacl.signing
import psycopg

from realdid.storage import TemporaryPostgres

SCHEMA = "CREATE TABLE dids (suffix BYTEA PRIMARY KEY, state BYTEA NOT NULL)"
SINGLE_USE = "CREATE TABLE used (nonce BYTEA PRIMARY KEY, at BIGINT NOT NULL)"


def ed25519_verifies_per_second(seconds: float = 0.5) -> float:
    key = nacl.signing.SigningKey.generate()
    signed = key.sign(b"x" * 64)
    verify = key.verify_key.verify
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            verify(signed)
        n += 200
    return n / (time.perf_counter() - start)


def _rate(n: int, run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return n / (time.perf_counter() - start)


def psycopg_rates(url: str, keys: list[bytes], n: int) -> tuple[float, float]:
    with psycopg.connect(url, autocommit=True) as conn:

        def lookups() -> None:
            for i in range(n):
                conn.execute(
                    "SELECT state FROM dids WHERE suffix = %s", (keys[i % len(keys)],)
                ).fetchone()

        def single_use() -> None:
            for _ in range(n // 10):
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO used VALUES (%s, 1) ON CONFLICT DO NOTHING RETURNING at",
                        (os.urandom(16),),
                    ).fetchone()

        return _rate(n, lookups), _rate(n // 10, single_use)


async def _asyncpg_rates(url: str, keys: list[bytes], n: int) -> tuple[float, float]:
    conn = await asyncpg.connect(url)
    try:
        lookup = await conn.prepare("SELECT state FROM dids WHERE suffix = $1")
        insert = await conn.prepare(
            "INSERT INTO used VALUES ($1, 1) ON CONFLICT DO NOTHING RETURNING at"
        )
        start = time.perf_counter()
        for i in range(n):
            await lookup.fetchrow(keys[i % len(keys)])
        lookups = n / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(n // 10):
            async with conn.transaction():
                await insert.fetchrow(os.urandom(16))
        writes = (n // 10) / (time.perf_counter() - start)
        return lookups, writes
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with TemporaryPostgres(durable=True) as server:
        url = server.create_database("bench")
        keys = [os.urandom(32) for _ in range(args.rows)]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute(SINGLE_USE)
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO dids VALUES (%s, %s)", [(k, b"s" * 120) for k in keys])
        results: dict[str, list[tuple[float, float]]] = {"psycopg": [], "asyncpg": []}
        for _ in range(args.repeat):
            results["psycopg"].append(psycopg_rates(url, keys, args.n))
            results["asyncpg"].append(asyncio.run(_asyncpg_rates(url, keys, args.n)))
    ceiling = ed25519_verifies_per_second()
    print(f"raw limit: PyNaCl Ed25519 verifies/s = {ceiling:,.0f}")
    print(f"{'driver':<10}{'lookups/s (median, min-max)':>34}{'single-use commits/s':>34}")
    for driver, runs in results.items():
        reads, writes = [r for r, _ in runs], [w for _, w in runs]
        print(
            f"{driver:<10}{statistics.median(reads):>14,.0f} ({min(reads):,.0f}-{max(reads):,.0f})"
            f"{statistics.median(writes):>18,.0f} ({min(writes):,.0f}-{max(writes):,.0f})"
        )


if __name__ == "__main__":
    main()
