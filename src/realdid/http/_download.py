"""Bounded downloads: no answer from a remote party may make a client hold more than a cap.

``httpx`` reads a whole body into memory before the caller can look at its size, so a cap
checked on ``response.content`` comes too late: a hostile or broken server has already
made the client buffer as much as it liked. :func:`download` follows python-tuf's
``download_bytes(url, max_length)``: the response is streamed, a ``Content-Length`` above
the cap is refused before any of the body is read, and the bytes are counted while they
arrive, so a server that lies about its length (or sends none) is cut off as soon as the
count passes the cap. Every client of a remote party goes through it: the registry's node
client, the wallet's authority client and login flow, the relying party's status lists and
a registry node fetching batch files from its peers. It lives here, below all of them,
because it knows nothing of what it downloads.

Example::

    >>> client = httpx.Client()
    >>> response = download(client, "GET", "https://node.example/healthz", max_length=65536)
    >>> response.json()["status"]
    'ok'
"""

from __future__ import annotations

from typing import Any

import httpx

from ._errors import HttpError

__all__ = ["MAX_RESPONSE_BYTES", "ResponseTooLargeError", "download"]

#: Cap on any single answer from a RealDID service: far above the largest legitimate
#: document (a status list of 2^20 entries compresses to a few kilobytes, a DID document
#: to a few hundred bytes), far below what would strain a client's memory.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024

# Headers that described the wire form of the body, not the decoded bytes we hand back.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ResponseTooLargeError(HttpError):
    """A server answered with more than ``max_length`` bytes (announced or actually sent).

    Should it reach a service's own HTTP edge, the service answers 502: the fault is upstream.
    """

    code = "response-too-large"
    http_status = 502

    def __init__(self, url: str, max_length: int) -> None:
        super().__init__(f"the answer from {url} is larger than {max_length} bytes")
        self.url = url
        self.max_length = max_length


def download(
    client: httpx.Client, method: str, url: str, *, max_length: int, **kwargs: Any
) -> httpx.Response:
    """Send a request and read its answer, never holding more than ``max_length`` body bytes.

    Returns a response whose body is already read (``.content``, ``.json()`` work as
    usual). Raises :class:`ResponseTooLargeError` once the cap is exceeded, and lets
    :class:`httpx.HTTPError` through for transport failures, for the caller to wrap. The
    count is of decoded bytes, so a small compressed body that inflates past the cap is
    refused too.
    """
    with client.stream(method, url, **kwargs) as response:
        announced = response.headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > max_length:
            raise ResponseTooLargeError(str(response.request.url), max_length)
        chunks: list[bytes] = []
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > max_length:
                raise ResponseTooLargeError(str(response.request.url), max_length)
            chunks.append(chunk)
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in _WIRE_HEADERS]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(chunks),
            request=response.request,
        )
