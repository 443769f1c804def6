"""Merging what the client processes measured, the results file, the summary and progress.

The results file (``--out``, JSON) holds, per kind of operation, the count, the successful
ones, the errors by problem ``type`` (and the step that failed), the throughput over the
measured window and the latency percentiles of the successful operations, computed from
the histograms of all processes merged (:mod:`histogram`); per step the same latencies;
the generator's own CPU time and schedule lag; and the run's configuration. docs/load.md
describes every field.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from .histogram import LatencyHistogram
from .mix import KINDS
from .protocol import short_type

RESULTS_FORMAT = 1
#: A client process busier than this (share of one core) may bound the result.
BUSY_CPU = 0.85
#: Open loop: operations starting this late (p99) mean the generator fell behind.
LATE_SECONDS = 0.05


def iso(timestamp: float) -> str:
    return (
        datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


@dataclass(slots=True)
class MergedKind:
    ok: LatencyHistogram
    failed: int
    errors: dict[str, dict[str, int]]
    steps: dict[str, LatencyHistogram]
    warmup_ok: int
    warmup_failed: int


def merge_kinds(results: Iterable[Mapping[str, Any]]) -> dict[str, MergedKind]:
    """Every process's per-kind record added up (histograms merged bucket by bucket)."""
    merged = {kind: MergedKind(LatencyHistogram(), 0, {}, {}, 0, 0) for kind in KINDS}
    for result in results:
        for kind, record in result["recorder"]["kinds"].items():
            into = merged[kind]
            into.ok.merge(LatencyHistogram.from_dict(record["ok"]))
            into.failed += record["failed"]
            into.warmup_ok += record["warmup"]["ok"]
            into.warmup_failed += record["warmup"]["failed"]
            for type_, steps in record["errors"].items():
                by_step = into.errors.setdefault(type_, {})
                for step, n in steps.items():
                    by_step[step] = by_step.get(step, 0) + n
            for step, value in record["steps"].items():
                histogram = into.steps.setdefault(step, LatencyHistogram())
                histogram.merge(LatencyHistogram.from_dict(value))
    return merged


def results_document(
    *,
    config: dict[str, Any],
    pool: dict[str, Any],
    results: list[dict[str, Any]],
    started_at: float,
    ended_at: float,
    window: float,
    main_cpu: float,
    interrupted: bool = False,
) -> dict[str, Any]:
    """The results file's content (docs/load.md, "The results file")."""
    merged = merge_kinds(results)
    lag = LatencyHistogram()
    for result in results:
        lag.merge(LatencyHistogram.from_dict(result["recorder"]["lag"]))
    busy_for = max((r["drained_at"] for r in results), default=window) or 1.0
    per_process = [round(100 * r["cpu_seconds"] / busy_for, 1) for r in results]
    kinds: dict[str, Any] = {}
    weights = config["mix"]
    for kind in KINDS:
        if weights.get(kind, 0) <= 0:
            continue
        m = merged[kind]
        kinds[kind] = {
            "weight": weights[kind],
            "count": m.ok.count + m.failed,
            "ok": m.ok.count,
            "errors": m.failed,
            "throughput_per_s": round(m.ok.count / window, 3) if window > 0 else 0.0,
            "latency_ms": m.ok.summary_ms(),
            "errors_by_type": {
                type_: {"count": sum(steps.values()), "steps": steps}
                for type_, steps in sorted(m.errors.items())
            },
            "steps": {
                step: {"count": h.count, "latency_ms": h.summary_ms()}
                for step, h in m.steps.items()
            },
            "warmup": {"ok": m.warmup_ok, "errors": m.warmup_failed},
        }
    ok = sum(k["ok"] for k in kinds.values())
    errors = sum(k["errors"] for k in kinds.values())
    chains = {"dids": 0, "anchored": 0, "rejected": 0, "pending": 0, "unknown": 0}
    for result in results:
        for key, n in result["update_chains"].items():
            chains[key] = chains.get(key, 0) + n
    generator = {
        "processes": len(results),
        "cores": os.cpu_count(),
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in results) + main_cpu, 3),
        "cpu_percent_of_one_core": round(
            100 * (sum(r["cpu_seconds"] for r in results) + main_cpu) / busy_for, 1
        ),
        "per_process_cpu_percent": per_process,
        "main_process_cpu_seconds": round(main_cpu, 3),
        "schedule_lag_ms": lag.summary_ms() if config["mode"] == "open-loop" else None,
        "waited_for_slot": sum(r["recorder"]["slot_waits"] for r in results),
    }
    document = {
        "tool": "realdid-load",
        "format": RESULTS_FORMAT,
        "started_at": iso(started_at),
        "ended_at": iso(ended_at),
        "window_s": round(window, 3),
        "interrupted": interrupted,
        "config": config,
        "pool": pool,
        "generator": generator,
        "kinds": kinds,
        "total": {
            "count": ok + errors,
            "ok": ok,
            "errors": errors,
            "throughput_per_s": round(ok / window, 3) if window > 0 else 0.0,
        },
        "checks": {"update_chains": chains},
        "warnings": [],
    }
    document["warnings"] = warnings(document)
    return document


