from __future__ import annotations

import csv
import datetime
import random
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from realdid.authority import (
    BUSINESS_CSV_COLUMNS,
    AuthorityError,
    DuplicateEnterpriseError,
    Enterprise,
    RegisterImportError,
    SqliteBusinessRegister,
    UsccChecksumError,
    UsccError,
    UsccFormatError,
    county_region_codes,
    generate_enterprises,
    organisation_code_check_character,
    validate_uscc,
    write_business_csv,
    write_business_register,
)
from realdid.clock import FixedClock

# 91110000600037341L: the example in python-stdnum's stdnum.cn.uscc doctest; its
# organisation code 60003734-1 also carries a valid GB 11714 check character.
STDNUM_EXAMPLE = "91110000600037341L"
CLOCK = FixedClock(1_800_000_000)  # 2027-01-15


def _with_check(partial: str) -> str:
    return partial + uscc.calc_check_digit(partial)


def _wrong_check(code: str) -> str:
    return code[:17] + ("0" if code[17] != "0" else "1")


# -- validate_uscc -------------------------------------------------------------------------------
def test_published_example() -> None:
    assert uscc.is_valid(STDNUM_EXAMPLE)
    assert validate_uscc(STDNUM_EXAMPLE) == STDNUM_EXAMPLE


@pytest.mark.parametrize(
    "text",
    ["91110000600037341l", " 91110000600037341L ", "91-110000-600037341L", "9 1 110000 600037341L"],
)
def test_normalised_like_stdnum_compact(text: str) -> None:
    assert validate_uscc(text) == STDNUM_EXAMPLE


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12345",
        STDNUM_EXAMPLE[:17],
        STDNUM_EXAMPLE + "0",
        "A1110000600037341L",  # the first 8 characters are digits
        "9111000060003734IL",  # I is not in the GB 32100 character set
        "91110000O00037341L",  # nor O
        "91110000600037341Z",  # nor Z
        "91110000600037341!",
        "91110000600\x0037341L",
        "1" * 100_000,  # hostile length: refused before stdnum sees it
        "９１１１００００６０００３７３４１Ｌ",  # fullwidth digits and letter
        "9111–0000–600037341L",  # en dashes, which stdnum would fold into hyphens
        "9111000060003734１L",
        "🏢" * 18,
    ],
)
def test_format_errors(text: str) -> None:
    with pytest.raises(UsccFormatError) as info:
        validate_uscc(text)
    assert info.value.code == "uscc-format"
    assert isinstance(info.value, UsccError)
    assert isinstance(info.value, AuthorityError)
    assert not isinstance(info.value, UsccChecksumError)


def test_non_string_is_a_format_error() -> None:
    with pytest.raises(UsccFormatError):
        validate_uscc(91110000600037341)  # type: ignore[arg-type]


def test_unicode_case_mapping_cannot_forge_a_code() -> None:
    code = _with_check("91110000" + "FF000000" + organisation_code_check_character("FF000000"))
    forged = code.replace("FF", "\ufb00", 1)  # LATIN SMALL LIGATURE FF uppercases to "FF"
    assert len(forged) == 17
    assert uscc.is_valid(forged)  # stdnum alone would accept it
    with pytest.raises(UsccFormatError):
        validate_uscc(forged)


@pytest.mark.parametrize(
    "code",
    [STDNUM_EXAMPLE, _with_check("91350100MA01ABCD5"), _with_check("12100000000000060")],
)
def test_checksum_errors(code: str) -> None:
    for check in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        candidate = code[:17] + check
        if check == code[17]:
            assert validate_uscc(candidate) == code
            continue
        with pytest.raises(UsccChecksumError) as info:
            validate_uscc(candidate)
        assert info.value.code == "uscc-checksum"
        assert isinstance(info.value, UsccError)


def test_single_character_substitutions_detected() -> None:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for i in range(8, 17):
        for c in alphabet:
            if c != STDNUM_EXAMPLE[i]:
                with pytest.raises(UsccChecksumError):
                    validate_uscc(STDNUM_EXAMPLE[:i] + c + STDNUM_EXAMPLE[i + 1 :])


