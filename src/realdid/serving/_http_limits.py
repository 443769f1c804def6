"""Bounds on what one HTTP client can make a worker hold: the request head, slow clients,
idle connections, and the number of connections.

uvicorn's httptools protocol (the fastest it has, and the one every RealDID worker runs)
has no limit on the size of the request line or the headers, no timeout while a request
head or body is being sent, and no cap on connections: twenty clients each sending 8 MB of
headers held 190 MB, and a client that opens a connection and sends nothing holds it
forever. No ASGI middleware can help — the head is buffered before the application sees
the request — so :func:`limited_protocol` subclasses the protocol and counts bytes as they
arrive (before the parser buffers them), the way nginx's ``large_client_header_buffers``,
``client_header_timeout`` and ``client_body_timeout`` do:

* a request head (request line + headers) over ``max_head_bytes`` → ``431``; a request
  target over ``max_request_line`` → ``414``; more than ``max_headers`` header fields →
  ``431`` (RFC 6585 section 5, RFC 9110 section 15.5.15);
* no complete head within ``header_timeout`` of the connection opening or of the request's
  first byte → ``408`` and the connection closed; no body bytes for ``body_timeout`` while a
  body is due → ``408`` (or just closed, once a response has started);
* a connection over ``max_connections`` of this worker → ``503`` with ``Retry-After`` and
  closed at once, so every connection held is one the worker chose to hold.

Each refusal is an RFC 9457 problem (``urn:realdid:problem:<code>``, the codes in
:data:`PROBLEM_CODES`) and one log line. Keep-alive idleness is uvicorn's own
``timeout_keep_alive``, set from :attr:`HttpLimits.keep_alive_timeout`.

This hooks uvicorn's protocol class (its ``data_received`` and parser callbacks), so the
uvicorn version is pinned to a range in ``pyproject.toml``; ``tests/unit/serving`` drives
the protocol over real sockets and fails if a new uvicorn changes those hooks.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["PROBLEM_CODES", "HttpLimits", "limited_protocol"]

log = logging.getLogger(__name__)

#: code -> (status, reason phrase, title) of every refusal the protocol itself answers.
PROBLEM_CODES: dict[str, tuple[int, str, str]] = {
    "request-header-fields-too-large": (
        431,
        "Request Header Fields Too Large",
        "The request's headers are larger or more numerous than this server accepts",
    ),
    "uri-too-long": (414, "URI Too Long", "The request target is longer than this server accepts"),
    "request-timeout": (
        408,
        "Request Timeout",
        "The request was not received in time; send it again without pausing",
    ),
    "too-many-connections": (
        503,
        "Service Unavailable",
        "This server holds as many connections as it accepts; retry in a moment",
    ),
}
_PROBLEM_BASE = "urn:realdid:problem:"  # realdid.http.PROBLEM_BASE (a sibling package)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one worker accepts from clients; the defaults suit every RealDID route (the
    longest request target is a DID URL of a few hundred bytes; no route needs big headers).
    """

    max_request_line: int = 8 * 1024
    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 2048


def problem_response(code: str, detail: str, extra_headers: bytes = b"") -> bytes:
    """A complete HTTP/1.1 response (``Connection: close``) carrying the problem ``code``."""
    status, reason, title = PROBLEM_CODES[code]
    body = orjson.dumps(
        {"type": _PROBLEM_BASE + code, "title": title, "status": status, "detail": detail}
    )
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, reason.encode("ascii")),
            b"content-type: application/problem+json\r\n",
            b"content-length: %d\r\n" % len(body),
            extra_headers,
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _RefusedError(Exception):
    """Raised inside a parser callback to stop parsing; carries the problem code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def limited_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol class, bounded by ``limits`` (give it as ``http=``)."""

    class LimitedHttpToolsProtocol(_LimitedProtocol):
        pass

    LimitedHttpToolsProtocol.limits = limits
    return LimitedHttpToolsProtocol


class _LimitedProtocol(HttpToolsProtocol):
    limits: HttpLimits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # reading a request line and headers (or waiting for one)
        self._head_bytes = 0
        self._header_count = 0
        self._url_bytes = 0
        self._timer: asyncio.TimerHandle | None = None

    # -- connection -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning(
                "connection refused: this worker holds %d connections (the cap)",
                self.limits.max_connections,
            )
            self._refuse(
                "too-many-connections",
                "too many open connections; retry in a moment",
                b"retry-after: 1\r\n",
            )
            return
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            room = self.limits.max_head_bytes - self._head_bytes
            if len(data) > room:
                # Parse only what fits: if the head ends inside it, the rest is body (or
                # the next request) and is parsed next; if not, the head is too big.
                if not self._feed(data[: max(room, 0)]):
                    return
                if self._in_head:
                    self._refuse_head_too_large()
                    return
                data = data[max(room, 0) :]
            else:
                self._head_bytes += len(data)
        elif self.cycle is not None and self.cycle.more_body:
            self._arm(self.limits.body_timeout, self._body_timed_out)
        self._feed(data)

    def _feed(self, data: bytes) -> bool:
        """Parse ``data``; False when the connection was answered and closed."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # RealDID serves no WebSocket
        except httptools.HttpParserError as e:
            # httptools wraps what a callback raised: the callback's refusal is __context__.
            if isinstance(e.__context__, _RefusedError):
                refused = e.__context__
                log.warning("request refused: %s (%s)", refused.code, refused.detail)
                self._refuse(refused.code, refused.detail)
            else:
                log.warning("invalid HTTP request received")
                self.send_400_response("Invalid HTTP request received.")
            return False
        return True

    # -- parser callbacks -----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._header_count = 0
        self._url_bytes = 0
        if self._timer is None:
            self._arm(self.limits.header_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_request_line:
            raise _RefusedError(
                "uri-too-long", f"the request target exceeds {self.limits.max_request_line} bytes"
            )
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            raise _RefusedError(
                "request-header-fields-too-large",
                f"more than {self.limits.max_headers} header fields",
            )
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()
        # Disarmed again at once by on_message_complete when no body follows.
        self._arm(self.limits.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True  # what comes next is the head of the next request
        super().on_message_complete()

    # -- refusals -------------------------------------------------------------------------
    def _refuse_head_too_large(self) -> None:
        log.warning("request refused: its head exceeds %d bytes", self.limits.max_head_bytes)
        self._refuse(
            "request-header-fields-too-large",
            f"the request line and headers exceed {self.limits.max_head_bytes} bytes",
        )

    def _head_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._in_head and (self._head_bytes or self._url_bytes):
            log.info("request head not received within %ss; closed", self.limits.header_timeout)
            self._refuse("request-timeout", "the request head was not sent in time")
        else:  # a connection that never sent a byte: nothing to answer
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        log.info("request body stalled for %ss; closed", self.limits.body_timeout)
        if self.cycle is not None and not self.cycle.response_started:
            # The application, waiting for the body, is told the client is gone once the
            # connection is lost, and its own answer is dropped.
            self._refuse("request-timeout", "the request body was not sent in time")
        else:
            self.transport.close()

    def _refuse(self, code: str, detail: str, extra_headers: bytes = b"") -> None:
        self._disarm()
        self.transport.write(problem_response(code, detail, extra_headers))
        self.transport.close()

    # -- timer ----------------------------------------------------------------------------
    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
