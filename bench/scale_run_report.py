"""The report of bench/scale_run.py: the Markdown table, the phase rates, the estimate, plots.

Everything here reads the run's state file (a dict) and its RSS samples; nothing measures,
so ``scale_run.py --report-only`` can redraw a run's report at any time, and the plots of a
run in progress show the checkpoints done so far.

Plots (matplotlib, Agg backend, PNGs named ``<engine>-*.png`` in the plots directory):
resolution throughput and latency against stored DIDs; login, creation, enrollment and
rebuild rates against stored DIDs; bytes per DID against stored DIDs; RSS of each service
against time, with a marker where each checkpoint's measurements start.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from scale_run_services import read_samples as _read_samples

#: The full run the estimate is made for (the defaults of scale_run.py).
FULL = {
    "dids": 10_000_000,
    "checkpoints": [0, 1_000_000, 3_000_000, 10_000_000],
    "residents": 10_000_000,
    "enrollments": 1_000_000,
    "rebuild_ops": 1_000_000,
    "enroll_chunk": 10_000,
}
MIB = 1024


def _checkpoints(state: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return sorted(((int(k), v) for k, v in state["checkpoints"].items()), key=lambda kv: kv[0])


def _get(entry: dict[str, Any], step: str, key: str) -> float | None:
    value = entry.get("measures", {}).get(step, {}).get(key)
    return None if value is None else float(value)


def rss_summary(samples: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per checkpoint, the peak of each service's processes (MiB): node workers, node
    supervisor, relying party workers, and PostgreSQL's processes' PSS added up."""
    out: dict[int, dict[str, float]] = defaultdict(dict)
    pg_sums: dict[tuple[int, float], float] = defaultdict(float)
    for s in samples:
        checkpoint = s.get("checkpoint")
        if checkpoint is None or s.get("phase") in ("build", "register", "register-install"):
            continue
        if s["service"] == "postgres":
            pg_sums[(checkpoint, s["t"])] += s.get("pss_kib", 0) / MIB
            continue
        key = f"{s['service']} {s['role']}"
        peak = out[checkpoint].get(key, 0.0)
        out[checkpoint][key] = max(peak, s["rss_kib"] / MIB)
    for (checkpoint, _t), total in pg_sums.items():
        out[checkpoint]["postgres pss"] = max(out[checkpoint].get("postgres pss", 0.0), total)
    return out


