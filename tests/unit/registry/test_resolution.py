"""ResolutionResult: the typed resolution result, parsed at the client's edge."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from realdid.crypto import KeyType, LocalSigner
from realdid.did import (
    AnchorPoint,
    CreateOperation,
    DeactivateOperation,
    DocumentContent,
    ParsedOperation,
    PublicKeyEntry,
    apply_operation,
    commitment_of,
    resolution_result,
    sign,
    to_dict,
)
from realdid.registry import (
    InclusionProof,
    NodeClient,
    ResolutionResult,
    ResolutionResultError,
)

UPDATE, RECOVERY, DOC_KEY = (LocalSigner(KeyType.ED25519, bytes([i]) * 32) for i in (1, 2, 3))
EVIDENCE: dict[str, Any] = {
    "anchor": {"ledger": "solo", "sequence": 9, "batchHash": "00" * 32, "merkleRoot": "11" * 32},
    "inclusionProof": {"leafIndex": 0, "treeSize": 2, "auditPath": ["22" * 32]},
}


def node_result(*, deactivated: bool = False) -> dict[str, Any]:
    """A resolution result exactly as the node builds it (realdid.did.resolution_result)."""
    create = CreateOperation(
        DocumentContent((PublicKeyEntry("key-1", DOC_KEY.public_key, ("authentication",)),), ()),
        commitment_of(UPDATE.public_key),
        commitment_of(RECOVERY.public_key),
    )
    parsed = ParsedOperation.from_value(to_dict(create))
    state = apply_operation(None, parsed.operation, parsed.hash, AnchorPoint(7, 3, 1_767_225_600))
    if deactivated:
        deactivate = ParsedOperation.from_value(
            to_dict(
                sign(DeactivateOperation(parsed.did, parsed.hash, RECOVERY.public_key), RECOVERY)
            )
        )
        state = apply_operation(
            state, deactivate.operation, deactivate.hash, AnchorPoint(8, 0, 1_767_312_001)
        )
    return resolution_result(parsed.did, state, copy.deepcopy(EVIDENCE))


@pytest.mark.parametrize("deactivated", [False, True])
def test_the_nodes_result_round_trips_exactly(deactivated: bool) -> None:
    value = node_result(deactivated=deactivated)
    result = ResolutionResult.from_dict(value)
    assert result.to_dict() == value
    assert result.deactivated is deactivated
    assert result.document_metadata.inclusion_proof == InclusionProof(0, 2, ("22" * 32,))
    assert result.document_metadata.anchor == EVIDENCE["anchor"]


def test_typed_members() -> None:
    result = ResolutionResult.from_dict(node_result())
    metadata = result.document_metadata
    assert metadata.version_id is not None
    assert len(metadata.version_id) == 64
    assert metadata.method is not None
    assert metadata.method.update_commitment == commitment_of(UPDATE.public_key)
    assert metadata.method.recovery_commitment == commitment_of(RECOVERY.public_key)
    assert result.resolution_metadata.content_type == "application/did+json"
    assert result.document["id"].startswith("did:realdid:")


def test_a_minimal_result_is_accepted_and_absent_deactivated_means_active() -> None:
    value = {"didDocument": {"id": "did:x"}, "didResolutionMetadata": {}, "didDocumentMetadata": {}}
    result = ResolutionResult.from_dict(value)
    assert result.deactivated is False
    assert result.to_dict() == value


@pytest.mark.parametrize(
    ("mutate", "member"),
    [
        (lambda v: v.update(extra=1), "extra"),
        (lambda v: v["didDocumentMetadata"].update(nextUpdate="x"), "nextUpdate"),
        (lambda v: v["didDocumentMetadata"].update(deactivated="no"), "deactivated"),
        (lambda v: v["didDocumentMetadata"]["method"].pop("updateCommitment"), "method"),
        (lambda v: v["didDocumentMetadata"]["inclusionProof"].update(leafIndex=-1), "leafIndex"),
        (lambda v: v["didDocumentMetadata"]["inclusionProof"].update(auditPath="00"), "auditPath"),
        (lambda v: v["didDocumentMetadata"].update(anchor=[]), "anchor"),
        (lambda v: v["didDocumentMetadata"].update(versionId=5), "versionId"),
        (lambda v: v.update(didDocument="did:x"), "didDocument"),
        (lambda v: v.pop("didDocumentMetadata"), "didDocumentMetadata"),
        (lambda v: v["didResolutionMetadata"].update(contentType=1), "contentType"),
    ],
)
def test_malformed_results_are_rejected_naming_the_member(mutate: Any, member: str) -> None:
    value = node_result()
    mutate(value)
    with pytest.raises(ResolutionResultError, match=member) as raised:
        ResolutionResult.from_dict(value)
    assert raised.value.code == "invalid-resolution-result"


def test_a_result_without_a_document_says_so() -> None:
    result = ResolutionResult.from_dict(
        {"didDocument": None, "didResolutionMetadata": {}, "didDocumentMetadata": {}}
    )
    with pytest.raises(ResolutionResultError):
        result.document  # noqa: B018 - the property raises


@pytest.mark.parametrize(("status", "deactivated"), [(200, True), (410, False)])
def test_node_client_refuses_a_status_that_contradicts_the_metadata(
    status: int, deactivated: bool
) -> None:
    body = node_result(deactivated=deactivated)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    client = NodeClient("http://node.test", transport=httpx.MockTransport(handler))
    with pytest.raises(ResolutionResultError, match="deactivated"):
        client.resolve("did:realdid:x")
    client.close()


def test_node_client_returns_the_typed_result() -> None:
    body = node_result(deactivated=True)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(410, json=body)

    client = NodeClient("http://node.test", transport=httpx.MockTransport(handler))
    result = client.resolve("did:realdid:x")
    client.close()
    assert result.deactivated
    assert result.to_dict() == body
