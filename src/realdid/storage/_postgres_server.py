"""A private PostgreSQL server in a temporary directory, for tests, benchmarks and demos.

It runs Debian's server binaries (``initdb``, ``postgres``) on a free loopback port, owned
by the ``postgres`` system user when started as root (PostgreSQL refuses to run as root),
with ``trust`` authentication for the one local user ``realdid`` — so it is a development
tool, never a deployment: a real installation is an operator's PostgreSQL cluster, given to
RealDID by URL. ``durable=False`` (the default, for tests) turns fsync off, which only
matters if the machine itself loses power.

Example::

    with TemporaryPostgres() as server:
        url = server.create_database("node_a")
        ...  # realdid serve --database <url>
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ._database import StorageError

__all__ = ["PostgresNotInstalledError", "TemporaryPostgres", "postgres_binaries"]

_USER = "realdid"


class PostgresNotInstalledError(StorageError, FileNotFoundError):
    """No PostgreSQL server binaries on this machine."""

    code = "postgres-not-installed"


def postgres_binaries() -> Path:
    """The folder holding ``initdb`` and ``postgres`` (the newest Debian version first)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.insert(0, str(Path(on_path).resolve().parent))
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    raise PostgresNotInstalledError(
        "PostgreSQL server binaries not found: install Debian's postgresql package"
        " (make test does this itself)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TemporaryPostgres:
    """``initdb`` + ``postgres`` in a fresh directory; :meth:`stop` removes everything.

    ``directory``: keep the server's files there instead, across runs (a benchmark's data
    set); :meth:`stop` with ``keep=True`` leaves them.
    """

    def __init__(
        self, *, durable: bool = False, max_connections: int = 400, directory: Path | None = None
    ) -> None:
        self.durable = durable
        self.max_connections = max_connections
        self.port = _free_port()
        self._bin = postgres_binaries()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "socket").mkdir(exist_ok=True)
        self._root = directory or Path(tempfile.mkdtemp(prefix="realdid-pg-"))
        self.data = self._root / "data"
        self._socket_dir = self._root / "socket"
        self.log = self._root / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._uid: int | None = None
        self._gid: int | None = None
        if os.geteuid() == 0:  # the server must not run as root: run it as postgres
            entry = pwd.getpwnam("postgres")
            self._uid, self._gid = entry.pw_uid, entry.pw_gid
            os.chown(self._root, entry.pw_uid, entry.pw_gid)
        self._socket_dir.mkdir(exist_ok=True)
        if self._uid is not None and self._gid is not None:
            os.chown(self._socket_dir, self._uid, self._gid)

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> TemporaryPostgres:
        if not self.data.exists():
            command = [str(self._bin / "initdb"), "-D", str(self.data), "-U", _USER]
            command += ["-A", "trust", "-E", "UTF8", "--locale=C"]
            if not self.durable:
                command.append("--no-sync")
            self._run(command)
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self._socket_dir),
            "max_connections": str(self.max_connections),
            "fsync": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
        }
        command = [str(self._bin / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed binary, our arguments
                command, stdout=log, stderr=subprocess.STDOUT, user=self._uid, group=self._gid
            )
        self._wait_ready(30.0)
        return self

    def stop(self, *, keep: bool = False) -> None:
        """Shut the server down (fast) and delete its directory (unless ``keep``)."""
        self._signal_and_wait(signal.SIGINT)
        if not keep:
            shutil.rmtree(self._root, ignore_errors=True)

    def restart(self, *, crash: bool = False) -> None:
        """Stop and start again on the same port; ``crash`` stops it as a crash would
        (immediate shutdown, recovery from the WAL on start)."""
        self._signal_and_wait(signal.SIGQUIT if crash else signal.SIGINT)
        self.start()

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ----------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        if not name.replace("_", "").isalnum() or not name.islower():
            raise ValueError(f"database names here are lower-case alphanumerics, not {name!r}")
        import psycopg  # noqa: PLC0415 - importing psycopg costs ~0.2 s; SQLite users never pay it

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name is checked above
        return self.url(name)

    # -- internals ----------------------------------------------------------------------------
    def _run(self, command: list[str]) -> None:
        result = subprocess.run(  # noqa: S603 - fixed binary, our arguments
            command, capture_output=True, check=False, user=self._uid, group=self._gid
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr.decode(errors='replace')}")

    def _wait_ready(self, timeout: float) -> None:
        import psycopg  # noqa: PLC0415 - see create_database

        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"postgres exited at start; see {self.log}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _signal_and_wait(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
