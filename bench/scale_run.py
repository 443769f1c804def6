"""The 10-million run (issue 12): how RealDID's costs grow as the registry fills up.

Run ``.venv/bin/python bench/scale_run.py --help``; docs/scale-run.md is the manual. Not
part of ``make test``: a full run takes hours. For example::

    .venv/bin/python bench/scale_run.py --engine postgresql --dids 10000000 \\
        --checkpoints 0,1000000,3000000,10000000 --residents 10000000 \\
        --enrollments 1000000 --work-dir bench/.cache/scale

What it does, in order (each step is recorded in ``<work-dir>/state.json`` when it is done,
so that running the same command again skips it and continues):

1. the register: ``--residents`` synthetic residents (``realdid.authority.generate_residents``
   on two processes, bench_enroll's ``register_cache``) under the work dir, then installed
   for the identity authority (SQLite: a copy of ``register.db``; PostgreSQL:
   ``SqliteRegister.import_csv`` into the schema ``register``);
2. for each checkpoint of ``--checkpoints`` (stored DIDs): build the data set up to it —
   root DIDs pushed through the real batch writer and observer in process (bench_node's
   ``build_index``, continued from the store's ``did_count()``); then, with
   ``realdid serve --workers 2`` (and the authority) on the data set:

   * the raw PyNaCl Ed25519 verify rate of this moment (``raw_crypto_limit``);
   * DID creation over HTTP: ``--creates`` fresh creates, submitted → anchored;
   * enrollment over HTTP (bench_enroll's sequence): the share of ``--enrollments`` that
     belongs to this checkpoint (proportional to its stored DIDs), in resumable chunks;
   * resolution over HTTP under wrk (random DIDs; throughput, p50, p99, server CPU);
   * login verification over HTTP (bench_login_http's method, its relying party resolving
     the issuer's and the holders' DIDs at this node, cached ``--login-did-ttl`` seconds);
   * with the node stopped: bytes per DID on disk, and a fresh node's rebuild rate from
     ledger + batch files (bench_rebuild's ``rebuild``; a prefix of ``--rebuild-ops``);

   all the while the RSS of every process of the node, the relying party and PostgreSQL
   is sampled once a second (``rss.jsonl``);
3. the report: ``<work-dir>/results.md`` (every measure at every checkpoint, the goals,
   the phases' wall times and the full run's estimate) and PNG plots in ``--plots``.

Ctrl-C during the build or an enrollment chunk stops after the current batch or chunk (a
second Ctrl-C at once); elsewhere at once. Whatever was done is in the state file, and the
stores are consistent (every batch and enrollment is a committed transaction): run the same
command again to go on. Benchmarks assert nothing about time: this one measures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import pickle
import shutil
import signal
import sqlite3
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

sys.path.insert(0, str(Path(__file__).parent))
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench_enroll import enroll_over_http, make_root_dids, pick_applicants, register_cache
from bench_http import _WRK_LUA, process_tree_cpu, run_wrk, sample_paths
from bench_login import build_setup
from bench_login_http import timed_run
from bench_node import build_index as build_data_set
from bench_node import (
    generate_creates,
    raw_crypto_limit,
    schema_bytes,
    storage_bytes,
    submit_all,
    wait_until,
)
from bench_rebuild import rebuild
from realdid.authority import SqliteRegister
from realdid.crypto import KeyType
from realdid.did import ParsedOperation
from realdid.ledger import RegistryStore, SoloLedger
from realdid.rp import LoginRequestStore
from scale_run_report import write_report
from scale_run_services import PostgresKeeper, RssSampler, ServedNode, ServiceError

FORMAT = "realdid-scale-run-1"
#: Key seeds of the operations the measurements make (creates, enrollment root DIDs), far
#: from build_index's (1,000,000 + ledger height); each use takes a fresh block of them.
FIRST_SEED = 2_000_000_000
SEED_BLOCK = 1_000_000
NODE_STEPS = ("creation", "enrollment", "resolution", "login")


class StopRequestedError(Exception):
    """The operator asked the run to stop (Ctrl-C / SIGINT)."""


class RunError(Exception):
    """The run cannot go on; the message is one line."""


# -- Ctrl-C -----------------------------------------------------------------------------------
class Interrupts:
    """SIGINT: inside :meth:`graceful` the first one only asks the work to stop at its next
    safe point (``requested``); outside, or the second time, it interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._graceful = 0
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._graceful and not self.requested:
            self.requested = True
            print(
                "\nstopping after the current step (Ctrl-C again to stop at once) ...",
                file=sys.stderr,
                flush=True,
            )
            return
        self.requested = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def graceful(self) -> Iterator[None]:
        self._graceful += 1
        try:
            yield
        finally:
            self._graceful -= 1

    def check(self) -> None:
        if self.requested:
            raise StopRequestedError


