"""The relying party's OpenID4VP endpoints, as a FastAPI router a site mounts.

* ``GET {prefix}/requests/{request_id}`` — the signed request object
  (``application/oauth-authz-req+jwt``), fetched by the wallet from ``request_uri``
* ``POST {prefix}/responses`` — the wallet's ``direct_post`` answer (form-encoded);
  ``200 {"redirect_uri": ...}`` or an RFC 9457 problem
* ``GET {prefix}/codes/{code}`` — ``{"authorization_url": ...}`` for a typed short code
* ``GET {prefix}/transactions/{transaction}`` — ``{"state", "error"}`` for the login page
  to poll (never claims: the site reads those server-side through
  :meth:`RelyingParty.outcome`)

Verification resolves DIDs and fetches status lists, so it runs in a thread pool.

``POST {prefix}/responses`` is the relying party's hot path (one per login), and is a
plain ASGI endpoint (:class:`DirectPost`) rather than a FastAPI route: profiled under
load, FastAPI's request/response wrapping, anyio's thread hop and ``JSONResponse``'s
encoder cost about as much CPU as the verification itself. It still sits behind the
site's middleware (session, security headers, metrics) like every other route.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realdid.credentials import REQUEST_OBJECT_MEDIA_TYPE
from realdid.http import (
    MalformedFormError,
    PayloadTooLargeError,
    parse_form,
    problem_response,
)
from realdid.storage import DatabaseUnavailableError

from ._errors import LoginError
from ._service import RelyingParty

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
#: Largest response body accepted (a RealName presentation is a few KiB).
MAX_RESPONSE_BYTES = 256 * 1024
_NO_STORE = {"Cache-Control": "no-store"}
#: Threads verifying ``direct_post`` answers in each process (a verification may wait for
#: the registry or a status list; the rest of the time it holds the GIL).
VERIFY_THREADS = 16


def problem(error: LoginError, **headers: str) -> JSONResponse:
    """The RFC 9457 problem for a :class:`LoginError` (never cached: it answers one request)."""
    return problem_response(error.problem_type, error.message, headers={**_NO_STORE, **headers})


def _form(body: bytes) -> dict[str, str]:
    """A form body; a repeated parameter is refused (RFC 6749 section 3.1)."""
    try:
        return parse_form(body, strict=True)
    except MalformedFormError as e:
        raise LoginError("invalid-response", str(e)) from e


class DirectPost:
    """``POST {prefix}/responses``: verify the wallet's ``direct_post`` answer.

    ``200 {"redirect_uri": ...}`` or the RFC 9457 problem of the :class:`LoginError`; a
    client that leaves before its body is read costs one log line.
    """

    def __init__(self, rp: RelyingParty) -> None:
        self._rp = rp
        self._verifying = concurrent.futures.ThreadPoolExecutor(
            VERIFY_THREADS, thread_name_prefix="realdid-verify"
        )
        self._done = orjson.dumps({"redirect_uri": rp.config.complete_url})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._verify(scope, receive)
        except LoginError as e:
            await problem(e)(scope, receive, send)
            return
        except _ClientGone:
            log.info("client went away before its request was read: POST %s", scope["path"])
            return
        except DatabaseUnavailableError as e:  # a restart or failover: the wallet posts again
            await _unavailable(e)(scope, receive, send)
            return
        except Exception:  # never a stack trace to the wallet; the operator gets it here
            log.exception("unhandled error while checking a login response")
            await problem(LoginError("internal-error"))(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(self._done)).encode()),
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._done})

    async def _verify(self, scope: Scope, receive: Receive) -> None:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if content_type.split(";")[0].strip().lower() != FORM_MEDIA_TYPE:
            raise LoginError("unsupported-media-type")
        try:
            body = await _bounded_body(headers.get(b"content-length"), receive)
        except PayloadTooLargeError as e:
            raise LoginError(e.code, str(e)) from e
        fields = _form(body)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._verifying, self._rp.verify_response, fields)


def _unavailable(error: DatabaseUnavailableError) -> JSONResponse:
    """503 ``storage-unavailable`` with ``Retry-After``: a restart or failover of the
    relying party's database; the wallet (or the login page's poll) asks again."""
    log.warning("login request refused, database unavailable: %s", error)
    return problem(LoginError("storage-unavailable"), **{"Retry-After": "1"})


class _ClientGone(Exception):  # noqa: N818 - a signal between two functions, not an error
    """The client disconnected before its body was read."""


async def _bounded_body(declared: bytes | None, receive: Receive) -> bytes:
    """The request body, at most :data:`MAX_RESPONSE_BYTES`; the checks of
    :func:`realdid.http.read_bounded_body`, on the raw ASGI messages."""
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_RESPONSE_BYTES):
        raise PayloadTooLargeError(MAX_RESPONSE_BYTES)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body += message.get("body", b"")
        if len(body) > MAX_RESPONSE_BYTES:
            raise PayloadTooLargeError(MAX_RESPONSE_BYTES)
        if not message.get("more_body", False):
            return bytes(body)


def login_routes(rp: RelyingParty) -> APIRouter:
    """The router with the four OpenID4VP endpoints under ``rp.config.prefix``."""
    # The prefix is spelled out in each path: an APIRouter's prefix does not reach a plain
    # ASGI route such as DirectPost.
    prefix = rp.config.prefix
    router = APIRouter()

    @router.get(f"{prefix}/requests/{{request_id}}")
    async def request_object(request_id: str) -> Response:
        try:
            jws = await run_in_threadpool(rp.request_object, request_id)
        except LoginError as e:
            return problem(e)
        except DatabaseUnavailableError as e:
            return _unavailable(e)
        return Response(jws, media_type=REQUEST_OBJECT_MEDIA_TYPE, headers=_NO_STORE)

    router.routes.append(Route(f"{prefix}/responses", DirectPost(rp), methods=["POST"]))

    @router.get(f"{prefix}/codes/{{code}}")
    async def code(code: str) -> Response:
        try:
            url = await run_in_threadpool(rp.authorization_url_for_code, code)
        except LoginError as e:
            return problem(e)
        except DatabaseUnavailableError as e:
            return _unavailable(e)
        return JSONResponse({"authorization_url": url}, headers=_NO_STORE)

    @router.get(f"{prefix}/transactions/{{transaction}}")
    async def transaction(transaction: str) -> Response:
        try:
            outcome = await run_in_threadpool(rp.outcome, transaction)
        except DatabaseUnavailableError as e:
            return _unavailable(e)
        return JSONResponse({"state": outcome.state, "error": outcome.error}, headers=_NO_STORE)

    return router
