"""Soak: the mixed load at a fraction of measured capacity for minutes, minute by minute.

Issue 12, item 3: "10 minutes of the mixed load at 80 % of the measured capacity: zero
errors, p99 stable, memory flat; the result recorded." Run with::

    .venv/bin/python bench/soak.py --minutes 10 --fraction 0.8

It starts ``realdid serve --workers 2 --demo-port`` on a fresh data directory (SQLite by
default; ``--database postgresql://…`` for PostgreSQL), imports a synthetic register and
has the load generator (``bench/load``, docs/load.md) prepare a pool of enrolled residents.
Then:

1. **capacity**: a closed-loop run of the mix (``--concurrency`` users) for
   ``--capacity-seconds``; its total successful operations per second is the capacity;
2. **soak**: ``--minutes`` consecutive one-minute open-loop runs at ``--fraction`` of that
   rate, each with its own results file, and after each the resident set size of every
   process of the server (``/proc/<pid>/status``, ``VmRSS``, the supervisor and each
   worker; a worker the supervisor replaced is reported as such).

It prints one line per minute (throughput, errors, p50/p99 of all operations, RSS) and a
verdict — errors, the spread of the per-minute p99, RSS growth from the first to the last
minute — and writes everything to ``<work-dir>/soak.json``. Like every bench here it prints
the raw PyNaCl Ed25519 verify rate measured in the same run. Nothing is asserted: this is a
measurement, recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_node import raw_crypto_limit

BIN = Path(sys.executable).parent
LOAD = Path(__file__).parent / "load" / "realdid_load.py"
MIX = "enroll=1,login=20,resolve=70,update=9"


def free_ports(count: int) -> int:
    """A base port with ``count`` free ports after it (the demo sites take consecutive ones)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count < 65535 and all(_free(base + n) for n in range(count)):
            return base
    raise SystemExit("error: no run of free ports found")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def server_processes(root: int) -> dict[int, int]:
    """``{pid: RSS KiB}`` of the supervisor and its children."""
    children = subprocess.run(
        ["pgrep", "-P", str(root)], capture_output=True, text=True, check=False
    ).stdout.split()
    found = {}
    for pid in [root, *map(int, children)]:
        rss = rss_kib(pid)
        if rss is not None:
            found[pid] = rss
    return found


def realdid(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(BIN / "realdid"), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"error: realdid {args[0]} {args[1]}: {done.stderr.strip()[-300:]}")


