from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from realdid.authority import (
    BUSINESS_CSV_COLUMNS,
    SqliteBusinessRegister,
    validate_uscc,
)
from realdid.cli import app


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _generate(path: Path, count: int = 25, seed: int = 3) -> None:
    code, out, err = _invoke(
        "authority",
        "business",
        "generate",
        "--count",
        str(count),
        "--out",
        str(path),
        "--seed",
        str(seed),
    )
    assert (code, err) == (0, "")
    assert out == f"generated {count} enterprises into {path}\n"


def _assert_one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert err.endswith("\n")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return err


def test_generate_then_import(tmp_path: Path) -> None:
    _generate(tmp_path / "b.csv")
    with open(tmp_path / "b.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == BUSINESS_CSV_COLUMNS
    assert len(rows) == 26
    assert all(validate_uscc(row[0]) == row[0] for row in rows[1:])

    data = tmp_path / "data"
    code, out, err = _invoke(
        "authority", "business", "import", str(tmp_path / "b.csv"), "--data-dir", str(data)
    )
    assert (code, err) == (0, "")
    assert out == "imported 25 enterprises; business register holds 25\n"
    with SqliteBusinessRegister(data / "business.db") as register:
        assert register.count() == 25
        found = register.lookup(rows[5][0])
        assert found is not None
        assert found.to_row() == rows[5]
    assert not (data / "register.db").exists()  # the population register is untouched


def test_same_seed_same_file(tmp_path: Path) -> None:
    _generate(tmp_path / "a.csv", seed=8)
    _generate(tmp_path / "b.csv", seed=8)
    _generate(tmp_path / "c.csv", seed=9)
    a = (tmp_path / "a.csv").read_bytes()
    assert a == (tmp_path / "b.csv").read_bytes()
    assert a != (tmp_path / "c.csv").read_bytes()


def test_bad_file_is_one_line_and_imports_nothing(tmp_path: Path) -> None:
    _generate(tmp_path / "b.csv", count=5)
    lines = (tmp_path / "b.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    bad_code = lines[2][:18]
    lines[2] = bad_code[:17] + ("0" if bad_code[17] != "0" else "1") + lines[2][18:]
    (tmp_path / "bad.csv").write_text("".join(lines), encoding="utf-8")
    data = tmp_path / "data"
    err = _assert_one_line_error(
        *_invoke(
            "authority", "business", "import", str(tmp_path / "bad.csv"), "--data-dir", str(data)
        )
    )
    assert err.startswith("error: line 3: uscc: ")
    assert "[uscc-checksum]" in err
    assert bad_code[:17] not in err
    with SqliteBusinessRegister(data / "business.db") as register:
        assert register.count() == 0


def test_reimport_is_a_duplicate(tmp_path: Path) -> None:
    _generate(tmp_path / "b.csv", count=4)
    args = ("authority", "business", "import", str(tmp_path / "b.csv"), "--data-dir", str(tmp_path))
    assert _invoke(*args)[0] == 0
    err = _assert_one_line_error(*_invoke(*args))
    assert err.startswith("error: line 2: credit code already")


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    err = _assert_one_line_error(
        *_invoke(
            "authority",
            "business",
            "import",
            str(tmp_path / "nope.csv"),
            "--data-dir",
            str(tmp_path),
        )
    )
    assert "nope.csv" in err


def test_generate_into_missing_directory_is_one_line(tmp_path: Path) -> None:
    _assert_one_line_error(
        *_invoke(
            "authority",
            "business",
            "generate",
            "--count",
            "1",
            "--out",
            str(tmp_path / "no" / "b.csv"),
        )
    )
