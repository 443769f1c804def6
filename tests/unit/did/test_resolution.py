"""W3C DID Resolution results (realdid.did._resolution)."""

from __future__ import annotations

from typing import Any

import pytest

from realdid.crypto import KeyType, LocalSigner
from realdid.did import (
    DID_CORE_CONTEXT,
    DID_JSON,
    MULTIKEY_CONTEXT,
    RESOLUTION_CONTEXT,
    RESOLUTION_MEDIA_TYPE,
    AnchorPoint,
    CreateOperation,
    DeactivateOperation,
    Did,
    DidState,
    DocumentContent,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    ServiceEntry,
    UpdateOperation,
    apply_operation,
    commitment_of,
    render_document,
    resolution_error,
    resolution_result,
    sign,
    to_dict,
    xml_datetime,
)

UPDATE_0, UPDATE_1 = (
    LocalSigner(KeyType.ED25519, b"\x01" * 32),
    LocalSigner(KeyType.ED25519, b"\x02" * 32),
)
RECOVERY = LocalSigner(KeyType.ED25519, b"\x03" * 32)
DOC_KEY = LocalSigner(KeyType.ED25519, b"\x04" * 32)
CREATED_AT = AnchorPoint(sequence=7, leaf_index=3, timestamp=1_767_225_600)  # 2026-01-01T00:00:00Z
UPDATED_AT = AnchorPoint(sequence=9, leaf_index=0, timestamp=1_767_312_001)  # 2026-01-02T00:00:01Z
# Shaped like the node's evidence (realdid.node); opaque to realdid.did, carried verbatim.
EVIDENCE: dict[str, Any] = {
    "anchor": {
        "ledger": "solo",
        "sequence": 9,
        "batchHash": "00" * 32,
        "merkleRoot": "11" * 32,
        "operationCount": 2,
    },
    "inclusionProof": {"leafIndex": 0, "treeSize": 2, "auditPath": ["22" * 32]},
}


def apply_parsed(state: DidState | None, op: Any, at: AnchorPoint) -> DidState:
    parsed = ParsedOperation.from_value(to_dict(op))
    return apply_operation(state, parsed.operation, parsed.hash, at)


@pytest.fixture
def create() -> CreateOperation:
    return CreateOperation(
        DocumentContent(
            (PublicKeyEntry("key-1", DOC_KEY.public_key, ("authentication",)),),
            (ServiceEntry("hub", "LinkedDomains", "https://example.com/"),),
        ),
        commitment_of(UPDATE_0.public_key),
        commitment_of(RECOVERY.public_key),
    )


@pytest.fixture
def created(create: CreateOperation) -> DidState:
    return apply_parsed(None, create, CREATED_AT)


@pytest.fixture
def did(create: CreateOperation) -> Did:
    return create.did


def updated_state(did: Did, created: DidState) -> DidState:
    op = UpdateOperation(
        did,
        created.version_id,
        UPDATE_0.public_key,
        (Patch("remove-services", ids=("hub",)),),
        commitment_of(UPDATE_1.public_key),
    )
    return apply_parsed(created, sign(op, UPDATE_0), UPDATED_AT)


def test_constants() -> None:
    assert RESOLUTION_CONTEXT == "https://w3id.org/did-resolution/v1"
    assert DID_JSON == "application/did+json"
    assert RESOLUTION_MEDIA_TYPE == 'application/ld+json;profile="https://w3id.org/did-resolution"'


def test_xml_datetime() -> None:
    assert xml_datetime(0) == "1970-01-01T00:00:00Z"
    assert xml_datetime(1_767_225_600) == "2026-01-01T00:00:00Z"
    assert xml_datetime(1_767_312_001) == "2026-01-02T00:00:01Z"


def test_result_of_fresh_did(did: Did, created: DidState) -> None:
    result = resolution_result(did, created, EVIDENCE)
    assert set(result) == {
        "@context",
        "didDocument",
        "didResolutionMetadata",
        "didDocumentMetadata",
    }
    assert result["@context"] == RESOLUTION_CONTEXT
    assert result["didResolutionMetadata"] == {"contentType": "application/did+json"}
    document = result["didDocument"]
    assert document["@context"] == [DID_CORE_CONTEXT, MULTIKEY_CONTEXT]
    assert document["id"] == str(did)
    assert document["verificationMethod"][0]["id"] == f"{did}#key-1"
    assert document["verificationMethod"][0]["type"] == "Multikey"
    assert document["verificationMethod"][0]["controller"] == str(did)
    assert document["authentication"] == [f"{did}#key-1"]
    assert document["service"][0]["serviceEndpoint"] == "https://example.com/"
    metadata = result["didDocumentMetadata"]
    assert metadata == {
        "created": "2026-01-01T00:00:00Z",
        "versionId": created.version_id,
        "deactivated": False,
        "method": {
            "updateCommitment": commitment_of(UPDATE_0.public_key),
            "recoveryCommitment": commitment_of(RECOVERY.public_key),
        },
        **EVIDENCE,
    }
    assert "updated" not in metadata, "a DID that was never updated has no 'updated'"


def test_result_after_update(did: Did, created: DidState) -> None:
    state = updated_state(did, created)
    result = resolution_result(did, state, EVIDENCE)
    metadata = result["didDocumentMetadata"]
    assert metadata["created"] == "2026-01-01T00:00:00Z"
    assert metadata["updated"] == "2026-01-02T00:00:01Z"
    assert metadata["versionId"] == state.version_id != created.version_id
    assert metadata["method"]["updateCommitment"] == commitment_of(UPDATE_1.public_key)
    assert metadata["deactivated"] is False
    assert "service" not in result["didDocument"]


def test_result_of_deactivated_did(did: Did, created: DidState) -> None:
    op = DeactivateOperation(did, created.version_id, RECOVERY.public_key)
    dead = apply_parsed(created, sign(op, RECOVERY), UPDATED_AT)
    result = resolution_result(did, dead, EVIDENCE)
    # DID Resolution: a deactivated DID resolves, with deactivated = true and a bare document.
    assert result["didDocument"] == {"@context": [DID_CORE_CONTEXT], "id": str(did)}
    assert render_document(did, dead) == result["didDocument"]
    metadata = result["didDocumentMetadata"]
    assert metadata["deactivated"] is True
    assert metadata["created"] == "2026-01-01T00:00:00Z"
    assert metadata["updated"] == "2026-01-02T00:00:01Z"
    assert metadata["versionId"] == dead.version_id
    assert "method" not in metadata, "a deactivated DID exposes no commitments"
    assert metadata["anchor"] == EVIDENCE["anchor"]
    assert result["didResolutionMetadata"] == {"contentType": DID_JSON}


def test_evidence_is_carried_verbatim(did: Did, created: DidState) -> None:
    assert resolution_result(did, created, {})["didDocumentMetadata"].keys() == {
        "created",
        "versionId",
        "deactivated",
        "method",
    }
    result = resolution_result(did, created, EVIDENCE)
    assert result["didDocumentMetadata"]["inclusionProof"] == EVIDENCE["inclusionProof"]


def test_rendered_document_equals_content_render(did: Did, created: DidState) -> None:
    assert render_document(did, created) == created.document.render(str(did))


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("invalidDid", "not a valid DID"),
        ("notFound", "no such DID"),
        ("methodNotSupported", "DID method 'web' is not supported"),
    ],
)
def test_error_result(error: str, message: str) -> None:
    assert resolution_error(error, message) == {
        "@context": RESOLUTION_CONTEXT,
        "didDocument": None,
        "didResolutionMetadata": {"error": error, "errorMessage": message},
        "didDocumentMetadata": {},
    }
