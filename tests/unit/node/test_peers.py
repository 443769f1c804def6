"""PeerBatchSource: batch files from peers, checked by hash, each answer capped while it streams."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from realdid.node._metrics import NodeMetrics
from realdid.node._peers import MAX_BATCH_DOWNLOAD, PeerBatchSource

BATCH = b'{"operations": []}'
BATCH_HASH = hashlib.sha256(BATCH).hexdigest()
PEERS = ("http://peer-a.test/", "http://peer-b.test")


class CountingBody(httpx.SyncByteStream):
    """``total`` bytes in 1 MiB pieces; ``sent`` says how many the client pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self.total:
            piece = b"x" * min(1 << 20, self.total - self.sent)
            self.sent += len(piece)
            yield piece


def source(
    answer: Callable[[httpx.Request], httpx.Response],
) -> tuple[PeerBatchSource, NodeMetrics]:
    metrics = NodeMetrics()
    return PeerBatchSource(PEERS, metrics, transport=httpx.MockTransport(answer)), metrics


def fetches(metrics: NodeMetrics, peer: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "realdid_peer_batch_fetches_total", {"peer": peer, "outcome": outcome}
    )
    return value or 0.0


def test_the_first_peer_with_the_right_bytes_serves() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=BATCH)

    peers, metrics = source(answer)
    assert peers.fetch(BATCH_HASH) == BATCH
    assert seen == [f"http://peer-a.test/cas/{BATCH_HASH}"]
    assert fetches(metrics, "http://peer-a.test", "ok") == 1
    peers.close()


def test_a_peer_serving_other_bytes_is_reported_and_the_next_is_tried() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        wrong = request.url.host == "peer-a.test"
        return httpx.Response(200, content=b"forged" if wrong else BATCH)

    peers, metrics = source(answer)
    assert peers.fetch(BATCH_HASH) == BATCH
    assert peers.bad_peers == {"http://peer-a.test": BATCH_HASH}
    assert fetches(metrics, "http://peer-a.test", "bad-hash") == 1
    peers.close()


def test_refusals_and_unreachable_peers_yield_nothing() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "peer-a.test":
            return httpx.Response(404, text="not here")
        raise httpx.ConnectError("refused")

    peers, metrics = source(answer)
    assert peers.fetch(BATCH_HASH) is None
    assert fetches(metrics, "http://peer-a.test", "http-404") == 1
    assert fetches(metrics, "http://peer-b.test", "unreachable") == 1
    peers.close()


@pytest.mark.parametrize("announced", [False, True], ids=["streamed", "content-length"])
def test_an_oversize_answer_is_cut_off_at_the_cap(announced: bool) -> None:
    bodies: list[CountingBody] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = CountingBody(MAX_BATCH_DOWNLOAD + (8 << 20))
        bodies.append(body)
        headers = {"content-length": str(body.total)} if announced else {}
        return httpx.Response(200, headers=headers, stream=body)

    peers, metrics = source(answer)
    assert peers.fetch(BATCH_HASH) is None
    assert fetches(metrics, "http://peer-a.test", "too-large") == 1
    # A declared length over the cap is refused before the body; a stream at the cap.
    for body in bodies:
        assert body.sent == 0 if announced else body.sent <= MAX_BATCH_DOWNLOAD + (1 << 20)
    peers.close()
