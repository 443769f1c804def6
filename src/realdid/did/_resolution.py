"""W3C DID Resolution results for ``did:realdid`` (docs/did-method.md section "Resolution").

The result is the triple of DID Resolution section 4: ``didDocument``,
``didResolutionMetadata`` and ``didDocumentMetadata``. RealDID adds the anchoring
evidence of the latest operation under ``didDocumentMetadata.anchor`` and
``didDocumentMetadata.inclusionProof`` so that any client can check, without trusting the
resolver, that the version it was given is in a batch whose Merkle root is on the ledger.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from realdid.crypto import CryptoError, PublicKey

from ._document import DID_CORE_CONTEXT
from ._identifier import Did
from ._state import DidState

RESOLUTION_CONTEXT = "https://w3id.org/did-resolution/v1"
DID_JSON = "application/did+json"
RESOLUTION_MEDIA_TYPE = 'application/ld+json;profile="https://w3id.org/did-resolution"'


def xml_datetime(timestamp: int) -> str:
    """DID Core section 7.3 timestamps: XML Schema dateTime, UTC, whole seconds."""
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def render_document(did: Did, state: DidState) -> dict[str, Any]:
    """The DID document; a deactivated DID keeps only its id (DID Resolution section 7.1)."""
    if state.deactivated:
        return {"@context": [DID_CORE_CONTEXT], "id": str(did)}
    return state.document.render(str(did))


def document_metadata(state: DidState, evidence: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "created": xml_datetime(state.created.timestamp),
        "versionId": state.version_id,
        "deactivated": state.deactivated,
    }
    if state.updated != state.created:
        metadata["updated"] = xml_datetime(state.updated.timestamp)
    if not state.deactivated:
        metadata["method"] = {
            "updateCommitment": state.update_commitment,
            "recoveryCommitment": state.recovery_commitment,
        }
    metadata.update(evidence)
    return metadata


def resolution_result(did: Did, state: DidState, evidence: dict[str, Any]) -> dict[str, Any]:
    """A successful (or deactivated) resolution result; ``evidence`` comes from the ledger."""
    return {
        "@context": RESOLUTION_CONTEXT,
        "didDocument": render_document(did, state),
        "didResolutionMetadata": {"contentType": DID_JSON},
        "didDocumentMetadata": document_metadata(state, evidence),
    }


def resolution_error(error: str, message: str) -> dict[str, Any]:
    """An unsuccessful resolution result with a DID Resolution error code."""
    return {
        "@context": RESOLUTION_CONTEXT,
        "didDocument": None,
        "didResolutionMetadata": {"error": error, "errorMessage": message},
        "didDocumentMetadata": {},
    }


def verification_key(document: Mapping[str, Any], key_id: str, *, purpose: str) -> PublicKey | None:
    """The public key of verification method ``key_id`` if the document lists it for ``purpose``.

    ``key_id`` is an absolute DID URL (``did:realdid:…#key-1``). ``None`` when the document
    has no such method, or has it without that verification relationship (DID Core 5.3).
    """
    if key_id not in (document.get(purpose) or ()):
        return None
    for method in document.get("verificationMethod") or ():
        if isinstance(method, dict) and method.get("id") == key_id:
            try:
                return PublicKey.from_multibase(str(method.get("publicKeyMultibase")))
            except CryptoError:
                return None
    return None
