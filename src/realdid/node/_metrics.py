"""Prometheus metrics of one node (a registry per node, so tests can run several).

Gauges say how they add up over worker processes (``multiprocess_mode``, used only when
the workers share their metrics): the largest value among the living workers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.operations_accepted = Counter(
            "realdid_operations_accepted_total",
            "Operations accepted (durable) by intake",
            ["type"],
            registry=self.registry,
        )
        self.operations_refused = Counter(
            "realdid_operations_refused_total",
            "Operations refused at intake",
            ["reason"],
            registry=self.registry,
        )
        self.operations_applied = Counter(
            "realdid_operations_applied_total",
            "Anchored operations applied to the index",
            registry=self.registry,
        )
        self.operations_rejected = Counter(
            "realdid_operations_rejected_total",
            "Anchored operations rejected by the rules",
            ["reason"],
            registry=self.registry,
        )
        self.anchors_written = Counter(
            "realdid_anchors_written_total", "Batches this node anchored", registry=self.registry
        )
        self.anchors_processed = Counter(
            "realdid_anchors_processed_total",
            "Anchors applied by the observer",
            registry=self.registry,
        )
        self.anchor_sequence = Gauge(
            "realdid_observer_anchor_sequence",
            "Sequence of the last processed anchor",
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "realdid_queue_length",
            "Operations waiting to be anchored",
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self.stalled = Gauge(
            "realdid_observer_stalled",
            "1 when the observer or anchoring is stuck (see /healthz)",
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self.peer_fetches = Counter(
            "realdid_peer_batch_fetches_total",
            "Batch files requested from peers, by outcome (ok, bad-hash, unreachable, too-large, http-NNN)",
            ["peer", "outcome"],
            registry=self.registry,
        )
        self.resolutions = Histogram(
            "realdid_resolution_seconds",
            "Time to resolve a DID",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=self.registry,
        )
