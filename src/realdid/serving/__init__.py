"""How RealDID services run as processes: many pre-forked workers under one supervisor.

* :class:`WorkerPool` — fork N workers that serve on sockets the parent bound, replace any
  that dies, stop them all on SIGTERM/SIGINT; :func:`default_workers` is one per core;
* :class:`HttpLimits` and :func:`limited_protocol` — uvicorn's HTTP protocol bounded: head
  size, header count, request-line length, head and body timeouts, connections per worker.

This package sits below the services and knows none of them: it imports only the
standard library and uvicorn.
"""

from __future__ import annotations

from ._http_limits import HttpLimits, limited_protocol
from ._supervisor import WorkerPool, default_workers

__all__ = ["HttpLimits", "WorkerPool", "default_workers", "limited_protocol"]
