"""A PostgreSQL restart under load (issue 11): the node heals by itself, without a restart.

A node of two workers streams DID creations into PostgreSQL; the server is crashed and
restarted (immediate shutdown, WAL recovery) while requests are in flight. Requests meanwhile
may fail (503, or a dropped connection) — none may be half-applied — and afterwards,
without touching the node: every operation answered 202 is anchored, new ones are accepted
and anchored, ``/healthz`` is ok again, and ``realdid ledger verify`` passes.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from realdid.crypto import LocalSigner
from realdid.did import CreateOperation, DocumentContent, ParsedOperation, commitment_of, to_dict

from ..service_databases import ServiceDatabases
from .conftest import REALDID, NodeProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        os.environ.get("REALDID_TEST_ENGINE", "sqlite") != "postgresql",
        reason="restarts the PostgreSQL server (the PostgreSQL pass of make test)",
    ),
]


def new_create() -> ParsedOperation:
    return ParsedOperation.from_value(
        to_dict(
            CreateOperation(
                DocumentContent(),
                commitment_of(LocalSigner.generate().public_key),
                commitment_of(LocalSigner.generate().public_key),
            )
        )
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def anchored(client: httpx.Client, op: ParsedOperation) -> bool:
    try:
        return bool(client.get(f"/1.0/operations/{op.hash}").json().get("status") == "anchored")
    except (httpx.HTTPError, ValueError):
        return False


def test_a_postgres_restart_under_load_heals_by_itself(
    node_factory: Callable[..., NodeProcess], service_databases: ServiceDatabases
) -> None:
    assert service_databases.server is not None
    node = node_factory("pg-restart", workers=2)
    accepted: list[ParsedOperation] = []
    refused: list[int] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=node.url, timeout=10.0) as client:
            while not stop.is_set():
                op = new_create()
                try:
                    response = client.post("/1.0/operations", json=to_dict(op.operation))
                except httpx.HTTPError:
                    refused.append(0)
                    continue
                if response.status_code == 202:
                    accepted.append(op)
                else:
                    assert response.status_code == 503, response.text
                    refused.append(response.status_code)
                time.sleep(0.005)

    threads = [threading.Thread(target=stream) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(accepted) >= 50, 30, "operations to flow")
        service_databases.server.restart(crash=True)
        before = len(accepted)
        wait_for(lambda: len(accepted) >= before + 50, 60, "operations to flow again")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    with httpx.Client(base_url=node.url, timeout=10.0) as client:
        for op in accepted:
            wait_for(lambda op=op: anchored(client, op), 60, f"{op.hash} to be anchored")
        wait_for(lambda: client.get("/healthz").status_code == 200, 30, "the node to be healthy")
        later = new_create()
        assert client.post("/1.0/operations", json=to_dict(later.operation)).status_code == 202
        wait_for(lambda: anchored(client, later), 30, "an operation after the restart")
    node.stop()
    verify = subprocess.run(
        [str(REALDID), "ledger", "verify", "--data-dir", str(node.data_dir)],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert f"{len(accepted) + 1} DIDs verified" in verify.stdout, verify.stdout
    print(f"accepted {len(accepted)}, refused during the restart {len(refused)}")
