"""``realdid resolve`` against a real in-process node, through the CLI's network seam."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from .conftest import (
    NODE,
    UNREACHABLE,
    Node,
    create_did,
    invoke,
    one_line_error,
    succeeds,
    usage_error,
)

UNKNOWN_DID = "did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc"


def test_help_names_the_argument_and_options() -> None:
    out = succeeds(invoke("resolve", "--help")).stdout
    assert "Resolve a DID" in out
    assert "--node" in out
    assert "--no-verify" in out


def test_resolves_and_verifies_the_inclusion_proof(node: Node, wallet_dir: Path) -> None:
    did = create_did(node, wallet_dir)
    result = succeeds(invoke("resolve", did, "--node", NODE, transport=node.transport))
    resolution = json.loads(result.stdout)
    assert resolution["didDocument"]["id"] == did
    assert result.stderr.startswith("inclusion proof verified: version ")
    assert "solo ledger" in result.stderr


def test_no_verify_prints_the_result_only(node: Node, wallet_dir: Path) -> None:
    did = create_did(node, wallet_dir)
    result = succeeds(
        invoke("resolve", did, "--node", NODE, "--no-verify", transport=node.transport)
    )
    assert json.loads(result.stdout)["didDocument"]["id"] == did
    assert result.stderr == ""


def test_the_node_from_the_environment(
    node: Node, wallet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    did = create_did(node, wallet_dir)
    monkeypatch.setenv("REALDID_NODE", NODE)
    assert json.loads(succeeds(invoke("resolve", did, transport=node.transport)).stdout)


def test_an_unknown_did_is_the_nodes_problem_in_one_line(node: Node) -> None:
    message = one_line_error(
        invoke("resolve", UNKNOWN_DID, "--node", NODE, transport=node.transport)
    )
    assert message == "notFound: no anchored DID with this identifier"


def test_an_unreachable_node_is_one_line() -> None:
    message = one_line_error(invoke("resolve", UNKNOWN_DID, "--node", UNREACHABLE))
    assert message == f"cannot reach node at {UNREACHABLE}: ConnectError"


def test_a_node_answering_garbage_is_one_line() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(502, content=b"<html>"))
    message = one_line_error(invoke("resolve", UNKNOWN_DID, "--node", NODE, transport=transport))
    assert message == "node answered HTTP 502"


def test_bad_arguments() -> None:
    assert "http:// or https://" in one_line_error(
        invoke("resolve", UNKNOWN_DID, "--node", "ftp://x")
    )
    usage_error(invoke("resolve", "--node", NODE), "Missing argument")
