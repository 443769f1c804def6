"""Metrics shared by the worker processes of one service (prometheus_client's multiprocess
mode): each process writes its values to memory-mapped files in one directory, and a scrape
of any worker adds them up (``realdid.http.metrics_response``)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["forget_process", "share_metrics"]

_ENV = "PROMETHEUS_MULTIPROC_DIR"  # realdid.http.MULTIPROCESS_ENV (a sibling package)


def share_metrics(directory: Path) -> None:
    """Make every process started from now on write its metrics under ``directory``,
    emptied first (a restarted service counts from zero, as a restarted process does).

    Call it in the supervisor before anything imports prometheus_client: the library picks
    its value storage once, at import.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("share_metrics must run before prometheus_client is imported")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[_ENV] = str(directory)


def forget_process(pid: int) -> None:
    """A worker ended: its values of "live" gauges (queue length, stalled) stop counting;
    its counters stay, so totals never go backwards."""
    if _ENV in os.environ:
        from prometheus_client import multiprocess  # noqa: PLC0415 - only when shared

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
