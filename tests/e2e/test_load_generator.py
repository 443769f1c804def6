"""The load generator (``bench/load``, issue 12 item 1) against a real ``realdid serve``.

One platform with the demo sites (``--demo-port``: the forum is the relying party the
simulated residents log in to) and 30 synthetic residents in the register. The generator
is run as an operator runs it, as a command:

* ``prepare`` enrolls a pool of residents and gets each a site proof for the forum, into a
  state file that names residents by row only (no personal data);
* ``run`` in open loop for a few seconds with every kind in the mix: every kind completes
  operations and none fails, every DID update chain ends anchored, the results file has
  the documented shape, and the summary table is printed;
* a second, closed-loop ``run`` reuses the pool from the state file;
* a bad mix, duration or URL and an unreachable service fail with one ``error:`` line.

No timing is asserted: the machine is shared.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._cli import REALDID, consecutive_free_ports, free_port, realdid, succeeds

pytestmark = pytest.mark.e2e

LOAD = Path(__file__).resolve().parents[2] / "bench" / "load" / "realdid_load.py"
RESIDENTS = 30
POOL = 4
DEMO_SITES = 4  # forum, OIDC site, hotel, bridge on consecutive ports
KINDS = ("enroll", "login", "resolve", "update")
LATENCY_FIELDS = {"min", "mean", "p50", "p95", "p99", "max"}


@dataclass(frozen=True)
class Platform:
    node: str
    authority: str
    forum: str
    residents: Path
    captures: Path
    scratch: Path


def _wait_ok(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Platform]:
    """``realdid serve`` with the demo sites, the generator's address exempt from the rate
    limits (as docs/load.md tells operators), and 30 residents imported."""
    base = tmp_path_factory.mktemp("load")
    port, authority_port, demo_port = free_port(), free_port(), consecutive_free_ports(DEMO_SITES)
    log_path = base / "serve.log"
    failed_before = request.session.testsfailed
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(REALDID),
                "serve",
                "--data-dir",
                str(base / "data"),
                "--port",
                str(port),
                "--authority-port",
                str(authority_port),
                "--demo-port",
                str(demo_port),
                "--batch-interval",
                "0.05",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "REALDID_RATE_LIMITS__EXEMPT": "127.0.0.1",
            },
            start_new_session=True,
        )
    try:
        node, authority = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{authority_port}"
        forum = f"http://127.0.0.1:{demo_port}"
        _wait_ok(process, f"{forum}/", log_path)  # 503 "starting" until the demo is registered
        residents, captures = base / "residents.csv", base / "captures.csv"
        succeeds(
            realdid(
                "authority", "register", "generate", "--count", RESIDENTS, "--out", residents,
                "--captures", captures, "--seed", 12,
            )
        )  # fmt: skip
        succeeds(
            realdid(
                "authority", "register", "import", residents, "--data-dir", base / "data/authority"
            )
        )
        scratch = base / "scratch"
        scratch.mkdir()
        yield Platform(node, authority, forum, residents, captures, scratch)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if request.session.testsfailed > failed_before:
            sys.stdout.write(f"\n----- serve log -----\n{log_path.read_text(errors='replace')}\n")


def load(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The generator as an operator runs it (no terminal: no live progress)."""
    return subprocess.run(
        [sys.executable, str(LOAD), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}\n{result.stdout}"
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def state(platform: Platform) -> Path:
    """A prepared pool of 4 residents, each with a site proof for the forum."""
    path = platform.scratch / "state.json"
    prepared = ok(
        load(
            "prepare", "--node", platform.node, "--authority", platform.authority,
            "--site", platform.forum, "--residents", platform.residents,
            "--captures", platform.captures, "--pool", POOL, "--state", path,
        )
    )  # fmt: skip
    assert prepared.stdout.startswith(f"pool: {POOL} residents ({POOL} enrolled now, 0 kept)")
    assert path.stat().st_mode & 0o077 == 0  # the seeds are private keys
    return path


@pytest.fixture(scope="module")
def open_loop(platform: Platform, state: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    """A 4-second open-loop run of every kind from two client processes."""
    out = platform.scratch / "results.json"
    result = ok(
        load(
            "run", "--state", state, "--open-loop", "--rate", "16", "--duration", "4s",
            "--processes", "2", "--mix", "enroll=1,login=5,resolve=6,update=4",
            "--out", out,
        )
    )  # fmt: skip
    return result, json.loads(out.read_text(encoding="utf-8"))


def test_every_kind_completes_without_errors(
    open_loop: tuple[subprocess.CompletedProcess[str], Any],
) -> None:
    _, results = open_loop
    assert set(results["kinds"]) == set(KINDS)
    for kind in KINDS:
        entry = results["kinds"][kind]
        assert entry["ok"] > 0, (kind, entry)
        assert entry["errors"] == 0, (kind, entry["errors_by_type"])
        assert entry["errors_by_type"] == {}
        assert entry["count"] == entry["ok"]
    # Open loop schedules 16/s for 4 s whatever the completions, and the mix is a smooth
    # weighted round-robin: 64 operations, 4 whole rounds of 1 + 5 + 6 + 4 (give or take
    # one per process at the end of the schedule).
    weights = {"enroll": 1, "login": 5, "resolve": 6, "update": 4}
    for kind, weight in weights.items():
        assert abs(results["kinds"][kind]["count"] - 4 * weight) <= 2, results["kinds"][kind]
    assert results["total"]["errors"] == 0
    assert results["total"]["ok"] == sum(results["kinds"][k]["ok"] for k in KINDS)
    # Every DID update was applied: the last operation of every updated DID is anchored.
    chains = results["checks"]["update_chains"]
    assert chains["dids"] > 0
    assert chains["anchored"] == chains["dids"], chains
    assert not [w for w in results["warnings"] if "updated DIDs" in w], results["warnings"]


def test_results_file_has_the_documented_shape(
    open_loop: tuple[subprocess.CompletedProcess[str], Any], platform: Platform, state: Path
) -> None:
    _, results = open_loop
    assert results["tool"] == "realdid-load"
    assert results["format"] == 1
    assert results["started_at"].endswith("Z")
    assert results["ended_at"] >= results["started_at"]
    assert results["window_s"] > 0
    config = results["config"]
    assert config["mode"] == "open-loop"
    assert config["rate"] == 16
    assert config["processes"] == 2
    assert config["duration_s"] == 4
    assert config["node"] == platform.node
    assert config["sites"] == [platform.forum]
    assert config["mix"] == {"enroll": 1, "login": 5, "resolve": 6, "update": 4}
    for kind in KINDS:
        entry = results["kinds"][kind]
        assert set(entry) >= {
            "weight", "count", "ok", "errors", "throughput_per_s", "latency_ms",
            "errors_by_type", "steps", "warmup",
        }  # fmt: skip
        assert set(entry["latency_ms"]) == LATENCY_FIELDS
        latency = entry["latency_ms"]
        assert 0 < latency["min"] <= latency["p50"] <= latency["p95"] <= latency["p99"]
        assert latency["p99"] <= latency["max"]
        assert entry["throughput_per_s"] > 0
        assert entry["steps"], kind
        for step in entry["steps"].values():
            assert step["count"] > 0
            assert set(step["latency_ms"]) == LATENCY_FIELDS
    assert set(results["kinds"]["login"]["steps"]) == {
        "login-page", "request-object", "response", "complete",
    }  # fmt: skip
    assert {"did-submit", "did-anchor", "application", "credential"} <= set(
        results["kinds"]["enroll"]["steps"]
    )
    generator = results["generator"]
    assert generator["processes"] == 2
    assert len(generator["per_process_cpu_percent"]) == 2
    assert generator["cpu_seconds"] > 0
    assert set(generator["schedule_lag_ms"]) == LATENCY_FIELDS
    assert results["pool"]["residents"] == POOL
    assert results["pool"]["site_accounts"] == POOL
    assert results["pool"]["state_file"] == str(state)
    assert results["pool"]["enroll_rows"] == RESIDENTS - POOL


def test_summary_table_and_no_personal_data(
    open_loop: tuple[subprocess.CompletedProcess[str], Any], platform: Platform, state: Path
) -> None:
    result, results = open_loop
    lines = result.stdout.splitlines()
    assert lines[0].startswith("realdid-load: open loop, 16/s scheduled")
    header = next(line for line in lines if "kind" in line and "p99 ms" in line)
    assert "errors by type" in header
    for kind in (*KINDS, "total"):
        assert any(re.match(rf"^\W*{kind}\W+[0-9]", line) for line in lines), kind
    assert "latency by step (ms, measured operations)" in lines
    assert any(line.startswith("generator: 2 client processes") for line in lines)
    assert any(line.startswith(f"login pool: {POOL} residents prepared") for line in lines)
    # Names and ID numbers appear nowhere: not in the output, the results or the state file.
    written = result.stdout + result.stderr + json.dumps(results) + state.read_text("utf-8")
    rows = platform.residents.read_text(encoding="utf-8").splitlines()[1:]
    for row in rows:
        id_number, family, given = row.split(",")[:3]
        assert id_number not in written
        assert family + given not in written


def test_closed_loop_reuses_the_pool(platform: Platform, state: Path) -> None:
    out = platform.scratch / "closed.json"
    result = ok(
        load(
            "run", "--state", state, "--concurrency", "3", "--duration", "2s",
            "--processes", "1", "--mix", "login=1,resolve=2,update=1", "--out", out,
        )
    )  # fmt: skip
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["config"]["mode"] == "closed-loop"
    assert results["generator"]["schedule_lag_ms"] is None
    assert set(results["kinds"]) == {"login", "resolve", "update"}
    for kind, entry in results["kinds"].items():
        assert entry["ok"] > 0, kind
        assert entry["errors"] == 0, (kind, entry["errors_by_type"])
    chains = results["checks"]["update_chains"]
    assert chains["anchored"] == chains["dids"] > 0, chains
    assert results["pool"]["reused"] is True
    assert "closed loop, 3 users" in result.stdout


def _one_error_line(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert text in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["--mix", "enroll=1,bogus=2"], 2, "--mix: unknown kind 'bogus'"),
        (["--mix", "login=lots"], 2, "--mix: the weight of login is not a number"),
        (["--mix", "login=0"], 2, "--mix: every weight is 0"),
        (["--duration", "soon"], 2, "--duration: 'soon' is not a duration"),
        (["--open-loop"], 2, "--open-loop needs --rate"),
        (["--node", "registry.example"], 2, "--node must be an http(s) URL"),
        (["--node", "http://127.0.0.1:1"], 1, "cannot reach the registry node at http://127.0.0.1:1"),
    ],
    ids=["unknown-kind", "bad-weight", "all-zero", "bad-duration", "open-loop-without-rate",
         "malformed-url", "unreachable-node"],
)  # fmt: skip
def test_bad_input_fails_on_one_line(state: Path, args: list[str], code: int, text: str) -> None:
    _one_error_line(load("run", "--state", state, "--duration", "1s", *args), code, text)


def test_prepare_against_an_unreachable_authority(platform: Platform) -> None:
    result = load(
        "prepare", "--node", platform.node, "--authority", "http://127.0.0.1:1",
        "--site", platform.forum, "--residents", platform.residents,
        "--captures", platform.captures, "--state", platform.scratch / "other.json",
    )  # fmt: skip
    _one_error_line(result, 1, "cannot reach the identity authority at http://127.0.0.1:1")
    assert not (platform.scratch / "other.json").exists()
