"""The processes bench/scale_run.py runs and watches: PostgreSQL, the node, the RSS sampler.

* :class:`PostgresKeeper` — a private PostgreSQL server (``realdid.storage.TemporaryPostgres``,
  its files kept in the work dir) run by a small keeper process in a session of its own, so
  that a Ctrl-C meant for the scale run does not shut the database down under it; the
  keeper stops the server when the scale run closes its stdin — or dies;
* :class:`ServedNode` — ``realdid serve`` (bench_http's ``server_command``) with the identity
  authority beside it, on the data set, for one checkpoint's measurements;
* :class:`RssSampler` — every second, ``VmRSS`` of each process of the watched services (and
  the proportional set size of PostgreSQL's, whose shared buffers every backend maps), as
  JSON lines in the work dir: the memory-against-time series of the run.

Run as a script (``python scale_run_services.py postgres DIR [durable]``) this module is
the keeper itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import free_port, server_command, wait_up
from bench_node import REALDID

DATABASE = "realdid"
PASSPHRASE = "bench-passphrase"  # noqa: S105 - the throwaway issuer wallet of a bench


class ServiceError(Exception):
    """A service of the run did not start or stopped; the message is one line."""


# -- PostgreSQL -------------------------------------------------------------------------------
class PostgresKeeper:
    """The work dir's PostgreSQL server, started by a keeper process in its own session."""

    def __init__(self, directory: Path, *, durable: bool) -> None:
        directory = directory.resolve()  # the server runs in its data dir: no relative paths
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._process = subprocess.Popen(
            [sys.executable, __file__, "postgres", str(directory), "1" if durable else "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(directory / "keeper.log").open("ab"),
            start_new_session=True,  # Ctrl-C reaches the scale run, not the database
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.isdigit():
            self._process.wait(30)
            raise ServiceError(
                f"PostgreSQL did not start; see {directory / 'keeper.log'} and"
                f" {directory / 'postgres.log'}"
            )
        self.port = int(line)
        self._ensure_database()

    @property
    def pid(self) -> int:
        return self._process.pid

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://realdid@127.0.0.1:{self.port}/{database}"

    def _ensure_database(self) -> None:
        self.recreate(DATABASE, drop=False)

    def recreate(self, name: str, *, drop: bool = True) -> str:
        """An empty database ``name`` (dropped first when ``drop``); its URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            found = exists.fetchone() is not None
            if found and drop:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # our own fixed names
            if not found or drop:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()  # the keeper's cue
        try:
            self._process.wait(90)
        except subprocess.TimeoutExpired:
            self._process.kill()

    def __enter__(self) -> PostgresKeeper:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _keep_postgres(directory: Path, durable: bool) -> None:
    """The keeper: start the server, print its port, stop it at end of stdin."""
    from realdid.storage import TemporaryPostgres

    server = TemporaryPostgres(directory=directory, durable=durable, max_connections=200)
    server.start()
    try:
        print(server.port, flush=True)
        sys.stdin.read()
    finally:
        server.stop(keep=True)


# -- the node ----------------------------------------------------------------------------------
class ServedNode:
    """``realdid serve --workers N`` on the data set, with the authority on its own port."""

    def __init__(
        self,
        data_dir: Path,
        database: str | None,
        workers: int,
        log_file: Path,
        *,
        batch_interval: float = 0.2,
    ) -> None:
        data_dir = data_dir.resolve()  # the server runs in the data dir's parent
        self.port, self.authority_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.authority_url = f"http://127.0.0.1:{self.authority_port}"
        env = {
            **os.environ,
            "REALDID_AUTHORITY_PASSPHRASE": PASSPHRASE,
            "REALDID_RATE_LIMITS__EXEMPT": "127.0.0.1",  # the one load client
        }
        if database:
            env["REALDID_NODE__DATABASE"] = database
        command = server_command(
            "realdid",
            workers,
            self.port,
            data_dir,
            authority_port=self.authority_port,
            extra=["--batch-interval", str(batch_interval)],
        )
        assert command[0] == str(REALDID)
        self._log = log_file.open("ab")
        started = time.monotonic()
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=data_dir.parent
        )
        try:
            wait_up(f"{self.url}/healthz", self.process, timeout=1800)
            self.node_ready_s = time.monotonic() - started
            self._wait_authority(time.monotonic() + 600)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.monotonic() - started

    def _wait_authority(self, deadline: float) -> None:
        url = f"{self.authority_url}/.well-known/openid-credential-issuer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"realdid serve exited with {self.process.returncode}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ServiceError("the identity authority of realdid serve did not become ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> ServedNode:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- memory ------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _status(pid: int) -> tuple[str, int] | None:
    """(process name, VmRSS in KiB) or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    name, rss = "", 0
    for line in text.splitlines():
        if line.startswith("Name:"):
            name = line.split(None, 1)[1]
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return name, rss


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


class RssSampler:
    """A thread that appends one JSON line per watched process every ``interval`` s.

    Each line: ``t`` (Unix time), ``checkpoint`` and ``phase`` (what the run was doing),
    ``service`` (node, rp, postgres), ``role`` (supervisor, worker; for PostgreSQL each
    server process), ``pid``, ``rss_kib`` and, for PostgreSQL, ``pss_kib``.
    """

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self._path = path
        self._interval = interval
        self._roots: dict[int, str] = {}
        self._lock = threading.Lock()
        self._label: tuple[int | None, str] = (None, "")
        self._stop = threading.Event()
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def track(self, pid: int, service: str) -> None:
        with self._lock:
            self._roots[pid] = service

    def untrack(self, pid: int) -> None:
        with self._lock:
            self._roots.pop(pid, None)

    def label(self, checkpoint: int | None, phase: str) -> None:
        with self._lock:
            self._label = (checkpoint, phase)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._file.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                roots = dict(self._roots)
                checkpoint, phase = self._label
            now = round(time.time(), 2)
            for root, service in roots.items():
                for line in self._sample(root, service):
                    line |= {"t": now, "checkpoint": checkpoint, "phase": phase}
                    self._file.write(json.dumps(line) + "\n")
            self._file.flush()

    @staticmethod
    def _sample(root: int, service: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        pending = [(root, 0)]
        while pending:
            pid, depth = pending.pop()
            found = _status(pid)
            pending.extend((c, depth + 1) for c in _children(pid))
            if found is None or found[1] == 0:
                continue  # gone, or a zombie not reaped yet
            name, rss = found
            if service == "postgres":
                if name != "postgres":
                    continue  # the keeper's own Python process
                out.append(
                    {"service": service, "role": "server", "pid": pid, "rss_kib": rss}
                    | {"pss_kib": _pss(pid)}
                )
                continue
            if "resource_tracker" in _cmdline(pid):
                continue  # multiprocessing's helper, not a worker
            role = "supervisor" if depth == 0 else "worker"
            out.append({"service": service, "role": role, "pid": pid, "rss_kib": rss})
        return out


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The lines :class:`RssSampler` wrote (a torn last line from a kill is skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "postgres":
        _keep_postgres(Path(sys.argv[2]), sys.argv[3] == "1")
    else:
        sys.exit("error: usage: scale_run_services.py postgres DIR 0|1")
