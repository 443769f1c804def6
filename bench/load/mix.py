"""The traffic mix, durations and the order in which a client process picks kinds.

``--mix enroll=1,login=20,resolve=70,update=9`` gives each kind of operation a weight;
kinds left out get 0. A client process picks the next kind by *smooth weighted
round-robin* (the nginx upstream algorithm) rather than at random: over any window of
``sum(weights)`` operations every kind gets exactly its share, so even a run of a few
seconds at a low rate exercises every kind in the stated proportions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: The kinds of operation, in the order tables list them.
KINDS = ("enroll", "login", "resolve", "update")

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class SpecError(ValueError):
    """A command-line value that cannot be used; the message is the one error line."""


def parse_mix(spec: str) -> dict[str, float]:
    """``kind=weight,...`` as a weight per kind (every kind present, unnamed ones 0)."""
    weights = dict.fromkeys(KINDS, 0.0)
    named: set[str] = set()
    if not spec.strip():
        raise SpecError("--mix is empty: give kind=weight pairs, e.g. login=20,resolve=70")
    for item in spec.split(","):
        kind, sep, value = item.strip().partition("=")
        kind = kind.strip()
        if not sep:
            raise SpecError(f"--mix: {item.strip()!r} is not kind=weight")
        if kind not in weights:
            raise SpecError(f"--mix: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        if kind in named:
            raise SpecError(f"--mix: {kind} is given twice")
        try:
            weight = float(value)
        except ValueError:
            raise SpecError(f"--mix: the weight of {kind} is not a number: {value!r}") from None
        if not 0 <= weight < float("inf"):
            raise SpecError(f"--mix: the weight of {kind} must be 0 or more, got {value!r}")
        weights[kind] = weight
        named.add(kind)
    if sum(weights.values()) <= 0:
        raise SpecError("--mix: every weight is 0; give at least one kind a positive weight")
    return weights


def format_mix(weights: Mapping[str, float]) -> str:
    """The mix as ``kind=weight`` pairs, positive weights only (for the summary)."""
    return ",".join(f"{k}={weights[k]:g}" for k in KINDS if weights.get(k, 0) > 0)


def parse_duration(text: str, option: str) -> float:
    """``90``, ``90s``, ``1.5m``, ``500ms``, ``1h`` as seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise SpecError(f"{option}: {text!r} is not a duration (e.g. 30s, 2m, 500ms)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class WeightedCycle:
    """Smooth weighted round-robin over the kinds with a positive weight."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._weights = {k: float(w) for k, w in weights.items() if w > 0}
        if not self._weights:
            raise ValueError("no kind has a positive weight")
        self._total = sum(self._weights.values())
        self._current = dict.fromkeys(self._weights, 0.0)

    def next(self) -> str:
        for kind, weight in self._weights.items():
            self._current[kind] += weight
        chosen = max(self._current, key=self._current.__getitem__)
        self._current[chosen] -= self._total
        return chosen