def test_messages_never_echo_the_code() -> None:
    for bad in (_wrong_check(STDNUM_EXAMPLE), "A1110000600037341L", STDNUM_EXAMPLE[:12]):
        with pytest.raises(UsccError) as info:
            validate_uscc(bad)
        message = str(info.value)
        assert message
        assert bad not in message
        assert "600037341" not in message
        assert "110000" not in message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_is_refused_or_valid(text: str) -> None:
    try:
        result = validate_uscc(text)
    except UsccError:
        return
    assert len(result) == 18
    assert uscc.is_valid(result)
    assert result == uscc.compact(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=10, max_size=10))
def test_any_tail_with_stdnum_check_is_valid(tail: str) -> None:
    code = _with_check("91110000" + tail[:9])
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


# -- GB 11714 organisation codes -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("60003734", "1"),  # inside the stdnum example
        ("12345678", "8"),  # 201 mod 11 = 3
        ("00000000", "0"),  # 11 - 0 = 11, written 0
        ("00000006", "X"),  # 12 mod 11 = 1: 11 - 1 = 10, written X
        ("MA01ABCD", "5"),  # 66 + 70 + 0 + 10 + 50 + 88 + 48 + 26 = 358; 358 mod 11 = 6
    ],
)
def test_organisation_code_check_character(body: str, check: str) -> None:
    assert organisation_code_check_character(body) == check


@pytest.mark.parametrize(
    "body", ["", "1234567", "123456789", "abcdefgh", "１２３４５６７８", "1234-678"]
)
def test_organisation_code_body_refused(body: str) -> None:
    with pytest.raises(ValueError, match="organisation code"):
        organisation_code_check_character(body)


# -- synthetic enterprises -----------------------------------------------------------------------
def test_generated_codes_valid_and_consistent() -> None:
    enterprises = list(generate_enterprises(3000, random.Random(11)))
    codes = [e.uscc for e in enterprises]
    assert len(set(codes)) == 3000
    regions = set(county_region_codes())
    for e in enterprises:
        assert validate_uscc(e.uscc) == e.uscc
        assert e.uscc.startswith("91")
        assert e.uscc[2:8] == e.region_code
        assert e.region_code in regions
        assert organisation_code_check_character(e.uscc[8:16]) == e.uscc[16]
        assert datetime.date(1990, 1, 1) <= e.registered_on <= datetime.date(2024, 12, 31)
        assert Enterprise.from_row(e.to_row(), clock=CLOCK) == e
    assert len({e.name for e in enterprises}) > 100
    assert len({e.legal_representative for e in enterprises}) > 100


def test_deterministic_for_a_seed() -> None:
    a = list(generate_enterprises(20, random.Random(5)))
    assert a == list(generate_enterprises(20, random.Random(5)))
    assert a != list(generate_enterprises(20, random.Random(6)))


def test_negative_count_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        list(generate_enterprises(-1, random.Random(1)))


def test_write_business_register(tmp_path: Path) -> None:
    assert write_business_register(15, random.Random(2), tmp_path / "b.csv") == 15
    rows = _rows(tmp_path / "b.csv")
    assert tuple(rows[0]) == BUSINESS_CSV_COLUMNS
    expected = list(generate_enterprises(15, random.Random(2)))
    assert [Enterprise.from_row(r, clock=CLOCK) for r in rows[1:]] == expected


