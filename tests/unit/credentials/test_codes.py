"""Short login codes: Crockford alphabet, normalisation of what people type."""

from __future__ import annotations

import re

import pytest

from realdid.credentials import new_code, normalise_code
from realdid.randomness import Randomness

CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")


def test_new_codes_are_crockford_and_distinct() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(CODE.fullmatch(c) for c in codes)


def test_new_code_draws_its_40_bits_from_the_injected_source() -> None:
    asked: list[int] = []

    def token_bytes(n: int) -> bytes:
        asked.append(n)
        return (1).to_bytes(n, "big")

    # The lowest 5 bits are the first character.
    assert new_code(Randomness(token_bytes=token_bytes)) == "1000-0000"
    assert asked == [5]
    assert new_code(Randomness(token_bytes=lambda n: b"\xff" * n)) == "ZZZZ-ZZZZ"


def test_seeded_sources_repeat_their_codes() -> None:
    assert new_code(Randomness.seeded(3)) == new_code(Randomness.seeded(3))


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("ABCD-EFGH", "ABCD-EFGH"),
        ("abcdefgh", "ABCD-EFGH"),
        (" ab cd - ef gh ", "ABCD-EFGH"),
        ("IL0O-ilo1", "1100-1101"),
        ("7ZZZ-0000", "7ZZZ-0000"),
    ],
)
def test_normalise(typed: str, canonical: str) -> None:
    assert normalise_code(typed) == canonical


@pytest.mark.parametrize(
    "typed", ["", "ABCD-EFG", "ABCD-EFGHJ", "ABCD-EFGU", "ABCD_EFGH", "ÀBCD-EFGH", "A" * 1000]
)
def test_normalise_refuses_non_codes(typed: str) -> None:
    assert normalise_code(typed) is None
