"""The long fuzz run: every parser that takes outside input, N seconds each.

Usage::

    .venv/bin/python scripts/fuzz.py --seconds 120            # every target
    .venv/bin/python scripts/fuzz.py --seconds 60 --target sdjwt --target jws
    .venv/bin/python scripts/fuzz.py --seconds 30 --engine hypothesis

The targets are ``tests/fuzz/targets.py``. With atheris installed (``pip install atheris``:
a manylinux wheel, no compiler needed) each target runs in its own process under libFuzzer
with ``realdid`` instrumented for coverage, starting from the checked-in seeds
(``tests/fuzz/corpus/<target>``) and the inputs earlier runs found (kept in
``tests/fuzz/findings/work/<target>``, gitignored); without atheris — or with ``--engine
hypothesis`` — each target is a long Hypothesis search over mutated seeds
(``tests/fuzz/mutations.py``; Hypothesis has no coverage guidance of its own). Either way
an input that takes longer than ``--timeout`` seconds is a hang. ``--tolerate
httpx.InvalidURL,idna.IDNAError`` lets a run go on past findings already reported whose
fix lies elsewhere (libFuzzer stops at each finding; after five the target's run ends).

Per target it prints the executions, the coverage (libFuzzer's edge count at start and
end, and the new inputs it kept) and the findings, then a Markdown table of all targets
for docs/fuzzing.md. A finding's reproducer is written to ``tests/fuzz/findings/``
(``<target>-crash-<sha1>``, ``<target>-timeout-<sha1>``, ...); replay one with
``--replay FILE --target NAME``. The exit status is 1 if any target found something.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FUZZ_DIR = ROOT / "tests" / "fuzz"
FINDINGS = FUZZ_DIR / "findings"
WORK = FINDINGS / "work"
DICTIONARY = FUZZ_DIR / "fuzz.dict"
RSS_LIMIT_MB = 2048
TOLERATE_VARIABLE = "REALDID_FUZZ_TOLERATE"  # as tests/fuzz/targets.py reads it


@dataclasses.dataclass
class Result:
    """What one target's run found."""

    target: str
    engine: str
    seconds: float
    executions: int = 0
    coverage_start: int | None = None
    coverage_end: int | None = None
    new_inputs: int | None = None
    findings: list[str] = dataclasses.field(default_factory=list)

    def line(self) -> str:
        rate = self.executions / self.seconds if self.seconds else 0.0
        coverage = (
            f"cov {self.coverage_start} -> {self.coverage_end} edges, {self.new_inputs} new inputs"
            if self.coverage_end is not None
            else "coverage not measured"
        )
        found = ", ".join(self.findings) if self.findings else "no findings"
        return (
            f"{self.target:16} {self.engine:10} {self.seconds:6.0f} s  {self.executions:>10,} execs"
            f" ({rate:,.0f}/s)  {coverage}; {found}"
        )

    def row(self) -> str:
        coverage = (
            f"{self.coverage_start} → {self.coverage_end}" if self.coverage_end is not None else "–"
        )
        new = "–" if self.new_inputs is None else str(self.new_inputs)
        found = "<br>".join(self.findings) if self.findings else "none"
        return (
            f"| {self.target} | {self.engine} | {self.seconds:.0f} | {self.executions:,} |"
            f" {coverage} | {new} | {found} |"
        )


def _has_atheris() -> bool:
    try:
        import atheris  # noqa: F401, PLC0415 - optional: only the long run uses it
    except ImportError:
        return False
    return True


# -- atheris: one libFuzzer process per target -------------------------------------------------
def _atheris_worker(name: str, libfuzzer_args: list[str]) -> None:
    """Runs in the child process: instrument realdid, then hand over to libFuzzer."""
    import atheris  # noqa: PLC0415 - the child imports it, the parent need not have it

    with atheris.instrument_imports(include=["realdid", "urllib"]):
        from tests.fuzz.targets import TARGETS, run_one  # noqa: PLC0415

    target = TARGETS[name]
    atheris.Setup([sys.argv[0], *libfuzzer_args], lambda data: run_one(target, data))
    atheris.Fuzz()


_STATUS = re.compile(r"^#(\d+)\s+(INITED|NEW|REDUCE|pulse|DONE)\s+cov: (\d+)")
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def _atheris_once(name: str, seconds: int, timeout: int, result: Result) -> bool:
    """One libFuzzer session for ``seconds``; adds to ``result``; True if it stopped on a
    finding (libFuzzer stops at the first one)."""
    from tests.fuzz.targets import CORPUS, TARGETS  # noqa: PLC0415

    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    FINDINGS.mkdir(parents=True, exist_ok=True)
    args = [
        f"-max_total_time={seconds}",
        f"-timeout={timeout}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-max_len={TARGETS[name].max_len}",
        f"-artifact_prefix={FINDINGS}/{name}-",
        f"-dict={DICTIONARY}",
        "-print_final_stats=1",
        str(work),  # new inputs go to the first folder: never the checked-in seeds
        str(CORPUS / name),
    ]
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--", *args]
    child = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    output = child.stdout + child.stderr  # atheris prints the Python traceback on stdout
    lines = output.splitlines()
    artifacts: list[str] = []
    for index, line in enumerate(lines):
        if status := _STATUS.match(line):
            if status.group(2) == "INITED" and result.coverage_start is None:
                result.coverage_start = int(status.group(3))
            result.coverage_end = int(status.group(3))
        elif stat := _STAT.match(line):
            if stat.group(1) == "number_of_executed_units":
                result.executions += int(stat.group(2))
            elif stat.group(1) == "new_units_added":
                result.new_inputs = (result.new_inputs or 0) + int(stat.group(2))
        elif artifact := _ARTIFACT.search(line):
            artifacts.append(Path(artifact.group(1)).name)
        elif "Uncaught Python exception" in line and index + 1 < len(lines):
            artifacts.insert(0, lines[index + 1].strip()[:160])
    if child.returncode == 0:
        return False
    if not artifacts:
        artifacts.append(f"exit status {child.returncode}")
    finding = " — ".join(artifacts)
    log = FINDINGS / f"{name}-{len(result.findings) + 1}-stderr.txt"
    log.write_text(output[-200_000:])
    result.findings.append(f"{finding} (log {log.name})")
    return True


