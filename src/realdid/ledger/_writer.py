"""The batch writer: cuts queued operations into a batch, stores it, anchors it.

Order of effects, and why each crash point is safe:

1. the batch file is written to content-addressed storage (idempotent: same bytes, same
   address; an orphan file left by a crash is harmless);
2. ``(batch hash, Merkle root, count)`` is anchored on the ledger;
3. the observer later applies the anchor and, in the same transaction, removes the
   operations from the queue.

A crash between 2 and 3 leaves operations queued that are already anchored; on restart the
observer catches up first and removes them. If they are anchored a second time anyway
(e.g. an EVM transaction confirmed after the restart), the observer skips operations whose
hash already has an outcome, so nothing is applied twice and nothing queued is lost.
"""

from __future__ import annotations

import logging

from ._batch import encode_batch
from ._cas import ContentStore
from ._interface import Anchor, AnchorRequest, Ledger
from ._observer import merkle_tree_of
from ._store import RegistryStore

log = logging.getLogger(__name__)


class BatchWriter:
    def __init__(
        self, store: RegistryStore, cas: ContentStore, ledger: Ledger, *, max_operations: int
    ) -> None:
        self._store = store
        self._cas = cas
        self._ledger = ledger
        self._max_operations = max_operations
        self._claimed_seq = 0  # queue rows up to here are in an anchor already sent

    def reset_claims(self) -> None:
        """Forget in-flight claims (after the observer has caught up at start-up)."""
        self._claimed_seq = 0

    def cut(self) -> Anchor | None:
        """Anchor the next batch of queued operations; ``None`` when the queue is empty.

        Raises :class:`~realdid.ledger.LedgerUnavailableError` when anchoring fails; the
        operations stay queued and the next call retries them.
        """
        queued = self._store.queued_after(self._claimed_seq, self._max_operations)
        if not queued:
            return None
        batch_file = encode_batch([q.body for q in queued])
        batch_hash = self._cas.put(batch_file)
        root = merkle_tree_of([bytes.fromhex(q.hash) for q in queued]).root
        anchor = self._ledger.anchor(AnchorRequest(batch_hash, root.hex(), len(queued)))
        self._claimed_seq = queued[-1].seq
        log.info(
            "anchored batch %s: %d operations at sequence %d",
            batch_hash[:12],
            len(queued),
            anchor.sequence,
        )
        return anchor
