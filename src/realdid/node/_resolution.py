"""Resolution answers, and the lean route that serves the common case.

``GET /1.0/identifiers/{did}`` is the node's hot path: every login at every relying party
resolves at least one DID. Profiled in process, FastAPI's routing, dependency solving and
middleware stack cost more than the resolution itself (~160 µs of ~270 µs per request), so
:class:`LeanResolution`, a plain ASGI wrapper that ``create_app`` puts in front of the
whole FastAPI app, answers a DID that resolves, asked for without a query, directly.
Everything else (a malformed or unknown DID, a query, a database that is down) goes on to
the FastAPI route unchanged, which answers with the same :func:`representation` bytes, so
both paths are one behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from realdid.did import DID_JSON, RESOLUTION_MEDIA_TYPE, Did, DidError, DidState, render_document

from ._service import RegistryNode

__all__ = ["RESOLUTION_ERROR_CODES", "LeanResolution", "representation"]

PREFIX = "/1.0/identifiers/"
_DOCUMENT_MEDIA_TYPES = (DID_JSON, "application/did+ld+json")
#: W3C DID Resolution error names (the ``error`` of DID resolution metadata) -> the node's
#: problem codes (the last segment of the problem ``type``).
RESOLUTION_ERROR_CODES = {
    "invalidDid": "invalid-did",
    "methodNotSupported": "method-not-supported",
    "notFound": "did-not-found",
}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def representation(
    did: Did, state: DidState, result: dict[str, Any], accept: str
) -> tuple[int, str, bytes]:
    """``(status, media type, body)`` of a resolved DID: the bare DID document when
    ``accept`` names a document media type, else the full resolution result; 410 for a
    deactivated DID."""
    status = 410 if state.deactivated else 200
    for media_type in _DOCUMENT_MEDIA_TYPES:
        if media_type in accept:
            return status, media_type, orjson.dumps(render_document(did, state))
    return status, RESOLUTION_MEDIA_TYPE, orjson.dumps(result)


class LeanResolution:
    """Answers ``GET /1.0/identifiers/<did>`` for a DID that resolves; passes the rest on."""

    def __init__(self, app: Asgi, node: RegistryNode) -> None:
        self.app = app
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answer(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        status, media_type, body = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", media_type.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> tuple[int, str, bytes] | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or scope["query_string"] or not path.startswith(PREFIX):
            return None
        text = path[len(PREFIX) :]
        node = self.node
        started = node.timer.monotonic()
        try:
            did = Did.parse(text)
            found = node.resolve(did)
        except DidError:
            return None  # the route answers it with the DID Resolution error
        except Exception:
            return None
        if found is None:
            return None
        state, result = found
        accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), "")
        answer = representation(did, state, result, accept)
        node.metrics.resolutions.observe(node.timer.monotonic() - started)
        return answer
