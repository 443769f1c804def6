"""Injected time, so that every component is deterministic under test.

Two seams: a :class:`Clock` tells wall-clock time in whole seconds (token lifetimes,
timestamps that go into documents); a :class:`Timer` measures elapsed time and waits
(polling loops, retry back-off), on a monotonic clock that never jumps when the system
time is set.

Example::

    >>> clock = FixedClock(1_700_000_000)
    >>> clock.now()
    1700000000

A wait written against :class:`Timer` runs instantly under :class:`FakeTimer`, whose
``sleep`` just moves its time forward::

    >>> def wait_until(ready, timer: Timer, *, timeout: float, interval: float) -> bool:
    ...     deadline = timer.monotonic() + timeout
    ...     while not ready():
    ...         if timer.monotonic() >= deadline:
    ...             return False
    ...         timer.sleep(interval)
    ...     return True
    >>> timer = FakeTimer()
    >>> wait_until(lambda: False, timer, timeout=5.0, interval=0.5)
    False
    >>> timer.monotonic(), len(timer.sleeps)
    (5.0, 10)
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FakeTimer", "FixedClock", "SystemClock", "SystemTimer", "Timer"]


class Clock(Protocol):
    def now(self) -> int:
        """Current time as whole seconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: int) -> None:
        self._now = start

    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> None:
        self._now += seconds


class Timer(Protocol):
    """Elapsed time and waiting, for code that polls or backs off."""

    def monotonic(self) -> float:
        """Seconds on a clock that only moves forward; only differences are meaningful."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...


class SystemTimer:
    """:func:`time.monotonic` and :func:`time.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeTimer:
    """A timer for tests: ``sleep`` returns at once and advances :meth:`monotonic` by the
    time asked for; ``sleeps`` records every wait, so a test can assert the back-off."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")  # as time.sleep
        self.sleeps.append(seconds)
        self._now += seconds

    def advance(self, seconds: float) -> None:
        """Let time pass without a sleep (another thread's work, a slow server)."""
        self._now += seconds
