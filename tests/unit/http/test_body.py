"""Bounded request bodies (realdid.http.read_bounded_body) in a real Starlette app."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realdid.http import PayloadTooLargeError, read_bounded_body

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient import-time warning
    from starlette.testclient import TestClient

LIMIT = 100


async def echo(request: Request) -> Response:
    try:
        body = await read_bounded_body(request, LIMIT)
    except PayloadTooLargeError as e:
        return JSONResponse({"code": e.code, "detail": str(e), "limit": e.limit}, e.http_status)
    return Response(body)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=[Route("/", echo, methods=["POST"])])) as client:
        yield client


def test_a_body_up_to_the_limit_is_returned_whole(client: TestClient) -> None:
    assert client.post("/", content=b"a" * LIMIT).content == b"a" * LIMIT
    assert client.post("/", content=b"").content == b""


def test_one_byte_over_is_refused(client: TestClient) -> None:
    response = client.post("/", content=b"a" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json() == {
        "code": "payload-too-large",
        "detail": f"body exceeds {LIMIT} bytes",
        "limit": LIMIT,
    }


def test_a_chunked_body_is_stopped_at_the_limit(
    run_coroutine: Callable[[Coroutine[Any, Any, Any]], Any],
) -> None:
    # Driven as raw ASGI: the TestClient buffers a whole request before the app runs.
    received = 0

    async def receive() -> dict[str, object]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"a" * 50, "more_body": received < 1_000}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(PayloadTooLargeError):
        run_coroutine(read_bounded_body(request, LIMIT))
    assert received == 3  # 150 bytes > 100: the remaining 997 chunks were never read


@pytest.mark.parametrize("declared", [str(LIMIT + 1), "10000000000", "abc", "-1", "1e3"])
def test_a_declared_length_over_the_limit_or_unreadable_is_refused_unread(
    client: TestClient, declared: str
) -> None:
    response = client.post("/", content=b"a", headers={"content-length": declared})
    assert response.status_code == 413
