"""The command line: ``prepare`` (build the pool of enrolled residents) and ``run`` (load).

Every refusal — a bad option, an unreachable service, a refused preparation step — is one
``error: ...`` line on stderr and a non-zero exit: 2 for what the command line asked, 1
for what the deployment answered, 130 when interrupted. docs/load.md is the manual.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import queue as queues
import sys
import time
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx

from .mix import KINDS, SpecError, format_mix, parse_duration, parse_mix
from .pool import (
    Applicant,
    PoolState,
    file_digest,
    load_applicants,
    load_state,
    save_state,
)
from .prepare import DeploymentError, prepare_pool
from .report import LiveProgress, iso, print_summary, results_document, summary_console
from .worker import RunPlan, Share, cpu_seconds, process_main

DEFAULT_STATE = "load-state.json"
DEFAULT_MIX = "enroll=1,login=20,resolve=70,update=9"
DEFAULT_OUT = "load-results.json"
READY_TIMEOUT = 180.0


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="realdid_load.py",
        description="Load generator for a running RealDID deployment (docs/load.md).",
    )
    commands = parser.add_subparsers(dest="command", metavar="{prepare,run}")

    def common(command: argparse.ArgumentParser) -> None:
        command.add_argument("--node", help="registry node base URL, e.g. http://127.0.0.1:8080")
        command.add_argument("--authority", help="identity authority base URL (:8081)")
        command.add_argument(
            "--site",
            action="append",
            help="a relying party's base URL residents log in to (repeatable), e.g. the demo"
            " forum http://127.0.0.1:8090",
        )
        command.add_argument(
            "--state", default=DEFAULT_STATE, help=f"the pool's state file ({DEFAULT_STATE})"
        )
        command.add_argument("--residents", help="the register CSV the authority imported")
        command.add_argument("--captures", help="its face-capture sidecar (id_number,capture)")
        command.add_argument("--timeout", default="30s", help="per HTTP request (30s)")
        command.add_argument(
            "--poll-interval", default="100ms", help="anchoring poll interval (100ms)"
        )
        command.add_argument(
            "--anchor-timeout", default="60s", help="longest wait for an anchor (60s)"
        )
        command.add_argument("--no-progress", action="store_true", help="no live progress bars")
        command.add_argument(
            "--acknowledged",
            metavar="FILE",
            help="append one JSON line per operation the deployment acknowledged (202 DID"
            " operations, issued credentials, logins answered 200) to FILE",
        )

    prepare = commands.add_parser(
        "prepare", help="enroll a pool of residents and get their site proofs"
    )
    common(prepare)
    prepare.add_argument("--pool", type=int, default=100, help="residents in the pool (100)")
    prepare.add_argument(
        "--concurrency", type=int, default=8, help="residents prepared at once (8)"
    )
    prepare.add_argument(
        "--min-validity",
        default="24h",
        help="renew site proofs expiring sooner than this (24h)",
    )
    prepare.add_argument("--fresh", action="store_true", help="ignore an existing state file")

    run = commands.add_parser("run", help="load the deployment and report")
    common(run)
    run.add_argument("--mix", default=DEFAULT_MIX, help=f"kind=weight,... ({DEFAULT_MIX})")
    run.add_argument("--rate", type=float, help="operations per second in total")
    run.add_argument(
        "--open-loop",
        action="store_true",
        help="schedule operations at --rate whatever the completions (else closed loop)",
    )
    run.add_argument(
        "--concurrency",
        type=int,
        help="closed loop: virtual users (8); open loop: operations in flight at most (1000)",
    )
    run.add_argument("--duration", default="60s", help="how long to load (60s)")
    run.add_argument("--warmup", default="0s", help="first part of --duration not measured")
    run.add_argument(
        "--processes",
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="client processes (min(4, cores))",
    )
    run.add_argument("--arrivals", choices=("uniform", "poisson"), default="uniform")
    run.add_argument("--out", default=DEFAULT_OUT, help=f"JSON results file ({DEFAULT_OUT})")
    run.add_argument(
        "--no-login-complete",
        action="store_true",
        help="end a login at the RP's answer, without GET /login/complete",
    )
    run.add_argument(
        "--settle", default="10s", help="after the run, wait this long for DID updates (10s)"
    )
    run.add_argument("--fail-on-error", action="store_true", help="exit 3 if any operation failed")
    run.add_argument("--seed", type=int, default=1, help="seed of Poisson arrivals")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "prepare":
            return prepare_command(args)
        if args.command == "run":
            return run_command(args)
        raise SpecError("give a command: prepare or run (see --help)")
    except SpecError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    except DeploymentError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


# -- checks of what was given ----------------------------------------------------------------
def http_url(value: str | None, option: str, what: str) -> str:
    if not value:
        raise SpecError(f"{option} is required: the {what}'s base URL")
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError(f"{option} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def positive(value: int, option: str) -> int:
    if value < 1:
        raise SpecError(f"{option} must be 1 or more, got {value}")
    return value


def seconds(text: str, option: str, *, allow_zero: bool = False) -> float:
    value = parse_duration(text, option)
    if value <= 0 and not allow_zero:
        raise SpecError(f"{option} must be more than 0, got {text!r}")
    return value


def probe(url: str, what: str) -> httpx.Response:
    try:
        return httpx.get(url, timeout=10.0)
    except httpx.HTTPError as e:
        base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        raise DeploymentError(f"cannot reach the {what} at {base}: {type(e).__name__}") from None


def preflight(node: str, authority: str | None, sites: list[str]) -> str | None:
    """Every service answers; the authority's issuer DID (None if not asked)."""
    health = probe(f"{node}/healthz", "registry node")
    if health.status_code != 200:
        raise DeploymentError(
            f"the registry node at {node} is not healthy (HTTP {health.status_code})"
        )
    issuer = None
    if authority is not None:
        answer = probe(f"{authority}/healthz", "identity authority")
        body: Any = None
        with contextlib.suppress(ValueError):
            body = answer.json()
        if answer.status_code != 200 or not isinstance(body, dict) or "issuer" not in body:
            raise DeploymentError(
                f"the identity authority at {authority} is not ready (HTTP {answer.status_code})"
            )
        issuer = str(body["issuer"])
    for site in sites:
        page = probe(f"{site}/", "site")
        if page.status_code >= 500:
            raise DeploymentError(f"the site at {site} is not ready (HTTP {page.status_code})")
    return issuer


