"""Typed W3C DID Resolution results, as a registry node serves them.

A node answers ``GET /1.0/identifiers/{did}`` with the triple of DID Resolution section 4
(``didDocument``, ``didResolutionMetadata``, ``didDocumentMetadata``, built by
:func:`realdid.did.resolution_result`); RealDID adds the anchoring evidence of the DID's
latest operation to the document metadata (``anchor`` and ``inclusionProof``, see
docs/did-method.md "Resolution"). Every client of a node — the wallet, the relying party,
the authority, ``realdid resolve`` — reads that answer through :class:`ResolutionResult`,
parsed once at the edge: inside, the members are typed and their presence is known.

Members the node does not emit are rejected rather than kept (:class:`ResolutionResultError`):
a result is re-serialised exactly (``to_dict(from_dict(x)) == x``) and a client must never act
on a member it does not understand. Members DID Resolution makes optional stay optional
(a minimal resolver answers ``didDocumentMetadata: {}``); an absent ``deactivated`` means
not deactivated (DID Core section 7.3.2.1).

Example::

    >>> result = ResolutionResult.from_dict(
    ...     {"didDocument": {"id": "did:realdid:Qm…"}, "didResolutionMetadata": {},
    ...      "didDocumentMetadata": {"deactivated": False}})
    >>> result.deactivated
    False
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import ResolutionResultError


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ResolutionResultError(f"{where} must be a JSON object")
    return value


def _only(value: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ResolutionResultError(f"{where} has unknown member(s): {', '.join(unknown)}")


def _text(value: Mapping[str, Any], name: str, where: str) -> str | None:
    member = value.get(name)
    if member is not None and not isinstance(member, str):
        raise ResolutionResultError(f"{where}.{name} must be a string")
    return member


def _count(value: Mapping[str, Any], name: str, where: str) -> int:
    member = value.get(name)
    if not isinstance(member, int) or isinstance(member, bool) or member < 0:
        raise ResolutionResultError(f"{where}.{name} must be a non-negative integer")
    return member


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Where the DID's latest operation sits in its batch (RFC 9162 section 2.1.3 audit path)."""

    leaf_index: int
    tree_size: int
    audit_path: tuple[str, ...]  # lowercase hex SHA-256 node hashes, leaf to root

    _MEMBERS = frozenset({"leafIndex", "treeSize", "auditPath"})

    @classmethod
    def from_dict(cls, value: object) -> InclusionProof:
        where = "didDocumentMetadata.inclusionProof"
        proof = _object(value, where)
        _only(proof, cls._MEMBERS, where)
        path = proof.get("auditPath")
        if not isinstance(path, list) or not all(isinstance(h, str) for h in path):
            raise ResolutionResultError(f"{where}.auditPath must be a list of strings")
        return cls(_count(proof, "leafIndex", where), _count(proof, "treeSize", where), tuple(path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "leafIndex": self.leaf_index,
            "treeSize": self.tree_size,
            "auditPath": list(self.audit_path),
        }


@dataclass(frozen=True, slots=True)
class MethodMetadata:
    """The ``did:realdid`` method metadata: the commitments the next operations must reveal."""

    update_commitment: str
    recovery_commitment: str

    _MEMBERS = frozenset({"updateCommitment", "recoveryCommitment"})

    @classmethod
    def from_dict(cls, value: object) -> MethodMetadata:
        where = "didDocumentMetadata.method"
        method = _object(value, where)
        _only(method, cls._MEMBERS, where)
        update = _text(method, "updateCommitment", where)
        recovery = _text(method, "recoveryCommitment", where)
        if update is None or recovery is None:
            raise ResolutionResultError(f"{where} must carry both commitments")
        return cls(update, recovery)

    def to_dict(self) -> dict[str, Any]:
        return {
            "updateCommitment": self.update_commitment,
            "recoveryCommitment": self.recovery_commitment,
        }


@dataclass(frozen=True, slots=True)
class DocumentMetadata:
    """``didDocumentMetadata`` (DID Resolution section 4.3) with RealDID's anchoring evidence.

    ``anchor`` is the ledger's anchor record as the node serialised it; checking it against
    the ledger is :func:`realdid.ledger.verify_resolution_evidence`'s job, which reads
    :meth:`to_dict`, so it is kept as the object it was.
    """

    created: str | None = None
    updated: str | None = None
    version_id: str | None = None
    deactivated: bool | None = None  # None: the member is absent, which means not deactivated
    method: MethodMetadata | None = None
    anchor: dict[str, Any] | None = None
    inclusion_proof: InclusionProof | None = None

    _MEMBERS = frozenset(
        {
            "created",
            "updated",
            "versionId",
            "deactivated",
            "method",
            "anchor",
            "inclusionProof",
        }
    )

    @classmethod
    def from_dict(cls, value: object) -> DocumentMetadata:
        where = "didDocumentMetadata"
        metadata = _object(value, where)
        _only(metadata, cls._MEMBERS, where)
        deactivated = metadata.get("deactivated")
        if deactivated is not None and not isinstance(deactivated, bool):
            raise ResolutionResultError(f"{where}.deactivated must be a boolean")
        method = metadata.get("method")
        anchor = metadata.get("anchor")
        proof = metadata.get("inclusionProof")
        return cls(
            created=_text(metadata, "created", where),
            updated=_text(metadata, "updated", where),
            version_id=_text(metadata, "versionId", where),
            deactivated=deactivated,
            method=None if method is None else MethodMetadata.from_dict(method),
            anchor=None if anchor is None else dict(_object(anchor, f"{where}.anchor")),
            inclusion_proof=None if proof is None else InclusionProof.from_dict(proof),
        )

    def to_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = {}
        if self.created is not None:
            value["created"] = self.created
        if self.version_id is not None:
            value["versionId"] = self.version_id
        if self.deactivated is not None:
            value["deactivated"] = self.deactivated
        if self.updated is not None:
            value["updated"] = self.updated
        if self.method is not None:
            value["method"] = self.method.to_dict()
        if self.anchor is not None:
            value["anchor"] = dict(self.anchor)
        if self.inclusion_proof is not None:
            value["inclusionProof"] = self.inclusion_proof.to_dict()
        return value


@dataclass(frozen=True, slots=True)
class ResolutionMetadata:
    """``didResolutionMetadata`` (DID Resolution section 4.2)."""

    content_type: str | None = None
    error: str | None = None
    error_message: str | None = None

    _MEMBERS = frozenset({"contentType", "error", "errorMessage"})

    @classmethod
    def from_dict(cls, value: object) -> ResolutionMetadata:
        where = "didResolutionMetadata"
        metadata = _object(value, where)
        _only(metadata, cls._MEMBERS, where)
        return cls(
            _text(metadata, "contentType", where),
            _text(metadata, "error", where),
            _text(metadata, "errorMessage", where),
        )

    def to_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = {}
        if self.content_type is not None:
            value["contentType"] = self.content_type
        if self.error is not None:
            value["error"] = self.error
        if self.error_message is not None:
            value["errorMessage"] = self.error_message
        return value


@dataclass(frozen=True, slots=True)
class ResolutionResult:
    """A DID resolution result (DID Resolution section 4), as a registry node serves it.

    ``did_document`` is the rendered DID document (only its ``id`` for a deactivated DID),
    ``None`` when resolution failed; reading keys out of it is
    :func:`realdid.did.verification_key`'s job.
    """

    did_document: dict[str, Any] | None
    resolution_metadata: ResolutionMetadata
    document_metadata: DocumentMetadata
    context: str | None = None  # ``@context``: a JSON-LD resolver sends it, a minimal one may not

    _MEMBERS = frozenset(
        {"@context", "didDocument", "didResolutionMetadata", "didDocumentMetadata"}
    )

    @classmethod
    def from_dict(cls, value: object) -> ResolutionResult:
        result = _object(value, "a resolution result")
        _only(result, cls._MEMBERS, "the resolution result")
        document = result.get("didDocument")
        if document is not None:
            document = dict(_object(document, "didDocument"))
        if "didResolutionMetadata" not in result or "didDocumentMetadata" not in result:
            raise ResolutionResultError(
                "a resolution result carries didResolutionMetadata and didDocumentMetadata"
            )
        return cls(
            did_document=document,
            resolution_metadata=ResolutionMetadata.from_dict(result["didResolutionMetadata"]),
            document_metadata=DocumentMetadata.from_dict(result["didDocumentMetadata"]),
            context=_text(result, "@context", "the resolution result"),
        )

    def to_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = {}
        if self.context is not None:
            value["@context"] = self.context
        value["didDocument"] = None if self.did_document is None else dict(self.did_document)
        value["didResolutionMetadata"] = self.resolution_metadata.to_dict()
        value["didDocumentMetadata"] = self.document_metadata.to_dict()
        return value

    @property
    def deactivated(self) -> bool:
        return bool(self.document_metadata.deactivated)

    @property
    def document(self) -> dict[str, Any]:
        """The DID document; :class:`ResolutionResultError` if the result carries none."""
        if self.did_document is None:
            raise ResolutionResultError("the resolution result carries no DID document")
        return self.did_document
