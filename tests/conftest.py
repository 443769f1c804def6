"""Suite-wide fixtures: the interpreter's default recursion limit; a loop of one's own.

Test modules that import eth_account (EVM tests) pull in py_ecc, which raises the limit to
100,000 at import. Hostile-input tests then crash the whole run with a stack overflow in
the C JSON parser instead of getting RecursionError. ``realdid.ledger.evm`` keeps the
limit for the product; this does the same for test modules importing eth_account directly.

``run_coroutine`` runs a coroutine to completion on a fresh event loop in a thread of its
own: the browser tests' Playwright keeps a loop running in the main thread, where
``asyncio.run`` would refuse to start, so raw-ASGI tests must not depend on test order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

_DEFAULT_RECURSION_LIMIT = 1000


@pytest.fixture(autouse=True)
def _default_recursion_limit() -> None:
    if sys.getrecursionlimit() > _DEFAULT_RECURSION_LIMIT:
        sys.setrecursionlimit(_DEFAULT_RECURSION_LIMIT)


def _run_in_own_thread(coroutine: Coroutine[Any, Any, Any]) -> Any:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def run_coroutine() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    return _run_in_own_thread