def prepare(*args: str, cwd: Path) -> None:
    """The load generator's ``prepare``: a pool of enrolled residents with site proofs."""
    done = subprocess.run(
        [sys.executable, str(LOAD), "prepare", *args, "--no-progress"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"error: preparing the pool failed: {done.stderr.strip()[-500:]}")


def run(*args: str, cwd: Path) -> dict[str, Any]:
    """The load generator's ``run``; its results file as a dict."""
    out = cwd / f"results-{time.monotonic_ns()}.json"
    done = subprocess.run(
        [sys.executable, str(LOAD), "run", *args, "--no-progress", "--out", str(out)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"error: the load generator failed: {done.stderr.strip()[-500:]}")
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def wait_up(urls: list[str], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"error: {url} did not come up")
            time.sleep(0.5)


def overall_latency(results: dict[str, Any]) -> tuple[float, float]:
    """p50 and p99 of all successful operations, weighted by kind (the generator reports
    per kind; the largest per-kind p99 is the conservative reading)."""
    kinds = [k for k in results["kinds"].values() if k["ok"]]
    p50 = statistics.median(k["latency_ms"]["p50"] for k in kinds)
    p99 = max(k["latency_ms"]["p99"] for k in kinds)
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--fraction", type=float, default=0.8)
    parser.add_argument("--work-dir", type=Path, default=Path(__file__).parent / ".cache" / "soak")
    parser.add_argument("--database", help="a postgresql:// URL (default: SQLite files)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--residents", type=int, default=5000)
    parser.add_argument("--pool", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--capacity-seconds", type=int, default=30)
    parser.add_argument("--mix", default=MIX)
    args = parser.parse_args()

    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sign, verify = raw_crypto_limit()
    print(f"raw limit   PyNaCl Ed25519: {sign:,.0f} signs/s, {verify:,.0f} verifies/s (one core)")
    base = free_ports(8)
    node, authority, demo = base, base + 1, base + 2
    env = {
        **os.environ,
        "REALDID_RATE_LIMITS__EXEMPT": "127.0.0.1",  # the load generator is one client
        "REALDID_AUTHORITY_PASSPHRASE": "soak test passphrase 2026",
    }
    if args.database:
        env["REALDID_NODE__DATABASE"] = args.database  # the authority and sites follow it
    data = work / "data"
    log = (work / "serve.log").open("wb")
    serve = subprocess.Popen(
        [
            str(BIN / "realdid"),
            "serve",
            "--data-dir",
            str(data),
            "--port",
            str(node),
            "--authority-port",
            str(authority),
            "--demo-port",
            str(demo),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    urls = {
        "node": f"http://127.0.0.1:{node}",
        "authority": f"http://127.0.0.1:{authority}",
        "site": f"http://127.0.0.1:{demo}",
    }
    common = ["--node", urls["node"], "--authority", urls["authority"], "--site", urls["site"]]
    report: dict[str, Any] = {"config": vars(args) | {"work_dir": str(work)}, "minutes": []}
    report["raw"] = {"ed25519_signs_per_s": sign, "ed25519_verifies_per_s": verify}
    try:
        wait_up([f"{urls['node']}/healthz", f"{urls['authority']}/healthz"])
        realdid(
            "authority", "register", "generate", "--count", str(args.residents),
            "--out", str(work / "residents.csv"), "--captures", str(work / "captures.csv"),
            "--seed", "1", env=env,
        )  # fmt: skip
        realdid(
            "authority", "register", "import", str(work / "residents.csv"),
            "--data-dir", str(data / "authority"), env=env,
        )  # fmt: skip
        wait_up([f"{urls['site']}/"])
        prepare(
            *common, "--residents", str(work / "residents.csv"),
            "--captures", str(work / "captures.csv"), "--pool", str(args.pool),
            "--concurrency", "16", cwd=work,
        )  # fmt: skip
        capacity_run = run(
            "--mix", args.mix, "--concurrency", str(args.concurrency),
            "--duration", f"{args.capacity_seconds}s", "--processes", "2", cwd=work,
        )  # fmt: skip
        capacity = capacity_run["total"]["throughput_per_s"]
        rate = round(capacity * args.fraction, 1)
        report["capacity"] = {
            "ops_per_s": capacity,
            "errors": capacity_run["total"]["errors"],
            "rate": rate,
        }
        print(
            f"capacity    {capacity:,.1f} operations/s closed loop ({args.concurrency} users, "
            f"mix {args.mix}); soak at {args.fraction:.0%}: {rate:,.1f}/s"
        )
        print(
            f"{'minute':>6} {'ops/s':>7} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7}  RSS MiB by pid"
        )
        for minute in range(1, args.minutes + 1):
            results = run(
                "--mix", args.mix, "--open-loop", "--rate", str(rate),
                "--duration", "60s", "--processes", "2", cwd=work,
            )  # fmt: skip
            rss = server_processes(serve.pid)
            p50, p99 = overall_latency(results)
            row = {
                "minute": minute,
                "ops_per_s": results["total"]["throughput_per_s"],
                "errors": results["total"]["errors"],
                "errors_by_kind": {
                    k: v["errors_by_type"] for k, v in results["kinds"].items() if v["errors"]
                },
                "p50_ms": p50,
                "p99_ms": p99,
                "p99_by_kind_ms": {k: v["latency_ms"]["p99"] for k, v in results["kinds"].items()},
                "rss_kib": rss,
                "warnings": results.get("warnings", []),
            }
            report["minutes"].append(row)
            shown = " ".join(f"{pid}:{kib / 1024:.0f}" for pid, kib in sorted(rss.items()))
            print(
                f"{minute:>6} {row['ops_per_s']:>7.1f} {row['errors']:>6} {p50:>7.1f} "
                f"{p99:>7.1f}  {shown}",
                flush=True,
            )
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()
    rows = report["minutes"]
    if rows:
        first, last = rows[0]["rss_kib"], rows[-1]["rss_kib"]
        growth = {
            pid: (last[pid] - first[pid]) / first[pid]
            for pid in first
            if pid in last and first[pid]
        }
        replaced = sorted(set(first) ^ set(last))
        p99s = [r["p99_ms"] for r in rows]
        report["verdict"] = {
            "errors": sum(r["errors"] for r in rows),
            "p99_ms_min_median_max": [min(p99s), statistics.median(p99s), max(p99s)],
            "rss_growth_first_to_last": growth,
            "processes_replaced": replaced,
        }
        print(
            f"verdict     {report['verdict']['errors']} errors in {len(rows)} minutes; per-minute "
            f"p99 {min(p99s):.0f}–{max(p99s):.0f} ms (median {statistics.median(p99s):.0f}); RSS "
            f"growth first→last minute "
            + ", ".join(f"{pid} {g:+.1%}" for pid, g in sorted(growth.items()))
            + (f"; replaced processes {replaced}" if replaced else "")
            + f" | raw limit {verify:,.0f} verifies/s"
        )
    (work / "soak.json").write_text(json.dumps(report, indent=1))
    print(f"results     {work / 'soak.json'}")


if __name__ == "__main__":
    main()
