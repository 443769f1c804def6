"""How RealDID services run as processes: many pre-forked workers under one supervisor.

* :class:`WorkerPool` — fork N workers that serve on sockets the parent bound, replace any
  that dies, stop them all on SIGTERM/SIGINT; :func:`default_workers` is one per core;
* :func:`share_metrics` and :func:`forget_process` — the workers' Prometheus metrics added
  up over all of them;
* :class:`HttpLimits` and :func:`limited_protocol` — uvicorn's HTTP protocol bounded: head
  size, header count, request-line length, head and body timeouts, connections per worker.

This package sits below the services and knows none of them: it imports only the
standard library, uvicorn and prometheus_client.
"""

from __future__ import annotations

from ._http_limits import HttpLimits, limited_protocol
from ._metrics import forget_process, share_metrics
from ._supervisor import WorkerPool, default_workers

__all__ = [
    "HttpLimits",
    "WorkerPool",
    "default_workers",
    "forget_process",
    "limited_protocol",
    "share_metrics",
]
