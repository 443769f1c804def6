"""Importing the EVM libraries without changing the interpreter's recursion limit.

``eth_account`` imports ``eth_keyfile``, which imports ``py_ecc`` for its BLS (EIP-2335)
keystores, and ``py_ecc/__init__.py`` runs ``sys.setrecursionlimit(max(100000, ...))`` at
import time so that its recursive pairing arithmetic does not hit the default limit. None of
that code runs here: transactions are signed with ``eth_keys`` (secp256k1), not BLS.

The raised limit is dangerous for the whole process. Recursion in C, such as the standard
library's JSON decoder (which web3 uses for every JSON-RPC response of the EVM node, and
which the SD-JWT parser and the wallet's HTTP clients use for remote documents), is bounded
only by the recursion limit; at 100,000 a deeply nested hostile document (``"[" * 300_000``)
overflows the C stack and kills the process with a segmentation fault instead of raising
:class:`RecursionError`.

The limit is process-wide (not per thread), so it cannot safely be lowered around each
decode while other threads run; the only place it changes is the import of ``py_ecc``. So
:func:`recursion_limit_kept` wraps the imports of the evm backend and puts back whatever
limit the process had before: importing :mod:`realdid.ledger.evm` has no global effect.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["recursion_limit_kept"]


@contextmanager
def recursion_limit_kept() -> Iterator[None]:
    """Restore the interpreter's recursion limit on exit, whatever the body set it to."""
    limit = sys.getrecursionlimit()
    try:
        yield
    finally:
        if sys.getrecursionlimit() != limit:
            sys.setrecursionlimit(limit)
