"""Leases (realdid.storage._lease): one holder at a time, freed when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from realdid.storage import (
    FileLease,
    Lease,
    PostgresLease,
    StoreLocation,
    TemporaryPostgres,
    lease_for,
)

Locate = Callable[[str], StoreLocation]


@pytest.fixture
def location(both_engines: str, store_at: Locate) -> StoreLocation:
    return store_at("node")


def test_the_lease_kind_follows_the_engine(location: StoreLocation, both_engines: str) -> None:
    lease = lease_for(location, "node_writer")
    expected = FileLease if both_engines == "sqlite" else PostgresLease
    assert isinstance(lease, expected)
    if isinstance(lease, FileLease):
        assert lease.path == Path(str(location)).with_name("node_writer.lock")


def test_one_holder_at_a_time(location: StoreLocation) -> None:
    first, second = lease_for(location, "node_writer"), lease_for(location, "node_writer")
    try:
        assert not first.held
        assert first.try_acquire()
        assert first.try_acquire()  # confirming is not re-taking
        assert first.held
        assert not second.try_acquire()
        assert not second.held
        first.release()
        assert not first.held
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()
        second.release()  # idempotent


def test_leases_of_other_names_are_independent(location: StoreLocation) -> None:
    writer, other = lease_for(location, "node_writer"), lease_for(location, "status_lists")
    try:
        assert writer.try_acquire()
        assert other.try_acquire()
    finally:
        writer.release()
        other.release()


def test_a_bad_name_is_refused(location: StoreLocation) -> None:
    with pytest.raises(ValueError, match="store name"):
        lease_for(location, "Node Writer")


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from realdid.storage import lease_for
    lease = lease_for(sys.argv[1], "node_writer")
    assert lease.try_acquire()
    print("held", flush=True)
    time.sleep(600)
    """
)


def _wait_for(condition: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "the lease was not freed in time"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_killed_holder_frees_the_lease_at_once(location: StoreLocation) -> None:
    lease: Lease = lease_for(location, "node_writer")
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(location)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "held\n"
            assert not lease.try_acquire()
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(timeout=10)
            assert _wait_for(lease.try_acquire, timeout=5.0) < 5.0
        finally:
            holder.kill()
            lease.release()


def test_a_postgres_restart_loses_the_lease_and_it_is_taken_again() -> None:
    with TemporaryPostgres() as server:
        url = server.create_database("lease_restart")
        lease = PostgresLease(url, "node_writer")
        try:
            assert lease.try_acquire()
            server.restart(crash=True)
            assert not lease.try_acquire()  # the session that held it is gone
            assert not lease.held
            assert _wait_for(lease.try_acquire, timeout=10.0) < 10.0
        finally:
            lease.release()


def test_an_unreachable_database_is_no_lease_and_no_exception(tmp_path: Path) -> None:
    lease = PostgresLease("postgresql://nobody@127.0.0.1:1/none", "node_writer")
    assert not lease.try_acquire()
    assert not lease.held
