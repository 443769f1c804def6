"""The relying party's OpenID4VP endpoints, as a FastAPI router a site mounts.

* ``GET {prefix}/requests/{request_id}`` — the signed request object
  (``application/oauth-authz-req+jwt``), fetched by the wallet from ``request_uri``
* ``POST {prefix}/responses`` — the wallet's ``direct_post`` answer (form-encoded);
  ``200 {"redirect_uri": ...}`` or an RFC 9457 problem
* ``GET {prefix}/codes/{code}`` — ``{"authorization_url": ...}`` for a typed short code
* ``GET {prefix}/transactions/{transaction}`` — ``{"state", "error"}`` for the login page
  to poll (never claims: the site reads those server-side through
  :meth:`RelyingParty.outcome`)

Verification resolves DIDs and fetches status lists, so it runs in the thread pool.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from realdid.credentials import REQUEST_OBJECT_MEDIA_TYPE
from realdid.http import (
    MalformedFormError,
    PayloadTooLargeError,
    parse_form,
    problem_response,
    read_bounded_body,
)

from ._errors import LoginError
from ._service import RelyingParty

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
#: Largest response body accepted (a RealName presentation is a few KiB).
MAX_RESPONSE_BYTES = 256 * 1024
_NO_STORE = {"Cache-Control": "no-store"}


def problem(error: LoginError) -> JSONResponse:
    """The RFC 9457 problem for a :class:`LoginError` (never cached: it answers one request)."""
    return problem_response(error.problem_type, error.message, headers=_NO_STORE)


def _form(body: bytes) -> dict[str, str]:
    """A form body; a repeated parameter is refused (RFC 6749 section 3.1)."""
    try:
        return parse_form(body, strict=True)
    except MalformedFormError as e:
        raise LoginError("invalid-response", str(e)) from e


def login_routes(rp: RelyingParty) -> APIRouter:
    """The router with the four OpenID4VP endpoints under ``rp.config.prefix``."""
    router = APIRouter(prefix=rp.config.prefix)

    @router.get("/requests/{request_id}")
    async def request_object(request_id: str) -> Response:
        try:
            jws = await run_in_threadpool(rp.request_object, request_id)
        except LoginError as e:
            return problem(e)
        return Response(jws, media_type=REQUEST_OBJECT_MEDIA_TYPE, headers=_NO_STORE)

    @router.post("/responses")
    async def response(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM_MEDIA_TYPE:
            return problem(LoginError("unsupported-media-type"))
        try:
            fields = _form(await read_bounded_body(request, MAX_RESPONSE_BYTES))
            await run_in_threadpool(rp.verify_response, fields)
        except PayloadTooLargeError as e:
            return problem(LoginError(e.code, str(e)))
        except LoginError as e:
            return problem(e)
        return JSONResponse({"redirect_uri": rp.config.complete_url}, headers=_NO_STORE)

    @router.get("/codes/{code}")
    async def code(code: str) -> Response:
        try:
            url = await run_in_threadpool(rp.authorization_url_for_code, code)
        except LoginError as e:
            return problem(e)
        return JSONResponse({"authorization_url": url}, headers=_NO_STORE)

    @router.get("/transactions/{transaction}")
    async def transaction(transaction: str) -> Response:
        outcome = await run_in_threadpool(rp.outcome, transaction)
        return JSONResponse({"state": outcome.state, "error": outcome.error}, headers=_NO_STORE)

    return router
