"""Batching, Merkle proofs, content-addressed batch files, ledger backends, the observer."""

import importlib
from typing import TYPE_CHECKING, Any

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
    InvalidAnchorRequestError,
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
    BatchSource,
    BatchUnavailableError,
    Observer,
    ParsedOperationCache,
    evaluate_batch,
    merkle_tree_of,
)
from ._sharded import ShardedEvaluator
from ._solo import Block, BlockIntegrityError, SoloLedger, VerifyReport
from ._store import AnchorRecord, OperationOutcome, QueuedOperation, RegistryStore, WriterHealth
from ._verify import RegistryReport, verify_registry
from ._writer import BatchWriter

if TYPE_CHECKING:
    from .evm import AnchorRejectedError, EvmAnchorAdmin, EvmLedger

__all__ = [
    "MAX_BATCH_OPERATIONS",
    "Anchor",
    "AnchorRecord",
    "AnchorRejectedError",
    "AnchorRequest",
    "BatchResult",
    "BatchSource",
    "BatchUnavailableError",
    "BatchWriter",
    "Block",
    "BlockIntegrityError",
    "ContentIntegrityError",
    "ContentNotFoundError",
    "ContentStore",
    "ContentStoreError",
    "EvmAnchorAdmin",
    "EvmLedger",
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
    "ShardedEvaluator",
    "SoloLedger",
    "VerifiedEvidence",
    "VerifyReport",
    "WriterHealth",
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


# The evm backend pulls in web3, which takes over a second to import: it is loaded on first
# use of one of its names, so that the CLI, the wallet and solo nodes keep starting fast.
_LAZY_EVM = frozenset({"AnchorRejectedError", "EvmAnchorAdmin", "EvmLedger"})


def __getattr__(name: str) -> Any:
    if name in _LAZY_EVM:
        value = getattr(importlib.import_module(".evm", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
