"""Crash under load (issue 12, item 4), on a small scale: SIGKILLs while the mixed load runs.

Requirement: "repeated SIGKILL of each service (node writer, resolver workers, authority,
relying party, bridge) while the mixed load runs: zero acknowledged operations,
enrollments or issued credentials lost, zero duplicates, every service healthy again by
itself; PostgreSQL itself killed and restarted mid-run."

One ``realdid serve --workers 2 --demo-port`` runs the registry node, the identity
authority and the demo sites (forum, OIDC site, hotel, OIDC bridge) in each of its two
worker processes, on the run's engine (SQLite, or PostgreSQL on the PostgreSQL pass of
``make test``). A small register is imported, the load generator (``bench/load``)
prepares a pool of residents, then runs its open-loop mix of enrollments, logins,
resolutions and DID updates with ``--acknowledged``, which logs every operation the
deployment acknowledged as it was acknowledged. Meanwhile the test SIGKILLs, several
times, the worker that is the node's writer and the other worker — each kill takes down a
writer or resolver, an authority, the relying parties and the bridge at once — and, on
PostgreSQL, crashes and restarts the database server once (immediate shutdown, WAL
recovery), at the worst moment it can find: while a replaced worker is setting its demo
sites up. The test never restarts a service: the supervisor replaces dead workers and the
survivors carry on. Before each kill it waits (within a bound) until both workers say that
each of their services is ready: the kernel hands a listening socket's connections to the
workers that accept, so a worker that gave a service up would hide behind the other one
from every health check.

Afterwards the test proves, from the acknowledgement log and the services' stores:

* every DID operation answered 202 is anchored and applied, with exactly one outcome in
  the node's store, and every acknowledged create resolves;
* every enrollment whose credential was issued has exactly one enrollment record for its
  DID and its credential — found by its status list entry — is recorded as issued, once;
  likewise every site proof ``prepare`` was issued;
* every login the relying party answered 200 has exactly one login request with a
  successful recorded outcome;
* the errors the generator saw are only of the kinds a killed process or a restarting
  database causes (dropped connections, 503s, and an update resent after its answer was
  lost found already processed);
* every service answers its health check 200 again by itself within a bound, with both
  workers running, each with all its services ready, one writer, and no thread of a
  worker dead of an exception; ``realdid ledger verify`` passes.

What was lost or duplicated is asserted first; what did not heal and unexplained errors
last, so that a run failing on those has still proven the rest.

The seed of the kill schedule is printed; ``REALDID_CRASH_SEED`` replays it. No timing is
asserted other than the healing bound: the machine is shared.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from realdid.authority import REAL_NAME, SITE_PROOF, SqliteRegister, write_register
from realdid.storage import migrations_of, open_database

from ..e2e._cli import consecutive_free_ports, free_port
from ..service_databases import ServiceDatabases

REALDID = Path(sys.executable).with_name("realdid")
LOAD = Path(__file__).resolve().parents[2] / "bench" / "load" / "realdid_load.py"
SEED_ENV = "REALDID_CRASH_SEED"
RESIDENTS = 80
POOL = 4
RATE = 8  # operations per second in total: what 2 shared cores sustain beside the kills
DURATION = 26.0  # seconds of load
MIX = "enroll=1,login=3,resolve=4,update=2"
START_TIMEOUT = 120.0
HEAL_TIMEOUT = 45.0  # every service healthy again by itself within this, after the load
DEMO_SITES = 4  # forum, OIDC site, hotel, bridge on consecutive ports
KILLS_END_BEFORE = 5.0  # seconds before the load ends: no kill after that
WORKER_READY_TIMEOUT = 30.0  # a replaced worker serves everything again within this
WRITER_LINE = re.compile(r"process (\d+) is the node's writer")
#: What each worker logs once its copy of a service is ready (they log ``[pid]``).
READY_LINES = {
    "node": re.compile(r"\[(\d+)\] realdid\.node\._app: registry node ready"),
    "authority": re.compile(r"\[(\d+)\] realdid\.authority\._runtime: identity authority ready"),
    "demo sites": re.compile(r"\[(\d+)\] realdid\.web\._bootstrap: demo sites ready"),
}
#: A worker that gave a service up for good, or a thread that died of an exception.
GAVE_UP = re.compile(r"\[(\d+)\] realdid\.web\._bootstrap: demo bootstrap failed")
DEAD_THREAD = re.compile(r"^Exception in thread (\S+):", re.MULTILINE)

#: What a SIGKILLed worker or a restarting database may cost an operation in flight: the
#: connection dropped or refused, or a 503 asking to retry.
TRANSIENT = {
    "transport:ConnectError",
    "transport:ReadError",
    "transport:WriteError",
    "transport:RemoteProtocolError",
    "urn:realdid:problem:storage-unavailable",
    "urn:realdid:problem:registry-unavailable",
    "urn:realdid:problem:status-unavailable",
    "urn:realdid:problem:authority-starting",
    # A site's own page (HTML, so no problem type) while its database restarts: 503 "try
    # again in a moment" with Retry-After (realdid.web._site).
    "http-503",
}
#: An update whose 202 was lost is built again identically (same previous, same key) and,
#: if the node had it and anchored it meanwhile, answered "already processed".
ALREADY_PROCESSED = "urn:realdid:problem:operation-already-processed"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def answers_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Platform:
    """``realdid serve --workers 2`` with the authority and the demo sites."""

    data_dir: Path
    log_path: Path
    databases: ServiceDatabases
    port: int = field(default_factory=free_port)
    authority_port: int = field(default_factory=free_port)
    demo_port: int = field(default_factory=lambda: consecutive_free_ports(DEMO_SITES))
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def node(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self.authority_port}"

    def site(self, offset: int) -> str:
        return f"http://127.0.0.1:{self.demo_port + offset}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "REALDID_RATE_LIMITS__EXEMPT": "127.0.0.0/8",
            **self.databases.env(self.data_dir),
        }

    @property
    def health_urls(self) -> dict[str, str]:
        """Each service's health check: node, authority, forum, OIDC site, hotel, bridge."""
        return {
            "node": f"{self.node}/healthz",
            "authority": f"{self.authority}/healthz",
            "forum": f"{self.site(0)}/",
            "oidc-site": f"{self.site(1)}/",
            "hotel": f"{self.site(2)}/",
            "bridge": f"{self.site(3)}/healthz",
        }

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(REALDID), "serve", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
                "--port", str(self.port), "--authority-port", str(self.authority_port),
                "--demo-port", str(self.demo_port), "--workers", "2",
                "--batch-interval", "0.1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )  # fmt: skip
        for name, url in self.health_urls.items():
            up = functools.partial(lambda at: self.alive() and answers_200(at), url)
            wait_for(up, START_TIMEOUT, name)
        problem = self.wait_workers_ready(START_TIMEOUT)
        assert problem is None, problem

    def alive(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"realdid serve exited:\n{self.log_tail()}")
        return True

    def unhealthy(self) -> dict[str, str]:
        """The services whose health check does not answer 200 now, with what they said."""
        bad = {}
        for name, url in self.health_urls.items():
            try:
                response = httpx.get(url, timeout=3.0)
            except httpx.HTTPError as e:
                bad[name] = type(e).__name__
                continue
            if response.status_code != 200:
                bad[name] = f"HTTP {response.status_code}: {response.text[:200]}"
        return bad

    def worker_pids(self) -> set[int]:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return {int(p) for p in children.split()}

    def writer_pid(self, *, other_than: int | None = None, timeout: float = 20.0) -> int:
        """The live worker that logged last that it is the node's writer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = self.worker_pids()
            for pid in reversed(WRITER_LINE.findall(self.log_path.read_text(errors="replace"))):
                if int(pid) != other_than and int(pid) in workers:
                    return int(pid)
            time.sleep(0.05)
        raise AssertionError(f"no writer (other than {other_than}) within {timeout:.0f} s")

    def not_ready(self) -> dict[int, list[str]]:
        """Per live worker, the services it has not said are ready (none: all are)."""
        log = self.log_path.read_text(errors="replace")
        ready = {
            name: {int(pid) for pid in line.findall(log)} for name, line in READY_LINES.items()
        }
        missing = {
            pid: [name for name, pids in ready.items() if pid not in pids]
            for pid in self.worker_pids()
        }
        return {pid: names for pid, names in missing.items() if names}

    def wait_workers_ready(self, timeout: float = WORKER_READY_TIMEOUT) -> str | None:
        """Wait until both workers run and each serves its node, authority and demo sites;
        what is wrong if not (None: healed). A worker that lost a service for good — its
        demo sites' bootstrap gave up — is reported at once: the other worker would hide it
        from every health check, as the kernel hands that one every connection."""
        deadline = time.monotonic() + timeout
        while True:
            missing = self.not_ready()
            log = self.log_path.read_text(errors="replace")
            gave_up = {int(pid) for pid in GAVE_UP.findall(log)} & set(missing)
            if gave_up:
                return f"worker(s) {sorted(gave_up)} gave their demo sites up for good"
            if len(self.worker_pids()) == 2 and not missing:
                return None
            if time.monotonic() > deadline:
                return (
                    f"workers not ready within {timeout:.0f} s (not ready: {missing},"
                    f" workers {sorted(self.worker_pids())})"
                )
            time.sleep(0.1)

    def note(self, line: str) -> None:
        if self._log is not None:
            self._log.write(f"===== {line} =====\n".encode())
            self._log.flush()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log is not None:
            self._log.close()

    def log_tail(self, limit: int = 48 * 1024) -> str:
        data = self.log_path.read_bytes()
        return data[-limit:].decode(errors="replace")


@pytest.fixture
def platform(
    tmp_path: Path, request: pytest.FixtureRequest, service_databases: ServiceDatabases
) -> Iterator[Platform]:
    """A running platform on the run's engine with ``RESIDENTS`` residents imported."""
    data_dir = tmp_path / "data"
    write_register(
        RESIDENTS, random.Random(12), tmp_path / "residents.csv", tmp_path / "captures.csv"
    )
    where = service_databases.location(data_dir, "authority/register.db")
    (data_dir / "authority").mkdir(parents=True, mode=0o700)
    with SqliteRegister(where) as register:
        assert register.import_csv(tmp_path / "residents.csv") == RESIDENTS
    served = Platform(data_dir, tmp_path / "serve.log", service_databases)
    failed_before = request.session.testsfailed
    try:
        served.start()
        yield served
    finally:
        served.stop()
        if request.session.testsfailed > failed_before:
            sys.stdout.write(f"\n----- serve log -----\n{served.log_tail()}\n")


