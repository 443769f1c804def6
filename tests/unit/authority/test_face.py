from __future__ import annotations

import random

import pytest

from realdid.authority import FaceCaptureError, SimulatedFaceMatcher, generate_residents


def test_matcher_accepts_own_capture_rejects_other() -> None:
    pairs = list(generate_residents(20, random.Random(3)))
    matcher = SimulatedFaceMatcher()
    for i, (resident, capture) in enumerate(pairs):
        own = matcher.compare(resident.face_template, capture)
        assert own.matched
        assert own.score > 0.95
        other = matcher.compare(resident.face_template, pairs[(i + 1) % len(pairs)][1])
        assert not other.matched


def test_malformed_capture_rejected() -> None:
    resident, _ = next(generate_residents(1, random.Random(1)))
    matcher = SimulatedFaceMatcher()
    for bad in (b"", b"\x00" * 256, b"\xff" * 256):
        with pytest.raises(FaceCaptureError):
            matcher.compare(resident.face_template, bad)
