"""The observer: follows the ledger's anchors in order and applies their batches.

For each anchor (ledger order) it loads the batch file from content-addressed storage,
checks the file against the anchored batch hash, operation count and Merkle root, and
applies each operation in file order with :func:`realdid.did.apply_operation`. Rules:

* an anchor whose batch breaks the rules (undecodable, count or root mismatch) is recorded
  as invalid and ignored — deterministically, so every node ignores the same anchors;
* an operation that does not parse or cannot apply is recorded as *rejected* with the
  rejection code, never applied;
* an operation whose hash already has an outcome (it was anchored before) is skipped, so a
  batch re-anchored after a crash never applies anything twice.

Each anchor is committed in one database transaction (see :class:`RegistryStore`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from realdid.did import AnchorPoint, DidError, DidState, ParsedOperation, apply_operation

from ._batch import InvalidBatchError, decode_batch
from ._cas import ContentStore
from ._interface import Anchor, Ledger, LedgerError
from ._merkle import MerkleTree
from ._state_codec import EncodedState, encoded_row
from ._store import AnchorRecord, OperationOutcome, RegistryStore

if TYPE_CHECKING:
    from ._sharded import ShardedEvaluator

log = logging.getLogger(__name__)
#: Operations one window of a sharded catch-up holds at most (its lines and states).
WINDOW_OPERATIONS = 50_000


class BatchSource(Protocol):
    """Where an observer looks for a batch file it does not hold (peers, in a consortium).

    ``fetch`` returns bytes whose SHA-256 is ``batch_hash`` — implementations check that
    before returning — or ``None`` when no source has a valid copy.
    """

    def fetch(self, batch_hash: str) -> bytes | None: ...


class BatchUnavailableError(LedgerError):
    """An anchored batch file is not available or does not match its hash: the observer
    stalls at that anchor rather than skip it."""

    code = "batch-unavailable"


class ParsedOperationCache:
    """Operations this node parsed at intake, kept so its observer need not parse them again.

    :class:`ParsedOperation` is a pure function of an operation's canonical bytes, so a hit
    (same digest *and* same bytes) gives exactly what parsing would; a miss parses. Bounded,
    oldest first out; parsing is ~75 % of the observer's per-operation cost.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[bytes, ParsedOperation] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, operations: Sequence[ParsedOperation]) -> None:
        with self._lock:
            for parsed in operations:
                self._items[bytes.fromhex(parsed.hash)] = parsed
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def parse(self, digest: bytes, canonical: bytes) -> ParsedOperation:
        with self._lock:
            hit = self._items.pop(digest, None)
        if hit is not None and hit.canonical == canonical:
            return hit
        return ParsedOperation.from_canonical(canonical)


def _parse(digest: bytes, canonical: bytes) -> ParsedOperation:
    return ParsedOperation.from_canonical(canonical)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one anchor changes: its record, one outcome per operation that had none, and
    the new state of each DID it changed as the index stores it."""

    record: AnchorRecord
    outcomes: tuple[OperationOutcome, ...]
    states: tuple[EncodedState, ...]


def merkle_tree_of(operation_hashes: Sequence[bytes]) -> MerkleTree:
    """The batch's Merkle tree: one leaf per operation, leaf data = 32-byte operation hash."""
    return MerkleTree.from_leaves(list(operation_hashes))


def evaluate_batch(
    anchor: Anchor,
    batch_file: bytes,
    store: RegistryStore,
    parse: Callable[[bytes, bytes], ParsedOperation] = _parse,
) -> BatchResult:
    """Decide the outcome of every operation of one anchored batch (reads ``store`` only)."""
    checked = checked_lines(anchor, batch_file)
    if isinstance(checked, BatchResult):
        return checked
    lines, hashes = checked
    already = store.processed(hashes)
    parsed: list[ParsedOperation | DidError] = []
    for digest, line in zip(hashes, lines, strict=True):
        try:
            parsed.append(parse(digest, line))
        except DidError as e:
            parsed.append(e)
    states = store.states(p.did.suffix for p in parsed if isinstance(p, ParsedOperation))
    changed: dict[str, DidState] = {}
    outcomes: list[OperationOutcome] = []
    seen: set[bytes] = set()
    for index, (digest, item) in enumerate(zip(hashes, parsed, strict=True)):
        if digest in already or digest in seen:
            continue  # anchored before: its first outcome stands
        seen.add(digest)
        op_hash = digest.hex()
        if isinstance(item, DidError):
            outcomes.append(OperationOutcome(op_hash, anchor.sequence, index, False, item.code))
            continue
        suffix = item.did.suffix
        try:
            new_state = apply_operation(
                states.get(suffix),
                item.operation,
                op_hash,
                AnchorPoint(anchor.sequence, index, anchor.timestamp),
            )
        except DidError as e:
            outcomes.append(OperationOutcome(op_hash, anchor.sequence, index, False, e.code))
            continue
        states[suffix] = changed[suffix] = new_state
        outcomes.append(OperationOutcome(op_hash, anchor.sequence, index, True))
    record = AnchorRecord(anchor, tuple(hashes), True, None)
    return BatchResult(record, tuple(outcomes), tuple(encoded_row(s) for s in changed.values()))


