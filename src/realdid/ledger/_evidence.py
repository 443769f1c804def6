"""Client-side check of a resolution result's anchoring evidence (``realdid resolve``).

The latest operation of a DID (its ``versionId``, a SHA-256 hash) is leaf ``leafIndex`` of
the Merkle tree of an anchored batch; the audit path must lead from
``leaf_hash(bytes.fromhex(versionId))`` to the anchor's ``merkleRoot`` (RFC 9162 §2.1.3.2),
and the tree size must equal the anchor's operation count. What this does not check is that
the anchor itself is on the ledger: for the EVM backend a client looks up the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._interface import LedgerIntegrityError
from ._merkle import leaf_hash, verify_inclusion


@dataclass(frozen=True, slots=True)
class VerifiedEvidence:
    version_id: str
    sequence: int
    merkle_root: str
    ledger: str


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise LedgerIntegrityError(f"{what} is not a 32-byte hex hash")
    try:
        return bytes.fromhex(value)
    except ValueError as e:
        raise LedgerIntegrityError(f"{what} is not a 32-byte hex hash") from e


def verify_resolution_evidence(metadata: dict[str, Any]) -> VerifiedEvidence:
    """Verify ``didDocumentMetadata`` of a resolution result; raise on any mismatch."""
    try:
        anchor, proof = metadata["anchor"], metadata["inclusionProof"]
        version_id = _hex32(metadata["versionId"], "versionId")
        root = _hex32(anchor["merkleRoot"], "anchor.merkleRoot")
        path = [_hex32(h, "auditPath entry") for h in proof["auditPath"]]
        index, size, count = proof["leafIndex"], proof["treeSize"], anchor["operationCount"]
        sequence, ledger = anchor["sequence"], anchor["ledger"]
    except (KeyError, TypeError) as e:
        raise LedgerIntegrityError(
            "resolution result carries no complete anchoring evidence"
        ) from e
    if not all(isinstance(v, int) for v in (index, size, count, sequence)):
        raise LedgerIntegrityError("inclusion proof positions must be integers")
    if size != count:
        raise LedgerIntegrityError(
            f"proof is for a tree of {size} leaves but the anchor holds {count} operations"
        )
    verify_inclusion(leaf_hash(version_id), index, size, path, root)
    return VerifiedEvidence(version_id.hex(), sequence, root.hex(), str(ledger))
