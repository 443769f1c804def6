"""The ``realdid`` command: thin Typer commands over the library packages.

``_app`` holds the command tree and the error convention; ``_node``, ``_wallet`` and
``_ledger`` register their commands on it. Every failure prints one line
``error: <what went wrong and what to do>`` to stderr and exits non-zero.
"""

from __future__ import annotations

import sys

from . import _authority, _enroll, _ledger, _login, _node, _wallet  # noqa: F401 - importing registers the commands
from ._app import app


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "main"]
