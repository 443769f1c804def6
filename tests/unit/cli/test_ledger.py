"""``realdid ledger …``: verify a node's data directory; keygen writes a private key file.

``keygen`` writes a new secp256k1 key in a 0600 file, never over an existing one. The EVM
commands (``deploy``, ``anchorer``) run against a real chain in tests/integration/evm;
here only their argument checks, which come before any chain is contacted.
"""

from __future__ import annotations

import stat
import warnings
from pathlib import Path

from eth_account import Account
from typer.testing import CliRunner

from realdid.cli import app
from realdid.crypto import LocalSigner
from realdid.node import NodeConfig, RegistryNode
from realdid.node import create_app as create_node_app
from realdid.wallet import Wallet

from .conftest import (
    KDF,
    PASSPHRASE,
    UNREACHABLE,
    Node,
    create_did,
    forwarding,
    invoke,
    one_line_error,
    succeeds,
    usage_error,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient warns at import
    from starlette.testclient import TestClient


def test_keygen_writes_a_private_hex_key_and_prints_its_address(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "anchorer.key"
    result = CliRunner().invoke(app, ["ledger", "keygen", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="ascii")
    assert text.endswith("\n")
    assert len(bytes.fromhex(text.strip())) == 32
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert result.stdout == Account.from_key(bytes.fromhex(text.strip())).address + "\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["anchorer.key"]


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    out = tmp_path / "anchorer.key"
    out.write_text("existing\n")
    result = CliRunner().invoke(app, ["ledger", "keygen", "--out", str(out)])
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.stderr
    assert out.read_text() == "existing\n"


def test_help() -> None:
    out = succeeds(invoke("ledger", "--help")).stdout
    for name in ("verify", "keygen", "deploy", "anchorer"):
        assert f" {name} " in out


def _node_with_two_dids(tmp_path: Path) -> Path:
    """A node data directory whose solo ledger anchors two creates; the node is stopped."""
    data_dir = tmp_path / "node"
    Wallet.init(tmp_path / "wallet", PASSPHRASE, **KDF)
    registry = RegistryNode(NodeConfig(data_dir=data_dir, batch_interval=0.02))
    with TestClient(create_node_app(registry)) as client:
        node = Node(registry, data_dir, forwarding(client))
        create_did(node, tmp_path / "wallet")
        create_did(node, tmp_path / "wallet")
    return data_dir


def test_verify_a_nodes_data_directory(tmp_path: Path) -> None:
    data_dir = _node_with_two_dids(tmp_path)
    out = succeeds(invoke("ledger", "verify", "--data-dir", data_dir)).stdout
    assert out.startswith("ok: ")
    assert out.endswith(" operations, 2 DIDs verified\n")
    # A ledger signed by another key than the one expected is refused, in one line.
    other = LocalSigner.generate().public_key.to_multibase()
    message = one_line_error(
        invoke("ledger", "verify", "--data-dir", data_dir, "--expected-signer", other)
    )
    assert message.startswith("ledger is pinned to signer z")
    assert message.endswith(f", expected {other}")


def test_verify_argument_errors(tmp_path: Path) -> None:
    assert one_line_error(invoke("ledger", "verify", "--data-dir", tmp_path / "none")) == (
        f"no data directory at {tmp_path / 'none'}"
    )
    message = one_line_error(
        invoke("ledger", "verify", "--data-dir", tmp_path, "--expected-signer", "zzz")
    )
    assert message.startswith("--expected-signer: ")
    message = one_line_error(invoke("ledger", "verify", "--data-dir", tmp_path, "--ledger", "evm"))
    assert message == "--ledger evm needs --evm-url and --anchor-contract"
    usage_error(invoke("ledger", "verify", "--data-dir", tmp_path, "--ledger", "pow"), "--ledger")


def test_evm_commands_check_their_key_file_first(tmp_path: Path) -> None:
    key = tmp_path / "admin.key"
    key.write_text("not hex\n")
    message = one_line_error(
        invoke("ledger", "deploy", "--evm-url", UNREACHABLE, "--admin-key-file", key)
    )
    assert message == f"--admin-key-file: {key} must hold a 32-byte key as 64 hex digits"
    message = one_line_error(
        invoke(
            "ledger",
            "anchorer",
            "add",
            "0x" + "11" * 20,
            "--evm-url",
            UNREACHABLE,
            "--anchor-contract",
            "0x" + "22" * 20,
            "--admin-key-file",
            tmp_path / "missing",
        )
    )
    assert message.startswith("--admin-key-file: cannot read ")
    usage_error(
        invoke(
            "ledger",
            "anchorer",
            "grant",
            "0x" + "11" * 20,
            "--evm-url",
            UNREACHABLE,
            "--anchor-contract",
            "0x" + "22" * 20,
            "--admin-key-file",
            key,
        ),
        "'grant' is not one of",
    )