def same_deployment(state: PoolState, issuer: str | None, path: Path) -> None:
    if issuer is not None and issuer != state.issuer:
        raise SpecError(
            f"{path} was prepared against another deployment (another authority DID):"
            " give another --state, or prepare --fresh"
        )


def register(args: argparse.Namespace, state: PoolState | None) -> tuple[Path, Path]:
    residents = args.residents or (state.residents_file if state else None)
    captures = args.captures or (state.captures_file if state else None)
    if not residents:
        raise SpecError("--residents is required: the register CSV the authority imported")
    if not captures:
        raise SpecError("--captures is required: the face captures generated with --residents")
    return Path(residents), Path(captures)


# -- prepare ---------------------------------------------------------------------------------
def prepare_command(args: argparse.Namespace) -> int:
    import uvloop

    state_path = Path(args.state)
    existing = None if args.fresh or not state_path.exists() else load_state(state_path)
    node = http_url(args.node or (existing.node if existing else None), "--node", "registry node")
    authority = http_url(
        args.authority or (existing.authority if existing else None),
        "--authority",
        "identity authority",
    )
    site_urls = [http_url(s, "--site", "site") for s in args.site or []] or (
        list(existing.sites) if existing else []
    )
    if not site_urls:
        raise SpecError("--site is required: a site residents log in to, e.g. the demo forum")
    pool_size = positive(args.pool, "--pool")
    concurrency = positive(args.concurrency, "--concurrency")
    min_validity = seconds(args.min_validity, "--min-validity", allow_zero=True)
    timeout = seconds(args.timeout, "--timeout")
    poll = seconds(args.poll_interval, "--poll-interval")
    anchor_timeout = seconds(args.anchor_timeout, "--anchor-timeout")
    residents, captures = register(args, existing)

    issuer = preflight(node, authority, site_urls)
    assert issuer is not None
    applicants = load_applicants(residents, captures)
    digest = file_digest(residents)
    if existing is not None:
        same_deployment(existing, issuer, state_path)
        if existing.residents_digest != digest:
            raise SpecError(
                f"{residents} is not the residents file {state_path} was prepared with:"
                " give that file, another --state, or prepare --fresh"
            )
        state = existing
        state.node, state.authority = node, authority
    else:
        state = PoolState(
            node, authority, issuer, str(residents.resolve()), str(captures.resolve()), digest
        )
    report = uvloop.run(
        prepare_pool(
            state,
            state_path,
            applicants,
            site_urls,
            pool_size=pool_size,
            concurrency=concurrency,
            min_validity=min_validity,
            timeout=timeout,
            poll_interval=poll,
            anchor_timeout=anchor_timeout,
            show_progress=not args.no_progress,
            acknowledged=_acknowledged(args.acknowledged),
        )
    )
    print(
        f"pool: {report.residents} residents ({report.enrolled} enrolled now,"
        f" {report.residents - report.enrolled} kept) at {report.sites} site(s);"
        f" {report.accounts_made} site proofs issued in {report.seconds:.1f} s;"
        f" state: {state_path}"
    )
    return 0


