"""``realdid wallet init|restore`` and ``realdid wallet did …`` against an in-process node."""

from __future__ import annotations

from pathlib import Path

import pytest

from realdid.wallet import Wallet

from .conftest import (
    KDF,
    NODE,
    PASSPHRASE,
    UNREACHABLE,
    Node,
    create_did,
    invoke,
    one_line_error,
    succeeds,
    usage_error,
)


def test_help_lists_the_wallet_commands_in_order() -> None:
    out = succeeds(invoke("wallet", "--help")).stdout
    names = [
        "enroll",
        "site-proof",
        "business-enroll",
        "redeem",
        "credentials",
        "login",
        "history",
        "init",
        "restore",
        "did",
    ]
    positions = [out.index(f" {name} ") for name in names]
    assert positions == sorted(positions)
    did_help = succeeds(invoke("wallet", "did", "--help")).stdout
    for name in ("create", "rotate", "update", "recover", "deactivate", "list"):
        assert f" {name} " in did_help


def test_init_prints_the_recovery_phrase_once(tmp_path: Path) -> None:
    result = succeeds(invoke("wallet", "init", "--wallet-dir", tmp_path / "w"))
    assert len(result.stdout.split()) == 24
    assert result.stdout.count("\n") == 1
    assert "recovery phrase" in result.stderr
    assert Wallet.open(tmp_path / "w", PASSPHRASE).dids == []


def test_create_waits_for_the_anchor_and_lists_the_did(node: Node, wallet_dir: Path) -> None:
    result = succeeds(
        invoke(
            "wallet",
            "did",
            "create",
            "--wallet-dir",
            wallet_dir,
            "--node",
            NODE,
            "--wait",
            transport=node.transport,
        )
    )
    did = result.stdout.strip()
    assert did.startswith("did:realdid:")
    assert result.stderr.startswith(f"created {did} (anchored at sequence ")
    listing = succeeds(invoke("wallet", "did", "list", "--wallet-dir", wallet_dir)).stdout
    assert listing == f"{did}\tactive\tEd25519\n"


def test_rotate_without_wait_reports_the_pending_operation(node: Node, wallet_dir: Path) -> None:
    did = create_did(node, wallet_dir)
    result = succeeds(
        invoke(
            "wallet",
            "did",
            "rotate",
            did,
            "--wallet-dir",
            wallet_dir,
            "--node",
            NODE,
            transport=node.transport,
        )
    )
    assert result.stdout == f"{did}\n"
    assert result.stderr.startswith(f"rotated {did} (operation ")
    assert result.stderr.endswith(" pending)\n")


def test_restore_finds_the_dids_of_a_recovery_phrase(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, mnemonic = Wallet.init(tmp_path / "old", PASSPHRASE, **KDF)
    did = create_did(node, tmp_path / "old")
    monkeypatch.setenv("REALDID_MNEMONIC", mnemonic)
    result = succeeds(
        invoke(
            "wallet",
            "restore",
            "--wallet-dir",
            tmp_path / "new",
            "--node",
            NODE,
            transport=node.transport,
        )
    )
    assert result.stdout == f"{did}\tactive\n"
    assert result.stderr == "restored 1 DID(s)\n"


def test_wallet_errors_are_one_line(tmp_path: Path, wallet_dir: Path) -> None:
    assert "a wallet already exists here" in one_line_error(
        invoke("wallet", "init", "--wallet-dir", wallet_dir)
    )
    assert "no wallet file found" in one_line_error(
        invoke("wallet", "did", "list", "--wallet-dir", tmp_path / "none")
    )


def test_a_wrong_passphrase_is_one_line(wallet_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALDID_PASSPHRASE", "not the passphrase at all")
    assert one_line_error(invoke("wallet", "did", "list", "--wallet-dir", wallet_dir))


def test_a_bad_service_is_refused_before_opening_the_wallet(tmp_path: Path) -> None:
    did = "did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc"
    message = one_line_error(
        invoke(
            "wallet",
            "did",
            "update",
            did,
            "--wallet-dir",
            tmp_path / "none",
            "--node",
            NODE,
            "--add-service",
            "only-an-id",
        )
    )
    assert message == "--add-service wants ID,TYPE,URL, got 'only-an-id'"


def test_an_unreachable_node_is_one_line(wallet_dir: Path) -> None:
    message = one_line_error(
        invoke("wallet", "did", "create", "--wallet-dir", wallet_dir, "--node", UNREACHABLE)
    )
    assert message == f"cannot reach node at {UNREACHABLE}: ConnectError"


def test_bad_arguments_are_usage_errors(wallet_dir: Path) -> None:
    usage_error(invoke("wallet", "did", "create", "--node", NODE), "--wallet-dir")
    usage_error(
        invoke("wallet", "did", "create", "--wallet-dir", wallet_dir, "--key-type", "rsa"),
        "--key-type",
    )
