"""Synthetic residents for development and benchmarks (never real people).

Numbers follow GB 11643-1999: a county-level GB/T 2260 address code taken from the table
python-stdnum bundles (``stdnum/cn/loc.dat``), the birth date, a sequence code whose parity
follows sex (§5.4) and the ISO 7064 MOD 11-2 check character computed by stdnum. Names come
from Faker's ``zh_CN`` locale. Everything derives from the ``random.Random`` passed in, so
one seed always yields the same file.
"""

from __future__ import annotations

import csv
import datetime
import functools
import math
import os
import random
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from faker import Faker
from stdnum import exceptions as stdnum_errors
from stdnum import numdb
from stdnum.cn import ric

from ._face import FACE_TEMPLATE_DIMENSIONS, decode_face, encode_face
from ._register import CSV_COLUMNS, Resident

BIRTH_YEARS = (1930, 2008)
"""Inclusive range of synthetic birth years."""
CAPTURE_NOISE = 0.02
"""Per-component Gaussian noise of a capture: cosine similarity to the template ≈ 0.987."""
_FIRST_BIRTH_DATE = datetime.date(BIRTH_YEARS[0], 1, 1)
_BIRTH_DAYS = (datetime.date(BIRTH_YEARS[1], 12, 31) - _FIRST_BIRTH_DATE).days + 1


@functools.cache
def county_region_codes() -> tuple[str, ...]:
    """County-level GB/T 2260 codes from stdnum's birth-place table, sorted.

    Province (``xx0000``) and prefecture (``xxxx00``) rows and the ``市辖区`` placeholder
    rows ("districts under the city", not a place) are left out. Some codes were in force
    only for some years: :func:`generate_residents` keeps a code only when
    ``stdnum.cn.ric.get_birth_place`` accepts it for the birth year.
    """
    codes: set[str] = set()
    for _, province, _, _, counties in numdb.get("cn/loc").prefixes:
        for _, low, high, props, _ in counties:
            names = props.get("county", "")
            if low != high or low.endswith("00") or names.endswith("市辖区"):
                continue
            codes.add(province + low)
    return tuple(sorted(codes))


@functools.cache
def _in_force(region: str, year: int) -> bool:
    """Whether stdnum accepts ``region`` as a birth place in ``year`` (cached: it is slow)."""
    try:
        ric.get_birth_place(f"{region}{year:04d}01010000")
    except stdnum_errors.InvalidComponent:
        return False
    return True


def _random_vector(rng: random.Random) -> list[float]:
    v = [rng.gauss(0.0, 1.0) for _ in range(FACE_TEMPLATE_DIMENSIONS)]
    norm = math.sqrt(math.fsum(x * x for x in v))
    return [x / norm for x in v]


def _pack(vector: list[float]) -> bytes:
    return struct.pack(f"<{FACE_TEMPLATE_DIMENSIONS}f", *vector)


def _capture(template: list[float], rng: random.Random) -> bytes:
    noisy = [x + rng.gauss(0.0, CAPTURE_NOISE) for x in template]
    norm = math.sqrt(math.fsum(x * x for x in noisy))
    return _pack([x / norm for x in noisy])


def seeded_names(rng: random.Random) -> Faker:
    """Faker's ``zh_CN`` locale seeded from ``rng``: one seed always yields the same names."""
    names = Faker("zh_CN")
    names.seed_instance(rng.getrandbits(64))
    return names


def generate_residents(count: int, rng: random.Random) -> Iterator[tuple[Resident, bytes]]:
    """Yield ``count`` synthetic residents, each with a matching face capture.

    ID numbers are unique within one call. The capture is the template plus small noise,
    what a resident's phone would present at enrollment (simulated).
    """
    if count < 0:
        raise ValueError("count must not be negative")
    names = seeded_names(rng)
    regions = county_region_codes()
    seen: set[str] = set()
    produced = 0
    while produced < count:
        sex = rng.choice("MF")
        birth_date = _FIRST_BIRTH_DATE + datetime.timedelta(days=rng.randrange(_BIRTH_DAYS))
        region = rng.choice(regions)
        sequence = rng.randrange(500) * 2 + (1 if sex == "M" else 0)
        body = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
        id_number = body + ric.calc_check_digit(body + "0")
        if id_number in seen:
            continue
        if not _in_force(region, birth_date.year):
            continue
        seen.add(id_number)
        given_name = names.first_name_male() if sex == "M" else names.first_name_female()
        template = _random_vector(rng)
        resident = Resident(
            id_number=id_number,
            family_name=names.last_name(),
            given_name=given_name,
            sex=sex,
            birth_date=birth_date,
            region_code=region,
            face_template=_pack(template),
        )
        produced += 1
        yield resident, _capture(template, rng)


def write_csv(residents: Iterable[Resident], path: Path | str) -> int:
    """Write a register CSV (header :data:`CSV_COLUMNS`); returns the number of rows."""
    return write_rows(path, CSV_COLUMNS, (r.to_row() for r in residents))


def write_rows(path: Path | str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """Write a UTF-8 CSV file: ``header``, then ``rows``; returns the number of rows."""
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


def write_captures(captures: Iterable[tuple[str, bytes]], path: Path | str) -> int:
    """Write ``id_number,capture`` lines (capture as unpadded base64url); returns the count.

    The sidecar a test or benchmark reads to present each resident's face at enrollment.
    """
    n = 0
    with open(path, "w", encoding="ascii", newline="") as f:
        for id_number, capture in captures:
            f.write(f"{id_number},{encode_face(capture)}\n")
            n += 1
    return n


def write_register(
    count: int, rng: random.Random, csv_path: Path | str, captures_path: Path | str | None
) -> int:
    """Generate ``count`` residents straight to disk (streaming; constant memory)."""
    with open(captures_path or os.devnull, "w", encoding="ascii", newline="") as cap:

        def residents() -> Iterator[Resident]:
            for resident, capture in generate_residents(count, rng):
                if captures_path is not None:
                    cap.write(f"{resident.id_number},{encode_face(capture)}\n")
                yield resident

        return write_csv(residents(), csv_path)


def read_captures(path: Path | str) -> dict[str, bytes]:
    """Read a captures sidecar written by :func:`write_captures` (tests, benchmarks)."""
    out: dict[str, bytes] = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            id_number, _, text = line.rstrip("\n").partition(",")
            out[id_number] = decode_face(text)
    return out
