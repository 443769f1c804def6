"""A registry node: intake, the anchoring loop, the observer and the resolver, composed.

The HTTP layer (:mod:`._app`) is a thin skin over :class:`RegistryNode`.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realdid.clock import Clock, SystemClock, SystemTimer, Timer
from realdid.crypto import KeyType, LocalSigner, Signer
from realdid.did import Did, DidState, ParsedOperation, resolution_result
from realdid.ledger import (
    Anchor,
    BatchResult,
    BatchWriter,
    FileContentStore,
    Ledger,
    LedgerError,
    MerkleTree,
    Observer,
    ParsedOperationCache,
    RegistryStore,
    ShardedEvaluator,
    SoloLedger,
    WriterHealth,
    merkle_tree_of,
)
from realdid.storage import (
    DatabaseUnavailableError,
    Lease,
    StorageError,
    StoreLocation,
    is_postgres_url,
    lease_for,
    write_private_file,
)

from ._errors import NodeError
from ._metrics import NodeMetrics
from ._peers import PeerBatchSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    data_dir: Path
    batch_interval: float = 0.5
    max_batch_operations: int = 10_000
    max_request_bytes: int = 4 * 1024 * 1024
    max_operations_per_request: int = 1_000
    peers: tuple[str, ...] = ()  # base URLs of consortium nodes to fetch batch files from
    claim_timeout: float = 120.0  # re-anchor operations whose anchor is not applied by then
    accepts_operations: bool = True  # False: a follower that only observes and resolves
    #: A ``postgresql://`` URL for the node's stores; ``None``: SQLite files in data_dir.
    database: str | None = None
    #: A resolver replica: it serves resolution, status and the explorer from the store its
    #: writer keeps, and writes nothing (no intake, no anchoring, no observing).
    read_only: bool = False
    #: Worker processes that apply a large ledger backlog (a fresh node's rebuild), sharded
    #: by DID; ``None``: one per core; 1: this process alone.
    rebuild_processes: int | None = None


@dataclass(slots=True)
class Health:
    """Why the anchoring loop is stuck (``None``: it is not), and since when on the node's
    clock (shown on ``/healthz``)."""

    error: str | None
    since: int


class NodeSetupError(NodeError):
    """The data directory cannot be used as it is; the message says what to do."""

    code = "node-setup"


def load_or_create_key(path: Path, ledger: StoreLocation) -> LocalSigner:
    """The solo ledger's block-signing key: 32 random bytes in a 0600 file.

    A new key is made only for a new ledger: a ledger whose key is missing is pinned to
    that key, so inventing another would only fail later and leave a wrong key behind.
    """
    if path.exists():
        return LocalSigner(KeyType.ED25519, path.read_bytes())
    if _solo_ledger_exists(ledger):
        raise NodeSetupError(
            f"the solo ledger exists but its signing key {path} is missing; restore the key"
            " from backup"
        )
    signer = LocalSigner.generate()
    # exclusive: a key that appeared meanwhile (a second node on this directory) is never
    # replaced; its owner may already have signed blocks with it.
    write_private_file(path, signer.secret_bytes(), exclusive=True)
    return signer


def _solo_ledger_exists(ledger: StoreLocation) -> bool:
    """Whether the solo ledger at ``ledger`` (a file or a PostgreSQL URL) has been created."""
    if not is_postgres_url(ledger):
        return Path(ledger).exists()
    try:
        with SoloLedger.open_readonly(ledger):
            return True
    except LedgerError:  # no solo schema there yet (or not migrated): a new ledger
        return False


#: The writer reports its health to the shared store when it changes and at least this
#: often (seconds); a report older than WRITER_SILENT_AFTER means no process is writing.
HEALTH_REPORT_INTERVAL = 5
WRITER_SILENT_AFTER = 30
#: Longest wait (seconds) of a standby process between attempts to take the writer lease:
#: a dead writer is replaced within about this long.
STANDBY_POLL = 1.0


class RegistryNode:
    def __init__(
        self,
        config: NodeConfig,
        *,
        ledger: Ledger | None = None,
        clock: Clock | None = None,
        ledger_signer: Signer | None = None,
        timer: Timer | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        #: Measures request latencies for the metrics (a ``FakeTimer`` in tests).
        self.timer = timer or SystemTimer()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        where = config.database or config.data_dir / "node.db"
        self.store = RegistryStore(where, read_only=config.read_only)
        #: Which of the node's processes cuts batches, anchors and observes (the others
        #: serve HTTP from the shared store): see :meth:`_loop`.
        self.lease = lease or lease_for(where, "node_writer")
        self.cas = FileContentStore(config.data_dir / "cas")
        if ledger is None and config.read_only:
            ledger = SoloLedger.open_readonly(config.database or config.data_dir / "ledger.db")
        if ledger is None:
            blocks = config.database or config.data_dir / "ledger.db"
            signer = ledger_signer or load_or_create_key(
                config.data_dir / "solo-ledger.key", blocks
            )
            ledger = SoloLedger(blocks, signer, self.clock)
        self.ledger = ledger
        self.metrics = NodeMetrics()
        self.health = Health(None, self.clock.now())
        self.writer = BatchWriter(
            self.store,
            self.cas,
            ledger,
            max_operations=config.max_batch_operations,
            claim_timeout=config.claim_timeout,
        )
        self.parsed = ParsedOperationCache(capacity=2 * config.max_batch_operations)
        self.peers = PeerBatchSource(config.peers, self.metrics) if config.peers else None
        processes = config.rebuild_processes or os.cpu_count() or 1
        self.observer = Observer(
            self.store,
            self.cas,
            ledger,
            self.parsed,
            self._count_outcomes,
            self.peers,
            ShardedEvaluator(processes) if processes > 1 else None,
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._standby_poll = min(STANDBY_POLL, config.batch_interval * 4)
        self._reported: tuple[str | None, int, dict[str, str]] | None = None
        self._reported_at = 0
        self._queued = 0
        # Anchors and their Merkle trees never change once processed: cache them.
        self._trees: functools._lru_cache_wrapper[MerkleTree] = functools.lru_cache(maxsize=256)(
            self._tree
        )
        self._anchors: functools._lru_cache_wrapper[Anchor] = functools.lru_cache(maxsize=65536)(
            self._anchor
        )

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def is_writer(self) -> bool:
        """Whether this process holds the writer lease (cuts, anchors and observes)."""
        return self.lease.held

    @property
    def role(self) -> str:
        """``writer``, ``standby`` (may take over) or ``replica`` (never writes)."""
        if self.config.read_only:
            return "replica"
        return "writer" if self.is_writer else "standby"

    def start(self) -> None:
        """Become the writer if no other process is, then start the anchoring loop.

        The writer catches up with the ledger before serving. A node that cannot catch up
        (a batch file missing, the ledger unreachable) still starts — degraded, saying why
        on /healthz — and keeps retrying in the loop.
        """
        if self.config.read_only:
            log.info("read-only replica: resolution from the shared store, no writes")
            return
        if self.lease.try_acquire():
            self._take_over()
        self._thread = threading.Thread(target=self._loop, name="realdid-anchoring", daemon=True)
        self._thread.start()

    def _take_over(self) -> None:
        """Start writing: apply what the ledger has, then forget claims held by nobody.

        Operations a dead writer claimed and anchored are applied by the observer first;
        those it claimed and did not anchor are cut again (and one anchored twice is
        applied once: the observer skips operations that already have an outcome).
        """
        log.info("process %d is the node's writer (cuts batches, anchors, observes)", os.getpid())
        try:
            self._step_observer()
        except LedgerError as e:
            self._set_error(f"{e.code}: {e}")
        self.writer.reset_claims()
        self._reported = None  # report at once: the store still holds the dead writer's
        self._report_health()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.observer.close()
        self.lease.release()
        self.ledger.close()
        self.store.close()
        if self.peers is not None:
            self.peers.close()

    def notify_queued(self, count: int) -> None:
        """Intake tells the loop about new operations; a full batch cuts at once."""
        self._queued += count  # approximate by design; re-read from the store after each anchor
        self.metrics.queue_length.set(self._queued)
        if self._queued >= self.config.max_batch_operations:
            self._wake.set()

    def _loop(self) -> None:
        """Cut, anchor and observe while this process holds the writer lease; otherwise
        ask for it every :data:`STANDBY_POLL` seconds at most, to take over from a writer
        that died."""
        backoff = self.config.batch_interval
        while not self._stop.is_set():
            self._wake.wait(timeout=backoff if self.lease.held else self._standby_poll)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                # A standby's polls read the database too: an outage there must not end
                # the thread, or this process would never take over from a dead writer.
                if not self.lease.held:
                    if not self.lease.try_acquire():
                        self._follow_writer()
                        continue
                    self._take_over()
                elif not self.lease.try_acquire():
                    log.warning("this process lost the writer lease; another one writes now")
                    continue
                while self.config.accepts_operations and self.writer.cut() is not None:
                    self.metrics.anchors_written.inc()
                    self._step_observer()
                self._step_observer()
            except DatabaseUnavailableError as e:  # a restart or failover: retry, one line
                log.warning("anchoring loop waiting for the database: %s", e)
                self._set_error(f"storage-unavailable: {e}")
                backoff = min(backoff * 2, 10.0)
                continue
            except LedgerError as e:
                self._set_error(f"{e.code}: {e}")
                backoff = min(backoff * 2, 10.0)
                self._report_health()
                continue
            except Exception:  # the loop must survive anything; operators see it in health
                log.exception("anchoring loop failed")
                self._set_error("internal error in the anchoring loop (see node log)")
                backoff = min(backoff * 2, 10.0)
                self._report_health()
                continue
            self._clear_error()
            backoff = self.config.batch_interval
            self._report_health()

    # -- health across processes --------------------------------------------------------------
    def health_report(self) -> tuple[Health, dict[str, str]]:
        """The node's health and bad peers for ``/healthz``: this process's own if it is
        the writer (or no writer has reported yet); otherwise what the writer reported,
        or "no writer" when its last report is older than :data:`WRITER_SILENT_AFTER`."""
        own = (self.health, dict(self.peers.bad_peers) if self.peers is not None else {})
        if self.is_writer:
            return own
        shared = self.store.writer_health()
        if shared is None:
            return own
        silent = self.clock.now() - shared.reported_at
        if silent > WRITER_SILENT_AFTER:
            message = f"no-writer: the writer (pid {shared.pid}) last reported {silent} s ago"
            return Health(message, shared.reported_at), shared.bad_peers
        return Health(shared.error, shared.since), shared.bad_peers

    def _report_health(self) -> None:
        """As the writer: put this process's health in the shared store (on a change, and
        every :data:`HEALTH_REPORT_INTERVAL` seconds as a heartbeat)."""
        bad = dict(self.peers.bad_peers) if self.peers is not None else {}
        current = (self.health.error, self.health.since, bad)
        now = self.clock.now()
        if current == self._reported and now - self._reported_at < HEALTH_REPORT_INTERVAL:
            return
        try:
            self.store.report_health(WriterHealth(os.getpid(), *current, reported_at=now))
        except StorageError as e:  # health is advisory: never stop the loop for it
            log.warning("could not report the writer's health: %s", e)
            return
        self._reported, self._reported_at = current, now

    def _follow_writer(self) -> None:
        """As a standby: mirror the writer's position and state in this process's metrics."""
        self.metrics.anchor_sequence.set(self.store.cursor())
        health, _ = self.health_report()
        self.metrics.stalled.set(0 if health.error is None else 1)

    def _step_observer(self) -> None:
        before = self.store.cursor()
        try:
            while self.observer.catch_up() > 0:
                pass
        finally:  # also when catch_up stalls part-way: the anchors before the stall count
            after = self.store.cursor()
            self.metrics.anchor_sequence.set(after)
            if after != before:
                self._queued = self.store.queue_length()
                self.metrics.anchors_processed.inc(after - before)
                self.metrics.queue_length.set(self._queued)

    def _count_outcomes(self, result: BatchResult) -> None:
        if not result.record.valid:
            log.warning(
                "anchor %d ignored: %s", result.record.anchor.sequence, result.record.reason
            )
        applied = sum(1 for o in result.outcomes if o.applied)
        self.metrics.operations_applied.inc(applied)
        for outcome in result.outcomes:
            if not outcome.applied:
                self.metrics.operations_rejected.labels(outcome.reason or "unknown").inc()

    def _set_error(self, message: str) -> None:
        if self.health.error != message:
            log.error("node degraded: %s", message)
            self.health = Health(message, self.clock.now())
        self.metrics.stalled.set(1)

    def _clear_error(self) -> None:
        if self.health.error is not None:
            log.info("node recovered")
            self.health = Health(None, self.clock.now())
        self.metrics.stalled.set(0)

    # -- resolution -------------------------------------------------------------------------------
    def _tree(self, sequence: int) -> MerkleTree:
        record = self.store.anchor_record(sequence)
        if record is None:
            raise LookupError(sequence)
        return merkle_tree_of(record.leaves)

    def _anchor(self, sequence: int) -> Anchor:
        anchor = self.store.anchor(sequence)
        if anchor is None:  # the index and anchors are written in one transaction
            raise LookupError(f"anchor {sequence} missing from the index")
        return anchor

    def evidence(self, sequence: int, leaf_index: int) -> dict[str, Any]:
        """Anchoring evidence of one anchored operation: anchor + Merkle inclusion proof."""
        tree = self._trees(sequence)
        return {
            "anchor": {"ledger": self.ledger.name, **self._anchors(sequence).to_dict()},
            "inclusionProof": {
                "leafIndex": leaf_index,
                "treeSize": tree.size,
                "auditPath": [h.hex() for h in tree.inclusion_proof(leaf_index)],
            },
        }

    def accepted(self, operations: Sequence[ParsedOperation]) -> None:
        """Intake made ``operations`` durable in the queue: count them, keep them parsed for
        the writer (if it is this process) and tell the anchoring loop."""
        self.parsed.remember(operations)
        for parsed in operations:
            self.metrics.operations_accepted.labels(parsed.operation.type).inc()
        self.notify_queued(len(operations))

    def operation_status(self, operation_hash: str) -> dict[str, Any] | None:
        """Where an operation is: ``pending``, ``anchored`` (with evidence) or ``rejected``
        (with the reason and the anchor); None if this node never saw it."""
        outcome = self.store.outcome(operation_hash)
        if outcome is None:
            if self.store.is_queued(operation_hash):
                return {"operationHash": operation_hash, "status": "pending"}
            # The observer moves an operation from the queue to its outcome in one
            # transaction; one committed between the two reads above shows up on a re-read.
            outcome = self.store.outcome(operation_hash)
        if outcome is None:
            return None
        if not outcome.applied:
            return {
                "operationHash": operation_hash,
                "status": "rejected",
                "reason": outcome.reason,
                "anchor": {"ledger": self.ledger.name, **self._anchors(outcome.sequence).to_dict()},
            }
        return {
            "operationHash": operation_hash,
            "status": "anchored",
            **self.evidence(outcome.sequence, outcome.leaf),
        }

    def resolve(self, did: Did) -> tuple[DidState, dict[str, Any]] | None:
        state = self.store.state(did.suffix)
        if state is None:
            return None
        evidence = self.evidence(state.updated.sequence, state.updated.leaf_index)
        return state, resolution_result(did, state, evidence)