def warnings(document: Mapping[str, Any]) -> list[str]:
    """What makes the numbers doubtful: a busy generator, late starts, broken DID chains."""
    out = []
    generator = document["generator"]
    busiest = max(generator["per_process_cpu_percent"], default=0.0)
    if busiest >= 100 * BUSY_CPU:
        out.append(
            f"a client process used {busiest:.0f}% of a core: the generator may bound these"
            " results; add --processes, or run it on another machine"
        )
    lag = generator["schedule_lag_ms"]
    if generator["waited_for_slot"]:
        out.append(
            f"{generator['waited_for_slot']:,} operations waited for a free slot"
            f" (--concurrency {document['config']['concurrency']} in flight): the deployment"
            " did not keep up with --rate; the waits are counted in their latencies"
        )
    elif lag is not None and lag["p99"] >= LATE_SECONDS * 1000:
        out.append(
            f"operations started up to {lag['p99']:.0f} ms (p99) after they were due with"
            " slots free: the generator fell behind its schedule (add --processes); the"
            " lateness is counted in the latencies"
        )
    chains = document["checks"]["update_chains"]
    broken = chains["rejected"] + chains["unknown"]
    if broken:
        out.append(
            f"{broken} of {chains['dids']} updated DIDs ended in a rejected or unknown"
            " operation: the registry did not apply every update it accepted"
        )
    if chains["pending"]:
        out.append(f"{chains['pending']} updated DIDs still had a pending operation after --settle")
    return out


