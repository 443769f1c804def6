"""Operation intake: validate against the current index, then persist with group commit.

Validation runs the method's own rules (:func:`realdid.did.apply_operation`) as a dry run
against the DID's anchored state, so a submitter learns at once that an operation is a
replay, uses the wrong key or targets a deactivated DID. When operations for the DID are
already queued, the state they will produce is unknown, so only the signature is checked
and the observer decides. The observer is always the authority; intake is a courtesy.

Accepted operations are written by one thread that commits everything waiting in a single
SQLite transaction (group commit): one fsync acknowledges many submitters.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Sequence
from typing import Any

from realdid.clock import Clock
from realdid.did import (
    AnchorPoint,
    CreateOperation,
    DidError,
    DidNotFoundError,
    MalformedOperationError,
    ParsedOperation,
    apply_operation,
    verify_operation_signature,
)
from realdid.ledger import OperationOutcome, RegistryStore

from ._errors import NodeError


class IntakeRefusedError(NodeError):
    """An operation refused at intake; ``code`` selects the RFC 9457 problem type and
    ``index`` is the refused operation's position in its submission."""

    def __init__(self, code: str, detail: str, index: int = 0) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.index = index


def parse_submission(items: Sequence[Any], store: RegistryStore) -> list[ParsedOperation]:
    """Parse a submission's items, then check them against the index (queried once for the
    whole submission); :class:`IntakeRefusedError` for the first refusal in item order."""
    parsed_all: list[ParsedOperation] = []
    malformed: MalformedOperationError | None = None
    for item in items:
        try:
            parsed_all.append(ParsedOperation.from_value(item))
        except MalformedOperationError as e:
            malformed = e
            break
    precheck_all(parsed_all, store)
    if malformed is not None:
        raise IntakeRefusedError("malformed-operation", str(malformed), len(parsed_all))
    return parsed_all


def receipt(parsed: ParsedOperation) -> dict[str, str]:
    """What a submitter is told of an accepted (durable, not yet anchored) operation."""
    return {
        "operationHash": parsed.hash,
        "did": str(parsed.did),
        "status": "pending",
        "location": f"/1.0/operations/{parsed.hash}",
    }


def precheck_all(operations: Sequence[ParsedOperation], store: RegistryStore) -> None:
    """Check a whole submission in order; raise :class:`IntakeRefusedError` for the first
    operation that cannot succeed, with ``index`` set."""
    outcomes = store.outcomes([p.hash for p in operations])
    pending: set[str] = set()
    for index, parsed in enumerate(operations):
        try:
            precheck(parsed, store, pending, outcomes.get(parsed.hash))
        except IntakeRefusedError as e:
            raise IntakeRefusedError(e.code, e.detail, index) from e
        pending.add(parsed.did.suffix)


def precheck(
    parsed: ParsedOperation,
    store: RegistryStore,
    pending_suffixes: set[str],
    outcome: OperationOutcome | None,
) -> None:
    """Raise :class:`IntakeRefusedError` when ``parsed`` cannot succeed; ``pending_suffixes`` are
    DIDs with operations earlier in the same submission; ``outcome`` is the operation's own
    outcome if it was anchored before."""
    if outcome is not None:
        raise _already_processed(outcome)
    suffix = parsed.did.suffix
    operation = parsed.operation
    try:
        if isinstance(operation, CreateOperation):
            # A DID is the hash of its create, so an existing DID's create is this very
            # operation and was answered above as already processed.
            return
        if suffix in pending_suffixes or store.has_queued_for(suffix):
            verify_operation_signature(operation)
            return
        # Read the state only after the queue was seen empty for this DID: the observer
        # removes operations from the queue in the transaction that writes their state, so
        # this state includes every operation that was queued. Read the other way round, an
        # anchor committed in between leaves a stale state and a valid operation built on an
        # acknowledged one is refused as stale-previous.
        state = store.state(suffix)
        if state is None:
            raise DidNotFoundError("the DID does not exist (or its create is not anchored yet)")
        try:
            apply_operation(state, operation, parsed.hash, AnchorPoint(-1, -1, 0))
        except DidError:
            # The observer writes an operation's outcome and its DID's state in one
            # transaction, but they were read here in two: if this very operation was
            # applied in between, the state is newer than the outcome read first. Read the
            # outcome again, so a resend is "already processed", not "stale".
            late = store.outcomes([parsed.hash]).get(parsed.hash)
            if late is not None:
                raise _already_processed(late) from None
            raise
    except DidError as e:
        raise IntakeRefusedError(e.code, str(e)) from e


def _already_processed(outcome: OperationOutcome) -> IntakeRefusedError:
    verdict = "applied" if outcome.applied else f"rejected ({outcome.reason})"
    return IntakeRefusedError(
        "operation-already-processed",
        f"operation was anchored at sequence {outcome.sequence} and {verdict}",
    )


class GroupCommitter:
    """Persists submissions from many request handlers with one transaction per round."""

    def __init__(self, store: RegistryStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._queue: queue.Queue[
            tuple[Sequence[ParsedOperation], concurrent.futures.Future[None]] | None
        ] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="realdid-intake", daemon=True)
        self._thread.start()

    async def persist(self, operations: Sequence[ParsedOperation]) -> None:
        """Return once ``operations`` are durable in the queue."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put((operations, future))
        await asyncio.wrap_future(future)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            round_items = [item]
            while len(round_items) < 512:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                round_items.append(more)
            operations = [op for ops, _ in round_items for op in ops]
            try:
                self._store.enqueue(operations, self._clock.now())
            except Exception as e:
                for _, future in round_items:
                    future.set_exception(e)
                continue
            for _, future in round_items:
                future.set_result(None)
