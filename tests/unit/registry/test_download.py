"""The bounded download: a server cannot make a client hold more than the cap."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from realdid.http import ResponseTooLargeError, download
from realdid.registry import NodeClient, NodeClientError

CAP = 64 * 1024
CHUNK = 4096


class CountingStream(httpx.SyncByteStream):
    """A body of ``total`` bytes in ``CHUNK``-sized pieces; records how many were pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self.total:
            piece = b"x" * min(CHUNK, self.total - self.sent)
            self.sent += len(piece)
            yield piece


def client_for(stream: CountingStream, headers: dict[str, str] | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers or {}, stream=stream)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_a_body_streaming_past_the_cap_is_cut_off_at_the_cap() -> None:
    stream = CountingStream(100 * CAP)  # no Content-Length: only counting can stop it
    with client_for(stream) as client, pytest.raises(ResponseTooLargeError) as raised:
        download(client, "GET", "http://rp.test/big", max_length=CAP)
    assert raised.value.code == "response-too-large"
    assert raised.value.max_length == CAP
    # Reading stopped at the first chunk past the cap: never more than one chunk over it.
    assert stream.sent <= CAP + CHUNK


def test_a_lying_content_length_does_not_raise_the_cap() -> None:
    stream = CountingStream(100 * CAP)
    with (
        client_for(stream, {"Content-Length": "10"}) as client,
        pytest.raises(ResponseTooLargeError),
    ):
        download(client, "GET", "http://rp.test/liar", max_length=CAP)
    assert stream.sent <= CAP + CHUNK


def test_an_announced_length_over_the_cap_is_refused_before_reading() -> None:
    stream = CountingStream(2 * CAP)
    with (
        client_for(stream, {"Content-Length": str(2 * CAP)}) as client,
        pytest.raises(ResponseTooLargeError),
    ):
        download(client, "GET", "http://rp.test/announced", max_length=CAP)
    assert stream.sent == 0


def test_a_body_exactly_at_the_cap_passes() -> None:
    stream = CountingStream(CAP)
    with client_for(stream, {"Content-Length": str(CAP)}) as client:
        response = download(client, "GET", "http://rp.test/exact", max_length=CAP)
    assert response.status_code == 200
    assert response.content == b"x" * CAP


def test_a_compressed_body_is_counted_after_decoding() -> None:
    import gzip

    packed = gzip.compress(b"\0" * (4 * CAP))  # a few hundred bytes on the wire

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=packed)

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(ResponseTooLargeError),
    ):
        download(client, "GET", "http://rp.test/bomb", max_length=CAP)


def test_the_response_reads_like_an_ordinary_one() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"ok": True}, headers={"X-Trace": "1"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        response = download(client, "POST", "http://rp.test/", max_length=CAP, json={})
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert response.headers["x-trace"] == "1"


def test_the_node_client_caps_every_answer() -> None:
    stream = CountingStream(100 * CAP)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream)

    client = NodeClient(
        "http://node.test", transport=httpx.MockTransport(handler), max_response_bytes=CAP
    )
    with pytest.raises(NodeClientError) as raised:
        client.operation_status("ab" * 32)
    assert raised.value.code == "response-too-large"
    assert stream.sent <= CAP + CHUNK
    client.close()
