"""Batching, Merkle proofs, content-addressed batch files, ledger backends, the observer."""

from ._batch import MAX_BATCH_OPERATIONS, InvalidBatchError, decode_batch, encode_batch
from ._cas import (
    ContentIntegrityError,
    ContentNotFoundError,
    ContentStore,
    ContentStoreError,
    FileContentStore,
    InvalidAddressError,
    MemoryContentStore,
    content_address,
)
from ._evidence import VerifiedEvidence, verify_resolution_evidence
from ._interface import (
    Anchor,
    AnchorRequest,
    Ledger,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
)
from ._merkle import (
    MerkleEncodingError,
    MerkleProofError,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_inclusion,
)
from ._observer import (
    BatchResult,
    BatchUnavailableError,
    Observer,
    ParsedOperationCache,
    evaluate_batch,
    merkle_tree_of,
)
from ._solo import (
    Block,
    BlockIntegrityError,
    InvalidAnchorRequestError,
    SoloLedger,
    VerifyReport,
)
from ._store import AnchorRecord, OperationOutcome, QueuedOperation, RegistryStore
from ._verify import RegistryReport, verify_registry
from ._writer import BatchWriter

__all__ = [
    "MAX_BATCH_OPERATIONS",
    "Anchor",
    "AnchorRecord",
    "AnchorRequest",
    "BatchResult",
    "BatchUnavailableError",
    "BatchWriter",
    "Block",
    "BlockIntegrityError",
    "ContentIntegrityError",
    "ContentNotFoundError",
    "ContentStore",
    "ContentStoreError",
    "FileContentStore",
    "InvalidAddressError",
    "InvalidAnchorRequestError",
    "InvalidBatchError",
    "Ledger",
    "LedgerError",
    "LedgerIntegrityError",
    "LedgerUnavailableError",
    "MemoryContentStore",
    "MerkleEncodingError",
    "MerkleProofError",
    "MerkleTree",
    "Observer",
    "OperationOutcome",
    "ParsedOperationCache",
    "QueuedOperation",
    "RegistryReport",
    "RegistryStore",
    "SoloLedger",
    "VerifiedEvidence",
    "VerifyReport",
    "content_address",
    "decode_batch",
    "encode_batch",
    "evaluate_batch",
    "leaf_hash",
    "merkle_tree_of",
    "node_hash",
    "verify_inclusion",
    "verify_registry",
    "verify_resolution_evidence",
]
