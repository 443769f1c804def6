"""The batch writer: cuts queued operations into a batch, stores it, anchors it.

Order of effects, and why each crash point is safe:

1. the batch file is written to content-addressed storage (idempotent: same bytes, same
   address; an orphan file left by a crash is harmless);
2. ``(batch hash, Merkle root, count)`` is anchored on the ledger;
3. the observer later applies the anchor and, in the same transaction, removes the
   operations from the queue.

A crash between 2 and 3 leaves operations queued that are already anchored; on restart the
observer catches up first and removes them. On a chain with finality delay an anchor can
also vanish in a reorganisation before it is confirmed: operations claimed by an anchor
that the observer has not applied within ``claim_timeout`` seconds are anchored again. If they are anchored a second time anyway
(e.g. an EVM transaction confirmed after the restart), the observer skips operations whose
hash already has an outcome, so nothing is applied twice and nothing queued is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ._batch import encode_batch
from ._cas import ContentStore
from ._interface import Anchor, AnchorRequest, Ledger
from ._observer import merkle_tree_of
from ._store import RegistryStore

log = logging.getLogger(__name__)


class BatchWriter:
    def __init__(
        self,
        store: RegistryStore,
        cas: ContentStore,
        ledger: Ledger,
        *,
        max_operations: int,
        claim_timeout: float = 120.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cas = cas
        self._ledger = ledger
        self._max_operations = max_operations
        self._claim_timeout = claim_timeout
        self._monotonic = monotonic
        self._claimed_seq = 0  # queue rows up to here are in an anchor already sent
        self._claimed_at = 0.0

    def reset_claims(self) -> None:
        """Forget in-flight claims (after the observer has caught up at start-up)."""
        self._claimed_seq = 0

    def cut(self) -> Anchor | None:
        """Anchor the next batch of queued operations; ``None`` when the queue is empty.

        Raises :class:`~realdid.ledger.LedgerUnavailableError` when anchoring fails; the
        operations stay queued and the next call retries them.
        """
        if self._claimed_seq and self._monotonic() - self._claimed_at > self._claim_timeout:
            oldest = self._store.queued_after(0, 1)
            if oldest and oldest[0].seq <= self._claimed_seq:
                log.warning(
                    "operations anchored %.0f s ago are still not applied; anchoring them again",
                    self._monotonic() - self._claimed_at,
                )
                self._claimed_seq = 0
        queued = self._store.queued_after(self._claimed_seq, self._max_operations)
        if not queued:
            return None
        batch_file = encode_batch([q.body for q in queued])
        batch_hash = self._cas.put(batch_file)
        root = merkle_tree_of([bytes.fromhex(q.hash) for q in queued]).root
        anchor = self._ledger.anchor(AnchorRequest(batch_hash, root.hex(), len(queued)))
        self._claimed_seq = queued[-1].seq
        self._claimed_at = self._monotonic()
        log.info(
            "anchored batch %s: %d operations at sequence %d",
            batch_hash[:12],
            len(queued),
            anchor.sequence,
        )
        return anchor
