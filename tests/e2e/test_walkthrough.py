"""The README walk-through, typed by a user: the real ``realdid`` command (a subprocess, as
installed in the virtualenv) against a real running registry node.

* wallet init -> create -> resolve (with its inclusion proof) -> rotate -> add a service
  -> deactivate -> ``ledger verify`` -> restore the wallet elsewhere from its recovery phrase;
* bad input: each mistake a user can make exits non-zero with exactly one line
  ``error: ...`` on stderr — no usage dump, no traceback (ARCHITECTURE.md section 10).

The node is started here rather than by ``tests/integration/conftest.py`` so that this
directory stands alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from realdid.did import Did

from ._cli import REALDID, free_port, realdid, succeeds

pytestmark = pytest.mark.e2e


# -- a node, and the command line ---------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    url: str
    data_dir: Path


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Node]:
    """``realdid serve`` on a free port and a fresh data directory, for this module."""
    base = tmp_path_factory.mktemp("e2e-node")
    port, log_path = free_port(), base / "node.log"
    failed_before = request.session.testsfailed
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(REALDID),
                "serve",
                "--authority-port",
                "0",
                "--data-dir",
                str(base / "data"),
                "--port",
                str(port),
                "--batch-interval",
                "0.05",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.05)
        yield Node(url, base / "data")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if request.session.testsfailed > failed_before:
            sys.stdout.write(f"\n----- node log -----\n{log_path.read_text(errors='replace')}\n")


def fails_with_one_line(result: subprocess.CompletedProcess[str], expected: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"want one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    assert expected in lines[0], f"{expected!r} not in {lines[0]!r}"
    assert result.stdout == ""
    return lines[0]


def resolve(did: str, node: Node) -> dict[str, Any]:
    """``realdid resolve``: exit 0, the proof checked, the resolution result on stdout."""
    result = succeeds(realdid("resolve", did, "--node", node.url))
    assert "inclusion proof verified" in result.stderr, result.stderr
    value: dict[str, Any] = json.loads(result.stdout)
    return value


# -- the walk-through -------------------------------------------------------------------------
def test_readme_walkthrough(node: Node, tmp_path: Path) -> None:
    wallet = tmp_path / "wallet"
    at_node = ("--wallet-dir", wallet, "--node", node.url)

    # A new wallet shows its 24-word recovery phrase once, on stdout; it is stored encrypted.
    init = succeeds(realdid("wallet", "init", "--wallet-dir", wallet))
    phrase = init.stdout.strip()
    words = phrase.split()
    assert init.stdout == phrase + "\n"
    assert len(words) == 24, phrase
    assert all(w.isalpha() and w.islower() for w in words), phrase
    assert "recovery phrase" in init.stderr
    assert " ".join(words[:2]) not in (wallet / "wallet.json").read_text()

    # Create: prints the DID once it is anchored.
    created = succeeds(realdid("wallet", "did", "create", *at_node, "--wait"))
    did = created.stdout.strip()
    assert str(Did.parse(did)) == did
    assert created.stdout == did + "\n"
    assert "anchored at sequence" in created.stderr

    first = resolve(did, node)
    methods = first["didDocument"]["verificationMethod"]
    assert [m["id"] for m in methods] == [f"{did}#key-1"]
    first_key = methods[0]["publicKeyMultibase"]
    assert first["didDocument"]["authentication"] == [f"{did}#key-1"]
    assert first["didDocumentMetadata"]["deactivated"] is False

    # Rotate: a new signing key replaces the old one.
    rotated = succeeds(realdid("wallet", "did", "rotate", did, *at_node, "--wait"))
    assert rotated.stdout == did + "\n"
    second = resolve(did, node)
    methods = second["didDocument"]["verificationMethod"]
    assert [m["id"] for m in methods] == [f"{did}#key-2"]
    assert methods[0]["publicKeyMultibase"] != first_key
    assert second["didDocument"]["authentication"] == [f"{did}#key-2"]
    assert second["didDocumentMetadata"]["versionId"] != first["didDocumentMetadata"]["versionId"]

    # Update: a service endpoint appears in the document.
    succeeds(
        realdid(
            "wallet",
            "did",
            "update",
            did,
            *at_node,
            "--add-service",
            "hub,LinkedDomains,https://example.org",
            "--wait",
        )
    )
    third = resolve(did, node)
    assert third["didDocument"]["service"] == [
        {"id": f"{did}#hub", "type": "LinkedDomains", "serviceEndpoint": "https://example.org"}
    ]
    assert [m["id"] for m in third["didDocument"]["verificationMethod"]] == [f"{did}#key-2"]

    # Deactivate: the DID still resolves (with its proof), to a bare, deactivated document.
    succeeds(realdid("wallet", "did", "deactivate", did, *at_node, "--wait"))
    fourth = resolve(did, node)
    assert fourth["didDocumentMetadata"]["deactivated"] is True
    assert fourth["didDocument"]["id"] == did
    assert "verificationMethod" not in fourth["didDocument"]
    assert "service" not in fourth["didDocument"]
    listed = succeeds(realdid("wallet", "did", "list", "--wallet-dir", wallet))
    assert listed.stdout == f"{did}\tdeactivated\tEd25519\n"

    # The node's ledger, batch files and index verify end to end.
    verified = succeeds(realdid("ledger", "verify", "--data-dir", node.data_dir))
    assert verified.stdout.startswith("ok: "), verified.stdout

    # The recovery phrase alone brings the DID back, in a fresh wallet, as deactivated.
    restored_dir = tmp_path / "restored"
    restored = succeeds(
        realdid(
            "wallet",
            "restore",
            "--wallet-dir",
            restored_dir,
            "--node",
            node.url,
            REALDID_MNEMONIC=phrase,
        )
    )
    assert restored.stdout == f"{did}\tdeactivated\n"
    assert "restored 1 DID(s)" in restored.stderr
    listed = succeeds(realdid("wallet", "did", "list", "--wallet-dir", restored_dir))
    assert listed.stdout == f"{did}\tdeactivated\tEd25519\n"


# -- bad input --------------------------------------------------------------------------------
@dataclass(frozen=True)
class World:
    node: Node
    wallet: Path  # holds one DID, deactivated
    did: str
    scratch: Path


@pytest.fixture(scope="module")
def world(node: Node, tmp_path_factory: pytest.TempPathFactory) -> World:
    wallet = tmp_path_factory.mktemp("bad-input") / "wallet"
    succeeds(realdid("wallet", "init", "--wallet-dir", wallet))
    did = succeeds(
        realdid("wallet", "did", "create", "--wallet-dir", wallet, "--node", node.url, "--wait")
    ).stdout.strip()
    succeeds(
        realdid(
            "wallet", "did", "deactivate", did, "--wallet-dir", wallet, "--node", node.url, "--wait"
        )
    )
    return World(node, wallet, did, tmp_path_factory.mktemp("scratch"))


UNKNOWN_DID = "did:realdid:QmWmjRDBkVFcBRhanbwARvdKNCJYaZTpsdKjXwaRKsXbXa"
CHECKSUM_FAILS = " ".join(["abandon"] * 24)  # valid words, wrong checksum


@dataclass(frozen=True)
class Mistake:
    args: Callable[[World], list[str | Path]]
    expected: str  # part of the one error line
    env: dict[str, str] | None = None


def on_deactivated(*verb: str) -> Callable[[World], list[str | Path]]:
    return lambda w: [
        "wallet",
        "did",
        *verb[:1],
        w.did,
        *verb[1:],
        "--wallet-dir",
        w.wallet,
        "--node",
        w.node.url,
    ]


MISTAKES = {
    "resolve-invalid-did": Mistake(
        lambda w: ["resolve", "did:realdid:not-a-multihash", "--node", w.node.url], "invalidDid"
    ),
    "resolve-not-a-did": Mistake(
        lambda w: ["resolve", "alice@example.org", "--node", w.node.url], "invalidDid"
    ),
    "resolve-did-web": Mistake(
        lambda w: ["resolve", "did:web:example.com", "--node", w.node.url], "methodNotSupported"
    ),
    "resolve-unknown-did": Mistake(
        lambda w: ["resolve", UNKNOWN_DID, "--node", w.node.url], "notFound"
    ),
    "resolve-nothing-listening": Mistake(
        lambda w: ["resolve", w.did, "--node", f"http://127.0.0.1:{free_port()}"],
        "cannot reach node",
    ),
    "wrong-passphrase": Mistake(
        lambda w: ["wallet", "did", "list", "--wallet-dir", w.wallet],
        "wrong passphrase",
        {"REALDID_PASSPHRASE": "not the passphrase"},
    ),
    "rotate-unknown-did": Mistake(
        lambda w: [
            "wallet",
            "did",
            "rotate",
            UNKNOWN_DID,
            "--wallet-dir",
            w.wallet,
            "--node",
            w.node.url,
        ],
        "is not a DID of this wallet",
    ),
    "init-existing-wallet": Mistake(
        lambda w: ["wallet", "init", "--wallet-dir", w.wallet], "already exists"
    ),
    "restore-unknown-word": Mistake(
        lambda w: [
            "wallet",
            "restore",
            "--wallet-dir",
            w.scratch / "unknown-word",
            "--node",
            w.node.url,
        ],
        "unknown word",
        {"REALDID_MNEMONIC": "correct horse battery staple " * 6},
    ),
    "restore-bad-checksum": Mistake(
        lambda w: [
            "wallet",
            "restore",
            "--wallet-dir",
            w.scratch / "checksum",
            "--node",
            w.node.url,
        ],
        "checksum",
        {"REALDID_MNEMONIC": CHECKSUM_FAILS},
    ),
    "verify-missing-data-dir": Mistake(
        lambda w: ["ledger", "verify", "--data-dir", w.scratch / "no-such-dir"], "no data directory"
    ),
    "javascript-service-url": Mistake(
        on_deactivated("update", "--add-service", "x,LinkedDomains,javascript:alert(1)"),
        "serviceEndpoint must be an absolute http(s) URL",
    ),
    "rotate-deactivated": Mistake(on_deactivated("rotate"), "deactivated"),
    "update-deactivated": Mistake(
        on_deactivated("update", "--add-service", "hub,LinkedDomains,https://example.org"),
        "deactivated",
    ),
    "recover-deactivated": Mistake(on_deactivated("recover"), "deactivated"),
    "deactivate-deactivated": Mistake(on_deactivated("deactivate"), "deactivated"),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_bad_input_gives_one_error_line(world: World, mistake: Mistake) -> None:
    wallet_file = world.wallet / "wallet.json"
    before = wallet_file.read_bytes()
    args = mistake.args(world)

    fails_with_one_line(realdid(*args, **(mistake.env or {})), mistake.expected)

    # A refused command changes nothing: the wallet is as it was, and a failed restore
    # leaves no half-made wallet behind.
    assert wallet_file.read_bytes() == before
    if "restore" in args:
        assert not (Path(args[args.index("--wallet-dir") + 1]) / "wallet.json").exists()
