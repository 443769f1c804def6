"""Latency histograms that several client processes fill apart and the parent merges.

An HdrHistogram-style log-linear layout over integer microseconds: values below 256 µs
have a bucket each; above, every power of two is split into 128 equal buckets, so a
reported value is at most 1/128 (0.8 %) above the true one, from 1 µs up to hours, in a
few hundred sparse buckets. Buckets are plain counts, so merging the histograms of many
processes is adding them, and percentiles of the merged histogram are exact up to that
bucket width (averaging the percentiles of each process would not be).

Written here rather than taken from the ``hdrhistogram`` package: forty lines, no compiled
dependency, and the counts serialise to JSON and pickle as they are.
"""

from __future__ import annotations

import math
from typing import Any

_LINEAR = 256  # values below this have one bucket each
_SUB = 128  # buckets per power of two above it


def bucket_of(micros: int) -> int:
    """The bucket index of a non-negative value in microseconds."""
    if micros < _LINEAR:
        return micros
    shift = micros.bit_length() - 8  # micros >> shift is in [128, 255]
    return _LINEAR + (shift - 1) * _SUB + (micros >> shift) - _SUB


def bucket_high(index: int) -> int:
    """The highest value (µs) that falls into bucket ``index``."""
    if index < _LINEAR:
        return index
    shift, offset = divmod(index - _LINEAR, _SUB)
    shift += 1
    return ((offset + _SUB) << shift) + (1 << shift) - 1


class LatencyHistogram:
    """Counts of latencies (recorded in seconds, kept in µs buckets), plus exact min/max/sum."""

    __slots__ = ("count", "counts", "max_us", "min_us", "sum_us")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.sum_us = 0
        self.min_us = 0
        self.max_us = 0

    def record(self, seconds: float) -> None:
        micros = max(0, round(seconds * 1_000_000))
        index = bucket_of(micros)
        self.counts[index] = self.counts.get(index, 0) + 1
        if self.count == 0 or micros < self.min_us:
            self.min_us = micros
        self.max_us = max(self.max_us, micros)
        self.count += 1
        self.sum_us += micros

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s counts to this histogram (another process's, or a later snapshot's)."""
        if other.count == 0:
            return
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.min_us = other.min_us if self.count == 0 else min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)
        self.count += other.count
        self.sum_us += other.sum_us

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0 < q <= 1) in seconds: the highest value of the bucket that
        holds the ceil(q * count)-th value, never above the recorded maximum; 0 if empty."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(bucket_high(index), self.max_us) / 1_000_000
        return self.max_us / 1_000_000  # pragma: no cover - the counts add up to count

    def summary_ms(self) -> dict[str, float]:
        """min, mean, p50, p95, p99, max in milliseconds (what the results file holds)."""
        mean = self.sum_us / self.count / 1000 if self.count else 0.0
        return {
            "min": round(self.min_us / 1000, 3),
            "mean": round(mean, 3),
            "p50": round(self.percentile(0.50) * 1000, 3),
            "p95": round(self.percentile(0.95) * 1000, 3),
            "p99": round(self.percentile(0.99) * 1000, 3),
            "max": round(self.max_us / 1000, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sum_us": self.sum_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
            "buckets": sorted(self.counts.items()),
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> LatencyHistogram:
        histogram = cls()
        histogram.counts = {int(i): int(n) for i, n in value["buckets"]}
        histogram.count = int(value["count"])
        histogram.sum_us = int(value["sum_us"])
        histogram.min_us = int(value["min_us"])
        histogram.max_us = int(value["max_us"])
        return histogram
