"""The registry client's errors, split by who is at fault (house style, python-tuf's split).

:class:`NodeClientError` is the family root, so a caller that only needs "the registry could
not give a usable answer" catches one class; :class:`ResolutionResultError` narrows it to bad
remote data (the node answered, but not a resolution result this client can trust).
"""

from __future__ import annotations


class NodeClientError(Exception):
    """A request to a registry node failed: refused (``code`` from its RFC 9457 problem),
    unreachable, or answered with something unusable.

    ``http_status`` is 502 (Bad Gateway): should a service's own request fail because the
    node failed it, the fault is upstream.
    """

    code = "node-client-error"
    http_status = 502

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def diagnostics(self) -> str:
        return str(self)


class ResolutionResultError(NodeClientError):
    """A resolution result is malformed; the message names the offending member."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid-resolution-result", message)
