"""Suite-wide guard: keep the interpreter's default recursion limit.

Test modules that import eth_account (EVM tests) pull in py_ecc, which raises the limit to
100,000 at import. Hostile-input tests then crash the whole run with a stack overflow in
the C JSON parser instead of getting RecursionError. ``realdid.ledger.evm`` keeps the
limit for the product; this does the same for test modules importing eth_account directly.
"""

from __future__ import annotations

import sys

import pytest

_DEFAULT_RECURSION_LIMIT = 1000


@pytest.fixture(autouse=True)
def _default_recursion_limit() -> None:
    if sys.getrecursionlimit() > _DEFAULT_RECURSION_LIMIT:
        sys.setrecursionlimit(_DEFAULT_RECURSION_LIMIT)
