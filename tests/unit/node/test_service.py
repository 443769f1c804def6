"""Node start-up and data-directory faults: degraded not dead, clear errors, no silent keys."""

from __future__ import annotations

import os
import stat
import time
import warnings
from pathlib import Path

import pytest

from realdid.clock import FakeTimer, FixedClock
from realdid.crypto import LocalSigner
from realdid.did import CreateOperation, DocumentContent, ParsedOperation, commitment_of, to_dict
from realdid.ledger import LedgerIntegrityError, verify_registry
from realdid.node import NodeConfig, NodeSetupError, RegistryNode, create_app
from realdid.node._service import load_or_create_key

with warnings.catch_warnings():
    # starlette>=1.x warns at import that its TestClient prefers httpx2 (see test_api.py).
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def anchored_node_dir(tmp_path: Path) -> tuple[Path, str]:
    """A data dir holding one anchored create; returns it and the DID."""
    create = to_dict(
        CreateOperation(
            DocumentContent(),
            commitment_of(LocalSigner.generate().public_key),
            commitment_of(LocalSigner.generate().public_key),
        )
    )
    parsed = ParsedOperation.from_value(create)
    with TestClient(
        create_app(RegistryNode(NodeConfig(data_dir=tmp_path, batch_interval=0.02)))
    ) as client:
        assert client.post("/1.0/operations", json=create).status_code == 202
        deadline = time.monotonic() + 10
        while client.get(f"/1.0/operations/{parsed.hash}").json().get("status") != "anchored":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    return tmp_path, str(parsed.did)


def test_node_with_a_missing_batch_file_starts_degraded_and_says_why(tmp_path: Path) -> None:
    data_dir, did = anchored_node_dir(tmp_path / "a")
    fresh = tmp_path / "b"
    fresh.mkdir()
    # A node that lost its index and one batch file: it must come up, degraded, not crash.
    for name in ("ledger.db", "solo-ledger.key"):
        (fresh / name).write_bytes((data_dir / name).read_bytes())
    with TestClient(
        create_app(RegistryNode(NodeConfig(data_dir=fresh, batch_interval=0.02)))
    ) as client:
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        assert "batch-unavailable" in health.json()["error"]
        assert "realdid_observer_stalled 1.0" in client.get("/metrics").text
        assert client.get(f"/1.0/identifiers/{did}").status_code == 404  # stalled, not skipped


def test_degraded_since_is_the_nodes_clock(tmp_path: Path) -> None:
    data_dir, _ = anchored_node_dir(tmp_path / "a")
    fresh = tmp_path / "b"
    fresh.mkdir()
    for name in ("ledger.db", "solo-ledger.key"):
        (fresh / name).write_bytes((data_dir / name).read_bytes())
    clock = FixedClock(1_780_000_000)
    node = RegistryNode(NodeConfig(data_dir=fresh, batch_interval=0.02), clock=clock)
    with TestClient(create_app(node)) as client:
        clock.advance(30)  # the node goes on failing after start-up: since stays
        health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["since"] == 1_780_000_000


def test_resolution_latency_is_measured_on_the_nodes_timer(tmp_path: Path) -> None:
    data_dir, did = anchored_node_dir(tmp_path)
    node = RegistryNode(NodeConfig(data_dir=data_dir), timer=FakeTimer(5.0))
    with TestClient(create_app(node)) as client:
        assert client.get(f"/1.0/identifiers/{did}").status_code == 200
        metrics = client.get("/metrics").text
    # Timed on the fake timer, which no real time moves.
    lines = metrics.splitlines()
    assert "realdid_resolution_seconds_count 1.0" in lines
    assert "realdid_resolution_seconds_sum 0.0" in lines


def test_a_ledger_whose_key_is_missing_is_refused_and_no_key_is_invented(tmp_path: Path) -> None:
    data_dir, _ = anchored_node_dir(tmp_path)
    (data_dir / "solo-ledger.key").unlink()
    with pytest.raises(NodeSetupError, match="signing key"):
        RegistryNode(NodeConfig(data_dir=data_dir))
    assert not (data_dir / "solo-ledger.key").exists()


def test_verify_with_the_published_signer_passes_and_with_another_fails(tmp_path: Path) -> None:
    data_dir, _ = anchored_node_dir(tmp_path)
    published = LocalSigner(
        LocalSigner.generate().key_type, (data_dir / "solo-ledger.key").read_bytes()
    ).public_key
    assert verify_registry(data_dir, expected_signer=published).dids == 1
    with pytest.raises(LedgerIntegrityError):
        verify_registry(data_dir, expected_signer=LocalSigner.generate().public_key)


def test_did_ld_json_is_answered_with_that_media_type(tmp_path: Path) -> None:
    data_dir, did = anchored_node_dir(tmp_path)
    with TestClient(create_app(RegistryNode(NodeConfig(data_dir=data_dir)))) as client:
        response = client.get(
            f"/1.0/identifiers/{did}", headers={"Accept": "application/did+ld+json"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/did+ld+json"
        assert response.json()["id"] == did


def test_a_new_ledger_key_is_owner_only_from_the_start(tmp_path: Path) -> None:
    old = os.umask(0)  # a loose umask must not make the key readable, not even briefly
    try:
        signer = load_or_create_key(tmp_path / "solo-ledger.key", tmp_path / "ledger.db")
    finally:
        os.umask(old)
    key = tmp_path / "solo-ledger.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() == signer.secret_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["solo-ledger.key"]
    again = load_or_create_key(key, tmp_path / "ledger.db")
    assert again.public_key == signer.public_key
