"""How RealDID services run as processes: many pre-forked workers under one supervisor.

* :class:`WorkerPool` — fork N workers that serve on sockets the parent bound, replace any
  that dies, stop them all on SIGTERM/SIGINT; :func:`default_workers` is one per core.

This package sits below the services and knows none of them: it imports only the
standard library.
"""

from __future__ import annotations

from ._supervisor import WorkerPool, default_workers

__all__ = ["WorkerPool", "default_workers"]
