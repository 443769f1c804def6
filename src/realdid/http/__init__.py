"""HTTP conventions shared by every RealDID service and client.

* RFC 9457 problem details: :class:`ProblemType` and the per-service :class:`ProblemTable`
  (each service declares its codes in its own package), :func:`problem_body`,
  :func:`problem_response`, and :func:`parse_problem` for clients;
* :func:`read_bounded_body`: a request body read with a size cap, and :func:`parse_form`
  for a form body that repeats no parameter; :func:`client_disconnected`, the handler that
  makes a client gone mid-body one log line;
* :func:`instrument`: request metrics and ``GET /metrics`` for a service,
  :func:`metrics_response` the exposition (summed over worker processes);
* :class:`RateLimiter`: per-client token buckets shared by a machine's worker processes,
  answering ``429 rate-limited`` with ``Retry-After``;
* :func:`download`: its client-side twin, an answer read with a size cap (streamed, so
  the cap holds before the body is buffered).

This package sits below the services: it imports only the standard library, Starlette,
httpx and prometheus_client.
"""

from __future__ import annotations

from ._body import (
    ClientDisconnect,
    MalformedFormError,
    PayloadTooLargeError,
    client_disconnected,
    parse_form,
    read_bounded_body,
)
from ._download import MAX_RESPONSE_BYTES, ResponseTooLargeError, download
from ._errors import HttpError
from ._metrics import MULTIPROCESS_ENV, instrument, metrics_response
from ._problems import (
    MAX_DETAIL_CHARS,
    MAX_PROBLEM_BYTES,
    PROBLEM_BASE,
    PROBLEM_MEDIA_TYPE,
    Problem,
    ProblemTable,
    ProblemType,
    parse_problem,
    problem_body,
    problem_response,
)
from ._rate_limits import NO_RATE_LIMITS, RATE_LIMITED, Rate, RateLimiter, client_key

__all__ = [
    "MAX_DETAIL_CHARS",
    "MAX_PROBLEM_BYTES",
    "MAX_RESPONSE_BYTES",
    "MULTIPROCESS_ENV",
    "NO_RATE_LIMITS",
    "PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "RATE_LIMITED",
    "ClientDisconnect",
    "HttpError",
    "MalformedFormError",
    "PayloadTooLargeError",
    "Problem",
    "ProblemTable",
    "ProblemType",
    "Rate",
    "RateLimiter",
    "ResponseTooLargeError",
    "client_disconnected",
    "client_key",
    "download",
    "instrument",
    "metrics_response",
    "parse_form",
    "parse_problem",
    "problem_body",
    "problem_response",
    "read_bounded_body",
]
