"""The ``realdid`` command: thin Typer commands over the library packages.

``_app.create_app`` assembles the command tree from one module per thing the commands act
on (``_serve``, ``_resolve``, ``_ledger``, ``_wallet``, ``_enroll``, ``_login``,
``_authority``); ``_conventions`` holds the shared options and the error convention, and
``_network`` the one seam to the network. Every failure prints one line
``error: <what went wrong and what to do>`` to stderr and exits non-zero.

Example (a test driving the command against an in-process service)::

    >>> result = CliRunner().invoke(create_app(transport), ["resolve", did, "--node", url])
"""

from __future__ import annotations

import sys

from ._app import create_app

app = create_app()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "create_app", "main"]
