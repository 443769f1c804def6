from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realdid.authority import (
    CSV_COLUMNS,
    DuplicateResidentError,
    RegisterImportError,
    Resident,
    SqliteRegister,
    generate_residents,
    write_csv,
)
from realdid.clock import FixedClock

CLOCK = FixedClock(1_800_000_000)


def _residents(n: int, seed: int = 1) -> list[Resident]:
    return [r for r, _ in generate_residents(n, random.Random(seed))]


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def test_csv_round_trip(tmp_path: Path) -> None:
    residents = _residents(50)
    write_csv(residents, tmp_path / "r.csv")
    with SqliteRegister(tmp_path / "register.db", clock=CLOCK) as register:
        assert register.import_csv(tmp_path / "r.csv") == 50
        assert register.count() == 50
        for r in residents:
            assert register.lookup(r.id_number) == r
        assert register.lookup("11010519491231002X") is None


def test_bad_check_character_rejects_whole_import(tmp_path: Path) -> None:
    write_csv(_residents(10), tmp_path / "r.csv")
    rows = _rows(tmp_path / "r.csv")
    bad = rows[6][0]
    rows[6][0] = bad[:17] + ("0" if bad[17] != "0" else "1")  # line 7 of the file
    _write_rows(tmp_path / "bad.csv", rows)
    with SqliteRegister(tmp_path / "register.db", clock=CLOCK) as register:
        register.import_csv(tmp_path / "r.csv")  # baseline of 10 in another file
    with SqliteRegister(tmp_path / "other.db", clock=CLOCK) as register:
        with pytest.raises(RegisterImportError) as info:
            register.import_csv(tmp_path / "bad.csv")
        assert info.value.line == 7
        assert "line 7" in str(info.value)
        assert "id-number-checksum" in str(info.value)
        assert bad[:17] not in str(info.value)
        assert register.count() == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [("sex", "X"), ("birth_date", "1900-01-01"), ("region_code", "110101"), ("family_name", "")],
)
def test_inconsistent_field_rejected(tmp_path: Path, column: str, value: str) -> None:
    write_csv(_residents(5), tmp_path / "r.csv")
    rows = _rows(tmp_path / "r.csv")
    rows[3][CSV_COLUMNS.index(column)] = value
    _write_rows(tmp_path / "bad.csv", rows)
    with SqliteRegister(tmp_path / "register.db", clock=CLOCK) as register:
        with pytest.raises(RegisterImportError) as info:
            register.import_csv(tmp_path / "bad.csv")
        assert info.value.line == 4
        assert column in str(info.value)
        assert register.count() == 0


def test_duplicates_rejected(tmp_path: Path) -> None:
    residents = _residents(5)
    write_csv([*residents, residents[1]], tmp_path / "dup.csv")
    write_csv(residents, tmp_path / "r.csv")
    with SqliteRegister(tmp_path / "register.db", clock=CLOCK) as register:
        with pytest.raises(DuplicateResidentError) as info:
            register.import_csv(tmp_path / "dup.csv")
        assert info.value.line == 7
        assert register.count() == 0
        assert register.import_csv(tmp_path / "r.csv") == 5
        with pytest.raises(DuplicateResidentError):
            register.import_csv(tmp_path / "r.csv")
        assert register.count() == 5


def test_bad_header_rejected(tmp_path: Path) -> None:
    _write_rows(tmp_path / "bad.csv", [["id", "name"]])
    with SqliteRegister(tmp_path / "register.db", clock=CLOCK) as register:
        with pytest.raises(RegisterImportError) as info:
            register.import_csv(tmp_path / "bad.csv")
        assert info.value.line == 1


_POOL = _residents(40, seed=9)
_NAMES = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=20
).filter(lambda s: s == s.strip() and s.isprintable())


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(_POOL), _NAMES, _NAMES)
def test_row_round_trip(base: Resident, family: str, given_name: str) -> None:
    resident = Resident(
        id_number=base.id_number,
        family_name=family,
        given_name=given_name,
        sex=base.sex,
        birth_date=base.birth_date,
        region_code=base.region_code,
        face_template=base.face_template,
    )
    assert Resident.from_row(resident.to_row(), clock=CLOCK) == resident
