"""The wallet's authority client reads every answer through the bounded download."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from realdid.http import MAX_RESPONSE_BYTES
from realdid.wallet import AuthorityClient, AuthorityClientError

CHUNK = 64 * 1024


class Flood(httpx.SyncByteStream):
    """A body that never ends (no Content-Length); counts the bytes the client pulled."""

    def __init__(self) -> None:
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.sent += CHUNK
            yield b"x" * CHUNK


def test_an_endless_answer_is_cut_off_at_the_cap() -> None:
    flood = Flood()
    client = AuthorityClient(
        "http://authority.test",
        transport=httpx.MockTransport(lambda request: httpx.Response(201, stream=flood)),
    )
    with pytest.raises(AuthorityClientError) as raised:
        client.challenge()
    client.close()
    assert raised.value.code == "response-too-large"
    assert flood.sent <= MAX_RESPONSE_BYTES + CHUNK


def test_an_answer_within_the_cap_is_read() -> None:
    client = AuthorityClient(
        "http://authority.test",
        transport=httpx.MockTransport(lambda request: httpx.Response(201, json={"nonce": "n"})),
    )
    assert client.challenge() == "n"
    client.close()
