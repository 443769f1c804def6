"""A consortium of real registry nodes on a real local EVM chain (issue 3, ARCHITECTURE.md §5).

Everything is a real process or a real socket: anvil (``node_modules/.bin/anvil``), the
anchor contract deployed with ``realdid ledger deploy``, and ``realdid serve --ledger evm``
nodes, each with its own anchorer key (an anvil dev account written to a file), its own
data directory and ``--peers`` naming the other nodes. Ports are chosen before any node
starts, so every node can be told where its peers are.

Example::

    def test_something(consortium_factory: Callable[..., Consortium]) -> None:
        c = consortium_factory()              # anvil + contract + nodes a, b, c (confirmations 0)
        a, b, cc = c.nodes
        httpx.post(f"{a.url}/1.0/operations", json=...)
        b.kill9()
        b.start()                             # same data dir and port, same peers
        cc.restart(peers=[bad.url, a.url])    # or other peers

:class:`TestPeer` is a tiny HTTP server in the test process that answers ``GET /cas/{hash}``
however the test wants (tampered bytes, a forged batch, a proxy to a real node); tests list
it among a node's ``--peers``.

Logs go to ``<tmp_path>/<name>.log`` (appended across restarts); when a test fails, the logs
of its nodes and of anvil are printed.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from eth_account import Account

from ...service_databases import ServiceDatabases
from ..anvil import ANVIL, AnvilProcess, dev_private_keys, free_port, require_tooling

REALDID = Path(sys.executable).with_name("realdid")
# anvil's default dev accounts come from this mnemonic, at m/44'/60'/0'/0/i.
START_TIMEOUT = 40.0
LOG_TAIL_BYTES = 48 * 1024
ADMIN = 0  # dev account index of the contract admin
NODE_NAMES = ("a", "b", "c")

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def address_of(key: bytes) -> str:
    return str(Account.from_key(key).address)


def tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "(no log)"
    if len(data) > limit:
        data = b"[... log truncated ...]\n" + data[-limit:]
    return data.decode(errors="replace")


def run_cli(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> str:
    """Run the installed ``realdid`` CLI; return its stdout (stripped), fail on exit != 0."""
    done = subprocess.run(
        [str(REALDID), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"realdid {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout.strip()


# -- anvil ---------------------------------------------------------------------------------------
class EvmNode:
    """One ``realdid serve --ledger evm`` process, restartable on the same data dir and port."""

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        port: int,
        evm_url: str,
        contract: str,
        key_file: Path | None,
        peers: Sequence[str],
        batch_interval: float,
        databases: ServiceDatabases,
        confirmations: int = 0,
        max_batch: int = 10_000,
    ) -> None:
        self.name = name
        self.databases = databases
        self.data_dir = directory / f"{name}-data"
        self.log_path = directory / f"{name}.log"
        self.port = port
        self.evm_url = evm_url
        self.contract = contract
        self.key_file = key_file
        self.peers = list(peers)
        self.batch_interval = batch_interval
        self.confirmations = confirmations
        self.max_batch = max_batch
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"<node {self.name} {self.url}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def env(self) -> dict[str, str]:
        """The environment of this node and of CLI commands run on its data."""
        return {**os.environ, "PYTHONUNBUFFERED": "1", **self.databases.env(self.data_dir)}

    def command(self) -> list[str]:
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
            "--ledger",
            "evm",
            "--evm-url",
            self.evm_url,
            "--anchor-contract",
            self.contract,
            "--confirmations",
            str(self.confirmations),
            # One process per node: these tests read each node's metrics and health, which
            # are per process (tests/integration/test_crash_safety.py runs several workers).
            "--workers",
            "1",
        ]
        if self.key_file is not None:
            command += ["--anchorer-key-file", str(self.key_file)]
        if self.peers:
            command += ["--peers", ",".join(self.peers)]
        return command

    def spawn(self) -> None:
        """Start the process without waiting for it (see :meth:`wait_up`)."""
        if self.is_running():
            raise RuntimeError(f"node {self.name} is already running")
        self.starts += 1
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(
            f"\n===== start #{self.starts} (port {self.port}, peers {self.peers}) =====\n".encode()
        )
        self._log.flush()
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # a signal meant for pytest never reaches the node
        )

    def wait_up(self, timeout: float = START_TIMEOUT, *, healthy: bool = True) -> None:
        """Return once ``/healthz`` answers (200 if ``healthy``; any answer otherwise)."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                code = self._process.poll()
                if code is not None:
                    raise RuntimeError(
                        f"node {self.name} exited with code {code} during start-up:\n"
                        f"{tail(self.log_path)}"
                    )
                try:
                    response = client.get(f"{self.url}/healthz")
                    if response.status_code == 200 or not healthy:
                        return
                    last = f"HTTP {response.status_code}: {response.text}"
                except httpx.HTTPError as e:
                    last = type(e).__name__
                time.sleep(0.05)
        raise RuntimeError(
            f"node {self.name} not up within {timeout:.0f} s ({last}):\n{tail(self.log_path)}"
        )

    def start(self, *, healthy: bool = True, peers: Sequence[str] | None = None) -> None:
        if peers is not None:
            self.peers = list(peers)
        self.spawn()
        self.wait_up(healthy=healthy)

    def kill9(self) -> None:
        """SIGKILL the node (no shutdown code runs) and reap it."""
        if self._process is None:
            return
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        self._note(f"===== SIGKILL (pid {self._process.pid}) =====")
        self._close_log()

    def stop(self, timeout: float = 20.0) -> None:
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

    def restart(self, *, healthy: bool = True, peers: Sequence[str] | None = None) -> None:
        if self.is_running():
            self.stop()
        self.start(healthy=healthy, peers=peers)

    def _note(self, line: str) -> None:
        if self._log is not None and not self._log.closed:
            self._log.write(f"{line}\n".encode())
            self._log.flush()

    def _close_log(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()


# -- a peer the test controls -----------------------------------------------------------------
class TestPeer:
    """An HTTP server answering ``GET /cas/{hash}`` with ``serve(hash)`` (``None`` = 404).

    ``serve`` may be swapped at any time; ``requests`` counts the hashes asked for.
    """

    __test__ = False  # not a test class, whatever its name

    def __init__(self, serve: Callable[[str], bytes | None] | None = None) -> None:
        self.serve: Callable[[str], bytes | None] = serve or (lambda _: None)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body: bytes | None = None
                if self.path.startswith("/cas/"):
                    address = self.path.removeprefix("/cas/")
                    with peer._lock:
                        peer.requests.append(address)
                    body = peer.serve(address)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def asked_for(self, batch_hash: str) -> int:
        with self._lock:
            return self.requests.count(batch_hash)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- the consortium ---------------------------------------------------------------------------------
@dataclass
class Consortium:
    """anvil, the deployed contract and the nodes started on it."""

    directory: Path
    anvil: AnvilProcess
    contract: str
    keys: list[bytes]
    admin_key_file: Path
    batch_interval: float
    databases: ServiceDatabases
    nodes: list[EvmNode] = field(default_factory=list)
    reserved: dict[str, int] = field(default_factory=dict)  # name -> port, for later nodes

    def key_file(self, index: int) -> Path:
        """Dev account ``index``'s private key in a file (64 hex digits), as operators keep it."""
        path = self.directory / f"key-{index}.hex"
        if not path.exists():
            path.write_text(self.keys[index].hex() + "\n")
            path.chmod(0o600)
        return path

    def address(self, index: int) -> str:
        return address_of(self.keys[index])

    def url_of(self, name: str) -> str:
        return f"http://127.0.0.1:{self.reserved[name]}"

    def add_node(
        self,
        name: str,
        *,
        key_index: int | None,
        peers: Sequence[str],
        start: bool = True,
        healthy: bool = True,
        **options: Any,
    ) -> EvmNode:
        """A further node (a port reserved with ``reserve`` keeps it), e.g. a follower."""
        port = self.reserved.get(name) or free_port()
        self.reserved[name] = port
        node = EvmNode(
            name,
            self.directory,
            port=port,
            evm_url=self.anvil.url,
            contract=self.contract,
            key_file=None if key_index is None else self.key_file(key_index),
            peers=peers,
            batch_interval=options.pop("batch_interval", self.batch_interval),
            databases=self.databases,
            **options,
        )
        self.nodes.append(node)
        if start:
            node.start(healthy=healthy)
        return node

    def logs(self) -> str:
        parts = [f"\n----- anvil log {self.anvil.log_path} -----\n{tail(self.anvil.log_path)}"]
        parts += [f"\n----- log of node {n.name} -----\n{tail(n.log_path)}" for n in self.nodes]
        return "\n".join(parts)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the item, so fixtures can tell that a test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def dev_keys() -> list[bytes]:
    """anvil's ten funded dev accounts' private keys (0 is the contract admin)."""
    return dev_private_keys()


@pytest.fixture
def test_peers() -> Iterator[Callable[..., TestPeer]]:
    """``test_peers(serve)`` starts a :class:`TestPeer`; all are shut down at teardown."""
    started: list[TestPeer] = []

    def start(serve: Callable[[str], bytes | None] | None = None) -> TestPeer:
        peer = TestPeer(serve)
        started.append(peer)
        return peer

    try:
        yield start
    finally:
        for peer in started:
            peer.close()


@pytest.fixture
def consortium_factory(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    dev_keys: list[bytes],
    service_databases: ServiceDatabases,
) -> Iterator[Callable[..., Consortium]]:
    """``consortium_factory(state=False, block_time=None, extra_peers=(), reserve=(),
    batch_interval=0.1)``: anvil (with a ``--state`` file if ``state``), the contract deployed
    by ``realdid ledger deploy`` (admin = dev account 0; anchorers = dev accounts 1, 2, 3 for
    nodes a, b, c), and nodes a, b, c started with ``--confirmations 0`` and ``--peers`` = the
    other two, then ``extra_peers`` and the ports reserved for the node names in ``reserve``.
    Everything is stopped at teardown; logs are printed if the test failed."""
    require_tooling(ANVIL)
    created: list[Consortium] = []
    anvils: list[AnvilProcess] = []

    def create(
        *,
        state: bool = False,
        block_time: float | None = None,
        extra_peers: Sequence[str] = (),
        reserve: Sequence[str] = (),
        batch_interval: float = 0.1,
    ) -> Consortium:
        anvil = AnvilProcess(
            tmp_path / "anvil.log",
            state_path=tmp_path / "anvil-state.json" if state else None,
            block_time=block_time,
        )
        anvils.append(anvil)
        anvil.start()
        admin_key_file = tmp_path / f"key-{ADMIN}.hex"
        admin_key_file.write_text(dev_keys[ADMIN].hex() + "\n")
        anchorers = [address_of(dev_keys[i + 1]) for i in range(len(NODE_NAMES))]
        contract = run_cli(
            "ledger",
            "deploy",
            "--evm-url",
            anvil.url,
            "--admin-key-file",
            str(admin_key_file),
            *[arg for a in anchorers for arg in ("--anchorer", a)],
        ).splitlines()[-1]
        consortium = Consortium(
            tmp_path, anvil, contract, dev_keys, admin_key_file, batch_interval, service_databases
        )
        created.append(consortium)
        ports = {name: free_port() for name in (*NODE_NAMES, *reserve)}
        consortium.reserved.update(ports)
        for index, name in enumerate(NODE_NAMES):
            peers = [consortium.url_of(other) for other in NODE_NAMES if other != name]
            peers += [*extra_peers, *(consortium.url_of(r) for r in reserve)]
            consortium.add_node(name, key_index=index + 1, peers=peers, start=False)
        for node in consortium.nodes:  # start together: each start imports web3 (slow)
            node.spawn()
        for node in consortium.nodes:
            node.wait_up()
        return consortium

    try:
        yield create
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        failed = any(r.failed for r in reports.values())
        for consortium in created:
            for node in consortium.nodes:
                try:
                    node.stop(timeout=10)
                except Exception:  # never leave a process behind
                    node.kill9()
        for anvil in anvils:
            anvil.kill()
        if failed:
            for consortium in created:
                sys.stdout.write(consortium.logs())
