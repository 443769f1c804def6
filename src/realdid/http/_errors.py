"""The root of :mod:`realdid.http` errors: a bound on outside input that was exceeded."""

from __future__ import annotations

__all__ = ["HttpError"]


class HttpError(Exception):
    """Base of :mod:`realdid.http` errors.

    Like every package's error root, it carries a stable ``code`` (the last path segment
    of the RFC 9457 problem ``type``) and the ``http_status`` a service answers it with.
    """

    code = "http-error"
    http_status = 500

    def diagnostics(self) -> str:
        return str(self)
