"""The in-process registry client answers exactly as the node's HTTP API does.

Every case is asked twice of one running node: through :class:`NodeClient` over the API
(an in-process transport) and through :class:`LocalRegistryClient`. Receipts, statuses,
resolution results and refusal codes must be equal, and a refusal must leave the queue
as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from realdid.clock import FakeTimer
from realdid.did import Patch
from realdid.node import LocalRegistryClient, NodeConfig, RegistryNode, create_app
from realdid.registry import NodeClient, NodeClientError, RegistryClient
from realdid.storage import DatabaseUnavailableError

from .test_api import Controller, apply, service, submit

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # see test_api.py
    from starlette.testclient import TestClient


@dataclass
class Both:
    node: RegistryNode
    api: TestClient
    http: NodeClient
    local: LocalRegistryClient

    @property
    def clients(self) -> tuple[RegistryClient, RegistryClient]:
        return self.http, self.local


def _over(client: TestClient) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: client.send(request, follow_redirects=False))


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Both]:
    node = RegistryNode(NodeConfig(data_dir=tmp_path / "node", batch_interval=0.02))
    with TestClient(create_app(node)) as api:
        http = NodeClient("http://node.test", transport=_over(api))
        yield Both(node, api, http, LocalRegistryClient(node))
        http.close()


def _code(client: RegistryClient, call: str, *args: Any) -> str:
    with pytest.raises(NodeClientError) as caught:
        getattr(client, call)(*args)
    return caught.value.code


def test_a_submission_gets_the_same_receipt_and_is_anchored(both: Both) -> None:
    first, second = Controller(), Controller()
    receipts = [both.http.submit(first.create), both.local.submit(second.create)]
    assert [set(r) for r in receipts] == [{"operationHash", "did", "status", "location"}] * 2
    assert [r["did"] for r in receipts] == [first.did, second.did]
    assert all(r["status"] == "pending" for r in receipts)
    for receipt in receipts:
        anchored = both.local.wait_anchored(receipt["operationHash"], timeout=10, interval=0.01)
        assert anchored == both.http.operation_status(receipt["operationHash"])
        assert anchored["status"] == "anchored"
        assert anchored["inclusionProof"]["treeSize"] >= 1


def test_a_pending_operation_has_the_same_status(tmp_path: Path) -> None:
    node = RegistryNode(NodeConfig(data_dir=tmp_path / "node", batch_interval=60.0))
    with TestClient(create_app(node)) as api:
        http = NodeClient("http://node.test", transport=_over(api))
        local = LocalRegistryClient(node)
        receipt = local.submit(Controller().create)
        pending = {"operationHash": receipt["operationHash"], "status": "pending"}
        assert http.operation_status(receipt["operationHash"]) == pending
        assert local.operation_status(receipt["operationHash"]) == pending
        assert node.store.queue_length() == 1
        http.close()


def test_resolution_results_are_equal_also_for_a_deactivated_did(both: Both) -> None:
    alive, dead = Controller(), Controller()
    apply(both.api, alive.create, dead.create)
    apply(both.api, alive.update(), dead.deactivate())
    for did in (alive.did, dead.did):
        assert both.local.resolve(did) == both.http.resolve(did)
    assert both.local.resolve(alive.did).did_document is not None
    assert not both.local.resolve(alive.did).deactivated
    assert both.local.resolve(dead.did).deactivated


def test_a_rejected_operation_has_the_same_status(both: Both) -> None:
    owner = Controller()
    apply(both.api, owner.create)
    # Two updates from the same state in one submission: intake lets the second through
    # (an operation for the DID is queued before it) and the observer rejects it.
    winner = owner.update(advance=False)
    loser = owner.update(Patch("add-services", services=(service("other"),)))
    _, receipt = submit(both.api, [winner, loser])
    with pytest.raises(NodeClientError) as caught:
        both.local.wait_anchored(receipt["operationHash"], timeout=10, interval=0.01)
    assert caught.value.code == "operation-rejected"
    rejected = both.local.operation_status(receipt["operationHash"])
    assert rejected is not None
    assert rejected["status"] == "rejected"
    assert rejected == both.http.operation_status(receipt["operationHash"])


@pytest.mark.parametrize(
    ("did", "code"),
    [
        ("did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc", "did-not-found"),
        ("did:realdid:not-base58!", "invalid-did"),
        ("did:example:123", "method-not-supported"),
    ],
)
def test_resolution_refusals_carry_the_apis_codes(both: Both, did: str, code: str) -> None:
    assert [_code(client, "resolve", did) for client in both.clients] == [code, code]


def test_an_unknown_operation_has_no_status(both: Both) -> None:
    assert [client.operation_status("ab" * 32) for client in both.clients] == [None, None]


def test_submission_refusals_carry_the_apis_codes_and_queue_nothing(both: Both) -> None:
    owner = Controller()
    apply(both.api, owner.create)
    queued = both.node.store.queue_length()
    hostile: list[tuple[dict[str, Any], str]] = [
        ({"type": "create"}, "malformed-operation"),
        (owner.create, "operation-already-processed"),
        (owner.update(key=Controller().update_key, advance=False), "commitment-mismatch"),
    ]
    for operation, code in hostile:
        assert [_code(client, "submit", operation) for client in both.clients] == [code, code]
    assert both.node.store.queue_length() == queued
    refused = both.node.metrics.operations_refused.labels("malformed-operation")
    assert refused._value.get() == 2


def test_a_replica_accepts_no_operation(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    RegistryNode(NodeConfig(data_dir=data_dir)).stop()  # create the store a replica reads
    replica = RegistryNode(NodeConfig(data_dir=data_dir, read_only=True))
    try:
        assert _code(LocalRegistryClient(replica), "submit", Controller().create) == (
            "read-only-node"
        )
    finally:
        replica.stop()


def test_a_database_outage_is_a_client_error_not_a_crash(
    both: Both, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_: object, **__: object) -> None:
        raise DatabaseUnavailableError("connection refused")

    monkeypatch.setattr(both.node.store, "state", down)
    monkeypatch.setattr(both.node.store, "outcome", down)
    monkeypatch.setattr(both.node.store, "outcomes", down)
    did = Controller().did
    assert _code(both.local, "resolve", did) == "storage-unavailable"
    assert _code(both.local, "operation_status", "ab" * 32) == "storage-unavailable"
    assert _code(both.local, "submit", Controller().create) == "storage-unavailable"


def test_waiting_gives_up_on_the_clients_timer(tmp_path: Path) -> None:
    node = RegistryNode(NodeConfig(data_dir=tmp_path / "node", batch_interval=60.0))
    with TestClient(create_app(node)):
        timer = FakeTimer()
        local = LocalRegistryClient(node, timer=timer)
        receipt = local.submit(Controller().create)
        with pytest.raises(NodeClientError) as caught:
            local.wait_anchored(receipt["operationHash"], timeout=5, interval=1)
        assert caught.value.code == "timeout"
        assert timer.monotonic() > 5
