"""The registry node's HTTP API (FastAPI). OpenAPI description at ``/openapi.json``.

Routes (docs/api.md):

* ``POST /1.0/operations`` — submit one operation or an array (bulk); 202 once durable;
* ``GET /1.0/operations/{hash}`` — pending / anchored (+evidence) / rejected (+reason);
* ``GET /1.0/identifiers/{did}`` — W3C DID Resolution (DIF Universal Resolver driver API);
* ``GET /cas/{hash}`` — batch files; ``GET /healthz``; ``GET /metrics``.

Every error is an RFC 9457 problem (``application/problem+json``) with a stable ``type``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from realdid import __version__, ijson
from realdid.did import Did, DidError, ParsedOperation
from realdid.http import (
    NO_RATE_LIMITS,
    ClientDisconnect,
    PayloadTooLargeError,
    RateLimiter,
    client_disconnected,
    metrics_response,
    read_bounded_body,
)
from realdid.ledger import LedgerError
from realdid.storage import DatabaseUnavailableError

from ._explorer import explorer_router
from ._intake import GroupCommitter, IntakeRefusedError, parse_submission, receipt
from ._problem_types import NODE_PROBLEMS
from ._resolution import RESOLUTION_ERROR_CODES, LeanResolution, representation
from ._service import RegistryNode

log = logging.getLogger(__name__)

_HEX = frozenset("0123456789abcdef")
_OPERATION_SCHEMA: dict[str, Any] = {
    "description": "A did:realdid operation (docs/did-method.md section 3), or an array of them.",
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Operation"},
                    {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Operation"},
                        "maxItems": 1000,
                    },
                ]
            }
        }
    },
    "required": True,
}
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _is_hash(text: str) -> bool:
    return len(text) == 64 and _HEX.issuperset(text)


def create_app(node: RegistryNode, *, rate_limits: RateLimiter = NO_RATE_LIMITS) -> FastAPI:
    """The node's HTTP API; ``rate_limits`` charges each client one token per operation
    submitted (rule ``operations``)."""
    committer: GroupCommitter | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal committer
        node.start()
        committer = GroupCommitter(node.store, node.clock)
        log.info("registry node ready (ledger %s, data %s)", node.ledger.name, node.config.data_dir)
        try:
            yield
        finally:
            committer.close()
            node.stop()

    app = _NodeApp(
        title="RealDID registry node",
        version=__version__,
        summary="Submit did:realdid operations, follow them to the ledger, resolve DIDs.",
        lifespan=lifespan,
    )

    app.add_exception_handler(ClientDisconnect, client_disconnected)
    app.include_router(explorer_router(node))

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(_: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "no-such-resource", 405: "method-not-allowed"}.get(
            exc.status_code, "invalid-request"
        )
        return NODE_PROBLEMS.response(code, "see /docs for the API")

    @app.exception_handler(RequestValidationError)
    async def validation_problem(_: Request, exc: RequestValidationError) -> Response:
        return NODE_PROBLEMS.response(
            "invalid-request", "request parameters do not match the API (see /docs)"
        )

    @app.exception_handler(DatabaseUnavailableError)
    async def storage_problem(_: Request, exc: DatabaseUnavailableError) -> Response:
        # A database restart or failover: one line for the operator, 503 + Retry-After for
        # the client, which resends (submissions are idempotent).
        log.warning("request refused, database unavailable: %s", exc)
        return NODE_PROBLEMS.response(
            "storage-unavailable", "retry in a moment", headers={"Retry-After": "1"}
        )

    @app.exception_handler(Exception)
    async def internal_problem(_: Request, exc: Exception) -> Response:
        # Never leak a stack trace or request data to the client; the operator gets the log.
        log.exception("unhandled error while serving a request")
        return NODE_PROBLEMS.response("internal-error", "the request could not be completed")

    @app.post(
        "/1.0/operations",
        status_code=202,
        openapi_extra={"requestBody": _OPERATION_SCHEMA},
        responses={
            202: {"description": "Accepted and durable"},
            400: {"content": _PROBLEM},
            409: {"content": _PROBLEM},
        },
    )
    async def submit(request: Request) -> Response:
        """Submit a signed operation, or an array of them (all-or-nothing)."""
        if node.config.read_only:
            return NODE_PROBLEMS.response("read-only-node", "this is a read-only resolver replica")
        if not node.config.accepts_operations:
            return NODE_PROBLEMS.response("read-only-node", "this node has no anchorer key")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/json", ""):
            return NODE_PROBLEMS.response("unsupported-media-type", f"got '{content_type}'")
        try:
            body = await read_bounded_body(request, node.config.max_request_bytes)
        except PayloadTooLargeError as e:
            return NODE_PROBLEMS.response(e.code, str(e))
        try:
            value = ijson.loads(body)
        except ijson.IJsonError as e:
            return NODE_PROBLEMS.response("malformed-json", f"request body: {e}")
        bulk = isinstance(value, list)
        items = value if bulk else [value]
        if not items:
            return NODE_PROBLEMS.response("empty-submission", "the array holds no operations")
        if len(items) > node.config.max_operations_per_request:
            return NODE_PROBLEMS.response(
                "payload-too-large",
                f"at most {node.config.max_operations_per_request} operations per request",
            )
        refused = rate_limits.refusal("operations", request, len(items))
        if refused is not None:
            return refused
        result = await run_in_threadpool(_validate, node, items, bulk)
        if isinstance(result, Response):
            return result
        assert committer is not None
        await committer.persist(result)  # duplicates of queued operations are ignored
        node.accepted(result)
        receipts = [receipt(p) for p in result]
        return JSONResponse(receipts if bulk else receipts[0], status_code=202)

    @app.get("/1.0/operations/{operation_hash}", responses={404: {"content": _PROBLEM}})
    async def operation_status(operation_hash: str) -> Response:
        """Where an operation is: ``pending``, ``anchored`` (with evidence) or ``rejected``."""
        if not _is_hash(operation_hash):
            return NODE_PROBLEMS.response(
                "invalid-operation-hash", "operation hashes are 64 lowercase hex characters"
            )
        status = node.operation_status(operation_hash)
        if status is None:
            return NODE_PROBLEMS.response(
                "operation-not-found", "no pending or anchored operation has this hash"
            )
        return JSONResponse(status)

    @app.get(
        "/1.0/identifiers/{did}", responses={400: {"content": _PROBLEM}, 404: {"content": _PROBLEM}}
    )
    async def resolve(did: str, request: Request) -> Response:
        """Resolve a DID (W3C DID Resolution; DIF Universal Resolver driver interface)."""
        started = node.timer.monotonic()
        try:
            parsed = Did.parse(did)
        except DidError as e:
            return _resolution_problem(e.code, str(e))
        found = node.resolve(parsed)
        if found is None:
            return _resolution_problem("notFound", "no anchored DID with this identifier")
        status, media_type, body = representation(parsed, *found, request.headers.get("accept", ""))
        node.metrics.resolutions.observe(node.timer.monotonic() - started)
        return Response(body, status_code=status, media_type=media_type)

    @app.get("/cas/{address}", responses={404: {"content": _PROBLEM}})
    async def cas(address: str) -> Response:
        """A batch file by its SHA-256 address (peers fetch missing batches here)."""
        if not _is_hash(address):
            return NODE_PROBLEMS.response(
                "invalid-content-address", "content addresses are 64 lowercase hex characters"
            )
        try:
            data = node.cas.get(address)
        except LedgerError:
            return NODE_PROBLEMS.response("content-not-found", "no batch file with this address")
        return Response(
            data,
            media_type="application/gzip",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @app.get("/healthz")
    async def healthz() -> Response:
        """``200 ok`` or ``503 degraded`` with the reason (stalled observer, ledger down)."""
        health, bad_peers = node.health_report()
        body: dict[str, Any] = {
            "status": "ok" if health.error is None else "degraded",
            "ledger": node.ledger.name,
            "role": node.role,
            "anchorSequence": node.store.cursor(),
            "queueLength": node.store.queue_length(),
        }
        if bad_peers:
            body["badPeers"] = bad_peers
        if health.error is not None:
            body["error"] = health.error
            body["since"] = health.since
        return JSONResponse(body, status_code=200 if health.error is None else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text exposition."""
        return metrics_response(node.metrics.registry)

    def _custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi  # noqa: PLC0415 - only when asked

            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                {
                    "Operation": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"enum": ["create", "update", "recover", "deactivate"]}
                        },
                        "description": "See docs/did-method.md section 3 for each operation's members.",
                    },
                    "Problem": {
                        "type": "object",
                        "description": "RFC 9457 problem details",
                        "properties": {
                            "type": {"type": "string"},
                            "title": {"type": "string"},
                            "status": {"type": "integer"},
                            "detail": {"type": "string"},
                        },
                    },
                }
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = _custom_openapi  # type: ignore[method-assign]
    app.lean = LeanResolution(functools.partial(FastAPI.__call__, app), node)
    return app


