"""End-to-end verification of a node's data directory (``realdid ledger verify``).

Re-checks, in order, and stops at the first inconsistency with a precise message:

1. the solo block log: heights, hash chain, header hashes, signatures (:meth:`SoloLedger.verify`);
2. every anchored batch file: present, its SHA-256 equals the anchored batch hash, it
   decodes, and its operation count and Merkle root equal the anchored ones;
3. the resolution index: re-derived from scratch by replaying every anchor through the
   same rules the observer uses, then compared DID by DID with the node's index.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from realdid.crypto import PublicKey

from ._batch import InvalidBatchError, decode_batch
from ._cas import FileContentStore
from ._interface import Anchor, Ledger, LedgerError, LedgerIntegrityError
from ._observer import evaluate_batch, merkle_tree_of
from ._solo import SoloLedger
from ._store import RegistryStore

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class RegistryReport:
    blocks: int
    operations: int
    dids: int


def verify_registry(
    data_dir: Path,
    database: str | None = None,
    *,
    expected_signer: PublicKey | None = None,
    ledger: Ledger | None = None,
) -> RegistryReport:
    """Verify ``data_dir`` (a node's ``--data-dir``) and, on PostgreSQL, its ``database``
    (a ``postgresql://`` URL); raise :class:`LedgerIntegrityError`.

    With the default solo ledger the block log is verified too, and every batch must match
    its anchor (the node wrote them all, so a mismatch is tampering). Without
    ``expected_signer`` the block log is checked against the key it is pinned to, which does
    not detect a whole ledger re-signed under another key; operators pass the key they
    published. With an ``ledger`` (an EVM chain, read fresh from the chain) anchors whose
    batch breaks the rules are legitimate — every node ignores them — so the replay applies
    the observer's rules and only the batch files and the index are checked.
    """
    node_path = data_dir / "node.db"
    if database is None and not node_path.is_file():
        raise LedgerIntegrityError(f"no registry node database at {node_path}")
    solo = ledger is None
    chain = (
        SoloLedger.open_readonly(database or data_dir / "ledger.db") if ledger is None else ledger
    )
    cas = FileContentStore(data_dir / "cas")
    stored = RegistryStore(database or node_path)
    applied_up_to = stored.cursor()  # a running node may not have applied the newest anchor yet
    try:
        blocks = chain.verify(expected_signer).block_count if isinstance(chain, SoloLedger) else 0
        operations = 0
        with tempfile.TemporaryDirectory(prefix="realdid-verify-") as scratch:
            rebuilt = RegistryStore(Path(scratch) / "rebuilt.db")
            try:
                sequence = -1
                while anchors := chain.anchors_after(sequence, _PAGE):
                    for anchor in anchors:
                        sequence = anchor.sequence
                        if not solo and anchor.sequence > applied_up_to:
                            continue  # not applied here yet: nothing local to check
                        data = _batch_file(cas, anchor)
                        if solo:
                            operations += _check_batch(anchor, data)
                        if anchor.sequence <= applied_up_to:
                            result = evaluate_batch(anchor, data, rebuilt)
                            rebuilt.commit_anchor_encoded(
                                result.record, result.outcomes, result.states
                            )
                            operations += 0 if solo else len(result.record.leaves)
                        blocks += 0 if solo else 1
                dids = _compare_index(stored, rebuilt)
            finally:
                rebuilt.close()
    finally:
        stored.close()
        if solo:
            chain.close()
    return RegistryReport(blocks, operations, dids)


def _where(anchor: Anchor) -> str:
    return f"anchor {anchor.sequence} (block {anchor.block_number})"


def _batch_file(cas: FileContentStore, anchor: Anchor) -> bytes:
    try:
        return cas.get(anchor.batch_hash)
    except LedgerError as e:
        raise LedgerIntegrityError(f"{_where(anchor)}: batch file {anchor.batch_hash}: {e}") from e


def _check_batch(anchor: Anchor, data: bytes) -> int:
    """The batch decodes and matches the anchored count and Merkle root; its size."""
    try:
        lines = decode_batch(data)
    except InvalidBatchError as e:
        raise LedgerIntegrityError(f"{_where(anchor)}: {e}") from e
    if len(lines) != anchor.operation_count:
        raise LedgerIntegrityError(
            f"{_where(anchor)}: batch holds {len(lines)} operations, anchor says {anchor.operation_count}"
        )
    root = merkle_tree_of([hashlib.sha256(line).digest() for line in lines]).root
    if root.hex() != anchor.merkle_root:
        raise LedgerIntegrityError(
            f"{_where(anchor)}: batch Merkle root does not match the anchored root"
        )
    return len(lines)


def _compare_index(stored: RegistryStore, rebuilt: RegistryStore) -> int:
    if stored.cursor() > rebuilt.cursor():
        raise LedgerIntegrityError(
            f"index claims anchor {stored.cursor()} but the ledger ends at {rebuilt.cursor()}"
        )
    count = 0
    stored_states = iter(stored.all_states())
    for expected in rebuilt.all_states():
        actual = next(stored_states, None)
        if actual is None or actual.suffix != expected.suffix:
            raise LedgerIntegrityError(f"index is missing did:realdid:{expected.suffix}")
        if actual != expected:
            raise LedgerIntegrityError(
                f"index entry for did:realdid:{expected.suffix} differs from the state derived from the ledger"
            )
        count += 1
    extra = next(stored_states, None)
    if extra is not None:
        raise LedgerIntegrityError(
            f"index holds did:realdid:{extra.suffix}, which the ledger never created"
        )
    return count
