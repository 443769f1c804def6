"""The rate limits of a served node (``realdid serve --workers 2``): one allowance per client
for the whole machine, refused submissions answered 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from realdid.crypto import LocalSigner
from realdid.did import CreateOperation, DocumentContent, PublicKeyEntry, commitment_of, to_dict

from .conftest import NodeProcess

pytestmark = pytest.mark.integration

BURST = 5


def create() -> dict[str, Any]:
    signing, update, recovery = (LocalSigner.generate() for _ in range(3))
    operation = CreateOperation(
        DocumentContent((PublicKeyEntry("key-1", signing.public_key, ("authentication",)),), ()),
        commitment_of(update.public_key),
        commitment_of(recovery.public_key),
    )
    return to_dict(operation)


def test_a_client_gets_one_allowance_across_the_workers(
    node_factory: Callable[..., NodeProcess],
) -> None:
    node = node_factory(
        workers=2,
        env={
            "REALDID_RATE_LIMITS__EXEMPT": "",  # this test is the one client that is limited
            "REALDID_RATE_LIMITS__OPERATIONS_BURST": str(BURST),
            "REALDID_RATE_LIMITS__OPERATIONS_PER_SECOND": "0.01",
        },
    )
    answers = []
    for _ in range(3 * BURST):
        # A new connection each time: whichever worker accepts it, the count is the same.
        with httpx.Client(base_url=node.url, timeout=10) as client:
            answers.append(client.post("/1.0/operations", json=create()))
    assert [a.status_code for a in answers] == [202] * BURST + [429] * (2 * BURST)
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:realdid:problem:rate-limited"
    assert int(refused.headers["retry-after"]) >= 1
    with httpx.Client(base_url=node.url, timeout=10) as client:
        assert client.get("/healthz").json()["queueLength"] <= BURST  # the refused were not queued