# -- the summary ---------------------------------------------------------------------------------
def summary_console() -> Console:
    """Stdout; as wide as the terminal, and 132 columns when it is not one (files, CI)."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=max(132, shutil.get_terminal_size((132, 24)).columns), no_color=True)


def _processes(n: int) -> str:
    return f"{n} client process" + ("" if n == 1 else "es")


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _errors_cell(errors: Mapping[str, Any]) -> str:
    parts = []
    for type_, entry in sorted(errors.items(), key=lambda item: -item[1]["count"]):
        steps = ",".join(sorted(entry["steps"]))
        parts.append(f"{entry['count']} {short_type(type_)} ({steps})")
    return "; ".join(parts) or "-"


def print_summary(console: Console, document: Mapping[str, Any], out: str | None) -> None:
    config = document["config"]
    window = document["window_s"]
    if config["mode"] == "open-loop":
        mode = f"open loop, {config['rate']:g}/s scheduled ({config['arrivals']})"
    elif config["rate"]:
        mode = f"closed loop, {config['concurrency']} users paced to {config['rate']:g}/s"
    else:
        mode = f"closed loop, {config['concurrency']} users"
    stopped = " (stopped early by Ctrl-C)" if document["interrupted"] else ""
    console.print(
        f"realdid-load: {mode}, {window:g} s measured{stopped}, {_processes(config['processes'])}",
        highlight=False,
        soft_wrap=True,
    )
    table = Table()
    for header in ("kind", "ok", "errors", "ok/s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(header, justify="left" if header == "kind" else "right")
    table.add_column("errors by type (step)", overflow="fold")
    for kind, k in document["kinds"].items():
        latency = k["latency_ms"]
        table.add_row(
            kind,
            f"{k['ok']:,}",
            f"{k['errors']:,}",
            f"{k['throughput_per_s']:,.1f}",
            _ms(latency["p50"]),
            _ms(latency["p95"]),
            _ms(latency["p99"]),
            _ms(latency["max"]),
            _errors_cell(k["errors_by_type"]),
        )
    total = document["total"]
    table.add_section()
    table.add_row(
        "total", f"{total['ok']:,}", f"{total['errors']:,}", f"{total['throughput_per_s']:,.1f}"
    )
    console.print(table)

    console.print("latency by step (ms, measured operations)", highlight=False)
    steps = Table()
    for header in ("kind / step", "count", "p50", "p95", "p99", "max"):
        steps.add_column(header, justify="left" if header == "kind / step" else "right")
    for kind, k in document["kinds"].items():
        for step, entry in k["steps"].items():
            latency = entry["latency_ms"]
            steps.add_row(
                f"{kind} / {step}",
                f"{entry['count']:,}",
                _ms(latency["p50"]),
                _ms(latency["p95"]),
                _ms(latency["p99"]),
                _ms(latency["max"]),
            )
    console.print(steps)

    generator = document["generator"]
    lines = [
        f"generator: {_processes(generator['processes'])} on {generator['cores']} cores used"
        f" {generator['cpu_seconds']:.1f} CPU s ({generator['cpu_percent_of_one_core']:.0f}% of"
        " one core; per process "
        + ", ".join(f"{p:.0f}%" for p in generator["per_process_cpu_percent"])
        + ")",
    ]
    lag = generator["schedule_lag_ms"]
    if lag is not None:
        lines.append(
            f"schedule lag (start - due): p50 {lag['p50']:.1f} ms, p99 {lag['p99']:.1f} ms,"
            f" max {lag['max']:.1f} ms"
        )
    pool = document["pool"]
    if pool.get("residents"):
        lines.append(
            f"login pool: {pool['residents']} residents prepared {pool['prepared_at']} with"
            f" {pool['site_accounts']} site accounts, reused from {pool['state_file']}"
        )
    chains = document["checks"]["update_chains"]
    if chains["dids"]:
        lines.append(
            f"DID updates: the last update of {chains['anchored']} of {chains['dids']} updated"
            f" DIDs is anchored ({chains['rejected']} rejected, {chains['pending']} pending)"
        )
    for warning in document["warnings"]:
        lines.append(f"warning: {warning}")
    if out is not None:
        lines.append(f"results: {out}")
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


# -- live progress --------------------------------------------------------------------------------
class LiveProgress:
    """Progress bars on stderr: the run's time, and per kind its operations (against what
    the schedule expects, when there is a rate), throughput, p99 so far and errors."""

    def __init__(
        self, *, enabled: bool, duration: float, expected: Mapping[str, float | None]
    ) -> None:
        console = Console(stderr=True)
        self.enabled = enabled and console.is_terminal
        self.duration = duration
        self.progress = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.enabled,
            refresh_per_second=4,
        )
        self.clock = self.progress.add_task("time", total=duration, stats="")
        self.tasks: dict[str, TaskID] = {
            kind: self.progress.add_task(kind, total=total, stats="")
            for kind, total in expected.items()
        }

    def __enter__(self) -> LiveProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.progress.__exit__(kind, value, traceback)

    def update(self, elapsed: float, snapshots: Mapping[int, Mapping[str, Any]]) -> None:
        if not self.enabled:
            return
        self.progress.update(
            self.clock,
            completed=min(elapsed, self.duration),
            stats=f"{min(elapsed, self.duration):5.1f} / {self.duration:g} s",
        )
        for kind, task in self.tasks.items():
            done = failed = 0
            histogram = LatencyHistogram()
            for snapshot in snapshots.values():
                entry = snapshot[kind]
                done += entry["done"]
                failed += entry["failed"]
                histogram.merge(LatencyHistogram.from_dict(entry["ok"]))
            rate = done / elapsed if elapsed > 0 else 0.0
            self.progress.update(
                task,
                completed=done,
                stats=(
                    f"{done:>8,} ops {rate:8,.1f}/s  p99 {histogram.percentile(0.99) * 1000:8.1f}"
                    f" ms  errors {failed:,}"
                ),
            )