# -- records -------------------------------------------------------------------------------------
_POOL = list(generate_enterprises(40, random.Random(9)))
_NAMES = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=60
).filter(lambda s: s == s.strip() and s.isprintable())


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(_POOL), _NAMES, _NAMES)
def test_row_round_trip(base: Enterprise, name: str, representative: str) -> None:
    enterprise = Enterprise(
        uscc=base.uscc,
        name=name,
        legal_representative=representative,
        registered_on=base.registered_on,
        region_code=base.region_code,
    )
    assert Enterprise.from_row(enterprise.to_row(), clock=CLOCK) == enterprise


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [
        ("uscc", _POOL[0].uscc.lower(), UsccFormatError),
        ("uscc", f" {_POOL[0].uscc}", UsccFormatError),
        ("uscc", _wrong_check(_POOL[0].uscc), UsccChecksumError),
        ("name", "", RegisterImportError),
        ("name", "有限公司" * 60, RegisterImportError),
        ("name", "甲\n乙有限公司", RegisterImportError),
        ("name", " 甲乙有限公司", RegisterImportError),
        ("legal_representative", "", RegisterImportError),
        ("legal_representative", "张" * 65, RegisterImportError),
        ("legal_representative", "张\x1b三", RegisterImportError),
        ("registered_on", "2020/01/01", RegisterImportError),
        ("registered_on", "2021-02-29", RegisterImportError),
        ("registered_on", "2027-01-16", RegisterImportError),
        ("region_code", "11010", RegisterImportError),
        ("region_code", "١١٠١٠٥", RegisterImportError),
        ("region_code", "110105", RegisterImportError),
    ],
)
def test_bad_field_rejected(column: str, value: str, error: type[AuthorityError]) -> None:
    row = _POOL[0].to_row()
    if column == "region_code" and value == "110105" and row[4] == value:
        value = "110106"
    row[BUSINESS_CSV_COLUMNS.index(column)] = value
    with pytest.raises(error) as info:
        Enterprise.from_row(row, clock=CLOCK)
    assert type(info.value) is error
    if error is RegisterImportError:
        assert str(info.value).startswith(f"{column}: ")
    assert _POOL[0].name not in str(info.value)


def test_registration_today_accepted() -> None:
    row = _POOL[0].to_row()
    row[3] = "2027-01-15"
    assert Enterprise.from_row(row, clock=CLOCK).registered_on == datetime.date(2027, 1, 15)


@pytest.mark.parametrize("n", [0, 4, 6])
def test_wrong_field_count(n: int) -> None:
    with pytest.raises(RegisterImportError, match="expected 5 fields"):
        Enterprise.from_row([*_POOL[0].to_row(), "x"][:n], clock=CLOCK)


def test_oversized_field_refused() -> None:
    row = _POOL[0].to_row()
    row[1] = "公" * 100_000
    with pytest.raises(RegisterImportError, match="name: longer than"):
        Enterprise.from_row(row, clock=CLOCK)


# -- the register --------------------------------------------------------------------------------
def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def _enterprises(n: int, seed: int = 1) -> list[Enterprise]:
    return list(generate_enterprises(n, random.Random(seed)))


def test_csv_round_trip(tmp_path: Path) -> None:
    enterprises = _enterprises(50)
    assert write_business_csv(enterprises, tmp_path / "b.csv") == 50
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        assert register.count() == 0
        assert register.import_csv(tmp_path / "b.csv") == 50
        assert register.count() == 50
        for e in enterprises:
            assert register.lookup(e.uscc) == e
        assert register.lookup(STDNUM_EXAMPLE) is None
        assert register.lookup(enterprises[0].uscc.lower()) is None
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as reopened:
        assert reopened.count() == 50
        assert reopened.lookup(enterprises[7].uscc) == enterprises[7]


def test_wal_mode(tmp_path: Path) -> None:
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK):
        db = sqlite3.connect(tmp_path / "business.db")
        try:
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
        finally:
            db.close()
    assert mode == "wal"


def test_bad_line_3_leaves_register_unchanged(tmp_path: Path) -> None:
    first = _enterprises(5, seed=1)
    write_business_csv(first, tmp_path / "first.csv")
    second = _enterprises(6, seed=2)
    write_business_csv(second, tmp_path / "second.csv")
    rows = _rows(tmp_path / "second.csv")
    bad = rows[2][0]
    rows[2][0] = _wrong_check(bad)  # line 3 of the file
    _write_rows(tmp_path / "bad.csv", rows)
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        assert register.import_csv(tmp_path / "first.csv") == 5
        with pytest.raises(RegisterImportError) as info:
            register.import_csv(tmp_path / "bad.csv")
        assert info.value.line == 3
        assert str(info.value).startswith("line 3: uscc: ")
        assert "uscc-checksum" in str(info.value)
        assert bad[:17] not in str(info.value)
        assert second[1].name not in str(info.value)
        assert register.count() == 5
        assert register.lookup(second[0].uscc) is None  # line 2 was good, yet rolled back
        assert all(register.lookup(e.uscc) == e for e in first)
        assert register.import_csv(tmp_path / "second.csv") == 6  # still usable
        assert register.count() == 11


