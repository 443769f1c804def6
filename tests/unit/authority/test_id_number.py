from __future__ import annotations

import datetime

import pytest
from stdnum.cn import ric

from realdid.authority import (
    IdNumberBirthDateError,
    IdNumberChecksumError,
    IdNumberFormatError,
    IdNumberRegionError,
    validate_id_number,
)
from realdid.clock import FixedClock

# 11010519491231002X: the example printed in GB 11643-1999 (Beijing Chaoyang, 1949-12-31,
# female); 360426199101010071: stdnum.cn.ric's own doctest.
CLOCK = FixedClock(1_800_000_000)


@pytest.mark.parametrize(
    ("number", "region", "birth", "sex"),
    [
        ("11010519491231002X", "110105", datetime.date(1949, 12, 31), "F"),
        ("360426199101010071", "360426", datetime.date(1991, 1, 1), "M"),
    ],
)
def test_published_examples(number: str, region: str, birth: datetime.date, sex: str) -> None:
    assert ric.is_valid(number)
    parsed = validate_id_number(number, clock=CLOCK)
    assert (parsed.region_code, parsed.birth_date, parsed.sex) == (region, birth, sex)


def test_lowercase_x_canonicalised() -> None:
    assert validate_id_number("11010519491231002x", clock=CLOCK).id_number.endswith("X")


def _with_check(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


@pytest.mark.parametrize(
    ("number", "error", "code"),
    [
        ("1101051949123100", IdNumberFormatError, "id-number-format"),
        ("11010519491231002Y", IdNumberFormatError, "id-number-format"),
        ("110105 9491231002X", IdNumberFormatError, "id-number-format"),
        ("11010519491231002１", IdNumberFormatError, "id-number-format"),
        ("110105194912310021", IdNumberChecksumError, "id-number-checksum"),
        (_with_check("11010519490231002"), IdNumberBirthDateError, "id-number-birth-date"),
        (_with_check("11010520990101002"), IdNumberBirthDateError, "id-number-birth-date"),
        (_with_check("99010519491231002"), IdNumberRegionError, "id-number-region"),
        # A GB/T 2260 entry stdnum holds without a county: it raised KeyError (fuzzing).
        ("542310197001010015", IdNumberRegionError, "id-number-region"),
    ],
)
def test_error_codes(number: str, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as info:
        validate_id_number(number, clock=CLOCK)
    assert info.value.code == code  # type: ignore[attr-defined]
    assert number not in str(info.value)