def checked_lines(
    anchor: Anchor, batch_file: bytes
) -> tuple[list[bytes], list[bytes]] | BatchResult:
    """The batch's lines and their SHA-256 digests, or the result of an invalid anchor
    when the file does not decode or its count or Merkle root differs from the anchor's."""
    try:
        lines = decode_batch(batch_file)
    except InvalidBatchError as e:
        return _invalid(anchor, f"undecodable batch file: {e}")
    if len(lines) != anchor.operation_count:
        return _invalid(
            anchor, f"batch holds {len(lines)} operations, anchor says {anchor.operation_count}"
        )
    hashes = [hashlib.sha256(line).digest() for line in lines]
    if merkle_tree_of(hashes).root.hex() != anchor.merkle_root:
        return _invalid(anchor, "Merkle root of the batch does not match the anchor")
    return lines, hashes


def _invalid(anchor: Anchor, reason: str) -> BatchResult:
    log.warning("ignoring anchor %d: %s", anchor.sequence, reason)
    return BatchResult(AnchorRecord(anchor, (), False, reason), (), ())


class Observer:
    """Applies anchors after the store's cursor, one committed transaction per anchor.

    With ``sharded`` (a :class:`~realdid.ledger.ShardedEvaluator`), a backlog of at least
    its ``min_operations`` is evaluated on its worker processes, window by window, with the
    same result; :meth:`close` stops them.
    """

    def __init__(
        self,
        store: RegistryStore,
        cas: ContentStore,
        ledger: Ledger,
        cache: ParsedOperationCache | None = None,
        on_batch: Callable[[BatchResult], None] | None = None,
        source: BatchSource | None = None,
        sharded: ShardedEvaluator | None = None,
    ) -> None:
        self._store = store
        self._source = source
        self._on_batch = on_batch
        self._cas = cas
        self._ledger = ledger
        self._parse = _parse if cache is None else cache.parse
        self._sharded = sharded

    def close(self) -> None:
        if self._sharded is not None:
            self._sharded.close()

    def catch_up(self, max_anchors: int = 1000) -> int:
        """Process pending anchors; return how many. Raises :class:`BatchUnavailableError`
        (the node stalls at that anchor) when a batch file is missing or corrupt."""
        cursor = self._store.cursor()
        anchors = self._ledger.anchors_after(cursor, max_anchors)
        for position, anchor in enumerate(anchors):
            if anchor.sequence != cursor + 1 + position:
                gap = BatchUnavailableError(
                    f"ledger skipped from anchor {cursor + position} to {anchor.sequence};"
                    " refusing to continue"
                )
                return self._apply(anchors[:position], gap)
        return self._apply(anchors, None)

    def _apply(self, anchors: Sequence[Anchor], then: BatchUnavailableError | None) -> int:
        """Apply ``anchors`` (consecutive after the cursor), then raise ``then`` if given."""
        sharded = self._sharded
        backlog = sum(anchor.operation_count for anchor in anchors)
        if sharded is None or backlog < sharded.min_operations:
            if sharded is not None:
                sharded.close()  # caught up: the workers' memory goes back
            for anchor in anchors:
                self._commit(evaluate_batch(anchor, self._fetch(anchor), self._store, self._parse))
        else:
            self._apply_sharded(sharded, anchors)
        if then is not None:
            raise then
        return len(anchors)

    def _apply_sharded(self, sharded: ShardedEvaluator, anchors: Sequence[Anchor]) -> None:
        done = 0
        while done < len(anchors):
            window: list[tuple[Anchor, bytes]] = []
            operations = 0
            stalled: BatchUnavailableError | None = None
            for anchor in anchors[done:]:
                if window and operations + anchor.operation_count > WINDOW_OPERATIONS:
                    break
                try:
                    window.append((anchor, self._fetch(anchor)))
                except BatchUnavailableError as e:
                    stalled = e
                    break
                operations += anchor.operation_count
            if not window:
                assert stalled is not None
                raise stalled
            results = sharded.evaluate(window, self._store)
            for result in results:
                self._commit(result)
            done += len(results)
            if stalled is not None and len(results) == len(window):
                raise stalled

    def _commit(self, result: BatchResult) -> None:
        self._store.commit_anchor_encoded(result.record, result.outcomes, result.states)
        if self._on_batch is not None:
            self._on_batch(result)

    def _fetch(self, anchor: Anchor) -> bytes:
        """The anchor's batch file from local storage, else from the batch source (stored
        locally once its hash checks); the observer stalls here if neither has it."""
        try:
            data = self._cas.get(anchor.batch_hash)
        except LedgerError as e:
            problem = e.code
        else:
            if hashlib.sha256(data).hexdigest() == anchor.batch_hash:
                return data
            problem = "content-integrity"
        fetched = None if self._source is None else self._source.fetch(anchor.batch_hash)
        if fetched is None or hashlib.sha256(fetched).hexdigest() != anchor.batch_hash:
            where = "locally" if self._source is None else "locally or from any peer"
            raise BatchUnavailableError(
                f"anchor {anchor.sequence}: no valid copy of batch file {anchor.batch_hash} "
                f"{where} ({problem}); stalled here rather than skip it"
            )
        self._cas.put(fetched)
        return fetched