def _fmt(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


Row = tuple[str, Callable[[int, dict[str, Any]], str], str]


def measures_table(state: dict[str, Any], samples: list[dict[str, Any]]) -> str:
    """Every measure (rows) at every checkpoint (columns), with the goal column."""
    cps = _checkpoints(state)
    rss = rss_summary(samples)
    pg = state["engine"] == "postgresql"

    def m(step: str, key: str, spec: str, scale: float = 1.0) -> Callable[[int, Any], str]:
        def cell(_cp: int, entry: dict[str, Any]) -> str:
            value = _get(entry, step, key)
            return _fmt(None if value is None else value * scale, spec)

        return cell

    def mem(key: str) -> Callable[[int, Any], str]:
        return lambda cp, _entry: _fmt(rss.get(cp, {}).get(key), ",.0f")

    def enroll(cp: int, entry: dict[str, Any]) -> str:
        r = entry.get("measures", {}).get("enrollment")
        if r is None:
            return "—"
        if not r.get("residents"):
            return "none due"
        return f"{r['rate']:,.0f} ({r['residents']:,})"

    def serve_start(_cp: int, entry: dict[str, Any]) -> str:
        starts = entry.get("serve_starts") or []
        return _fmt(starts[-1]["node_s"], ".1f") if starts else "—"

    def rebuild(_cp: int, entry: dict[str, Any]) -> str:
        r = entry.get("measures", {}).get("rebuild")
        if r is None:
            return "—"
        return f"{r['rate']:,.0f} ({'all' if r['whole'] else 'first'} {r['operations']:,})"

    def ratio(step: str, key: str) -> Callable[[int, Any], str]:
        def cell(_cp: int, entry: dict[str, Any]) -> str:
            value, raw = _get(entry, step, key), _get(entry, "raw", "ed25519_verify")
            return _fmt(value / raw if value is not None and raw else None, ".2f")

        return cell

    rows: list[Row] = [
        ("DIDs stored (at the resolution run)", m("resolution", "dids", ",.0f"), ""),
        ("raw PyNaCl Ed25519 verifies/s (1 core)", m("raw", "ed25519_verify", ",.0f"), ""),
        ("resolution over HTTP, req/s", m("resolution", "rate", ",.0f"), "≥ 15,000"),
        ("  ÷ raw verifies/s", ratio("resolution", "rate"), ""),
        ("resolution p50, ms", m("resolution", "p50_ms", ".2f"), ""),
        ("resolution p99, ms", m("resolution", "p99_ms", ".2f"), "≤ 10"),
        ("resolution errors", m("resolution", "errors", ",.0f"), "0"),
        ("node CPU during resolution, % of a core", m("resolution", "cpu_percent", ".0f"), ""),
        ("login verification over HTTP, /s", m("login", "rate", ",.0f"), "≥ 4,000"),
        ("login p99, ms", m("login", "p99_ms", ".1f"), "≤ 10"),
        (
            "DID creations over HTTP, submitted → anchored, /s",
            m("creation", "rate", ",.0f"),
            "≥ 10,000",
        ),
        ("enrollments over HTTP, /s (residents)", enroll, "≥ 1,000"),
        ("enrollment p99, ms", m("enrollment", "p99_ms", ",.0f"), ""),
        ("bytes per DID: index + batch files", m("storage", "per_did", ",.0f"), "≤ 400"),
        ("  of which index", m("storage", "index_per_did", ",.0f"), ""),
        ("  of which batch files (CAS)", m("storage", "cas_per_did", ",.0f"), ""),
        ("  solo ledger block log (not in the sum)", m("storage", "ledger_per_did", ",.1f"), ""),
        ("node worker RSS, peak MiB", mem("node worker"), "flat: ≤ +10 % 1 M → 10 M"),
        ("node supervisor RSS, peak MiB", mem("node supervisor"), "flat"),
        ("relying party worker RSS, peak MiB", mem("rp worker"), "flat"),
        *(
            [("PostgreSQL, PSS of all its processes, peak MiB", mem("postgres pss"), "flat")]
            if pg
            else []
        ),
        ("fresh node rebuild, operations/s (prefix)", rebuild, "≥ 20,000"),
        ("  ÷ raw verifies/s", ratio("rebuild", "rate"), ""),
        ("  whole ledger at that rate, s", m("rebuild", "full_estimate_s", ",.0f"), ""),
        ("node start to /healthz, s", serve_start, ""),
    ]
    head = "| measure | " + " | ".join(f"{cp:,}" for cp, _ in cps) + " | goal (10 M) |"
    lines = [head, "|---|" + "---:|" * len(cps) + "---|"]
    for label, cell, goal in rows:
        lines.append(f"| {label} | " + " | ".join(cell(cp, e) for cp, e in cps) + f" | {goal} |")
    return "\n".join(lines)


def phases_table(state: dict[str, Any]) -> str:
    """Wall time and rate of each phase (all attempts of an interrupted phase counted)."""
    lines = ["| phase | done | wall time, s | rate |", "|---|---:|---:|---|"]
    phases = state.get("phases", {})
    walls = state.get("wall", {})
    if "register" in phases:
        r = phases["register"]
        lines.append(
            f"| register: generate + merge + import into register.db | {r['residents']:,} residents"
            f" | {r['seconds']:,.0f} | {r['rate']:,.0f} residents/s |"
        )
    if "register_install" in phases:
        r = phases["register_install"]
        how = (
            "import into PostgreSQL"
            if state["engine"] == "postgresql"
            else "copy for the authority"
        )
        lines.append(
            f"| register: {how} | {r['rows']:,} rows | {r['seconds']:,.0f} | {r['rate']:,.0f} rows/s |"
        )
    for seg in state.get("build", {}).get("segments", []):
        built = seg["to"] - seg["from"]
        if built <= 0:
            continue
        lines.append(
            f"| build {seg['from']:,} → {seg['to']:,} DIDs (writer + observer in process) | {built:,} DIDs"
            f" | {seg['seconds']:,.0f} | {built / seg['seconds']:,.0f} DIDs/s |"
        )
    for cp, entry in _checkpoints(state):
        measures = entry.get("measures", {})
        total = sum(r.get("seconds", 0.0) for r in measures.values())
        parts = ", ".join(f"{k} {r.get('seconds', 0.0):,.0f}" for k, r in measures.items())
        starts = entry.get("serve_starts") or []
        ready = sum(s["ready_s"] for s in starts)
        lines.append(
            f"| checkpoint {cp:,}: measurements ({parts}; node starts {ready:,.0f}) |"
            f" {len(measures)} | {total + ready:,.0f} | |"
        )
    if walls:
        lines.append("")
        lines.append(
            "Wall time by phase, every attempt: "
            + ", ".join(f"{k} {v:,.0f} s" for k, v in sorted(walls.items()))
            + "."
        )
    return "\n".join(lines)


def estimate(state: dict[str, Any], full: dict[str, Any] = FULL) -> list[str]:
    """The full run's wall time and disk from this run's phase rates and per-DID figures."""
    cps = [(cp, e) for cp, e in _checkpoints(state) if e.get("done")]
    phases = state.get("phases", {})
    if not cps or "register" not in phases or "register_install" not in phases:
        return ["(no estimate: no checkpoint finished yet)"]
    last_cp, last = cps[-1]
    measures = last["measures"]
    build = state["build"]
    segments = [s for s in build["segments"] if s["to"] - s["from"] > 0]
    rates = [(s["to"] - s["from"]) / s["seconds"] for s in segments]
    overall = build["dids"] / build["seconds"] if build["seconds"] else None
    build_rate = min([r for r in [*rates[-1:], overall] if r]) if rates else None
    register_s = full["residents"] / phases["register"]["rate"]
    install_s = full["residents"] / phases["register_install"]["rate"]
    enroll_chunks = [c for _, e in cps for c in e.get("enrollment_chunks", [])]
    per_chunk, per_resident = _chunk_costs(enroll_chunks)
    chunks = math.ceil(full["enrollments"] / full["enroll_chunk"])
    enroll_s = chunks * per_chunk + full["enrollments"] * per_resident
    wall_rate = full["enrollments"] / enroll_s if enroll_s > 0 else None
    build_s = full["dids"] / build_rate if build_rate else math.nan
    fixed = sum(
        r.get("seconds", 0.0) for k, r in measures.items() if k not in ("enrollment", "rebuild")
    ) + sum(s["ready_s"] for s in last.get("serve_starts", [])[-1:])
    rebuild = measures["rebuild"]
    limit = full["rebuild_ops"] or math.inf
    measured_n = max(1, measures["storage"]["dids"])
    checkpoint_s = sum(
        fixed + min(n, limit) / rebuild["rate"] + rebuild["setup_s"] * max(n, 1) / measured_n
        for n in full["checkpoints"]
    )
    total = register_s + install_s + build_s + enroll_s + checkpoint_s
    storage = measures["storage"]
    dids = full["dids"]
    per_did = storage["index_per_did"] + storage["cas_per_did"] + storage["ledger_per_did"]
    register_cache = phases["register"]["bytes"] / state["residents"] * full["residents"]
    authority_register = (
        storage["authority_register_bytes"] / state["residents"] * full["residents"]
    )
    # The authority's databases per enrollment: the growth between the first and the last
    # checkpoint measured (a fixed part — schemas, status lists — is there from the start).
    first = cps[0][1]["measures"]["storage"]
    grown = storage["enrolled"] - first["enrolled"]
    per_enrollment = (
        (storage["authority_other_bytes"] - first["authority_other_bytes"]) / grown
        if grown > 0
        else 0.0
    )
    authority_other = first["authority_other_bytes"] + per_enrollment * full["enrollments"]
    scratch = storage["cas_per_did"] * dids + storage["index_per_did"] * min(dids, limit)
    disk = per_did * dids + register_cache + authority_register + authority_other + scratch
    gib = 1024**3
    bound = (
        f"rebuilding at most {full['rebuild_ops']:,} operations each"
        if full["rebuild_ops"]
        else "rebuilding the whole ledger each time"
    )
    return [
        f"For `--dids {full['dids']:,} --residents {full['residents']:,} --enrollments"
        f" {full['enrollments']:,} --checkpoints {','.join(map(str, full['checkpoints']))}`"
        f" on this machine and engine, from the rates above (checkpoint {last_cp:,} for the"
        " per-checkpoint costs):",
        "",
        f"* register: {register_s / 3600:,.1f} h generating + {install_s / 3600:,.1f} h installing",
        f"* build: {build_s / 3600:,.1f} h at {build_rate or 0:,.0f} DIDs/s (the slower of the"
        " last segment's and the overall rate)",
        f"* enrollments: {enroll_s / 3600:,.1f} h, {wall_rate or 0:,.0f} residents/s in chunks of"
        f" {full['enroll_chunk']:,} (root DIDs made, anchored and enrolled, wall time: a"
        f" straight line fitted to this run's chunks, {per_chunk:,.1f} s per chunk +"
        f" {per_resident * 1000:,.1f} ms per resident)",
        f"* measurements at {len(full['checkpoints'])} checkpoints: {checkpoint_s / 3600:,.1f} h"
        f" ({bound})",
        f"* **total ≈ {total / 3600:,.1f} h**; disk ≈ {disk / gib:,.0f} GiB: data set"
        f" {per_did * dids / gib:,.1f} GiB ({per_did:,.0f} B per DID incl. the ledger), register"
        f" cache {register_cache / gib:,.1f} GiB, the authority's register"
        f" {authority_register / gib:,.1f} GiB and its enrollments {authority_other / gib:,.1f} GiB"
        f" ({per_enrollment:,.0f} B each),"
        f" rebuild scratch {scratch / gib:,.1f} GiB at the last checkpoint",
    ]


def _chunk_costs(chunks: list[dict[str, Any]]) -> tuple[float, float]:
    """(seconds per chunk, seconds per resident): least squares of wall time on residents
    over the enrollment chunks (the ratio alone when they are all of one size)."""
    if not chunks:
        return 0.0, math.nan
    xs = [float(c["residents"]) for c in chunks]
    ys = [float(c["wall_s"]) for c in chunks]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread > 0:
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
        if slope > 0:
            return max(0.0, mean_y - slope * mean_x), slope
    return 0.0, sum(ys) / sum(xs)


def write_report(state: dict[str, Any], rss_path: Path, results_md: Path, plots_dir: Path) -> str:
    """Write ``results.md`` and the plots; return the measures table (for the console)."""
    samples = [s for s in _read_samples(rss_path) if s.get("rss_kib")]
    table = measures_table(state, samples)
    runs = state.get("runs", [])
    first = runs[0]["started"] if runs else "?"
    last = runs[-1].get("ended", "running") if runs else "?"
    text = [
        f"# Scale run: {state['engine']}",
        "",
        f"Work dir state `{state.get('options', {}).get('work_dir', '?')}`; {len(runs)}"
        f" invocation(s) from {first} to {last}; {state['machine']['cores']} cores,"
        f" Python {state['machine']['python']}. Options of the last invocation:"
        f" `{_options_line(state)}`.",
        "",
        "## Every measure at every checkpoint (columns: the checkpoint's stored DIDs)",
        "",
        table,
        "",
        "## Phases",
        "",
        phases_table(state),
        "",
        "## Estimate for the full run",
        "",
        *estimate(state),
        "",
    ]
    results_md.write_text("\n".join(text), encoding="utf-8")
    try:
        plot_all(state, samples, plots_dir)
    except ImportError:
        print("(no plots: matplotlib is not installed — pip install -e '.[bench]')")
    return table


def _options_line(state: dict[str, Any]) -> str:
    o = state.get("options", {})
    keys = (
        *("dids", "checkpoints", "residents", "enrollments", "creates", "wrk_seconds"),
        *("wrk_repeat", "logins", "login_holders", "login_did_ttl", "rebuild_ops"),
    )
    return " ".join(f"--{k.replace('_', '-')} {o[k]}" for k in keys if k in o)


# -- plots ------------------------------------------------------------------------------------
def _series(state: dict[str, Any], step: str, key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for _cp, entry in _checkpoints(state):
        x = _get(entry, "resolution", "dids") or _get(entry, "storage", "dids")
        y = _get(entry, step, key)
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def _axis(ax: Any, xs: list[float]) -> None:
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("DIDs stored")
    ax.grid(True, alpha=0.3)


def _goal(ax: Any, value: float, label: str) -> None:
    ax.axhline(value, color="tab:red", linestyle=":", linewidth=1, label=label)


def plot_all(state: dict[str, Any], samples: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    engine = state["engine"]
    made = []

    def save(fig: Any, name: str) -> None:
        path = out / f"{engine}-{name}.png"
        fig.suptitle(f"RealDID scale run, {engine} ({state['machine']['cores']} cores)")
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        made.append(path)

    # resolution
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    xs, rate = _series(state, "resolution", "rate")
    left.plot(xs, rate, "o-", label="resolutions/s (wrk, 64 conns)")
    rx, raw = _series(state, "raw", "ed25519_verify")
    left.plot(rx, raw, "s--", color="grey", label="raw Ed25519 verifies/s, 1 core")
    _goal(left, 15_000, "goal 15,000/s")
    left.set_ylabel("per second")
    left.set_ylim(bottom=0)
    _axis(left, xs)
    left.legend(fontsize=8)
    for key, style in (("p50_ms", "o-"), ("p99_ms", "s-")):
        px, py = _series(state, "resolution", key)
        right.plot(px, py, style, label=key.replace("_ms", ""))
    _goal(right, 10, "goal p99 10 ms")
    right.set_ylabel("latency, ms")
    right.set_ylim(bottom=0)
    _axis(right, xs)
    right.legend(fontsize=8)
    save(fig, "resolution")

    # rates
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for ax, (step, key, title, goal) in zip(
        axes.flat,
        (
            ("login", "rate", "login verifications/s over HTTP", 4_000),
            ("creation", "rate", "DID creations/s over HTTP (submitted → anchored)", 10_000),
            ("enrollment", "rate", "enrollments/s over HTTP", 1_000),
            ("rebuild", "rate", "fresh node rebuild, operations/s", 20_000),
        ),
        strict=True,
    ):
        px, py = _series(state, step, key)
        ax.plot(px, py, "o-", label="measured")
        _goal(ax, goal, f"goal {goal:,}")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        _axis(ax, px or xs)
        ax.legend(fontsize=8)
    save(fig, "rates")

    # storage
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (
        ("per_did", "index + batch files"),
        ("index_per_did", "index"),
        ("cas_per_did", "batch files (CAS)"),
        ("ledger_per_did", "solo ledger block log"),
    ):
        px, py = _series(state, "storage", key)
        ax.plot(px, py, "o-", label=label)
    _goal(ax, 400, "goal 400 B (index + batch files)")
    ax.set_ylabel("bytes per DID on disk")
    ax.set_ylim(bottom=0)
    _axis(ax, _series(state, "storage", "per_did")[0])
    ax.legend(fontsize=8)
    save(fig, "storage")

    # memory against time
    fig, ax = plt.subplots(figsize=(11, 4.5))
    if samples:
        t0 = min(s["t"] for s in samples)
        lines: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
        pg: dict[float, float] = defaultdict(float)
        for s in samples:
            minute = (s["t"] - t0) / 60
            if s["service"] == "postgres":
                pg[minute] += s.get("pss_kib", 0) / MIB
            else:
                lines[(f"{s['service']} {s['role']}", s["pid"])].append(
                    (minute, s["rss_kib"] / MIB)
                )
        colours = {"node worker": "tab:blue", "node supervisor": "tab:cyan"}
        colours |= {"rp worker": "tab:orange", "rp supervisor": "tab:olive"}
        labelled: set[str] = set()
        for (role, _pid), points in sorted(lines.items()):
            points.sort()
            stride = max(1, len(points) // 3000)
            ax.plot(
                [p[0] for p in points[::stride]],
                [p[1] for p in points[::stride]],
                color=colours.get(role, "tab:grey"),
                linewidth=1,
                label=None if role in labelled else f"{role} (VmRSS)",
            )
            labelled.add(role)
        if pg:
            times = sorted(pg)
            stride = max(1, len(times) // 3000)
            ax.plot(
                times[::stride],
                [pg[t] for t in times[::stride]],
                ".",
                markersize=1.5,
                color="tab:green",
                label="PostgreSQL, PSS of all processes",
            )
        starts: dict[int, float] = {}
        for s in samples:
            cp = s.get("checkpoint")
            if cp is not None and s.get("phase") not in ("build", "register", "register-install"):
                starts[cp] = min(starts.get(cp, math.inf), (s["t"] - t0) / 60)
        for cp, minute in sorted(starts.items()):
            ax.axvline(minute, color="black", linestyle="--", linewidth=0.8)
            ax.annotate(
                f"{cp:,} DIDs",
                (minute, 1),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=8,
            )
    ax.set_xlabel(
        "minutes since the first sample (node and relying party: during the measurements;"
        " PostgreSQL: all along)"
    )
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, "memory")
    return made
