"""Injected time, so that every component is deterministic under test.

Example::

    >>> clock = FixedClock(1_700_000_000)
    >>> clock.now()
    1700000000
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock"]


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
