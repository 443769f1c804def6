"""Reading a request body with a size cap, for Starlette and FastAPI handlers.

``await request.body()`` buffers whatever the client sends; a handler that checks the
length afterwards has already spent the memory. :func:`read_bounded_body` refuses a
declared ``Content-Length`` over the cap before reading anything, and otherwise streams
the body and stops as soon as the cap is passed (a chunked body declares no length).

Example (inside a handler)::

    try:
        body = await read_bounded_body(request, 32 * 1024)
    except PayloadTooLargeError as e:
        return PROBLEMS.response(e.code, str(e))
"""

from __future__ import annotations

import logging
import urllib.parse

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ._errors import HttpError

__all__ = [
    "ClientDisconnect",
    "MalformedFormError",
    "PayloadTooLargeError",
    "client_disconnected",
    "parse_form",
    "read_bounded_body",
]

log = logging.getLogger(__name__)


class PayloadTooLargeError(HttpError):
    """The request body is (or declares itself) larger than the handler accepts.

    ``code`` and ``http_status`` are those of the ``payload-too-large`` problem (RFC 9110
    section 15.5.14: 413 Content Too Large).
    """

    code = "payload-too-large"
    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"body exceeds {limit} bytes")
        self.limit = limit


async def read_bounded_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; :class:`PayloadTooLargeError` beyond.

    A ``Content-Length`` that is not a decimal number cannot be checked against the cap,
    so it is refused like an oversize one.
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLargeError(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError(limit)
    return bytes(body)


class MalformedFormError(HttpError, ValueError):
    """A form body that does not parse or repeats a parameter; each service answers it with
    its own protocol's error (OpenID4VCI ``invalid_request``, OpenID4VP ``invalid-response``)."""

    code = "malformed-form"
    http_status = 400


def parse_form(body: bytes, *, strict: bool = False) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict; :class:`MalformedFormError`
    for one that is not ASCII, does not parse, or repeats a parameter (RFC 6749 section 3.1
    and 3.2: a parameter must not be included more than once).

    ``strict`` also refuses a non-empty body with a field that has no ``=``.
    """
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=strict and bool(body)
        )
    except (UnicodeDecodeError, ValueError) as e:
        raise MalformedFormError("the form body does not parse") from e
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise MalformedFormError("a form parameter is repeated")
    return fields


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`ClientDisconnect` (register it on every app).

    A client that closes its connection before its body is read is routine (a phone losing
    its signal, a timed-out body). Unhandled, Starlette logs it as an error with a traceback
    and uvicorn a second time: 70 lines for nothing done. Here it is one line, and the
    answer goes nowhere (the connection is gone).
    """
    log.info(
        "client went away before its request was read: %s %s", request.method, request.url.path
    )
    return Response(status_code=400)
