"""Injected randomness (realdid.randomness): one source of unguessable values."""

from __future__ import annotations

import doctest
import secrets

import realdid.randomness
from realdid.randomness import Randomness


def test_module_examples_run() -> None:
    assert doctest.testmod(realdid.randomness).failed == 0


def test_the_default_source_is_secrets() -> None:
    source = Randomness()
    assert source.token_bytes is secrets.token_bytes
    assert source.randbelow is secrets.randbelow


def test_token_is_token_urlsafe_format() -> None:
    source = Randomness(token_bytes=lambda n: b"\xfb\xff" * (n // 2))
    assert source.token(4) == "-__7_w"  # base64url alphabet, no padding
    assert len(Randomness().token(32)) == len(secrets.token_urlsafe(32))


def test_seeded_sources_replay_and_differ_by_seed() -> None:
    first, again, other = Randomness.seeded(1), Randomness.seeded(1), Randomness.seeded(2)
    drawn = [first.token(16), first.randbelow(1000)]
    assert drawn == [again.token(16), again.randbelow(1000)]
    assert other.token(16) != drawn[0]
    assert all(0 <= Randomness.seeded(5).randbelow(3) < 3 for _ in range(20))
