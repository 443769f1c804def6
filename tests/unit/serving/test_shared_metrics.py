"""Worker processes add their Prometheus metrics up (realdid.serving.share_metrics).

A pool of two workers runs in a child interpreter (prometheus_client must not be imported
before share_metrics, and the pool forks); each worker counts one event and sets a "live"
gauge to its pid. The test reads the shared directory the way a worker's ``/metrics``
does (realdid.http.metrics_response).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from realdid.http import MULTIPROCESS_ENV, metrics_response
from realdid.serving import share_metrics

from .test_supervisor import alive, started, wait_until

_POOL = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from realdid.serving import WorkerPool, forget_process, share_metrics

    directory = Path(sys.argv[1])
    share_metrics(directory / "metrics")

    def work(index: int) -> int:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        registry = CollectorRegistry()
        Counter("worker_starts", "workers started", registry=registry).inc()
        Gauge("live_pids", "pids", multiprocess_mode="livesum", registry=registry).set(
            os.getpid()
        )
        (directory / "pids" / f"{index}.{os.getpid()}").touch()
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
        while not stopping:
            time.sleep(0.02)
        return 0

    sys.exit(WorkerPool(2, work, grace=5.0, ended=forget_process).run())
    """
)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    (tmp_path / "pids").mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", _POOL, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=15)


def _scrape(directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    monkeypatch.setenv(MULTIPROCESS_ENV, str(directory))
    text = bytes(metrics_response(CollectorRegistry()).body).decode()
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^(worker_starts_total|live_pids) (\S+)$", text, re.MULTILINE)
    }


def test_a_scrape_adds_up_every_worker_and_forgets_the_dead_ones_gauges(
    pool: subprocess.Popen[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    wait_until(lambda: len(started(pids)) == 2)
    first = [runs[0] for runs in started(pids).values()]
    assert _scrape(tmp_path / "metrics", monkeypatch) == {
        "worker_starts_total": 2.0,
        "live_pids": float(sum(first)),
    }

    os.kill(first[0], signal.SIGKILL)
    wait_until(lambda: sum(len(runs) for runs in started(pids).values()) == 3)
    living = [runs[-1] for runs in started(pids).values()]
    assert not alive(first[0])
    wait_until(lambda: _scrape(tmp_path / "metrics", monkeypatch)["live_pids"] == sum(living))
    # The dead worker's count stays (a counter never goes back); its gauge no longer counts.
    assert _scrape(tmp_path / "metrics", monkeypatch)["worker_starts_total"] == 3.0


def test_metrics_cannot_be_shared_once_prometheus_client_is_loaded(tmp_path: Path) -> None:

    with pytest.raises(RuntimeError, match="before prometheus_client is imported"):
        share_metrics(tmp_path / "metrics")
    assert MULTIPROCESS_ENV not in os.environ