class _NodeApp(FastAPI):
    """The node's FastAPI app with :class:`LeanResolution` in front of all of it: a DID
    that resolves is answered before FastAPI's own middleware stack, routing and
    dependency solving (each a measurable share of the hot path)."""

    lean: LeanResolution

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.lean(scope, receive, send)


def _validate(node: RegistryNode, items: list[Any], bulk: bool) -> list[ParsedOperation] | Response:
    try:
        return parse_submission(items, node.store)
    except IntakeRefusedError as e:
        return _refuse(node, e.code, e.detail, e.index, bulk)


def _refuse(node: RegistryNode, code: str, detail: str, index: int, bulk: bool) -> Response:
    node.metrics.operations_refused.labels(code).inc()
    if bulk:
        return NODE_PROBLEMS.response(
            code, f"operation {index}: {detail}; nothing in this request was accepted", index=index
        )
    return NODE_PROBLEMS.response(code, detail)


def _resolution_problem(error: str, detail: str) -> Response:
    """An RFC 9457 problem that is at the same time a W3C DID Resolution error result.

    ``error`` is the W3C name (``didResolutionMetadata.error``); the problem ``type`` uses
    the node's kebab-case code for it. This is the only place the two vocabularies meet.
    """
    return NODE_PROBLEMS.response(
        RESOLUTION_ERROR_CODES[error],
        detail,
        didDocument=None,
        didResolutionMetadata={"error": error, "errorMessage": detail},
        didDocumentMetadata={},
    )


__all__ = ["create_app"]
