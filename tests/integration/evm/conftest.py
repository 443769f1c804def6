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

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..anvil import ANVIL, REPO, AnvilProcess, dev_private_keys, free_port, require_tooling

SOLC = REPO / "node_modules" / "solc"


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
    return dev_private_keys()


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
