"""The root of :mod:`realdid.node` errors.

Like every package's error root it carries a stable ``code`` and the ``http_status`` the
node answers it with; for a refusal the status is that of its code in
:data:`~realdid.node.NODE_PROBLEMS`, so the API maps an error by reading it.
"""

from __future__ import annotations

from ._problem_types import NODE_PROBLEMS

__all__ = ["NodeError"]


class NodeError(Exception):
    """Base of :mod:`realdid.node` errors."""

    code = "node-error"

    @property
    def http_status(self) -> int:
        """The status of this error's problem type; 500 for a code that is no problem type."""
        return NODE_PROBLEMS[self.code].status if self.code in NODE_PROBLEMS else 500

    def diagnostics(self) -> str:
        return str(self)
