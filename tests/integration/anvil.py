"""A real local EVM chain for integration tests: anvil, installed from npm.

``make node_modules/.stamp`` (``npm ci``) installs ``node_modules/.bin/anvil``. Without it a
developer's run skips the EVM tests with the command to run; under ``CI`` it fails, because
CI must exercise them. Shared by ``tests/integration/evm`` and ``tests/integration/consortium``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from eth_account import Account

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
# anvil's default dev accounts come from this mnemonic, at m/44'/60'/0'/0/i.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
START_TIMEOUT = 40.0


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
    """A TCP port that was free a moment ago (bind to port 0, let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dev_private_keys(count: int = 10) -> list[bytes]:
    """anvil's funded dev accounts' private keys (well-known public test keys)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        bytes(Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key)
        for i in range(count)
    ]


class AnvilProcess:
    """One anvil node on a fixed port; restartable, keeping its chain in ``state_path``."""

    def __init__(
        self, log_path: Path, *, state_path: Path | None = None, block_time: float | None = None
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.state_path = state_path
        self.block_time = block_time
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._ids = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start anvil (automine unless ``block_time``) and return once it answers JSON-RPC."""
        if self.is_running():
            raise RuntimeError("anvil is already running")
        command = [str(ANVIL), "--port", str(self.port), "--silent"]
        if self.block_time is not None:
            command += ["--block-time", str(self.block_time)]
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
        # A client per call: nothing to leak when a test only ever kills the process.
        response = httpx.post(
            self.url,
            json={"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params},
            timeout=10.0,
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