def _run_atheris(name: str, seconds: int, timeout: int) -> Result:
    """libFuzzer stops at a finding; restart it for the time left (at most 5 findings)."""
    started = time.monotonic()
    result = Result(name, "atheris", 0.0)
    while len(result.findings) < 5:
        left = seconds - (time.monotonic() - started)
        if left < 5 or not _atheris_once(name, round(left), timeout, result):
            break
    result.seconds = time.monotonic() - started
    return result


# -- Hypothesis: a long search over mutated seeds ----------------------------------------------
class HangError(Exception):
    """An input ran longer than the per-input timeout."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise HangError("input ran longer than the per-input timeout")


def _run_hypothesis(name: str, seconds: int, timeout: int) -> Result:
    from hypothesis import HealthCheck, Phase, given, settings  # noqa: PLC0415
    from tests.fuzz.mutations import inputs  # noqa: PLC0415
    from tests.fuzz.targets import TARGETS, corpus_of, run_one  # noqa: PLC0415

    target = TARGETS[name]
    seeds = [data for _, data in corpus_of(name)]
    result = Result(name, "hypothesis", 0.0)
    last: list[bytes] = []
    started = time.monotonic()
    signal.signal(signal.SIGALRM, _alarm)

    @settings(
        max_examples=2_000,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=inputs(seeds))
    def search(data: bytes) -> None:
        result.executions += 1
        last[:] = [data]
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            run_one(target, data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    while time.monotonic() - started < seconds:
        try:
            search()
        except Exception as e:  # a finding: whatever escaped the harness
            reproducer = last[0] if last else b""
            kind = "timeout" if isinstance(e, HangError) else "crash"
            path = FINDINGS / f"{name}-{kind}-{hashlib.sha1(reproducer).hexdigest()}"  # noqa: S324
            FINDINGS.mkdir(parents=True, exist_ok=True)
            path.write_bytes(reproducer)
            path.with_suffix(".txt").write_text("".join(traceback.format_exception(e)))
            result.findings.append(path.name)
            break
    result.seconds = time.monotonic() - started
    return result


def _replay(name: str, path: Path) -> int:
    from tests.fuzz.targets import TARGETS, run_one  # noqa: PLC0415

    run_one(TARGETS[name], path.read_bytes())
    print(f"{path}: no finding")
    return 0


def _tolerate_option(argv: list[str]) -> str:
    """``--tolerate``'s value, read before the targets are imported (they read it then)."""
    for index, arg in enumerate(argv):
        if arg == "--tolerate" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--tolerate="):
            return arg.split("=", 1)[1]
    return ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _atheris_worker(argv[1], argv[3:])
        return 0
    tolerate = _tolerate_option(argv)
    if tolerate:
        # Read by tests/fuzz/targets.py at import, here and in every worker process.
        os.environ[TOLERATE_VARIABLE] = tolerate
    from tests.fuzz.targets import TARGETS  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="seconds per target")
    parser.add_argument(
        "--target", action="append", choices=sorted(TARGETS), help="repeatable; default all"
    )
    parser.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument("--replay", type=Path, help="run one reproducer through --target")
    parser.add_argument(
        "--tolerate",
        metavar="MODULE.CLASS,...",
        help="exceptions to treat as known findings (reported, fixed elsewhere), not crashes",
    )
    args = parser.parse_args(argv)
    names: list[str] = args.target or list(TARGETS)
    if args.replay is not None:
        return _replay(names[0], args.replay)
    engine: str = args.engine
    if engine == "auto":
        engine = "atheris" if _has_atheris() else "hypothesis"
    elif engine == "atheris" and not _has_atheris():
        parser.error("atheris is not installed: pip install atheris, or use --engine hypothesis")
    print(f"fuzzing {len(names)} target(s) for {args.seconds} s each with {engine}", flush=True)
    if args.tolerate:
        print(f"tolerating known findings: {args.tolerate}", flush=True)
    run: Any = _run_atheris if engine == "atheris" else _run_hypothesis
    results: list[Result] = []
    for name in names:
        result = run(name, args.seconds, args.timeout)
        results.append(result)
        print(result.line(), flush=True)
    print()
    print("| target | engine | seconds | executions | coverage (edges) | new inputs | findings |")
    print("| --- | --- | ---: | ---: | --- | ---: | --- |")
    for result in results:
        print(result.row())
    total = sum(r.executions for r in results)
    found = [f for r in results for f in r.findings]
    print(f"\n{total:,} executions, {len(found)} finding(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