def load(*args: str | Path | int) -> list[str]:
    return [sys.executable, str(LOAD), *map(str, args)]


def read_acknowledged(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# -- the test ---------------------------------------------------------------------------------
def test_sigkills_and_a_database_crash_under_load_lose_nothing_acknowledged(
    platform: Platform, tmp_path: Path, service_databases: ServiceDatabases
) -> None:
    seed = int(os.environ.get(SEED_ENV) or secrets.randbelow(2**32))
    print(f"crash-under-load seed: {seed} (replay with {SEED_ENV}={seed})")
    rng = random.Random(seed)
    postgres = service_databases.server
    state, results = tmp_path / "state.json", tmp_path / "results.json"
    prepared_acks, run_acks = tmp_path / "prepare-acks.jsonl", tmp_path / "run-acks.jsonl"

    prepared = subprocess.run(
        load(
            "prepare", "--node", platform.node, "--authority", platform.authority,
            "--site", platform.site(0), "--residents", tmp_path / "residents.csv",
            "--captures", tmp_path / "captures.csv", "--pool", POOL, "--state", state,
            "--acknowledged", prepared_acks, "--no-progress",
        ),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr

    # -- the mixed load, and the kills meanwhile -------------------------------------------------
    generator = subprocess.Popen(
        load(
            "run", "--state", state, "--open-loop", "--rate", RATE,
            "--duration", f"{DURATION}s", "--processes", "2", "--mix", MIX,
            "--timeout", "15s", "--anchor-timeout", "60s", "--settle", "30s",
            "--acknowledged", run_acks, "--out", results, "--no-progress",
        ),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    victims = ["writer", "worker"] * 3 + ["writer"]
    if postgres is not None:
        # The database crashes while the worker killed just before is starting again.
        victims.insert(2, "postgres")
    kills: list[tuple[float, str, int]] = []
    not_healed: list[str] = []  # asserted last: the checks of what was lost run first
    try:
        wait_for(lambda: run_acks.exists() and run_acks.stat().st_size > 0, 60, "the load")
        started = time.monotonic()
        for index, victim in enumerate(victims):
            if time.monotonic() - started > DURATION - KILLS_END_BEFORE:
                break  # the load must go on after the last kill
            if victim == "postgres":
                # The worst moment: a replaced worker has its node and authority and is
                # setting its demo sites up (a plain moment if it was quicker than this).
                with contextlib.suppress(AssertionError):
                    wait_for(
                        lambda: any(
                            names == ["demo sites"] for names in platform.not_ready().values()
                        ),
                        10,
                        "a worker setting up its demo sites",
                    )
            else:
                time.sleep(rng.uniform(1.0, 2.0))
            acked = len(read_acknowledged(run_acks))
            if victim == "writer":
                pid = platform.writer_pid()
                os.kill(pid, signal.SIGKILL)
                platform.note(f"SIGKILL of the writer worker (pid {pid})")
                platform.writer_pid(other_than=pid)  # the survivor takes over, by itself
            elif victim == "worker":
                writer = platform.writer_pid()
                wait_for(lambda: len(platform.worker_pids()) == 2, 30, "a second worker")
                pid = min(platform.worker_pids() - {writer})
                os.kill(pid, signal.SIGKILL)
                platform.note(f"SIGKILL of a non-writer worker (pid {pid})")
            else:
                assert postgres is not None
                pid = 0
                platform.note("PostgreSQL crashed and restarted")
                postgres.restart(crash=True)
            kills.append((round(time.monotonic() - started, 1), victim, acked))
            if pid:
                gone = functools.partial(lambda dead: dead not in platform.worker_pids(), pid)
                wait_for(gone, 10, "the dead worker reaped")
            if victims[index + 1 : index + 2] == ["postgres"]:
                continue
            # Healed by itself before the next kill: the supervisor replaced the dead worker
            # and it serves everything; after the database's restart, every service answers.
            problem = platform.wait_workers_ready()
            if problem is not None:
                not_healed.append(f"after {victim} kill #{index}: {problem}")
            if victim == "postgres":
                wait_for(lambda: not platform.unhealthy(), WORKER_READY_TIMEOUT, "healing")
        out, err = generator.communicate(timeout=180)
    finally:
        if generator.poll() is None:
            generator.kill()
            generator.wait()
    assert generator.returncode == 0, f"seed {seed}: generator failed: {err}\n{out}"
    killed = Counter(victim for _, victim, _ in kills)
    assert killed["writer"] >= 2, f"seed {seed}: too few kills: {kills}"
    assert killed["worker"] >= 2, f"seed {seed}: too few kills: {kills}"
    assert killed["postgres"] == (postgres is not None), f"seed {seed}: {kills}"

    # -- every service heals by itself -----------------------------------------------------------
    deadline = time.monotonic() + HEAL_TIMEOUT
    while (bad := platform.unhealthy()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not bad, f"seed {seed}: not healthy {HEAL_TIMEOUT:.0f} s after the load: {bad}"
    assert platform.alive()
    problem = platform.wait_workers_ready(timeout=5)
    if problem is not None:
        not_healed.append(f"after the load: {problem}")
    dead_threads = DEAD_THREAD.findall(platform.log_path.read_text(errors="replace"))
    if dead_threads:
        not_healed.append(f"threads died of an exception: {dead_threads}")
    platform.writer_pid(timeout=5)
    with httpx.Client(base_url=platform.node, timeout=10.0) as node:
        wait_for(lambda: node.get("/healthz").json()["queueLength"] == 0, 30, "the queue")
        assert node.get("/healthz").json()["status"] == "ok"

        # -- what the generator saw (its error types are checked last) -------------------------
        report = json.loads(results.read_text())
        errors: Counter[str] = Counter()
        for kind, record in report["kinds"].items():
            assert record["ok"] > 0, f"seed {seed}: no {kind} succeeded: {record}"
            for type_, entry in record["errors_by_type"].items():
                errors[type_] += entry["count"]
                if type_ == ALREADY_PROCESSED:
                    assert kind == "update", f"seed {seed}: {kind}: {entry}"
        chains = report["checks"]["update_chains"]
        assert chains["rejected"] == chains["pending"] == chains["unknown"] == 0, chains

        # -- what was acknowledged -----------------------------------------------------------------
        acks = read_acknowledged(prepared_acks) + read_acknowledged(run_acks)
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for ack in acks:
            by_kind.setdefault(ack["kind"], []).append(ack)
        operations = {a["operation"]: a for a in by_kind.get("did-operation", [])}
        enrollments = by_kind.get("enrollment", [])
        site_proofs = by_kind.get("site-proof", [])
        logins = by_kind.get("login", [])
        run_kinds = Counter(a["kind"] for a in read_acknowledged(run_acks))
        assert {"did-operation", "enrollment", "login"} <= set(run_kinds), run_kinds
        last_kill_acks = kills[-1][2]
        assert sum(run_kinds.values()) > last_kill_acks, "the load went on after the last kill"

        # DID operations: anchored and applied; creates resolve
        for h, ack in operations.items():
            status = node.get(f"/1.0/operations/{h}")
            assert status.status_code == 200, f"seed {seed}: acknowledged {ack} is lost"
            assert status.json()["status"] == "anchored", f"seed {seed}: {ack}: {status.json()}"
            if ack["type"] == "create":
                resolved = node.get(f"/1.0/identifiers/{ack['did']}")
                assert resolved.status_code == 200, f"seed {seed}: {ack}: {resolved.text}"

    node_db = service_databases.open(platform.data_dir, "node", "node.db")
    try:
        with node_db.reading() as tx:
            outcomes: dict[str, list[int]] = {}
            for blob, applied in tx.execute("SELECT hash, applied FROM operations"):
                outcomes.setdefault(bytes(blob).hex(), []).append(int(applied))
            leaves: set[str] = set()
            for (blob,) in tx.execute("SELECT leaves FROM anchors WHERE valid = 1"):
                leaves.update(bytes(blob[i : i + 32]).hex() for i in range(0, len(blob), 32))
            dids = tx.execute("SELECT count(*) FROM dids").fetchone()[0]
    finally:
        node_db.close()
    for h, ack in operations.items():
        assert outcomes.get(h) == [1], f"seed {seed}: {ack} has outcomes {outcomes.get(h)}"
        assert h in leaves, f"seed {seed}: {ack} is in no valid anchor"

    # Enrollments and site proofs: one enrollment per DID, the credential issued, once
    authority_db = service_databases.open(platform.data_dir, "authority", "authority/authority.db")
    try:
        with authority_db.reading() as tx:

            def issued(ack: dict[str, Any], credential_type: str) -> None:
                assert ack["status_list"] is not None, f"seed {seed}: unidentified: {ack}"
                list_id = int(str(ack["status_list"]).rsplit("/", 1)[1])
                rows = tx.execute(
                    "SELECT c.type, c.state, e.did FROM credentials c"
                    " JOIN enrollments e ON e.id = c.enrollment_id"
                    " WHERE c.status_list = ? AND c.status_index = ?",
                    (list_id, ack["status_index"]),
                ).fetchall()
                assert [tuple(r) for r in rows] == [
                    (credential_type, "issued", ack.get("root_did", ack["did"]))
                ], f"seed {seed}: {ack}: {rows}"

            for ack in enrollments:
                issued(ack, REAL_NAME)
                records = tx.execute(
                    "SELECT e.state, count(c.id) FROM enrollments e JOIN credentials c"
                    " ON c.enrollment_id = e.id AND c.type = ? AND c.state = 'issued'"
                    " WHERE e.did = ? GROUP BY e.id, e.state",
                    (REAL_NAME, ack["did"]),
                ).fetchall()
                assert [tuple(r) for r in records] == [("active", 1)], f"seed {seed}: {records}"
            for ack in site_proofs:
                issued(ack, SITE_PROOF)
    finally:
        authority_db.close()
    assert len({a["did"] for a in enrollments}) == len(enrollments), "a DID enrolled twice"

    # Logins: exactly one login request per acknowledged state, with a successful outcome
    logins_db = open_database(
        service_databases.location(platform.data_dir, "demo/forum/logins.db"),
        store="forum_logins",
        migrations=migrations_of("realdid.rp", "logins"),
        read_only=True,
    )
    try:
        with logins_db.reading() as tx:
            for ack in logins:
                rows = tx.execute(
                    "SELECT answered, outcome FROM login_requests WHERE state = ?", (ack["state"],)
                ).fetchall()
                assert len(rows) == 1, f"seed {seed}: login {ack} has {len(rows)} records"
                answered, outcome = rows[0]
                assert answered == 1, f"seed {seed}: login {ack} is not answered"
                assert json.loads(outcome)["state"] == "done", f"seed {seed}: {ack}: {outcome}"

    finally:
        logins_db.close()

    # -- the ledger re-derives the same index ----------------------------------------------------
    platform.stop()
    verify = subprocess.run(
        [str(REALDID), "ledger", "verify", "--data-dir", str(platform.data_dir)],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, f"seed {seed}: {verify.stdout}{verify.stderr}"
    assert verify.stdout.startswith("ok:"), verify.stdout
    assert f"{dids} DIDs verified" in verify.stdout, verify.stdout
    print(
        f"seed {seed}: kills (s, victim, acks so far) {kills}; acknowledged "
        f"{len(operations)} DID operations, {len(enrollments)} enrollments, "
        f"{len(site_proofs)} site proofs, {len(logins)} logins; generator errors "
        f"{dict(errors)}; totals {report['total']}"
    )
    # Last, so that a run that fails here has proven everything above first.
    assert not not_healed, f"seed {seed}: not healed by itself: {not_healed}"
    unexpected = {t: errors[t] for t in set(errors) - TRANSIENT - {ALREADY_PROCESSED}}
    assert not unexpected, f"seed {seed}: errors a crash does not explain: {unexpected}"
