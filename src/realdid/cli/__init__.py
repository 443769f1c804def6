"""The ``realdid`` command: thin Typer commands over the library packages.

Every failure prints one line ``error: <what went wrong and what to do>`` to stderr and
exits non-zero; no stack traces reach the user.
"""

from ._main import app, main

__all__ = ["app", "main"]
