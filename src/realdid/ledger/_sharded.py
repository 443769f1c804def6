"""Catching up a long ledger on every core: the observer's rules, sharded by DID.

A fresh node (or a new consortium member) applies every anchor before it serves, and one
thread doing that re-parses every operation (~80 % of the time). An operation's outcome
depends only on the operations before it *of the same DID* and on whether its hash already
has an outcome, so the work splits by DID: this process checks each batch file against its
anchor and drops operations that already have an outcome (the ones before in the window
included, first occurrence wins, as one-by-one application would), then each worker
process takes the DIDs whose suffix hashes to it (:func:`shard_of`), parses and applies
their operations of the window in ledger order, and returns outcomes and encoded states.
The results are merged by anchor and leaf and each anchor is still committed on its own, in
order (:meth:`Observer.catch_up`), so a kill mid-window loses nothing and the index is the
same, row for row, as applying the anchors one by one (tests compare both).

Python runs one thread per core only in separate processes, so the workers are processes
(``spawn``: the node has threads, which ``fork`` must not copy). Only a large backlog pays
their start (~1 s): :attr:`ShardedEvaluator.min_operations`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import zlib
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool

from realdid.did import (
    AnchorPoint,
    DidError,
    DidState,
    ParsedOperation,
    apply_operation,
    operation_suffix,
)

from ._interface import Anchor, LedgerIntegrityError
from ._observer import BatchResult, checked_lines, evaluate_batch
from ._state_codec import EncodedState, decode_state, encoded_row
from ._store import AnchorRecord, OperationOutcome, RegistryStore

log = logging.getLogger(__name__)

#: The smallest backlog (operations) worth starting worker processes for.
MIN_OPERATIONS = 20_000

# What a worker is sent for one operation: the anchor's position in the window, the leaf
# index, the operation's digest, its batch line and the suffix this process read from it.
_Item = tuple[int, int, bytes, bytes, str]
# What it returns: (position, leaf, applied, rejection code) and (position, index row).
_Outcome = tuple[int, int, bool, str | None]
_Row = tuple[int, EncodedState]


def shard_of(suffix: str | None, shards: int) -> int:
    """The worker of the DID ``suffix``; lines naming no DID (they are refused by parsing
    alone, whatever came before) go to the first."""
    return 0 if suffix is None else zlib.crc32(suffix.encode()) % shards


def evaluate_shard(
    points: Sequence[tuple[int, int]], items: Sequence[_Item], states: dict[str, bytes]
) -> tuple[list[_Outcome], list[_Row]]:
    """Apply one shard's operations of a window, in order (runs in a worker process).

    ``points[position]`` is each anchor's (sequence, timestamp); ``states`` the encoded
    state of each DID of the shard before the window. Returns each operation's outcome and,
    per anchor, the new index row of each DID it changed.
    """
    current: dict[str, DidState] = {s: decode_state(s, data) for s, data in states.items()}
    outcomes: list[_Outcome] = []
    changed: dict[tuple[int, str], DidState] = {}
    for position, leaf, digest, line, suffix in items:
        try:
            parsed = ParsedOperation.from_canonical(line)
        except DidError as e:
            outcomes.append((position, leaf, False, e.code))
            continue
        if parsed.did.suffix != suffix:  # operation_suffix disagrees with the parser: a bug
            raise LedgerIntegrityError(
                f"operation {digest.hex()} is about {parsed.did.suffix}, sharded as {suffix}"
            )
        sequence, timestamp = points[position]
        try:
            state = apply_operation(
                current.get(suffix),
                parsed.operation,
                digest.hex(),
                AnchorPoint(sequence, leaf, timestamp),
            )
        except DidError as e:
            outcomes.append((position, leaf, False, e.code))
            continue
        current[suffix] = changed[position, suffix] = state
        outcomes.append((position, leaf, True, None))
    return outcomes, [(position, encoded_row(state)) for (position, _), state in changed.items()]


class ShardedEvaluator:
    """:func:`evaluate_batch` of many anchors at once, on ``processes`` worker processes
    (started on first use; :meth:`close` stops them)."""

    def __init__(self, processes: int, *, min_operations: int = MIN_OPERATIONS) -> None:
        if processes < 2:
            raise ValueError("sharding needs at least two processes")
        self.processes = processes
        self.min_operations = min_operations
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def evaluate(
        self, window: Sequence[tuple[Anchor, bytes]], store: RegistryStore
    ) -> list[BatchResult]:
        """The result of each anchor of ``window`` (consecutive, with their batch files) as
        applying them one by one after ``store``'s cursor would give; reads ``store`` only."""
        try:
            return self._evaluate(window, store)
        except BrokenProcessPool:  # a worker died (killed, out of memory): go on without
            log.warning("a rebuild worker process died; applying this window in one process")
            self._pool = None
            return _one_by_one(window, store)

    def _evaluate(
        self, window: Sequence[tuple[Anchor, bytes]], store: RegistryStore
    ) -> list[BatchResult]:
        checked = [checked_lines(anchor, data) for anchor, data in window]
        valid = {p: c for p, c in enumerate(checked) if not isinstance(c, BatchResult)}
        seen = store.processed(digest for _, hashes in valid.values() for digest in hashes)
        shards: list[list[_Item]] = [[] for _ in range(self.processes)]
        for position, (lines, hashes) in valid.items():
            for leaf, (line, digest) in enumerate(zip(lines, hashes, strict=True)):
                if digest in seen:
                    continue  # anchored before, or earlier in the window: that outcome stands
                seen.add(digest)
                suffix = operation_suffix(line, digest) or ""
                shards[shard_of(suffix, self.processes)].append(
                    (position, leaf, digest, line, suffix)
                )
        states = store.encoded_states(item[4] for shard in shards for item in shard if item[4])
        points = [(anchor.sequence, anchor.timestamp) for anchor, _ in window]
        pool = self._pool or self._start()
        futures = [
            pool.submit(evaluate_shard, points, shard, _states_of(shard, states))
            for shard in shards
        ]
        outcomes: dict[int, list[OperationOutcome]] = {p: [] for p in valid}
        rows: dict[int, list[EncodedState]] = {p: [] for p in valid}
        for future in futures:
            done, changed = future.result()
            for position, leaf, applied, reason in done:
                digest, sequence = valid[position][1][leaf], window[position][0].sequence
                outcomes[position].append(
                    OperationOutcome(digest.hex(), sequence, leaf, applied, reason)
                )
            for position, row in changed:
                rows[position].append(row)
        results: list[BatchResult] = []
        for position, (anchor, _) in enumerate(window):
            result = checked[position]
            if not isinstance(result, BatchResult):
                result = _merged(anchor, result[1], outcomes[position], rows[position])
            results.append(result)
        return results

    def _start(self) -> concurrent.futures.ProcessPoolExecutor:
        log.info("applying the ledger backlog on %d worker processes", self.processes)
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self.processes, mp_context=multiprocessing.get_context("spawn")
        )
        return self._pool


def _states_of(shard: Sequence[_Item], states: dict[str, bytes]) -> dict[str, bytes]:
    return {item[4]: states[item[4]] for item in shard if item[4] in states}


def _merged(
    anchor: Anchor,
    hashes: list[bytes],
    outcomes: list[OperationOutcome],
    rows: list[EncodedState],
) -> BatchResult:
    """One anchor's result from its shards' parts: outcomes in leaf order, rows by key."""
    record = AnchorRecord(anchor, tuple(hashes), True, None)
    outcomes.sort(key=lambda outcome: outcome.leaf)
    return BatchResult(record, tuple(outcomes), tuple(sorted(rows)))


def _one_by_one(window: Sequence[tuple[Anchor, bytes]], store: RegistryStore) -> list[BatchResult]:
    """The window's first anchor without workers: the next must see it committed, so the
    observer commits it and comes back for the rest (:meth:`Observer.catch_up`)."""
    return [evaluate_batch(*window[0], store)]
