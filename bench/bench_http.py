"""Resolution over HTTP under wrk: which ASGI server, how many workers, how close to the limit.

Run ``.venv/bin/python bench/bench_http.py --help``. The load comes from ``wrk`` (Debian's
``wrk``; a C load generator, so the client does not bound the result) with a Lua script
that asks for random DIDs of the data set; the server runs in its own processes on the
same 2 cores. Every line is printed next to the raw PyNaCl Ed25519 verify rate measured
in the same run (see bench_node.py), and with the server's CPU use (100 % = one core).

Servers compared on the same app and data (``--servers``):

* ``realdid`` — ``realdid serve --workers N`` (RealDID's own pre-fork supervisor, uvicorn
  in each worker, httptools + uvloop);
* ``uvicorn`` — ``uvicorn --factory --workers N`` (uvicorn's own multiprocess supervisor);
* ``gunicorn`` — gunicorn with N ``uvicorn_worker.UvicornWorker`` workers;
* ``granian`` — granian (Rust HTTP, ASGI interface) with N workers.

The data set is a node data directory built by bench_node.py's ``build_index``
(``--dids`` creates pushed through the real batch writer and observer), kept between runs
under ``--data-dir``. ``--engine postgresql`` starts a private PostgreSQL server
(``TemporaryPostgres``, in ``--data-dir``/postgres, kept between runs) and builds and serves
the data set there.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_node import build_index, raw_crypto_limit
from realdid.ledger import RegistryStore
from realdid.ledger._state_codec import suffix_from_key
from realdid.storage import TemporaryPostgres

BIN = Path(sys.executable).parent
APP_FACTORY = "realdid_bench_app:create"
_WRK_LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


@dataclass(frozen=True)
class Result:
    server: str
    workers: int
    connections: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_percent: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_paths(
    data_dir: Path, database: str | None, count: int, seed: int = 7, *, probes: bool = False
) -> list[str]:
    """``count`` resolution paths of random DIDs in the store (keys in random order).

    ``probes``: each DID is the first key at or after a random 32-byte value (keys are
    digests, so uniform), one index probe per DID instead of a scan of the whole index —
    for data sets of many millions; a DID may then come up more than once."""
    store = RegistryStore(
        database or data_dir / "node.db"
    )  # migrates a data set of an older release
    try:
        with store.database.reading() as tx:
            if probes:
                rng = random.Random(seed)
                found: list[bytes] = []
                for _ in range(count):
                    start = rng.randbytes(32)
                    row = (
                        tx.execute(
                            "SELECT suffix FROM dids WHERE suffix >= ? ORDER BY suffix LIMIT 1",
                            (start,),
                        ).fetchone()
                        or tx.execute("SELECT suffix FROM dids ORDER BY suffix LIMIT 1").fetchone()
                    )
                    if row is None:
                        return []
                    found.append(bytes(row[0]))
                return [f"/1.0/identifiers/did:realdid:{suffix_from_key(k)}" for k in found]
            total = int(tx.execute("SELECT count(*) FROM dids").fetchone()[0])
            rng = random.Random(seed)
            step = max(1, total // count)
            rows = tx.execute(
                "SELECT suffix FROM dids ORDER BY suffix LIMIT ? OFFSET ?",
                (count * step, rng.randrange(step)),
            ).fetchall()
    finally:
        store.close()
    keys = [bytes(r[0]) for r in rows[::step]]
    rng.shuffle(keys)
    return [f"/1.0/identifiers/did:realdid:{suffix_from_key(k)}" for k in keys]


def server_command(
    kind: str,
    workers: int,
    port: int,
    data_dir: Path,
    *,
    authority_port: int = 0,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of ``kind`` serving the node on ``port``; ``authority_port`` and
    ``extra`` options go to ``realdid serve`` only (the others serve the node alone)."""
    if kind == "realdid":
        return [
            str(BIN / "realdid"),
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--authority-port",
            str(authority_port),
            "--workers",
            str(workers),
            *extra,
        ]
    if kind == "uvicorn":
        return [
            str(BIN / "uvicorn"),
            "--factory",
            APP_FACTORY,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    if kind == "gunicorn":
        return [
            str(BIN / "gunicorn"),
            f"{APP_FACTORY}()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "uvicorn_worker.UvicornWorker",
            "--log-level",
            "warning",
        ]
    if kind == "granian":
        return [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--factory",
            APP_FACTORY,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-ws",
        ]
    raise ValueError(kind)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pending.extend(int(c) for c in children)
    return total


def wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code in (200, 404):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def run_wrk(
    url: str, script: Path, connections: int, seconds: int
) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _latency_ms(re.search(r"50%\s+([\d.]+\w+)", out)[1])  # type: ignore[index]
    p99 = _latency_ms(re.search(r"99%\s+([\d.]+\w+)", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    errors = int(bad[1]) if bad else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors[1]))
    return rate, p50, p99, errors


def _latency_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bench_server(
    kind: str,
    workers: int,
    connections: int,
    seconds: int,
    data_dir: Path,
    script: Path,
    env: dict[str, str],
) -> Result:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            server_command(kind, workers, port, data_dir),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).parent,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_up(f"{url}/healthz", process)
            run_wrk(url, script, connections, 2)  # warm-up: page cache, connections
            before, start = process_tree_cpu(process.pid), time.monotonic()
            rate, p50, p99, errors = run_wrk(url, script, connections, seconds)
            cpu = (process_tree_cpu(process.pid) - before) / (time.monotonic() - start) * 100
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return Result(kind, workers, connections, rate, p50, p99, errors, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("bench-data/resolution"))
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--dids", type=int, default=1_000_000, help="DIDs to build if missing")
    parser.add_argument("--servers", default="realdid,uvicorn,gunicorn,granian")
    parser.add_argument("--workers", default="2", help="comma-separated worker counts")
    parser.add_argument("--connections", default="64", help="comma-separated wrk connections")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (Debian: apt-get install wrk)")

    server = None
    database = None
    if args.engine == "postgresql":
        server = TemporaryPostgres(directory=args.data_dir.parent / f"{args.data_dir.name}-pg")
        server.start()
        database = server.url("postgres")
    try:
        _run(args, database)
    finally:
        if server is not None:
            server.stop(keep=True)


