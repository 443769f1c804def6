"""``realdid ledger keygen``: a new secp256k1 key in a 0600 file, never over an existing one."""

from __future__ import annotations

import stat
from pathlib import Path

from eth_account import Account
from typer.testing import CliRunner

from realdid.cli import app


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
