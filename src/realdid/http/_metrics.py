"""Prometheus metrics of a service: its requests per route, and ``GET /metrics``.

:func:`instrument` gives a Starlette/FastAPI app a ``/metrics`` route and counts every
request by route template (``/1.0/enrollments``, never the raw path: a DID in a path would
make one time series per resident), method and status, with its duration. Each app gets its
own registry, so one process can run several services (and tests several of each).

With several worker processes (``realdid.serving.share_metrics``), every process writes its
values to files in one directory and :func:`metrics_response` adds them up
(prometheus_client's multiprocess mode): a scrape of any worker sees the whole service.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    # Imported where used: a supervisor imports this package before it may let
    # prometheus_client load (realdid.serving.share_metrics).
    from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["MULTIPROCESS_ENV", "instrument", "metrics_response"]

#: The variable prometheus_client reads to write values to files shared by processes.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def metrics_response(registry: CollectorRegistry) -> Response:
    """The Prometheus text exposition of ``registry``, or of every worker's values when the
    workers share their metrics."""
    from prometheus_client import (  # noqa: PLC0415 - see the imports above
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        generate_latest,
    )
    from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415

    directory = os.environ.get(MULTIPROCESS_ENV)
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _RequestMetrics:
    """Pure ASGI middleware (no per-request task or body buffering, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, service: str, requests: Counter, seconds: Histogram) -> None:
        self.app = app
        self.service = service
        self.requests = requests
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _route_of(scope)
            self.requests.labels(self.service, route, scope["method"], str(status)).inc()
            self.seconds.labels(self.service, route).observe(time.perf_counter() - started)


def _route_of(scope: Scope) -> str:
    """The matched route's template; ``unmatched`` for a path no route has (a 404)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def instrument(app: Any, service: str) -> CollectorRegistry:
    """Count ``app``'s requests and serve them at ``GET /metrics``; returns the registry
    (a service adds its own metrics to it)."""
    from prometheus_client import CollectorRegistry, Counter, Histogram  # noqa: PLC0415

    registry = CollectorRegistry()
    requests = Counter(
        "realdid_http_requests_total",
        "HTTP requests answered, by route template, method and status",
        ["service", "route", "method", "status"],
        registry=registry,
    )
    seconds = Histogram(
        "realdid_http_request_seconds",
        "Time to answer an HTTP request, by route template",
        ["service", "route"],
        buckets=_BUCKETS,
        registry=registry,
    )
    app.add_middleware(_RequestMetrics, service=service, requests=requests, seconds=seconds)

    async def metrics(_: Request) -> Response:
        return metrics_response(registry)

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    return registry
