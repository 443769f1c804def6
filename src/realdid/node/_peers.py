"""Fetching batch files from peer registry nodes (``GET /cas/{hash}``).

In a consortium each node stores the batch files it anchored; the others fetch them when
their observer reaches the anchor. A peer's answer is used only if its SHA-256 equals the
anchored batch hash; a peer that serves different bytes is reported (log line, metric,
``/healthz``) and the next peer is tried.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import httpx

from realdid.http import ResponseTooLargeError, download

from ._metrics import NodeMetrics

log = logging.getLogger(__name__)

MAX_BATCH_DOWNLOAD = 256 * 1024 * 1024


class PeerBatchSource:
    """Batch files by hash from the consortium's other nodes, each answer capped at
    :data:`MAX_BATCH_DOWNLOAD` while it streams (``transport``: an httpx transport, for
    tests)."""

    def __init__(
        self,
        peers: tuple[str, ...],
        metrics: NodeMetrics,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._peers = tuple(p.rstrip("/") for p in peers)
        self._metrics = metrics
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self._lock = threading.Lock()
        self.bad_peers: dict[str, str] = {}  # peer -> last batch hash it served wrongly

    def close(self) -> None:
        self._http.close()

    def fetch(self, batch_hash: str) -> bytes | None:
        for peer in self._peers:
            data = self._download(peer, batch_hash)
            if data is None:
                continue
            if hashlib.sha256(data).hexdigest() == batch_hash:
                self._metrics.peer_fetches.labels(peer, "ok").inc()
                return data
            log.warning("peer %s served a batch file that does not match hash %s", peer, batch_hash)
            self._metrics.peer_fetches.labels(peer, "bad-hash").inc()
            with self._lock:
                self.bad_peers[peer] = batch_hash
        return None

    def _download(self, peer: str, batch_hash: str) -> bytes | None:
        try:
            response = download(
                self._http, "GET", f"{peer}/cas/{batch_hash}", max_length=MAX_BATCH_DOWNLOAD
            )
        except ResponseTooLargeError:
            self._metrics.peer_fetches.labels(peer, "too-large").inc()
            return None
        except httpx.HTTPError as e:
            log.info(
                "peer %s unreachable for batch %s: %s", peer, batch_hash[:12], type(e).__name__
            )
            self._metrics.peer_fetches.labels(peer, "unreachable").inc()
            return None
        if response.status_code != 200:
            self._metrics.peer_fetches.labels(peer, f"http-{response.status_code}").inc()
            return None
        return response.content