# -- progress ---------------------------------------------------------------------------------
class Bar:
    """A progress bar with rate and ETA on a terminal; elsewhere a line every 10 s."""

    def __init__(self, console: Console, label: str, total: int, unit: str, live: bool) -> None:
        self._console, self._label, self._total, self._unit = console, label, total, unit
        self._start = time.monotonic()
        self._first: int | None = None
        self._last_line = 0.0
        self._progress: Progress | None = None
        if live:
            self._progress = Progress(
                TextColumn(f"{label:<28}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
            )
            self._task = self._progress.add_task(label, total=total, rate="")
            self._progress.start()

    def update(self, done: int) -> None:
        if self._first is None:
            self._first = done
        elapsed = time.monotonic() - self._start
        rate = (done - self._first) / elapsed if elapsed > 0 else 0.0
        if self._progress is not None:
            self._progress.update(self._task, completed=done, rate=f"{rate:,.0f} {self._unit}/s")
            return
        if time.monotonic() - self._last_line >= 10 or done >= self._total:
            self._last_line = time.monotonic()
            eta = (self._total - done) / rate if rate > 0 else math.inf
            eta_text = f"{eta:,.0f} s" if math.isfinite(eta) else "?"
            self._console.print(
                f"  {self._label}: {done:,}/{self._total:,} {self._unit} "
                f"({rate:,.0f}/s, {elapsed:,.0f} s, ETA {eta_text})",
                highlight=False,
                soft_wrap=True,
            )

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


# -- the run ----------------------------------------------------------------------------------
def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose ``key`` is the median (the lower one of an even count)."""
    ordered = sorted(runs, key=lambda r: r[key])
    return ordered[(len(ordered) - 1) // 2]


class ScaleRun:
    def __init__(self, args: argparse.Namespace, interrupts: Interrupts) -> None:
        self.args = args
        self.interrupts = interrupts
        self.work: Path = args.work_dir.resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.state_path = self.work / "state.json"
        self.data_dir = self.work / "node"
        self.scratch = self.work / "scratch"
        self.logs = self.work / "logs"
        self.logs.mkdir(exist_ok=True)
        self.console = Console(highlight=False)
        self.live = self.console.is_terminal and not args.no_progress
        self.checkpoints: list[int] = args.checkpoint_list
        self.state = self._load_state()
        self.database: str | None = None
        self.keeper: PostgresKeeper | None = None
        self.sampler: RssSampler | None = None
        self._node: ServedNode | None = None

    @property
    def node(self) -> ServedNode:
        if self._node is None:
            raise RunError("no node is serving (a measurement ran outside with_node)")
        return self._node

    @contextlib.contextmanager
    def wall(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to ``state["wall"][phase]``, however it ends
        (the phase rates of the report count interrupted attempts too)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            walls = self.state.setdefault("wall", {})
            walls[phase] = walls.get(phase, 0.0) + time.perf_counter() - start
            self.save()

    def label(self, checkpoint: int | None, phase: str) -> None:
        if self.sampler is not None:
            self.sampler.label(checkpoint, phase)

    # -- state ----------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any]:
        args = self.args
        if self.state_path.exists():
            state: dict[str, Any] = json.loads(self.state_path.read_text())
            if state.get("format") != FORMAT:
                raise RunError(f"{self.state_path} is not a scale-run state file")
            if state["engine"] != args.engine:
                raise RunError(
                    f"the work dir {self.work} holds a {state['engine']} run:"
                    f" give --engine {state['engine']} or another --work-dir"
                )
            if state["residents"] != args.residents:
                raise RunError(
                    f"the work dir {self.work} was started with --residents"
                    f" {state['residents']:,}: keep it or give another --work-dir"
                )
            return state
        return {
            "format": FORMAT,
            "engine": args.engine,
            "residents": args.residents,
            "created": now_iso(),
            "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
            "runs": [],
            "phases": {},
            "build": {"seconds": 0.0, "dids": 0, "segments": []},
            "seed": FIRST_SEED,
            "enrolled": 0,
            "checkpoints": {},
        }

    def save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1) + "\n")
        os.replace(tmp, self.state_path)

    def take_seed(self) -> int:
        seed = int(self.state["seed"])
        self.state["seed"] = seed + SEED_BLOCK
        self.save()  # before the seed is used: a crash never reuses it
        return seed

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def bar(self, label: str, total: int, unit: str) -> Bar:
        return Bar(self.console, label, total, unit, self.live)

    def dids(self) -> int:
        store = RegistryStore(self.database or self.data_dir / "node.db")
        try:
            return store.did_count()
        finally:
            store.close()

    # -- the whole run ----------------------------------------------------------------------
    def run(self) -> None:
        args = self.args
        record = {"started": now_iso(), "argv": sys.argv[1:], "outcome": "running"}
        self.state["runs"].append(record)
        self.state["options"] = {k: v for k, v in vars(args).items() if k != "checkpoint_list"}
        self.state["options"]["work_dir"] = str(args.work_dir)
        self.state["options"]["plots"] = str(args.plots)
        self.save()
        try:
            if args.engine == "postgresql":
                self.keeper = PostgresKeeper(self.work / "postgres", durable=args.pg_durable)
                self.database = self.keeper.url()
            self.sampler = RssSampler(self.work / "rss.jsonl")
            if self.keeper is not None:
                self.sampler.track(self.keeper.pid, "postgres")
            self.phase_register()
            self.phase_register_install()
            for checkpoint in self.checkpoints:
                self.checkpoint(checkpoint)
            record["outcome"] = "done"
        except (StopRequestedError, KeyboardInterrupt):
            record["outcome"] = "interrupted"
            raise
        except BaseException:
            record["outcome"] = "failed"
            raise
        finally:
            record["ended"] = now_iso()
            self.save()
            if self.sampler is not None:
                self.sampler.close()
            if self.keeper is not None:
                self.keeper.stop()
            self.report()

    def report(self, *, quiet: bool = False) -> None:
        """``results.md`` and the plots of what is done so far (and the table, unless
        ``quiet``)."""
        table = write_report(
            self.state, self.work / "rss.jsonl", self.work / "results.md", self.args.plots
        )
        if not quiet:
            print(table, flush=True)  # not through rich: a Markdown table must not wrap
            self.say(f"results: {self.work / 'results.md'}; plots in {self.args.plots}")

    # -- 1. the register --------------------------------------------------------------------
    def register_folder(self) -> Path:
        return self.work / f"register-{self.args.residents}"

    def phase_register(self) -> None:
        phases = self.state["phases"]
        if "register" in phases:
            return
        residents = self.args.residents
        self.say(f"register: {residents:,} synthetic residents (generate_residents, 2 processes)")
        self.label(None, "register")
        parts = max(1, -(-residents // self.args.register_part))
        bar = self.bar("register: parts", parts, "parts")
        try:
            with self.wall("register"):
                register_cache(
                    residents,
                    2,
                    cache=self.work,
                    part_size=self.args.register_part,
                    keep_csv=self.args.engine == "postgresql",
                    on_part=lambda done, _total: bar.update(done),
                )
        finally:
            bar.close()
        seconds = self.state["wall"]["register"]
        phases["register"] = {
            "residents": residents,
            "seconds": seconds,
            "rate": residents / seconds,
            "bytes": sum(p.stat().st_size for p in self.register_folder().iterdir()),
        }
        self.save()
        self.say(f"  register ready in {seconds:,.0f} s ({residents / seconds:,.0f} residents/s)")

    def phase_register_install(self) -> None:
        """The register where the authority of ``realdid serve`` reads it."""
        phases = self.state["phases"]
        if "register_install" in phases:
            return
        folder = self.register_folder()
        self.label(None, "register-install")
        with self.wall("register_install"):
            rows = self._install_register(folder)
        seconds = self.state["wall"]["register_install"]
        phases["register_install"] = {"rows": rows, "seconds": seconds, "rate": rows / seconds}
        self.save()
        self.say(f"  installed {rows:,} residents in {seconds:,.0f} s")

    def _install_register(self, folder: Path) -> int:
        if self.database is None:
            target = self.data_dir / "authority" / "register.db"
            target.parent.mkdir(parents=True, exist_ok=True)
            self.say(f"register: copying register.db for the authority ({target})")
            shutil.copyfile(folder / "register.db", target.with_suffix(".tmp"))
            os.replace(target.with_suffix(".tmp"), target)
            rows = int((folder / "complete").read_text())
        else:
            self.say("register: importing register.csv into PostgreSQL (SqliteRegister.import_csv)")
            with SqliteRegister(self.database) as register:
                rows = register.count()
                if rows == 0:  # all or nothing: an interrupted import left no row
                    rows = register.import_csv(folder / "register.csv")
        return rows

    # -- 2. checkpoints -----------------------------------------------------------------------
    def checkpoint(self, checkpoint: int) -> None:
        entry = self.state["checkpoints"].setdefault(str(checkpoint), {"measures": {}})
        if entry.get("done"):
            return
        self.build_to(checkpoint)
        self.interrupts.check()
        measures = entry["measures"]
        self.say(f"checkpoint {checkpoint:,}: {self.dids():,} DIDs stored; measuring")
        self.measure(checkpoint, measures, "raw", self.measure_raw)
        if any(step not in measures for step in NODE_STEPS):
            self.with_node(checkpoint, measures)
        self.measure(checkpoint, measures, "storage", self.measure_storage)
        self.measure(checkpoint, measures, "rebuild", self.measure_rebuild)
        entry["done"] = True
        entry["finished"] = now_iso()
        self.save()
        self.report(quiet=True)

    def build_to(self, target: int) -> None:
        stored = self.dids() if (self.data_dir / "solo-ledger.key").exists() else 0
        if stored >= target:
            return
        self.say(f"build: {stored:,} -> {target:,} DIDs through the batch writer and observer")
        self.label(target, "build")
        bar = self.bar(f"build to {target:,}", target, "DIDs")
        bar.update(stored)
        start = time.perf_counter()
        try:
            with self.interrupts.graceful():
                seconds = build_data_set(
                    self.data_dir,
                    target,
                    self.args.batch,
                    self.database,
                    on_batch=bar.update,
                    should_stop=lambda: self.interrupts.requested,
                )
        finally:
            bar.close()
            wall = time.perf_counter() - start
            after = self.dids()
            build = self.state["build"]
            build["seconds"] += wall
            build["dids"] += after - stored
            build["segments"].append(
                {"from": stored, "to": after, "seconds": wall, "target": target, "at": now_iso()}
            )
            self.save()
        self.say(f"  built {after - stored:,} DIDs in {seconds:,.0f} s")

    def measure(
        self,
        checkpoint: int,
        measures: dict[str, Any],
        name: str,
        step: Callable[[int], dict[str, Any]],
    ) -> None:
        """Run one measurement unless it is recorded; record it unless interrupted."""
        if name in measures:
            return
        if self.sampler is not None:
            self.sampler.label(checkpoint, name)
        before = self.dids()
        start = time.perf_counter()
        try:
            result = step(checkpoint)
        except Exception as e:
            if self.interrupts.requested:
                raise StopRequestedError from e
            raise
        self.interrupts.check()
        result |= {
            "dids_before": before,
            "seconds": time.perf_counter() - start,
            "at": now_iso(),
        }
        measures[name] = result
        self.save()
        self.say(f"  {name}: {summary_line(name, result)}")

    def with_node(self, checkpoint: int, measures: dict[str, Any]) -> None:
        assert self.sampler is not None
        self.sampler.label(checkpoint, "serve-start")
        log = self.logs / f"serve-{checkpoint}.log"
        with ServedNode(self.data_dir, self.database, self.args.workers, log) as node:
            self.sampler.track(node.process.pid, "node")
            starts = self.state["checkpoints"][str(checkpoint)].setdefault("serve_starts", [])
            starts.append({"node_s": node.node_ready_s, "ready_s": node.ready_s})
            self.save()
            self._node = node
            try:
                for name, step in (
                    ("creation", self.measure_creation),
                    ("enrollment", self.measure_enrollment),
                    ("resolution", self.measure_resolution),
                    ("login", self.measure_login),
                ):
                    self.measure(checkpoint, measures, name, step)
            finally:
                self._node = None
                self.sampler.untrack(node.process.pid)

    # -- the measurements ---------------------------------------------------------------------
    def measure_raw(self, checkpoint: int) -> dict[str, Any]:
        sign, verify = raw_crypto_limit()
        return {"ed25519_sign": sign, "ed25519_verify": verify}

    def measure_creation(self, checkpoint: int) -> dict[str, Any]:
        count = self.args.creates
        creates = generate_creates(count, 2, seed=self.take_seed())
        last = ParsedOperation.from_canonical(creates[-1]).hash
        start = time.perf_counter()
        submit_all(self.node.url, creates, 1000, 2)
        accepted = time.perf_counter() - start
        wait_until(self.node.url, last)
        elapsed = time.perf_counter() - start
        return {
            "operations": count,
            "accepted_s": accepted,
            "elapsed_s": elapsed,
            "rate": count / elapsed,
        }

    def enrollment_target(self, checkpoint: int) -> int:
        """Residents enrolled in all by the end of ``checkpoint``: the share of
        ``--enrollments`` of its stored DIDs (all of them at the last checkpoint)."""
        last = self.checkpoints[-1]
        return round(self.args.enrollments * checkpoint / last) if last else 0

    def measure_enrollment(self, checkpoint: int) -> dict[str, Any]:
        target = self.enrollment_target(checkpoint)
        entry = self.state["checkpoints"][str(checkpoint)]
        chunks: list[dict[str, Any]] = entry.setdefault("enrollment_chunks", [])
        folder = self.register_folder()
        enrolled = int(self.state["enrolled"])
        if enrolled < target:
            bar = self.bar(f"enroll to {target:,}", target, "residents")
            bar.update(enrolled)
            try:
                while enrolled < target:
                    self.interrupts.check()
                    count = min(self.args.enroll_chunk, target - enrolled)
                    wall = time.perf_counter()
                    roots = make_root_dids(count, 2, seed=self.take_seed())
                    picks = pick_applicants(folder, 0, 0, rows=range(enrolled, enrolled + count))
                    with self.interrupts.graceful():
                        result = enroll_over_http(
                            self.node.url,
                            self.node.authority_url,
                            roots,
                            picks,
                            self.args.enroll_clients,
                            warmup=min(100, count // 10),
                        )
                    result["residents"] = count
                    result["wall_s"] = time.perf_counter() - wall
                    chunks.append(result)
                    enrolled += count
                    self.state["enrolled"] = enrolled
                    self.save()
                    bar.update(enrolled)
            finally:
                bar.close()
        if not chunks:
            return {"residents": 0, "enrolled_total": enrolled, "target": target}
        timed = sum(c["enrollments"] for c in chunks)
        elapsed = sum(c["elapsed_s"] for c in chunks)
        residents = sum(c["residents"] for c in chunks)
        wall = sum(c["wall_s"] for c in chunks)
        return {
            "residents": residents,
            "timed": timed,
            "rate": timed / elapsed,
            "wall_rate": residents / wall,
            "p50_ms": statistics.median(c["p50_ms"] for c in chunks),
            "p99_ms": max(c["p99_ms"] for c in chunks),
            "anchor_s": sum(c["anchor_s"] for c in chunks),
            "chunks": len(chunks),
            "clients": self.args.enroll_clients,
            "enrolled_total": enrolled,
            "target": target,
        }

    def measure_resolution(self, checkpoint: int) -> dict[str, Any]:
        args = self.args
        stored = self.dids()
        paths = sample_paths(self.data_dir, self.database, 20_000, seed=checkpoint, probes=True)
        self.scratch.mkdir(exist_ok=True)
        listing = self.scratch / "paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        script = self.scratch / "random.lua"
        script.write_text(_WRK_LUA % listing)
        pid = self.node.process.pid
        run_wrk(self.node.url, script, args.connections, 2)  # warm-up: caches, connections
        runs = []
        for _ in range(args.wrk_repeat):
            before, start = process_tree_cpu(pid), time.monotonic()
            rate, p50, p99, errors = run_wrk(
                self.node.url, script, args.connections, args.wrk_seconds
            )
            cpu = (process_tree_cpu(pid) - before) / (time.monotonic() - start) * 100
            runs.append(
                {"rate": rate, "p50_ms": p50, "p99_ms": p99, "errors": errors, "cpu_percent": cpu}
            )
        middle = median_run(runs, "rate")
        return {
            "dids": stored,
            "rate": middle["rate"],
            "p50_ms": middle["p50_ms"],
            "p99_ms": middle["p99_ms"],
            "cpu_percent": middle["cpu_percent"],
            "errors": sum(r["errors"] for r in runs),
            "runs": runs,
            "connections": args.connections,
            "workers": args.workers,
        }

    def measure_login(self, checkpoint: int) -> dict[str, Any]:
        args = self.args
        assert self.sampler is not None
        setup = build_setup(args.login_holders, KeyType.ED25519)
        submit_all(self.node.url, setup.creates, 1000, 2)
        wait_until(self.node.url, ParsedOperation.from_canonical(setup.creates[-1]).hash)
        scratch = self.scratch / f"login-{checkpoint}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        store = str(scratch / "rp.db")
        LoginRequestStore(store).close()
        setup_file = scratch / "setup.pickle"
        setup_file.write_bytes(pickle.dumps(setup))
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).parent),
            "REALDID_BENCH_LOGIN_SETUP": str(setup_file),
            "REALDID_BENCH_LOGIN_STORE": store,
            "REALDID_BENCH_LOGIN_NODE": self.node.url,
            "REALDID_BENCH_LOGIN_DID_TTL": str(args.login_did_ttl),
        }
        sampler = self.sampler
        tracked: list[int] = []

        def on_serve(process: Any) -> None:
            tracked.append(process.pid)
            sampler.track(process.pid, "rp")

        runs = []
        try:
            for run in range(args.login_repeat):
                done = timed_run(
                    setup,
                    store,
                    scratch,
                    logins=args.logins,
                    offset=run * args.logins,
                    workers=args.rp_workers,
                    connections=args.connections,
                    seconds=args.login_seconds,
                    env=env,
                    on_serve=on_serve,
                )
                runs.append(
                    {
                        "verified": done.verified,
                        "rate": done.rate,
                        "p50_ms": done.p50_ms,
                        "p99_ms": done.p99_ms,
                        "cpu_percent": done.cpu_percent,
                        "refused": done.refused,
                        "answers": done.answers,
                        "exhausted": done.rate * args.login_seconds > done.answers * 0.95,
                    }
                )
        finally:
            for pid in tracked:
                sampler.untrack(pid)
            shutil.rmtree(scratch, ignore_errors=True)
        middle = median_run(runs, "verified")
        return {
            "rate": middle["verified"],
            "p50_ms": middle["p50_ms"],
            "p99_ms": middle["p99_ms"],
            "cpu_percent": middle["cpu_percent"],
            "refused": sum(r["refused"] for r in runs),
            "runs": runs,
            "holders": args.login_holders,
            "did_ttl": args.login_did_ttl,
            "rp_workers": args.rp_workers,
        }

    def measure_storage(self, checkpoint: int) -> dict[str, Any]:
        stored = self.dids()
        sizes = storage_bytes(self.data_dir, self.database)
        authority = self.data_dir / "authority"
        if self.database is None:
            for path in authority.glob("*.db"):  # what a clean shutdown would leave
                conn = sqlite3.connect(path)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
            register = (authority / "register.db").stat().st_size
            others = sum(
                p.stat().st_size
                for p in authority.glob("*.db*")
                if p.is_file() and not p.name.startswith("register.db")
            )
        else:
            register = schema_bytes(self.database, "register")
            others = schema_bytes(self.database, "authority") + schema_bytes(
                self.database, "business"
            )
        work_bytes = sum(p.stat().st_size for p in self.work.rglob("*") if p.is_file())
        return {
            "dids": stored,
            "index_bytes": sizes["index"],
            "ledger_bytes": sizes["ledger"],
            "cas_bytes": sizes["batch files"],
            "index_per_did": sizes["index"] / max(1, stored),
            "cas_per_did": sizes["batch files"] / max(1, stored),
            "ledger_per_did": sizes["ledger"] / max(1, stored),
            "per_did": (sizes["index"] + sizes["batch files"]) / max(1, stored),
            "authority_register_bytes": register,
            "authority_other_bytes": others,
            "enrolled": int(self.state["enrolled"]),
            "work_dir_bytes": work_bytes,
            "disk_free_bytes": shutil.disk_usage(self.work).free,
        }

    def measure_rebuild(self, checkpoint: int) -> dict[str, Any]:
        args = self.args
        limit = args.rebuild_ops or math.inf
        ledger = SoloLedger.open_readonly(self.database or self.data_dir / "ledger.db")
        try:
            every = ledger.anchors_after(-1, 10**9)
        finally:
            ledger.close()
        total_ops = sum(a.operation_count for a in every)
        anchors = operations = 0
        for anchor in every:
            if operations >= limit:
                break
            anchors += 1
            operations += anchor.operation_count
        scratch = self.scratch / "rebuild"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        index = None
        if self.keeper is not None:
            index = self.keeper.recreate("rebuild")
        try:
            start = time.perf_counter()
            applied, elapsed = rebuild(
                self.data_dir,
                scratch,
                anchors,
                args.rebuild_processes,
                ledger_database=self.database,
                index_database=index,
            )
            wall = time.perf_counter() - start
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if self.keeper is not None:
                self.keeper.drop("rebuild")
        rate = applied / elapsed
        return {
            "operations": applied,
            "anchors": anchors,
            "elapsed_s": elapsed,
            "setup_s": wall - elapsed,
            "rate": rate,
            "limit_ops": args.rebuild_ops,
            "ledger_ops": total_ops,
            "whole": anchors == len(every),
            "full_estimate_s": total_ops / rate,
            "processes": args.rebuild_processes,
        }


def summary_line(name: str, r: dict[str, Any]) -> str:
    """One line of what a measurement found, for the console."""
    if name == "raw":
        return f"PyNaCl Ed25519 {r['ed25519_verify']:,.0f} verifies/s (one core)"
    if name == "creation":
        return f"{r['rate']:,.0f} DID creations/s over HTTP ({r['operations']:,} ops)"
    if name == "enrollment":
        if not r.get("residents"):
            return "none due at this checkpoint"
        return (
            f"{r['rate']:,.0f} enrollments/s over HTTP ({r['residents']:,} residents, "
            f"p99 {r['p99_ms']:.0f} ms; {r['wall_rate']:,.0f}/s with root DIDs)"
        )
    if name == "resolution":
        return (
            f"{r['rate']:,.0f} resolutions/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms,"
            f" CPU {r['cpu_percent']:.0f} %, {r['errors']} errors ({r['dids']:,} DIDs)"
        )
    if name == "login":
        return f"{r['rate']:,.0f} verified logins/s, p99 {r['p99_ms']:.1f} ms"
    if name == "storage":
        return (
            f"{r['per_did']:,.0f} B per DID (index {r['index_per_did']:,.0f} + batch files "
            f"{r['cas_per_did']:,.0f}; ledger {r['ledger_per_did']:,.1f}) at {r['dids']:,} DIDs"
        )
    if name == "rebuild":
        return (
            f"{r['rate']:,.0f} operations/s ({r['operations']:,} of {r['ledger_ops']:,} ops,"
            f" {r['processes']} processes)"
        )
    return ""


# -- command line -----------------------------------------------------------------------------
class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def build_parser() -> OneLineParser:
    p = OneLineParser(
        prog="scale_run.py",
        description="The 10-million run: RealDID's costs as the registry grows (docs/scale-run.md).",
    )
    p.add_argument("--engine", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument("--dids", type=int, default=10_000_000, help="DIDs stored at the end")
    p.add_argument(
        "--checkpoints",
        default="0,1000000,3000000,10000000",
        help="stored-DID counts to measure at, comma-separated; the last is --dids",
    )
    p.add_argument("--residents", type=int, default=10_000_000, help="synthetic register size")
    p.add_argument(
        "--enrollments", type=int, default=1_000_000, help="residents enrolled over HTTP in all"
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        default=Path("bench/.cache/scale"),
        help="state, data set, register, logs (bench/.cache/ is git-ignored)",
    )
    p.add_argument("--plots", type=Path, default=Path("docs/scale"), help="PNG output directory")
    p.add_argument("--batch", type=int, default=10_000, help="operations per anchor in the build")
    p.add_argument("--workers", type=int, default=2, help="realdid serve worker processes")
    p.add_argument("--connections", type=int, default=64, help="wrk connections")
    p.add_argument("--wrk-seconds", type=int, default=10, help="each timed resolution run")
    p.add_argument("--wrk-repeat", type=int, default=3, help="timed resolution runs")
    p.add_argument("--creates", type=int, default=20_000, help="creates for the creation rate")
    p.add_argument("--enroll-chunk", type=int, default=10_000, help="enrollments per chunk")
    p.add_argument("--enroll-clients", type=int, default=4, help="enrollment client threads")
    p.add_argument("--logins", type=int, default=10_000, help="prepared answers per login run")
    p.add_argument("--login-seconds", type=int, default=5, help="each timed login run")
    p.add_argument("--login-repeat", type=int, default=2, help="timed login runs")
    p.add_argument(
        "--login-holders", type=int, default=2_000, help="holder DIDs anchored for the logins"
    )
    p.add_argument(
        "--login-did-ttl",
        type=int,
        default=60,
        help="the relying party's DID cache TTL, s (60: the SDK's default; 0: every login"
        " resolves the issuer's and the holder's DID at the node)",
    )
    p.add_argument("--rp-workers", type=int, default=2, help="relying party worker processes")
    p.add_argument(
        "--rebuild-ops",
        type=int,
        default=1_000_000,
        help="rebuild a prefix of about this many operations (0: the whole ledger)",
    )
    p.add_argument("--rebuild-processes", type=int, default=2, help="rebuild worker processes")
    p.add_argument(
        "--register-part", type=int, default=100_000, help="residents per generated part"
    )
    p.add_argument(
        "--pg-durable", action="store_true", help="PostgreSQL with fsync on (default off)"
    )
    p.add_argument("--report-only", action="store_true", help="only rewrite table and plots")
    p.add_argument("--no-progress", action="store_true", help="progress lines, no live bars")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        checkpoints = [int(x.replace("_", "")) for x in args.checkpoints.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--checkpoints {args.checkpoints!r}: give comma-separated DID counts")
    if not checkpoints or checkpoints != sorted(set(checkpoints)) or checkpoints[0] < 0:
        parser.error("--checkpoints must be increasing, distinct counts of DIDs, from 0 up")
    if checkpoints[-1] != args.dids:
        parser.error(f"the last checkpoint ({checkpoints[-1]:,}) must be --dids ({args.dids:,})")
    if args.enrollments > args.residents:
        parser.error(
            f"--enrollments {args.enrollments:,} is more than the register's"
            f" {args.residents:,} residents"
        )
    for name in ("batch", "workers", "connections", "wrk_seconds", "wrk_repeat", "creates"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.residents < 1 or args.enroll_chunk < 1 or args.register_part < 1:
        parser.error("--residents, --enroll-chunk and --register-part must be at least 1")
    if args.logins < 2 or args.login_holders < 1 or args.login_repeat < 1:
        parser.error("--logins must be at least 2, --login-holders and --login-repeat 1")
    args.checkpoint_list = checkpoints
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        state_path = args.work_dir / "state.json"
        if not state_path.exists():
            sys.stderr.write(f"error: no scale run in {args.work_dir} (no state.json)\n")
            return 2
        state = json.loads(state_path.read_text())
        print(
            write_report(
                state, args.work_dir / "rss.jsonl", args.work_dir / "results.md", args.plots
            )
        )
        return 0
    if shutil.which("wrk") is None:
        sys.stderr.write("error: wrk is not installed (Debian: apt-get install wrk)\n")
        return 2
    interrupts = Interrupts()
    try:
        run = ScaleRun(args, interrupts)
        run.run()
    except (StopRequestedError, KeyboardInterrupt):
        sys.stderr.write(
            f"interrupted: what was done is in {args.work_dir / 'state.json'};"
            " run the same command again to continue\n"
        )
        return 130
    except (RunError, ServiceError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    except Exception as e:  # one line here, the traceback in the work dir's logs
        log = args.work_dir / "logs" / "error.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write(f"--- {now_iso()}\n{traceback.format_exc()}")
        first = str(e).splitlines()[0] if str(e) else ""
        sys.stderr.write(f"error: {type(e).__name__}: {first} (traceback in {log})\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
