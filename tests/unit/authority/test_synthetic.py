from __future__ import annotations

import random
from pathlib import Path

from stdnum.cn import ric

from realdid.authority import (
    generate_residents,
    read_captures,
    validate_id_number,
    write_register,
)
from realdid.clock import FixedClock


def test_generated_numbers_valid_and_consistent() -> None:
    pairs = list(generate_residents(300, random.Random(11)))
    numbers = [r.id_number for r, _ in pairs]
    assert len(set(numbers)) == 300
    for resident, _ in pairs:
        assert ric.is_valid(resident.id_number)
        parsed = validate_id_number(resident.id_number, clock=FixedClock(1_800_000_000))
        assert parsed.sex == resident.sex
        assert int(resident.id_number[16]) % 2 == (1 if resident.sex == "M" else 0)
        assert parsed.birth_date == resident.birth_date
        assert 1930 <= resident.birth_date.year <= 2008
        assert parsed.region_code == resident.region_code
        assert resident.family_name
        assert resident.given_name


def test_deterministic_for_a_seed() -> None:
    a = list(generate_residents(20, random.Random(5)))
    b = list(generate_residents(20, random.Random(5)))
    c = list(generate_residents(20, random.Random(6)))
    assert a == b
    assert a != c


def test_write_register_and_captures(tmp_path: Path) -> None:
    n = write_register(10, random.Random(2), tmp_path / "r.csv", tmp_path / "c.txt")
    assert n == 10
    captures = read_captures(tmp_path / "c.txt")
    expected = {r.id_number: c for r, c in generate_residents(10, random.Random(2))}
    assert captures == expected