@pytest.mark.parametrize(
    ("column", "value"),
    [("name", ""), ("registered_on", "2030-01-01"), ("region_code", "000000")],
)
def test_bad_field_names_line_and_field(tmp_path: Path, column: str, value: str) -> None:
    write_business_csv(_enterprises(5), tmp_path / "b.csv")
    rows = _rows(tmp_path / "b.csv")
    rows[3][BUSINESS_CSV_COLUMNS.index(column)] = value
    _write_rows(tmp_path / "bad.csv", rows)
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        with pytest.raises(RegisterImportError) as info:
            register.import_csv(tmp_path / "bad.csv")
        assert info.value.line == 4
        assert str(info.value).startswith(f"line 4: {column}: ")
        assert register.count() == 0


def test_malformed_csv_names_the_line(tmp_path: Path) -> None:
    write_business_csv(_enterprises(4), tmp_path / "b.csv")
    lines = (tmp_path / "b.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = 'a,"b"c,d,e,f\n'
    (tmp_path / "bad.csv").write_text("".join(lines), encoding="utf-8")
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        with pytest.raises(RegisterImportError) as info:
            register.import_csv(tmp_path / "bad.csv")
        assert info.value.line == 3
        assert register.count() == 0


def test_not_utf8_refused(tmp_path: Path) -> None:
    header = ",".join(BUSINESS_CSV_COLUMNS).encode() + b"\n"
    (tmp_path / "bad.csv").write_bytes(header + b"\xff\xfe,\x80\n")
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        with pytest.raises(RegisterImportError, match="UTF-8"):
            register.import_csv(tmp_path / "bad.csv")
        assert register.count() == 0


def test_duplicates_rejected(tmp_path: Path) -> None:
    enterprises = _enterprises(5)
    write_business_csv([*enterprises, enterprises[1]], tmp_path / "dup.csv")
    write_business_csv(enterprises, tmp_path / "b.csv")
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        with pytest.raises(DuplicateEnterpriseError) as info:
            register.import_csv(tmp_path / "dup.csv")
        assert info.value.line == 7
        assert info.value.code == "business-register-duplicate"
        assert str(info.value).startswith("line 7: ")
        assert enterprises[1].uscc not in str(info.value)
        assert register.count() == 0
        assert register.import_csv(tmp_path / "b.csv") == 5
        with pytest.raises(DuplicateEnterpriseError) as again:
            register.import_csv(tmp_path / "b.csv")
        assert again.value.line == 2
        assert register.count() == 5


@pytest.mark.parametrize("header", [[], ["uscc", "name"], ["id_number", *BUSINESS_CSV_COLUMNS[1:]]])
def test_bad_header_rejected(tmp_path: Path, header: list[str]) -> None:
    _write_rows(tmp_path / "bad.csv", [header] if header else [])
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        with pytest.raises(RegisterImportError) as info:
            register.import_csv(tmp_path / "bad.csv")
        assert info.value.line == 1
        assert register.count() == 0


def test_header_only_imports_nothing(tmp_path: Path) -> None:
    _write_rows(tmp_path / "empty.csv", [list(BUSINESS_CSV_COLUMNS)])
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        assert register.import_csv(tmp_path / "empty.csv") == 0
        assert register.count() == 0


def test_concurrent_lookups(tmp_path: Path) -> None:
    enterprises = _enterprises(40)
    write_business_csv(enterprises, tmp_path / "b.csv")
    errors: list[BaseException] = []
    with SqliteBusinessRegister(tmp_path / "business.db", clock=CLOCK) as register:
        register.import_csv(tmp_path / "b.csv")

        def worker() -> None:
            try:
                for _ in range(5):
                    for e in enterprises:
                        assert register.lookup(e.uscc) == e
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
