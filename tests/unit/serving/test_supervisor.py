"""The worker pool (realdid.serving): N children, replaced when they die, stopped together.

Each test runs the pool in a child interpreter of its own: the pool forks, and the test
process has threads (pytest's, the PostgreSQL fixtures') that a fork must not copy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from realdid.serving import WorkerPool, default_workers

# A pool of ``count`` children; each writes its pid to <dir>/<index>.<pid> and then behaves
# as told by the file <dir>/mode: "serve" (sleep until SIGTERM), "fail" (exit 3 at once).
_POOL = textwrap.dedent(
    """
    import logging, os, signal, sys, time
    from pathlib import Path
    from realdid.serving import WorkerPool

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    directory, count = Path(sys.argv[1]), int(sys.argv[2])

    def work(index: int) -> int:
        (directory / f"{index}.{os.getpid()}").touch()
        if (directory / "mode").read_text() == "fail":
            return 3
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
        while not stopping:
            time.sleep(0.02)
        return 0

    sys.exit(WorkerPool(count, work, grace=5.0).run())
    """
)


def started(directory: Path) -> dict[int, list[int]]:
    """index -> pids that ran as that worker, in start order."""
    found: dict[int, list[tuple[float, int]]] = {}
    for path in directory.iterdir():
        if path.name != "mode":
            index, pid = path.name.split(".")
            found.setdefault(int(index), []).append((path.stat().st_mtime, int(pid)))
    return {i: [pid for _, pid in sorted(runs)] for i, runs in found.items()}


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Callable[[int, str], subprocess.Popen[str]]]:
    running: list[subprocess.Popen[str]] = []

    def start(count: int, mode: str) -> subprocess.Popen[str]:
        (tmp_path / "mode").write_text(mode)
        process = subprocess.Popen(
            [sys.executable, "-c", _POOL, str(tmp_path), str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running.append(process)
        return process

    yield start
    for process in running:
        process.kill()
        process.communicate(timeout=10)


def test_a_killed_worker_is_replaced_and_sigterm_stops_them_all(
    pool: Callable[[int, str], subprocess.Popen[str]], tmp_path: Path
) -> None:
    parent = pool(2, "serve")
    wait_until(lambda: len(started(tmp_path)) == 2)
    first = started(tmp_path)
    victim = first[0][0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(started(tmp_path)[0]) == 2)  # worker 0 runs again, new pid
    replacement = started(tmp_path)[0][1]
    assert replacement != victim
    assert alive(first[1][0])  # the other worker was never touched
    parent.send_signal(signal.SIGTERM)
    output, _ = parent.communicate(timeout=15)
    assert parent.returncode == 0, output
    assert not alive(replacement)
    assert not alive(first[1][0])
    assert "ended with signal SIGKILL" in output
    assert "stopping 2 worker processes" in output


def test_workers_that_fail_at_start_stop_the_pool_with_their_exit_code(
    pool: Callable[[int, str], subprocess.Popen[str]], tmp_path: Path
) -> None:
    parent = pool(2, "fail")
    output, _ = parent.communicate(timeout=30)
    assert parent.returncode == 3, output
    assert "workers keep failing at start-up" in output
    assert sum(len(pids) for pids in started(tmp_path).values()) == 3  # no endless restarts


def test_children_die_with_a_killed_parent(
    pool: Callable[[int, str], subprocess.Popen[str]], tmp_path: Path
) -> None:
    parent = pool(2, "serve")
    wait_until(lambda: len(started(tmp_path)) == 2)
    children = [pids[0] for pids in started(tmp_path).values()]
    parent.kill()
    parent.communicate(timeout=10)
    wait_until(lambda: not any(alive(pid) for pid in children))


def test_a_pool_refuses_to_fork_a_threaded_process_or_zero_workers() -> None:
    # This test process has threads (pytest's own, fixtures'), so the guard must fire;
    # nothing is forked either way.
    with pytest.raises(ValueError, match="at least one worker"):
        WorkerPool(0, lambda _: 0).run()
    import threading

    blocker = threading.Event()
    thread = threading.Thread(target=blocker.wait)
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="before any thread starts"):
            WorkerPool(2, lambda _: 0).run()
    finally:
        blocker.set()
        thread.join()


def test_the_default_is_one_worker_per_usable_core() -> None:
    assert default_workers() == len(os.sched_getaffinity(0))
