"""Login verification over HTTP: wallets' ``direct_post`` answers to a relying party, under wrk.

Run with ``.venv/bin/python bench/bench_login_http.py --help`` (``make bench`` runs it). The
relying party is bench_login.py's (the same setup, DID and status-list caches warm, one
shared SQLite request store); here it is served by uvicorn with ``--workers`` processes
(httptools, uvloop) and loaded by ``wrk`` — a C load generator, so the client does not
bound the result — with a Lua script that posts each prepared answer once: every request
is a real verification (issuer signature, disclosures, key binding, nonce, status list,
holder DID) and the single-use mark of its login request. Printed next to the raw ES256
and Ed25519 verify rates of the same run and the crypto ceiling per login.

Phases: raw limits; setup (issuer, RP, holders with site proofs); the wallet side in two
processes — ``--logins`` login requests created in the store and answered (untimed); then
the server, one warm-up-free timed run per ``--repeat`` (each on fresh answers).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import process_tree_cpu, run_wrk
from bench_login import QUERY, Setup, answer_forms, build_setup, make_rp, raw_limits
from realdid.crypto import KeyType
from realdid.rp import LoginRequestStore

BIN = Path(sys.executable).parent
_WRK_LUA = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  bodies = {}
  for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
  index = tid + 1
end
function request()
  local body = bodies[index] or "state=exhausted"
  index = index + %(threads)d
  return wrk.format("POST", "/oid4vp/responses",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""
WRK_THREADS = 2


def _answers(job: tuple[Setup, str, int, int]) -> list[str]:
    """``count`` login requests created in the store, answered as a wallet would."""
    setup, store, count, offset = job
    rp = make_rp(setup, store)
    pendings = [rp.create_request(QUERY) for _ in range(count)]
    forms = answer_forms(rp, setup, pendings, offset)
    rp.close()
    return [urlencode(form) for form in forms]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(workers: int, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        str(BIN / "uvicorn"),
        "--factory",
        "realdid_bench_login_app:create",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/oid4vp/transactions/x").status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the relying party did not start")


@dataclass(frozen=True, slots=True)
class LoginRun:
    """One timed run: verified logins/s (requests/s less the refused), wrk's latencies."""

    verified: float
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_percent: float
    refused: int
    answers: int


def timed_run(
    setup: Setup,
    store: str,
    scratch: Path,
    *,
    logins: int,
    offset: int,
    workers: int,
    connections: int,
    seconds: int,
    env: dict[str, str],
    on_serve: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> LoginRun:
    """``logins`` fresh answers made by two wallet processes (untimed), then the relying
    party served with ``workers`` processes under wrk for ``seconds``; ``offset`` picks the
    holders. ``on_serve`` is given the server process once it answers."""
    half = logins // 2
    jobs = [(setup, store, half, offset + w * half) for w in range(2)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        bodies = [b for part in pool.map(_answers, jobs) for b in part]
    listing = scratch / "bodies.txt"
    listing.write_text("\n".join(bodies) + "\n")
    script = scratch / "post.lua"
    script.write_text(_WRK_LUA % {"bodies": listing, "threads": WRK_THREADS})
    port = free_port()
    process = serve(workers, port, env)
    try:
        if on_serve is not None:
            on_serve(process)
        before, start = process_tree_cpu(process.pid), time.monotonic()
        rate, p50, p99, refused = run_wrk(f"http://127.0.0.1:{port}", script, connections, seconds)
        cpu = (process_tree_cpu(process.pid) - before) / (time.monotonic() - start) * 100
    finally:
        process.terminate()
        process.wait(timeout=30)
    return LoginRun(rate - refused / seconds, rate, p50, p99, cpu, refused, len(bodies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--logins", type=int, default=40_000, help="answers per timed run")
    parser.add_argument("--holders", type=int, default=2_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (Debian: apt-get install wrk)")

    raw = raw_limits()
    ceiling = 1 / (1 / raw["es256_verify"] + 1 / raw["ed25519_verify"])
    print(
        f"raw limits (1 core): ES256 verify {raw['es256_verify']:,.0f}/s, Ed25519 verify "
        f"{raw['ed25519_verify']:,.0f}/s; crypto ceiling {ceiling:,.0f} logins/s per core"
    )
    setup = build_setup(args.holders, KeyType.ED25519)
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "rp.db")
        LoginRequestStore(store).close()
        setup_file = Path(tmp) / "setup.pickle"
        setup_file.write_bytes(pickle.dumps(setup))
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).parent),
            "REALDID_BENCH_LOGIN_SETUP": str(setup_file),
            "REALDID_BENCH_LOGIN_STORE": store,
        }
        print(
            f"{'workers':>7} {'conns':>5} {'verified/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'CPU %':>6} {'refused':>7} {'vs ceiling':>10}"
        )
        results = []
        for run in range(args.repeat):
            done = timed_run(
                setup,
                store,
                Path(tmp),
                logins=args.logins,
                offset=run * args.logins,
                workers=args.workers,
                connections=args.connections,
                seconds=args.seconds,
                env=env,
            )
            results.append(done.verified)
            print(
                f"{args.workers:>7} {args.connections:>5} {done.verified:>10,.0f} "
                f"{done.p50_ms:>7.2f} {done.p99_ms:>7.2f} {done.cpu_percent:>6.0f} "
                f"{done.refused:>7} {done.verified / ceiling:>10.2f}",
                flush=True,
            )
            if done.rate * args.seconds > done.answers * 0.95:
                print("  (nearly every answer was used: give more --logins)")
        print(
            f"login verification over HTTP: median {statistics.median(results):,.0f}/s "
            f"({min(results):,.0f}–{max(results):,.0f}), {args.workers} workers"
        )


if __name__ == "__main__":
    main()
