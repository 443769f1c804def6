"""Injected time (realdid.clock): wall clock and monotonic timer seams."""

from __future__ import annotations

import doctest
import time

import pytest

import realdid.clock
from realdid.clock import FakeTimer, FixedClock, SystemClock, SystemTimer, Timer


def test_module_examples_run() -> None:
    assert doctest.testmod(realdid.clock).failed == 0


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(100)
    assert clock.now() == 100
    clock.advance(5)
    assert clock.now() == 105


def test_system_clock_is_whole_seconds_of_now() -> None:
    assert abs(SystemClock().now() - time.time()) < 2


def test_fake_timer_sleep_advances_and_is_recorded() -> None:
    timer: Timer = FakeTimer(10.0)
    timer.sleep(0.25)
    timer.sleep(1.5)
    assert timer.monotonic() == 11.75
    assert isinstance(timer, FakeTimer)
    assert timer.sleeps == [0.25, 1.5]
    timer.advance(3.0)
    assert timer.monotonic() == 14.75
    assert timer.sleeps == [0.25, 1.5]


def test_fake_timer_refuses_negative_sleeps_like_time_sleep() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        FakeTimer().sleep(-1)
    with pytest.raises(ValueError, match="non-negative"):
        time.sleep(-1)


def test_system_timer_really_waits_on_a_monotonic_clock() -> None:
    timer = SystemTimer()
    before = timer.monotonic()
    timer.sleep(0.01)
    assert timer.monotonic() - before >= 0.01
