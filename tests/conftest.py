"""Suite-wide fixtures: the interpreter's default recursion limit; a loop of one's own.

Test modules that import eth_account (EVM tests) pull in py_ecc, which raises the limit to
100,000 at import. Hostile-input tests then crash the whole run with a stack overflow in
the C JSON parser instead of getting RecursionError. ``realdid.ledger.evm`` keeps the
limit for the product; this does the same for test modules importing eth_account directly.

``run_coroutine`` runs a coroutine to completion on a fresh event loop in a thread of its
own: the browser tests' Playwright keeps a loop running in the main thread, where
``asyncio.run`` would refuse to start, so raw-ASGI tests must not depend on test order.

Databases (issue 11): ``store_at(name)`` gives where a store named ``name`` keeps its data
in this test — a SQLite file in ``tmp_path``, or a fresh PostgreSQL database of the
session's private server (:class:`realdid.storage.TemporaryPostgres`, started on first use).
The engine is the ``engine`` fixture: ``both_engines`` parametrises a test over SQLite and
PostgreSQL; otherwise it is ``REALDID_TEST_ENGINE`` (default ``sqlite``), so a whole suite
can be run on PostgreSQL by setting it.

Rate limits (issue 11): every service the suites start is driven from loopback, so
``REALDID_RATE_LIMITS__EXEMPT`` exempts it; the rate-limit tests set their own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from realdid.storage import StoreLocation, TemporaryPostgres

from .service_databases import ServiceDatabases

# Every service the suites start (CLI subprocesses included) is driven from this one
# loopback address, thousands of operations and enrollments at a time: exempt it from the
# per-client rate limits. The tests of those limits set the variable themselves.
os.environ.setdefault("REALDID_RATE_LIMITS__EXEMPT", "127.0.0.0/8,::1")

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


ENGINES = ("sqlite", "postgresql")
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TemporaryPostgres]:
    """One private PostgreSQL server for the whole run (fsync off: it is a test)."""
    with TemporaryPostgres() as server:
        yield server


def _run_engine() -> str:
    chosen = os.environ.get("REALDID_TEST_ENGINE", "sqlite")
    if chosen not in ENGINES:
        raise pytest.UsageError(f"REALDID_TEST_ENGINE must be one of {ENGINES}, not {chosen!r}")
    return chosen


@pytest.fixture
def engine() -> str:
    """The engine of this test run: ``REALDID_TEST_ENGINE`` (default sqlite)."""
    return _run_engine()


@pytest.fixture(scope="session")
def service_databases(request: pytest.FixtureRequest) -> ServiceDatabases:
    """Where the services started as child processes keep their stores, on the run's engine
    (:mod:`tests.service_databases`)."""
    if _run_engine() == "sqlite":
        return ServiceDatabases(None)
    return ServiceDatabases(request.getfixturevalue("postgres_server"))


@pytest.fixture(params=ENGINES)
def both_engines(request: pytest.FixtureRequest) -> str:
    """Parametrise a test over both engines (use instead of ``engine``)."""
    engine_name: str = request.param
    return engine_name


def new_postgres_database(server: TemporaryPostgres) -> str:
    """A fresh, empty database on ``server``; its URL."""
    return server.create_database(f"test_{os.getpid()}_{next(_database_numbers)}")


@pytest.fixture
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], StoreLocation]:
    """``store_at(name)``: where the store ``name`` keeps its data in this test, on the
    engine of ``both_engines`` if the test uses it, else of ``engine``."""
    names = request.fixturenames
    chosen = request.getfixturevalue("both_engines" if "both_engines" in names else "engine")
    if chosen == "sqlite":
        return lambda name: tmp_path / f"{name}.db"
    url = new_postgres_database(request.getfixturevalue("postgres_server"))
    return lambda name: url
