"""The ``realdid`` command driven in process: CliRunner, the network seam, a real node.

Commands run through :func:`realdid.cli.create_app` with a transport instead of the
network: an ``httpx.MockTransport`` fake (the authority's admin API) or, for the registry
node, a real :class:`RegistryNode` behind its FastAPI app in a ``TestClient`` (SQLite,
files, the solo ledger, the anchoring thread). Wallets are made with the library's
minimum Argon2id cost, so each command that opens one stays fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nacl.pwhash
import pytest
from typer.testing import CliRunner, Result

from realdid.cli import create_app
from realdid.node import NodeConfig, RegistryNode
from realdid.node import create_app as create_node_app
from realdid.registry import NodeClient
from realdid.wallet import Wallet

with warnings.catch_warnings():
    # starlette>=1.x warns at import that its TestClient prefers httpx2 (warnings are errors).
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PASSPHRASE = "correct horse battery staple"
NODE = "http://node.test"
UNREACHABLE = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused at once
KDF: dict[str, Any] = {
    "opslimit": int(nacl.pwhash.argon2id.OPSLIMIT_MIN),
    "memlimit": int(nacl.pwhash.argon2id.MEMLIMIT_MIN),
}


def invoke(*args: str | Path, transport: httpx.BaseTransport | None = None) -> Result:
    """Run ``realdid ARGS`` in process; its HTTP goes over ``transport`` (None: the network)."""
    return CliRunner().invoke(create_app(transport), [str(a) for a in args])


def succeeds(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def one_line_error(result: Result) -> str:
    """The command failed the house way: exit 1, nothing on stdout, one ``error:`` line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    return result.stderr.removeprefix("error: ").strip()


def usage_error(result: Result, option: str) -> None:
    """Click refused the command line itself: exit 2 with usage, naming ``option``."""
    assert result.exit_code == 2
    assert result.stdout == ""
    assert option in result.stderr
    assert "Traceback" not in result.stderr


def forwarding(client: TestClient) -> httpx.MockTransport:
    """A transport that hands every request, whatever its host, to an in-process app."""
    return httpx.MockTransport(lambda request: client.send(request, follow_redirects=False))


@dataclass
class Node:
    """A running in-process registry node and a transport to it (base URL :data:`NODE`)."""

    node: RegistryNode
    data_dir: Path
    transport: httpx.MockTransport

    def client(self) -> NodeClient:
        return NodeClient(NODE, transport=self.transport)


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wallet commands read the passphrase from the environment, as in scripts."""
    monkeypatch.setenv("REALDID_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("REALDID_MNEMONIC", raising=False)
    monkeypatch.delenv("REALDID_NODE", raising=False)
    monkeypatch.delenv("REALDID_OPERATOR_TOKEN", raising=False)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    data_dir = tmp_path / "node"
    registry = RegistryNode(NodeConfig(data_dir=data_dir, batch_interval=0.02))
    with TestClient(create_node_app(registry)) as client:
        yield Node(registry, data_dir, forwarding(client))


@pytest.fixture
def wallet_dir(tmp_path: Path) -> Path:
    """An empty wallet (no DIDs yet) under the test passphrase."""
    directory = tmp_path / "wallet"
    Wallet.init(directory, PASSPHRASE, **KDF)
    return directory


def create_did(node: Node, wallet_dir: Path) -> str:
    """Create a DID in the wallet through the library and wait until it is anchored."""
    wallet = Wallet.open(wallet_dir, PASSPHRASE)
    client = node.client()
    try:
        submitted = wallet.create(client)
        client.wait_anchored(submitted.operation_hash, timeout=10.0, interval=0.01)
    finally:
        client.close()
    return submitted.did
