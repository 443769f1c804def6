"""The bounded HTTP protocol, over real sockets, on a real uvicorn server.

Each test runs uvicorn with :func:`limited_protocol` and small limits in a thread, talks to
it over a raw socket (so it can send what no HTTP client would: half a head, 150 headers,
a stalled body) and checks the answer and what the application saw.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realdid.cli._serve import _server
from realdid.http import ClientDisconnect, client_disconnected, read_bounded_body
from realdid.serving import HttpLimits, limited_protocol
from realdid.settings import HttpSection

LIMITS = HttpLimits(
    max_request_line=512,
    max_head_bytes=2048,
    max_headers=20,
    header_timeout=0.4,
    body_timeout=0.4,
    keep_alive_timeout=0.6,
    max_connections=3,
)


class _App:
    """An app that counts what reached it and echoes the client address and the body."""

    def __init__(self) -> None:
        self.requests = 0
        self.app = Starlette(routes=[Route("/", self.echo, methods=["GET", "POST"])])
        self.app.add_exception_handler(ClientDisconnect, client_disconnected)

    async def echo(self, request: Request) -> Response:
        self.requests += 1
        body = await read_bounded_body(request, 1024 * 1024)
        client = request.client.host if request.client else None
        return JSONResponse({"client": client, "bytes": len(body)})


class _Running:
    def __init__(self, server: Any, sock: socket.socket, app: _App) -> None:
        self.server = server
        self.port = sock.getsockname()[1]
        self.app = app
        self.opened: list[socket.socket] = []

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.opened.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.opened:
            conn.close()


def _serve(server: Any, sock: socket.socket) -> Iterator[None]:
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.fixture
def running() -> Iterator[_Running]:
    app = _App()
    sock = _bound()
    config = uvicorn.Config(
        app.app,
        http=limited_protocol(LIMITS),
        ws="none",
        timeout_keep_alive=LIMITS.keep_alive_timeout,
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    serving = _serve(server, sock)
    next(serving)
    served = _Running(server, sock, app)
    yield served
    served.close()
    next(serving, None)


def _read_all(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def _read_response(conn: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data or len(data) < _length(data):
        chunk = conn.recv(65536)
        assert chunk, "connection closed before the whole answer"
        data += chunk
    return data


def _length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    return len(head) + 4 + int(_response(data)[1]["content-length"])


def _response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _problem(raw: bytes, status: int, code: str) -> dict[str, Any]:
    got_status, headers, body = _response(raw)
    assert got_status == status
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem: dict[str, Any] = json.loads(body)
    assert problem["type"] == f"urn:realdid:problem:{code}"
    assert problem["status"] == status
    return problem


GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


def test_ordinary_requests_pass_on_one_kept_alive_connection(running: _Running) -> None:
    conn = running.connect()
    for _ in range(3):
        conn.sendall(GET)
        status, _, body = _response(_read_response(conn))
        assert status == 200
        assert json.loads(body) == {"client": "127.0.0.1", "bytes": 0}
    assert running.app.requests == 3


def test_a_small_head_arriving_with_a_large_body_in_one_write_passes(running: _Running) -> None:
    body = b"x" * 100_000  # far beyond max_head_bytes, but it is body, not head
    conn = running.connect()
    conn.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    status, _, answer = _response(_read_response(conn))
    assert status == 200
    assert json.loads(answer)["bytes"] == len(body)


def test_a_head_over_the_cap_is_431_before_it_is_buffered(running: _Running) -> None:
    conn = running.connect()
    conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 5000)  # never finished
    problem = _problem(_read_all(conn), 431, "request-header-fields-too-large")
    assert "2048 bytes" in problem["detail"]
    assert running.app.requests == 0


def test_a_head_over_the_cap_sent_in_small_pieces_is_431(running: _Running) -> None:
    conn = running.connect()
    conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
    assert not _sent_all(conn, [b"X-Piece: " + b"b" * 40 + b"\r\n"] * 200)
    assert running.app.requests == 0


def _sent_all(conn: socket.socket, pieces: list[bytes]) -> bool:
    """Whether every piece was written before the server closed the connection."""
    try:
        for piece in pieces:
            conn.sendall(piece)
            time.sleep(0.001)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def test_a_request_target_over_the_cap_is_414(running: _Running) -> None:
    conn = running.connect()
    conn.sendall(b"GET /" + b"p" * 600 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    _problem(_read_all(conn), 414, "uri-too-long")
    assert running.app.requests == 0


def test_too_many_header_fields_is_431(running: _Running) -> None:
    conn = running.connect()
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(21))
    conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n")
    problem = _problem(_read_all(conn), 431, "request-header-fields-too-large")
    assert "20 header fields" in problem["detail"]
    assert running.app.requests == 0


def test_exactly_the_allowed_header_count_passes(running: _Running) -> None:
    conn = running.connect()
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(19))  # + Host = 20
    conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n")
    assert _response(_read_response(conn))[0] == 200


def test_a_head_sent_too_slowly_is_408(running: _Running) -> None:
    conn = running.connect()
    conn.sendall(b"GET / HTTP/1.1\r\nHo")
    _problem(_read_all(conn), 408, "request-timeout")
    assert running.app.requests == 0


def test_a_connection_that_sends_nothing_is_closed(running: _Running) -> None:
    conn = running.connect()
    started = time.monotonic()
    assert _read_all(conn) == b""  # closed without an answer: there was no request
    assert time.monotonic() - started < 5


def test_a_stalled_body_is_408_and_costs_one_log_line(
    running: _Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    conn = running.connect()
    conn.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
    _problem(_read_all(conn), 408, "request-timeout")
    _wait_for(lambda: any("went away" in r.getMessage() for r in caplog.records))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_client_gone_mid_body_costs_one_log_line_and_no_traceback(
    running: _Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    conn = running.connect()
    conn.sendall(b'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{"a":')
    time.sleep(0.1)
    conn.close()
    _wait_for(lambda: any("went away" in r.getMessage() for r in caplog.records))
    time.sleep(0.2)  # anything else it would log comes right after
    lines = [r for r in caplog.records if r.name.startswith(("realdid", "uvicorn"))]
    assert [r.getMessage() for r in lines] == [
        "client went away before its request was read: POST /"
    ]
    assert not any(r.exc_info for r in caplog.records)


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_an_idle_kept_alive_connection_is_closed(running: _Running) -> None:
    conn = running.connect()
    conn.sendall(GET)
    assert _response(_read_response(conn))[0] == 200
    started = time.monotonic()
    assert conn.recv(65536) == b""  # closed by the keep-alive timeout
    assert time.monotonic() - started < 5


def test_connections_over_the_cap_are_refused_with_503(running: _Running) -> None:
    held = [running.connect() for _ in range(3)]
    for conn in held:  # each is served: the cap is 3
        conn.sendall(GET)
        assert _response(_read_response(conn))[0] == 200
    raw = _read_all(running.connect())
    _problem(raw, 503, "too-many-connections")
    assert _response(raw)[1]["retry-after"] == "1"
    assert running.app.requests == 3
    held.pop().close()
    _wait_for(lambda: len(running.server.server_state.connections) < 3)
    again = running.connect()  # room again once one is closed
    again.sendall(GET)
    assert _response(_read_response(again))[0] == 200


@pytest.mark.parametrize(
    ("trusted", "client"), [((), "127.0.0.1"), (("127.0.0.0/8",), "203.0.113.7")]
)
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    trusted: tuple[str, ...], client: str
) -> None:
    app = _App()
    sock = _bound()
    server = _server(uvicorn, app.app, "127.0.0.1", 0, HttpSection(trusted_proxies=trusted))
    server.config.lifespan = "off"
    serving = _serve(server, sock)
    next(serving)
    try:
        with socket.create_connection(("127.0.0.1", sock.getsockname()[1]), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
            status, _, body = _response(_read_response(conn))
        assert status == 200
        assert json.loads(body)["client"] == client
    finally:
        next(serving, None)