# -- run -------------------------------------------------------------------------------------
def run_command(args: argparse.Namespace) -> int:
    mix = parse_mix(args.mix)
    duration = seconds(args.duration, "--duration")
    warmup = seconds(args.warmup, "--warmup", allow_zero=True)
    if warmup >= duration:
        raise SpecError(
            f"--warmup ({args.warmup}) must be shorter than --duration ({args.duration})"
        )
    if args.rate is not None and not 0 < args.rate < float("inf"):
        raise SpecError(f"--rate must be more than 0 operations per second, got {args.rate:g}")
    if args.open_loop and args.rate is None:
        raise SpecError("--open-loop needs --rate: the operations per second to schedule")
    processes = positive(args.processes, "--processes")
    concurrency = positive(
        args.concurrency if args.concurrency is not None else (1000 if args.open_loop else 8),
        "--concurrency",
    )
    timeout = seconds(args.timeout, "--timeout")
    poll = seconds(args.poll_interval, "--poll-interval")
    anchor_timeout = seconds(args.anchor_timeout, "--anchor-timeout")
    settle = seconds(args.settle, "--settle", allow_zero=True)

    state_path = Path(args.state)
    needs_pool = any(mix[k] > 0 for k in ("login", "resolve", "update"))
    state = load_state(state_path) if needs_pool or state_path.exists() else None
    node = http_url(args.node or (state.node if state else None), "--node", "registry node")
    authority = None
    if mix["enroll"] > 0:
        authority = http_url(
            args.authority or (state.authority if state else None),
            "--authority",
            "identity authority",
        )
    elif args.authority:
        authority = http_url(args.authority, "--authority", "identity authority")
    site_urls: list[str] = []
    if mix["login"] > 0:
        assert state is not None
        site_urls = [http_url(s, "--site", "site") for s in args.site or []] or list(state.sites)
        for url in site_urls:
            if url not in state.sites:
                raise SpecError(f"--site {url} is not in {state_path}: run prepare with it first")
    issuer = preflight(node, authority, site_urls)
    if state is not None:
        same_deployment(state, issuer, state_path)

    applicants: list[Applicant] = []
    if mix["enroll"] > 0:
        residents, captures = register(args, state)
        applicants = load_applicants(residents, captures)
        if state is not None:
            if file_digest(residents) != state.residents_digest:
                raise SpecError(
                    f"{residents} is not the residents file {state_path} was prepared with:"
                    " the pooled rows would be enrolled again"
                )
            pooled = state.pooled_rows()
            applicants = [a for a in applicants if a.row not in pooled]
        if not applicants:
            raise SpecError("no residents left to enroll: every row of --residents is pooled")
    if needs_pool and (state is None or not state.residents):
        raise SpecError(f"{state_path} holds no residents: run prepare first")
    if mix["update"] > 0 and state is not None and len(state.residents) < processes:
        raise SpecError(
            f"--processes {processes}: each process updates DIDs of its own, but the pool"
            f" holds {len(state.residents)}: prepare a larger --pool or give fewer --processes"
        )
    if mix["enroll"] > 0 and len(applicants) < processes:
        raise SpecError(
            f"--processes {processes}: each process enrolls rows of its own, but only"
            f" {len(applicants)} rows of --residents are not pooled"
        )
    pool = state.residents if state is not None else []
    shares = [
        Share(
            index=i,
            pool=pool,
            updates=pool[i::processes],
            applicants=applicants[i::processes],
            slots=_split(concurrency, processes, i),
        )
        for i in range(processes)
    ]
    plan = RunPlan(
        node=node,
        authority=authority or "",
        sites=tuple(state.sites[u] for u in site_urls) if state else (),
        mix=mix,
        open_loop=args.open_loop,
        rate=args.rate,
        concurrency=concurrency,
        processes=processes,
        duration=duration,
        warmup=warmup,
        timeout=timeout,
        poll_interval=poll,
        anchor_timeout=anchor_timeout,
        settle=settle,
        login_complete=not args.no_login_complete,
        arrivals=args.arrivals,
        seed=args.seed,
        acknowledged=_acknowledged(args.acknowledged),
    )
    total_weight = sum(mix.values())
    expected: dict[str, float | None] = {
        k: (args.rate * (duration) * mix[k] / total_weight if args.rate else None)
        for k in KINDS
        if mix[k] > 0
    }
    main_cpu_before = cpu_seconds()
    results, started_at, ended_at, interrupted = run_processes(
        plan, shares, expected, not args.no_progress
    )
    main_cpu = cpu_seconds() - main_cpu_before
    measured_until = max(r["scheduled_until"] for r in results)
    window = max(0.0, measured_until - warmup)

    config = {
        "node": node,
        "authority": authority,
        "sites": site_urls,
        "mix": {k: mix[k] for k in KINDS},
        "mix_spec": format_mix(mix),
        "mode": "open-loop" if args.open_loop else "closed-loop",
        "rate": args.rate,
        "concurrency": concurrency,
        "processes": processes,
        "duration_s": duration,
        "warmup_s": warmup,
        "timeout_s": timeout,
        "arrivals": args.arrivals if args.open_loop else None,
        "login_complete": plan.login_complete,
        "poll_interval_s": poll,
        "anchor_timeout_s": anchor_timeout,
        "settle_s": settle,
        "state_file": str(state_path) if state is not None else None,
    }
    pool_info: dict[str, Any] = {}
    if state is not None:
        pool_info = {
            "residents": len(state.residents),
            "site_accounts": sum(len(r.sites) for r in state.residents),
            "prepared_at": iso(state.created_at),
            "updated_at": iso(state.updated_at),
            "state_file": str(state_path),
            "reused": True,
        }
    pool_info["enroll_rows"] = len(applicants)
    document = results_document(
        config=config,
        pool=pool_info,
        results=results,
        started_at=started_at,
        ended_at=ended_at,
        window=window,
        main_cpu=main_cpu,
        interrupted=interrupted,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    if state is not None:
        _remember_updates(state, results)
        save_state(state_path, state)
    print_summary(summary_console(), document, str(out))
    if args.fail_on_error and document["total"]["errors"]:
        return 3
    return 0


def _acknowledged(path: str | None) -> str | None:
    """``--acknowledged FILE``, absolute (the client processes append to it), once it is
    known to be writable."""
    if not path:
        return None
    target = Path(path).resolve()
    try:
        with target.open("a", encoding="utf-8"):
            pass
    except OSError as e:
        raise SpecError(f"--acknowledged: cannot append to {path}: {e.strerror}") from None
    return str(target)


def _split(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def _remember_updates(state: PoolState, results: list[dict[str, Any]]) -> None:
    """Where each updated DID got to, so the next run starts from there (it checks anyway)."""
    by_row = {r.row: r for r in state.residents}
    for result in results:
        for update in result["updates"]:
            resident = by_row.get(update["row"])
            if resident is not None:
                resident.update_counter = update["update_counter"]
                resident.previous = update["previous"]
                resident.has_service = update["has_service"]


def run_processes(
    plan: RunPlan,
    shares: list[Share],
    expected: dict[str, float | None],
    show_progress: bool,
) -> tuple[list[dict[str, Any]], float, float, bool]:
    """Start the client processes, wait until all are set up, start them together, show
    progress until all are done; their results, the wall-clock start and end, and whether
    Ctrl-C stopped the run early (a second Ctrl-C abandons it)."""
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    go, stop = context.Event(), context.Event()
    start_at = context.Value("d", 0.0)
    workers = [
        context.Process(
            target=process_main,
            args=(plan, share, messages, go, stop, start_at),
            name=f"realdid-load-{share.index}",
            daemon=True,
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    results: dict[int, dict[str, Any]] = {}
    stop_requested = False
    try:
        ready: set[int] = set()
        deadline = time.monotonic() + READY_TIMEOUT
        while len(ready) < len(workers):
            message = _next_message(messages, workers, results)
            if message is None:
                if time.monotonic() > deadline:
                    raise DeploymentError("the client processes did not get ready in time")
                continue
            if message[0] == "ready":
                ready.add(message[1])
            elif message[0] == "fatal":
                raise DeploymentError(message[2])
        start = time.monotonic() + 0.2
        started_at = time.time() + 0.2
        start_at.value = start
        go.set()
        snapshots: dict[int, dict[str, Any]] = {}
        with LiveProgress(enabled=show_progress, duration=plan.duration, expected=expected) as live:
            while len(results) < len(workers):
                try:
                    message = _next_message(messages, workers, results)
                    if message is not None:
                        _take(message, results, snapshots)
                    live.update(time.monotonic() - start, snapshots)
                except KeyboardInterrupt:
                    if stop_requested:
                        raise
                    stop_requested = True
                    stop.set()  # finish what is in flight, then report
        ended_at = time.time()
    finally:
        stop.set()
        go.set()
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)
    return [results[i] for i in sorted(results)], started_at, ended_at, stop_requested


def _take(
    message: tuple[Any, ...],
    results: dict[int, dict[str, Any]],
    snapshots: dict[int, dict[str, Any]],
) -> None:
    """File one message of a running client process."""
    if message[0] == "tick":
        snapshots[message[1]] = message[2]
    elif message[0] == "done":
        results[message[1]] = message[2]
        snapshots[message[1]] = _final_snapshot(message[2])
    elif message[0] == "fatal":
        raise DeploymentError(message[2])


def _next_message(
    messages: Any, workers: list[Any], results: dict[int, dict[str, Any]]
) -> tuple[Any, ...] | None:
    try:
        message: tuple[Any, ...] = messages.get(timeout=0.25)
    except queues.Empty:
        for index, worker in enumerate(workers):
            if index not in results and worker.exitcode not in (None, 0):
                raise DeploymentError(
                    f"client process {index} died (exit code {worker.exitcode})"
                ) from None
        return None
    return message


def _final_snapshot(result: dict[str, Any]) -> dict[str, Any]:
    kinds = result["recorder"]["kinds"]
    return {
        kind: {
            "done": r["ok"]["count"] + r["failed"] + r["warmup"]["ok"] + r["warmup"]["failed"],
            "failed": r["failed"] + r["warmup"]["failed"],
            "ok": r["ok"],
        }
        for kind, r in kinds.items()
    }
