"""Several processes of one node (issue 11): one writer at a time, a standby takes over.

Two :class:`RegistryNode` objects on one data directory (and, on PostgreSQL, one database)
stand for two worker processes: their writer leases exclude each other exactly as two
processes' would (a ``flock`` per open file; an advisory lock per session).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from realdid.clock import FixedClock
from realdid.crypto import LocalSigner
from realdid.did import CreateOperation, DocumentContent, ParsedOperation, commitment_of, to_dict
from realdid.node import NodeConfig, RegistryNode, create_app
from realdid.storage import DatabaseUnavailableError, StoreLocation, is_postgres_url

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient import warning (see test_api.py)
    from starlette.testclient import TestClient


def new_create() -> tuple[dict[str, object], ParsedOperation]:
    body = to_dict(
        CreateOperation(
            DocumentContent(),
            commitment_of(LocalSigner.generate().public_key),
            commitment_of(LocalSigner.generate().public_key),
        )
    )
    return body, ParsedOperation.from_value(body)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic() - start


def anchored(client: TestClient, operation: ParsedOperation) -> bool:
    body = client.get(f"/1.0/operations/{operation.hash}").json()
    return bool(body.get("status") == "anchored")


@pytest.fixture
def config(
    both_engines: str, store_at: Callable[[str], StoreLocation], tmp_path: Path
) -> NodeConfig:
    where = store_at("node")
    database = str(where) if is_postgres_url(where) else None
    return NodeConfig(data_dir=tmp_path / "node", batch_interval=0.02, database=database)


def test_one_process_writes_and_a_standby_takes_over_when_it_stops(config: NodeConfig) -> None:
    first, second = RegistryNode(config), RegistryNode(config)
    writer = TestClient(create_app(first))
    writer.__enter__()  # started first: it becomes the writer
    with TestClient(create_app(second)) as standby:
        try:
            assert writer.get("/healthz").json()["role"] == "writer"
            assert standby.get("/healthz").json()["role"] == "standby"
            # Intake on the standby; the writer anchors; both resolve from the store.
            body, op = new_create()
            assert standby.post("/1.0/operations", json=body).status_code == 202
            wait_until(lambda: anchored(standby, op))
            assert writer.get(f"/1.0/identifiers/{op.did}").status_code == 200
            assert standby.get(f"/1.0/identifiers/{op.did}").status_code == 200
            assert not second.is_writer
        finally:
            writer.__exit__(None, None, None)  # the writer stops; its lease is freed
        assert wait_until(lambda: second.is_writer, timeout=5.0) < 5.0
        body, later = new_create()
        assert standby.post("/1.0/operations", json=body).status_code == 202
        wait_until(lambda: anchored(standby, later))
        health = standby.get("/healthz").json()
        assert health["role"] == "writer"
        assert health["anchorSequence"] >= 1


def test_a_read_only_replica_resolves_from_the_shared_store_and_writes_nothing(
    config: NodeConfig,
) -> None:
    replica_config = dataclasses.replace(config, read_only=True)
    with TestClient(create_app(RegistryNode(config))) as writer:
        body, op = new_create()
        assert writer.post("/1.0/operations", json=body).status_code == 202
        wait_until(lambda: anchored(writer, op))
        replica_node = RegistryNode(replica_config)
        with TestClient(create_app(replica_node)) as replica:
            assert replica.get("/healthz").json()["role"] == "replica"
            resolved = replica.get(f"/1.0/identifiers/{op.did}")
            assert resolved.status_code == 200
            assert resolved.json() == writer.get(f"/1.0/identifiers/{op.did}").json()
            assert anchored(replica, op)
            refused = replica.post("/1.0/operations", json=new_create()[0])
            assert refused.status_code == 503
            assert refused.json()["type"].endswith("read-only-node")
            assert "read-only resolver replica" in refused.json()["detail"]
            assert not replica_node.is_writer
    # The writer is gone; a replica never takes its place.
    with TestClient(create_app(RegistryNode(replica_config))) as replica:
        time.sleep(0.2)
        assert replica.get("/healthz").json()["role"] == "replica"
        assert replica.get(f"/1.0/identifiers/{op.did}").status_code == 200


def test_every_process_reports_the_writers_health(config: NodeConfig) -> None:
    """The writer here is driven by hand (its loop never runs), so its reports are only
    the ones the test makes."""
    clock = FixedClock(1_800_000_000)
    first, second = RegistryNode(config, clock=clock), RegistryNode(config, clock=clock)
    assert first.lease.try_acquire()
    try:
        first._report_health()
        with TestClient(create_app(second)) as standby:
            assert standby.get("/healthz").json()["status"] == "ok"
            first._set_error("ledger-unavailable: the chain endpoint is down")
            first._report_health()
            health = standby.get("/healthz")
            assert health.status_code == 503
            assert health.json()["error"] == "ledger-unavailable: the chain endpoint is down"
            assert health.json()["since"] == 1_800_000_000
            assert health.json()["role"] == "standby"
            first._clear_error()
            first._report_health()
            assert standby.get("/healthz").status_code == 200
            # A writer that stops reporting (hung, or gone without freeing its lease) shows.
            clock.advance(31)
            silent = standby.get("/healthz").json()
            assert silent["status"] == "degraded"
            assert silent["error"].startswith("no-writer: the writer (pid ")
            assert first.health_report()[0].error is None  # the writer's own view
    finally:
        first.stop()


def test_a_standby_whose_database_is_down_for_a_while_still_takes_over(
    config: NodeConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by the crash-under-load test: a standby's poll read the cursor outside the
    # loop's error handling, so one database error ended its anchoring thread for good.
    first, second = RegistryNode(config), RegistryNode(config)
    writer = TestClient(create_app(first))
    writer.__enter__()
    with TestClient(create_app(second)) as standby:
        outage = {"left": 5}
        real_cursor = second.store.cursor

        def flaky_cursor() -> int:
            if outage["left"] > 0:
                outage["left"] -= 1
                raise DatabaseUnavailableError("connection refused")
            return real_cursor()

        monkeypatch.setattr(second.store, "cursor", flaky_cursor)
        wait_until(lambda: outage["left"] == 0)  # the standby polled through the outage
        writer.__exit__(None, None, None)
        wait_until(lambda: second.is_writer, timeout=10.0)
        body, op = new_create()
        assert standby.post("/1.0/operations", json=body).status_code == 202
        wait_until(lambda: anchored(standby, op))
    waits = [r for r in caplog.records if "waiting for the database" in r.getMessage()]
    assert waits
    assert not [r for r in caplog.records if r.exc_info]  # one line each, no traceback