def _run(args: argparse.Namespace, database: str | None) -> None:
    if not (args.data_dir / "solo-ledger.key").exists():
        print(f"building {args.dids:,} DIDs in {args.data_dir} ({args.engine}) …")
        build_index(args.data_dir, args.dids, 10_000, database)
    verifies = raw_crypto_limit()[1]
    print(f"raw limit: PyNaCl Ed25519 {verifies:,.0f} verifies/s on one core; engine {args.engine}")
    paths = sample_paths(args.data_dir, database, 20_000)
    with tempfile.TemporaryDirectory() as scratch:
        listing = Path(scratch) / "paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        script = Path(scratch) / "random.lua"
        script.write_text(_WRK_LUA % listing)
        env = {
            **os.environ,
            "REALDID_BENCH_DATA_DIR": str(args.data_dir.resolve()),
            "PYTHONPATH": str(Path(__file__).parent),
        }
        if database:
            env["REALDID_NODE__DATABASE"] = database
            env["REALDID_BENCH_DATABASE"] = database
        print(
            f"{'server':<9} {'workers':>7} {'conns':>5} {'req/s':>9} {'spread':>13} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'CPU %':>6} {'errors':>6} {'vs verify':>9}"
        )
        for kind in args.servers.split(","):
            for workers in map(int, args.workers.split(",")):
                for connections in map(int, args.connections.split(",")):
                    runs = [
                        bench_server(
                            kind, workers, connections, args.seconds, args.data_dir, script, env
                        )
                        for _ in range(args.repeat)
                    ]
                    rates = [r.rate for r in runs]
                    best = max(runs, key=lambda r: r.rate)
                    print(
                        f"{kind:<9} {workers:>7} {connections:>5} {statistics.median(rates):>9,.0f} "
                        f"{min(rates):>6,.0f}–{max(rates):<6,.0f} {best.p50_ms:>7.2f} "
                        f"{best.p99_ms:>7.2f} {statistics.median(r.cpu_percent for r in runs):>6.0f} "
                        f"{sum(r.errors for r in runs):>6} {statistics.median(rates) / verifies:>9.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
