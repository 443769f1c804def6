"""The state of a DID and the deterministic rules that apply one operation to it.

``apply_operation`` is the whole of the method's state machine (docs/did-method.md section
"Processing rules"). It is pure: the same state and operation always give the same result
or the same rejection, which is what lets every node agree byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from realdid.crypto import base58btc_encode

from ._document import DocumentContent
from ._errors import (
    CommitmentMismatchError,
    DidDeactivatedError,
    DidExistsError,
    DidNotFoundError,
    StalePreviousError,
)
from ._operations import (
    CreateOperation,
    DeactivateOperation,
    Operation,
    RecoverOperation,
    UpdateOperation,
    commitment_of,
    verify_operation_signature,
)


@dataclass(frozen=True, slots=True)
class AnchorPoint:
    """Where an operation was anchored: anchor sequence, leaf index and anchor time."""

    sequence: int
    leaf_index: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class DidState:
    """Everything a resolver needs about one DID after applying its operations in order."""

    suffix: str
    document: DocumentContent
    update_commitment: str | None
    recovery_commitment: str | None
    version_id: str
    created: AnchorPoint
    updated: AnchorPoint
    deactivated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "suffix": self.suffix,
            "document": self.document.to_dict(),
            "updateCommitment": self.update_commitment,
            "recoveryCommitment": self.recovery_commitment,
            "versionId": self.version_id,
            "created": [self.created.sequence, self.created.leaf_index, self.created.timestamp],
            "updated": [self.updated.sequence, self.updated.leaf_index, self.updated.timestamp],
            "deactivated": self.deactivated,
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> DidState:
        """Inverse of :meth:`to_dict` for the node's own index (trusted storage)."""
        return cls(
            obj["suffix"],
            DocumentContent.from_dict(obj["document"]),
            obj["updateCommitment"],
            obj["recoveryCommitment"],
            obj["versionId"],
            AnchorPoint(*obj["created"]),
            AnchorPoint(*obj["updated"]),
            obj["deactivated"],
        )


def apply_operation(
    state: DidState | None, operation: Operation, operation_hash: str, at: AnchorPoint
) -> DidState:
    """Apply ``operation`` (hash ``operation_hash``, anchored ``at``) to ``state``.

    Returns the new state or raises an :class:`OperationRejectedError` subclass whose
    ``code`` is recorded as the rejection reason. Checks run cheapest first and the
    signature last, so junk costs no signature verification.
    """
    if isinstance(operation, CreateOperation):
        if state is not None:
            raise DidExistsError("a DID with this suffix already exists")
        return DidState(
            # ``operation_hash`` is the SHA-256 of the create's canonical bytes, which is
            # exactly the digest in its suffix: no need to canonicalize again.
            suffix=base58btc_encode(b"\x12\x20" + bytes.fromhex(operation_hash)),
            document=operation.document,
            update_commitment=operation.update_commitment,
            recovery_commitment=operation.recovery_commitment,
            version_id=operation_hash,
            created=at,
            updated=at,
        )
    if state is None:
        raise DidNotFoundError("the DID does not exist")
    if state.deactivated:
        raise DidDeactivatedError("the DID is deactivated; no further operations apply")
    if operation.previous != state.version_id:
        raise StalePreviousError(
            "'previous' is not the DID's latest operation (replayed or superseded)"
        )
    revealed = commitment_of(operation.revealed_key)
    if isinstance(operation, UpdateOperation):
        if revealed != state.update_commitment:
            raise CommitmentMismatchError("revealed key does not match the update commitment")
        if operation.next_update_commitment == revealed:
            raise CommitmentMismatchError("next update commitment must commit to a new key")
        verify_operation_signature(operation)
        document = state.document
        for patch in operation.patches:
            document = patch.apply(document)
        return _next(
            state, operation_hash, at, document=document, update=operation.next_update_commitment
        )
    if revealed != state.recovery_commitment:
        raise CommitmentMismatchError("revealed key does not match the recovery commitment")
    if isinstance(operation, RecoverOperation):
        if operation.next_recovery_commitment == revealed:
            raise CommitmentMismatchError("next recovery commitment must commit to a new key")
        verify_operation_signature(operation)
        return _next(
            state,
            operation_hash,
            at,
            document=operation.document,
            update=operation.next_update_commitment,
            recovery=operation.next_recovery_commitment,
        )
    assert isinstance(operation, DeactivateOperation)
    verify_operation_signature(operation)
    return DidState(
        suffix=state.suffix,
        document=DocumentContent(),
        update_commitment=None,
        recovery_commitment=None,
        version_id=operation_hash,
        created=state.created,
        updated=at,
        deactivated=True,
    )


def _next(
    state: DidState,
    operation_hash: str,
    at: AnchorPoint,
    *,
    document: DocumentContent,
    update: str,
    recovery: str | None = None,
) -> DidState:
    return DidState(
        suffix=state.suffix,
        document=document,
        update_commitment=update,
        recovery_commitment=state.recovery_commitment if recovery is None else recovery,
        version_id=operation_hash,
        created=state.created,
        updated=at,
    )


__all__ = ["AnchorPoint", "DidState", "apply_operation"]
