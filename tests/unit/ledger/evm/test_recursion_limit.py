"""Importing the evm backend leaves the interpreter's recursion limit alone.

``py_ecc`` (imported by ``eth_account``) raises the limit to 100,000 at import; at that
limit a deeply nested hostile JSON document crashes the process in the C decoder instead of
raising RecursionError. Each import runs in a fresh interpreter: in this one, eth_account is
already loaded and its side effect spent.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from realdid.ledger.evm._recursion_limit import recursion_limit_kept


@pytest.mark.parametrize(
    "statement",
    [
        "import realdid.ledger.evm",
        "import realdid.ledger.evm._transactions",
        "from realdid.ledger import EvmLedger",
    ],
)
def test_importing_the_evm_backend_keeps_the_recursion_limit(statement: str) -> None:
    script = (
        f"import sys; before = sys.getrecursionlimit(); {statement}; "
        "assert 'py_ecc' in sys.modules, 'py_ecc was not imported'; "
        "print(before, sys.getrecursionlimit())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    before, after = result.stdout.split()
    assert after == before


def test_eth_account_alone_raises_the_limit() -> None:
    """What the guard is for: without it, the import changes the limit."""
    script = "import sys, eth_account; print(sys.getrecursionlimit())"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert int(result.stdout) >= 100_000


def test_recursion_limit_kept_restores_the_limit() -> None:
    limit = sys.getrecursionlimit()
    with recursion_limit_kept():
        sys.setrecursionlimit(limit + 500)
    assert sys.getrecursionlimit() == limit


def test_recursion_limit_kept_restores_the_limit_when_the_body_fails() -> None:
    limit = sys.getrecursionlimit()

    def failing_import() -> None:
        with recursion_limit_kept():
            sys.setrecursionlimit(limit + 500)
            raise ImportError("the body failed")

    with pytest.raises(ImportError):
        failing_import()
    assert sys.getrecursionlimit() == limit
