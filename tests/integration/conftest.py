"""Real registry nodes for integration tests: ``realdid serve`` in a child process.

The node is the installed console script (``.venv/bin/realdid``, next to the interpreter
running the tests), not an in-process app: crash-safety tests must be able to SIGKILL it
and start it again on the same data directory and port, exactly as an operator would.

Example::

    @pytest.mark.integration
    def test_something(node: NodeProcess) -> None:
        httpx.get(f"{node.url}/healthz")
        node.kill9()
        node.restart()  # same data dir, same port; returns once /healthz answers

On ``REALDID_TEST_ENGINE=postgresql`` each node's stores are a PostgreSQL database of its
own (``tests/service_databases.py``), the same one across restarts.

Every node's output goes to ``<tmp_path>/<name>.log`` (appended across restarts, with a
marker line per start); when a test fails, the logs of its nodes are printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import IO

import httpx
import pytest

from ..service_databases import ServiceDatabases

REALDID = Path(sys.executable).with_name("realdid")
START_TIMEOUT = 30.0
LOG_TAIL_BYTES = 64 * 1024

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def free_port() -> int:
    """A TCP port that was free a moment ago (bind to port 0, let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeProcess:
    """One ``realdid serve`` process, restartable on the same data directory and port."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        databases: ServiceDatabases,
        port: int | None = None,
        batch_interval: float = 0.05,
        max_batch: int = 10_000,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.extra_env = dict(env or {})
        self.databases = databases
        self.workers = workers
        self.log_path = log_path
        self.port = port or free_port()
        self.batch_interval = batch_interval
        self.max_batch = max_batch
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of this node and of the CLI commands run on its data."""
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            **self.databases.env(self.data_dir),
            **self.extra_env,
        }

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the node and return once ``/healthz`` answers 200."""
        if self.is_running():
            raise RuntimeError(f"node on port {self.port} is already running")
        self.starts += 1
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== start #{self.starts} (port {self.port}) =====\n".encode())
        self._log.flush()
        command = [
            str(REALDID),
            "serve",
            "--authority-port",
            "0",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--batch-interval",
            str(self.batch_interval),
            "--max-batch",
            str(self.max_batch),
            "--workers",
            str(self.workers),
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # a signal meant for pytest never reaches the node
        )
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                code = self._process.poll()
                if code is not None:
                    raise RuntimeError(
                        f"node exited with code {code} during start-up:\n{self.log_tail()}"
                    )
                try:
                    response = client.get(f"{self.url}/healthz")
                    if response.status_code == 200:
                        return
                    last_error = f"HTTP {response.status_code}: {response.text}"
                except httpx.HTTPError as e:
                    last_error = type(e).__name__
                time.sleep(0.05)
        self.kill9()
        raise RuntimeError(
            f"node not healthy within {timeout:.0f} s ({last_error}):\n{self.log_tail()}"
        )

    def kill9(self) -> None:
        """SIGKILL the node (no shutdown code runs) and reap it."""
        if self._process is None:
            return
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        self._note(f"===== SIGKILL (pid {self._process.pid}) =====")

    def writer_pid(self, *, other_than: int | None = None, timeout: float = 10.0) -> int:
        """The pid of the worker process that is the node's writer now (from its log line
        ``process N is the node's writer``), waiting for one other than ``other_than``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in reversed(_WRITER_LINE.findall(self.log_path.read_text(errors="replace"))):
                if int(pid) != other_than and _alive(int(pid)):
                    return int(pid)
            time.sleep(0.02)
        raise AssertionError(f"no writer (other than {other_than}) within {timeout:.0f} s")

    def kill_writer(self) -> int:
        """SIGKILL the writer worker (of a node with ``workers`` > 1); its pid."""
        pid = self.writer_pid()
        os.kill(pid, signal.SIGKILL)
        self._note(f"===== SIGKILL of the writer worker (pid {pid}) =====")
        return pid

    def worker_pids(self) -> set[int]:
        """The pids of the supervisor's worker processes (of a node with ``workers`` > 1)."""
        assert self._process is not None
        children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def kill_worker(self) -> int:
        """SIGKILL a worker that is not the writer, mid-traffic; its pid."""
        writer = self.writer_pid()
        deadline = time.monotonic() + 10
        while not (others := self.worker_pids() - {writer}):  # a replacement may be starting
            assert time.monotonic() < deadline, "no worker besides the writer"
            time.sleep(0.05)
        pid = min(others)
        os.kill(pid, signal.SIGKILL)
        self._note(f"===== SIGKILL of a non-writer worker (pid {pid}) =====")
        return pid

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful shutdown (SIGTERM), falling back to SIGKILL."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._close_log()

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Start again on the same data directory and port (after :meth:`kill9` or :meth:`stop`)."""
        if self.is_running():
            self.stop()
        self.start(timeout)

    # -- logs ------------------------------------------------------------------------------
    def _note(self, line: str) -> None:
        if self._log is not None and not self._log.closed:
            self._log.write(f"{line}\n".encode())
            self._log.flush()

    def _close_log(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()

    def log_tail(self, limit: int = LOG_TAIL_BYTES) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return "(no log)"
        if len(data) > limit:
            data = b"[... log truncated ...]\n" + data[-limit:]
        return data.decode(errors="replace")


_WRITER_LINE = re.compile(r"process (\d+) is the node's writer")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the item, so fixtures can tell that a test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


class NodeFleet:
    """The nodes one fixture started: ``fleet.start(name, ...)``; ``close()`` stops them all."""

    def __init__(self, directory: Path, databases: ServiceDatabases) -> None:
        self._directory = directory
        self._databases = databases
        self.nodes: list[NodeProcess] = []

    def start(
        self,
        name: str = "node",
        *,
        batch_interval: float = 0.05,
        max_batch: int = 10_000,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
    ) -> NodeProcess:
        node = NodeProcess(
            self._directory / f"{name}-data",
            self._directory / f"{name}.log",
            databases=self._databases,
            batch_interval=batch_interval,
            max_batch=max_batch,
            workers=workers,
            env=env,
        )
        self.nodes.append(node)
        node.start()
        return node

    def close(self, *, print_logs: bool) -> None:
        for node in self.nodes:
            try:
                node.stop()
            except Exception:  # never leave a process behind
                node.kill9()
        if print_logs:
            for node in self.nodes:
                sys.stdout.write(f"\n----- log of {node.log_path} -----\n{node.log_tail()}\n")


@pytest.fixture
def node_factory(
    tmp_path: Path, request: pytest.FixtureRequest, service_databases: ServiceDatabases
) -> Iterator[Callable[..., NodeProcess]]:
    """Start nodes (``node_factory(name, batch_interval=..., max_batch=...)``); all are
    terminated at teardown, and their logs printed if the test failed."""
    fleet = NodeFleet(tmp_path, service_databases)
    try:
        yield fleet.start
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        fleet.close(print_logs=any(r.failed for r in reports.values()))


@pytest.fixture(scope="module")
def module_node_factory(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    service_databases: ServiceDatabases,
) -> Iterator[Callable[..., NodeProcess]]:
    """Like ``node_factory``, for nodes shared by a module's tests; logs are printed when
    any test failed while they ran."""
    fleet = NodeFleet(tmp_path_factory.mktemp("nodes"), service_databases)
    failed_before = request.session.testsfailed
    try:
        yield fleet.start
    finally:
        fleet.close(print_logs=request.session.testsfailed > failed_before)


@pytest.fixture
def node(node_factory: Callable[..., NodeProcess]) -> NodeProcess:
    """A running node on a fresh data directory (batches cut every 50 ms)."""
    return node_factory()
