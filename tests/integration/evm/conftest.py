"""A real local EVM chain for the ``evm`` ledger tests: anvil, installed from npm.

``make node_modules/.stamp`` (``npm ci``) installs ``node_modules/.bin/anvil``. Without it
the tests are skipped on a developer machine, and fail in CI (``CI`` set), where missing
tooling is a build error rather than a reason to test less.

Example::

    def test_something(anvil: AnvilProcess, dev_keys: list[bytes]) -> None:
        address = EvmLedger.deploy(anvil.url, dev_keys[0], [...])
        anvil.mine(2)
        anvil.stop()   # SIGTERM: anvil writes its --state file
        anvil.start()  # same port, chain restored from the state file

:class:`RpcProxy` is a real JSON-RPC forwarder in front of anvil: it records every request
and can impose the ``eth_getLogs`` range limit that public and permissioned nodes have (anvil
has none), so that paging and resumption can be asserted from the outside.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from eth_account import Account

REPO = Path(__file__).resolve().parents[3]
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
SOLC = REPO / "node_modules" / "solc"
# anvil's default dev accounts come from this mnemonic, at m/44'/60'/0'/0/i.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
START_TIMEOUT = 30.0


def require_tooling(*paths: Path) -> None:
    """Skip (developer machine) or fail (CI) when npm-installed tooling is missing."""
    missing = [str(p.relative_to(REPO)) for p in paths if not p.exists()]
    if shutil.which("node") is None:
        missing.append("node (on PATH)")
    if not missing:
        return
    message = f"missing {', '.join(missing)}: run `make node_modules/.stamp` (npm ci)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must have the node tooling")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AnvilProcess:
    """One anvil node on a fixed port; restartable, keeping its chain in ``state_path``."""

    def __init__(self, log_path: Path, *, state_path: Path | None = None) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.state_path = state_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._http = httpx.Client(timeout=10.0)
        self._ids = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start anvil (automine) and return once it answers JSON-RPC."""
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError("anvil is already running")
        command = [str(ANVIL), "--port", str(self.port), "--silent"]
        if self.state_path is not None:
            # Loaded at start when present, written on exit: blocks, receipts and logs survive.
            command += ["--state", str(self.state_path)]
        self._close_log()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the npm wrapper and the binary
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"anvil exited during start-up:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                self.rpc("eth_chainId")
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"anvil did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the npm wrapper forwards it; anvil dumps ``--state``), then SIGKILL."""
        if self._process is None:
            return
        # Signal the whole group and wait for the group to be gone: the npm wrapper can exit
        # before the anvil binary has finished writing its --state file.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._process.poll()
            try:
                os.killpg(self._process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group (wrapper and binary) and reap the wrapper."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        self._close_log()

    def close(self) -> None:
        self.kill()
        self._http.close()

    def _close_log(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-16_000:]
        except FileNotFoundError:
            return "(no log)"

    # -- JSON-RPC helpers for tests ---------------------------------------------------------
    def rpc(self, method: str, *params: Any) -> Any:
        self._ids += 1
        response = self._http.post(
            self.url, json={"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
        )
        response.raise_for_status()
        body = response.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.rpc("evm_mine")

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        if self.rpc("evm_revert", snapshot_id) is not True:
            raise RuntimeError(f"evm_revert {snapshot_id} refused")


class RpcProxy:
    """An HTTP JSON-RPC forwarder to ``upstream`` that records requests.

    ``max_log_blocks`` makes it refuse ``eth_getLogs`` spanning more blocks, with the error
    geth and Infura use (-32005); ``calls`` lists ``(method, params)`` of every request.
    """

    def __init__(self, upstream: str, *, max_log_blocks: int | None = None) -> None:
        self.upstream = upstream
        self.max_log_blocks = max_log_blocks
        self.calls: list[tuple[str, list[Any]]] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30.0)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                reply = proxy._handle(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

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

    def _handle(self, body: bytes) -> bytes:
        request = json.loads(body)
        if isinstance(request, dict):
            method, params = request.get("method", ""), request.get("params", [])
            with self._lock:
                self.calls.append((method, params))
            if method == "eth_getLogs" and self.max_log_blocks is not None:
                query = params[0]
                span = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
                if span > self.max_log_blocks:
                    with self._lock:
                        self.refused += 1
                    error = {
                        "code": -32005,
                        "message": f"query exceeds max block range {self.max_log_blocks}",
                    }
                    return json.dumps(
                        {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
                    ).encode()
        return self._client.post(
            self.upstream, content=body, headers={"Content-Type": "application/json"}
        ).content

    def log_ranges(self) -> list[tuple[int, int]]:
        """``(fromBlock, toBlock)`` of every eth_getLogs request, in order."""
        with self._lock:
            return [
                (int(p[0]["fromBlock"], 16), int(p[0]["toBlock"], 16))
                for method, p in self.calls
                if method == "eth_getLogs"
            ]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.refused = 0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


@pytest.fixture(scope="session")
def dev_keys() -> list[bytes]:
    """anvil's ten funded dev accounts' private keys (0 is used as the contract admin)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        bytes(Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key)
        for i in range(10)
    ]


@pytest.fixture
def anvil_factory(tmp_path: Path) -> Iterator[Callable[..., AnvilProcess]]:
    """Start anvil nodes (``anvil_factory(state=True)`` keeps the chain across restarts);
    all are killed at teardown."""
    require_tooling(ANVIL)
    started: list[AnvilProcess] = []

    def start(*, state: bool = False) -> AnvilProcess:
        n = len(started)
        node = AnvilProcess(
            tmp_path / f"anvil-{n}.log",
            state_path=tmp_path / f"anvil-{n}-state.json" if state else None,
        )
        started.append(node)
        node.start()
        return node

    try:
        yield start
    finally:
        for node in started:
            node.close()


@pytest.fixture
def anvil(anvil_factory: Callable[..., AnvilProcess]) -> AnvilProcess:
    """A fresh anvil chain (automine: one block per transaction) on a free port."""
    return anvil_factory()


@pytest.fixture
def rpc_proxy() -> Iterator[Callable[..., RpcProxy]]:
    proxies: list[RpcProxy] = []

    def start(upstream: str, *, max_log_blocks: int | None = None) -> RpcProxy:
        proxy = RpcProxy(upstream, max_log_blocks=max_log_blocks)
        proxies.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in proxies:
            proxy.close()


@pytest.fixture
def repo_with_solc() -> Path:
    """The repository root, once node and the npm-installed solc-js are known to be there."""
    require_tooling(SOLC)
    return REPO


@pytest.fixture
def dead_rpc_url() -> str:
    """An RPC URL on which nothing listens (a port that was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}"
