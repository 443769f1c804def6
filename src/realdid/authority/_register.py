"""The population register: resident records, and a database register loaded from CSV.

The register is an interface (:class:`PopulationRegister`) with a database implementation
(:class:`SqliteRegister`: the store ``register``, a SQLite file or a PostgreSQL schema, see
:mod:`realdid.storage`) loaded from the CSV a civil register delivers; the CSV machinery
(:class:`CsvBackedRegister`) is shared with the business register (store ``business``). Each row is checked
against what its ID number encodes (``_id_numbers.py``) and its face template against the
face format (``_face.py``). Error messages never echo ID numbers, names or templates: they
name the line and the field, which is enough to fix the file and leaks no personal data.
"""

from __future__ import annotations

import csv
import datetime
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

from realdid.clock import Clock, SystemClock
from realdid.storage import Database, StoreLocation, Transaction, migrations_of, open_database

from ._errors import AuthorityError, RegisterImportError
from ._face import FaceCaptureError, decode_face, encode_face
from ._id_numbers import IdNumberError, IdNumberFormatError, validate_id_number

CSV_COLUMNS = (
    "id_number",
    "family_name",
    "given_name",
    "sex",
    "birth_date",
    "region_code",
    "face_template",
)
MAX_NAME_CHARS = 64
_MAX_FIELD_CHARS = 1024
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Rows per INSERT while importing: 500 x 7 columns stays far below both engines' limit on
#: parameters per statement (SQLite 32,766; PostgreSQL 65,535).
_BATCH_ROWS = 500


class DuplicateResidentError(RegisterImportError):
    """An ID number appears twice in the file, or is already in the register."""

    code = "register-duplicate"


# -- residents -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Resident:
    """One population-register record.

    ``face_template`` is :data:`FACE_TEMPLATE_BYTES` bytes: a unit vector of
    :data:`FACE_TEMPLATE_DIMENSIONS` little-endian float32 values.
    """

    id_number: str
    family_name: str
    given_name: str
    sex: str
    birth_date: datetime.date
    region_code: str
    face_template: bytes

    def to_row(self) -> list[str]:
        """The record as CSV fields, in :data:`CSV_COLUMNS` order."""
        return [
            self.id_number,
            self.family_name,
            self.given_name,
            self.sex,
            self.birth_date.isoformat(),
            self.region_code,
            encode_face(self.face_template),
        ]

    @classmethod
    def from_row(cls, row: list[str], *, clock: Clock | None = None) -> Resident:
        """Parse and cross-check CSV fields; raise :class:`AuthorityError` naming the field.

        The sex, birth date and region in the row must be the ones the ID number encodes:
        a register whose columns disagree with its own keys is corrupt.
        """
        if len(row) != len(CSV_COLUMNS):
            raise RegisterImportError(f"expected {len(CSV_COLUMNS)} fields, found {len(row)}")
        for name, value in zip(CSV_COLUMNS, row, strict=True):
            if len(value) > _MAX_FIELD_CHARS:
                raise RegisterImportError(f"{name}: longer than {_MAX_FIELD_CHARS} characters")
        id_text, family_name, given_name, sex, birth_text, region_code, face_text = row
        parsed = validate_id_number(id_text, clock=clock)
        if id_text != parsed.id_number:
            raise IdNumberFormatError("the ID number's check character must be an uppercase X")
        check_name_field("family_name", family_name)
        check_name_field("given_name", given_name)
        if sex not in ("M", "F"):
            raise RegisterImportError('sex: must be "M" or "F"')
        if sex != parsed.sex:
            raise RegisterImportError("sex: does not match the ID number's sequence code parity")
        if _ISO_DATE.fullmatch(birth_text) is None:
            raise RegisterImportError("birth_date: must be YYYY-MM-DD")
        try:
            birth_date = datetime.date.fromisoformat(birth_text)
        except ValueError as e:
            raise RegisterImportError("birth_date: not a real date") from e
        if birth_date != parsed.birth_date:
            raise RegisterImportError("birth_date: does not match the ID number")
        if region_code != parsed.region_code:
            raise RegisterImportError("region_code: does not match the ID number")
        return cls(
            id_number=parsed.id_number,
            family_name=family_name,
            given_name=given_name,
            sex=sex,
            birth_date=birth_date,
            region_code=region_code,
            face_template=decode_face(face_text),
        )


def check_name_field(field: str, value: str) -> None:
    if not value or len(value) > MAX_NAME_CHARS:
        raise RegisterImportError(f"{field}: must be 1 to {MAX_NAME_CHARS} characters")
    if value != value.strip() or not value.isprintable():
        raise RegisterImportError(
            f"{field}: must not contain control characters or surrounding spaces"
        )


# -- the register --------------------------------------------------------------------------------
class PopulationRegister(Protocol):
    """The civil register as the authority sees it: look a resident up by ID number."""

    def lookup(self, id_number: str) -> Resident | None: ...

    def count(self) -> int: ...


class CsvBackedRegister(ABC):
    """One table in a store of its own, loaded atomically from a register CSV.

    ``where`` is a SQLite file (WAL), a ``postgresql://`` URL (the store's schema there) or
    an open :class:`~realdid.storage.Database`. Safe to share between threads. Subclasses
    name the store, the table — whose columns are the CSV header, the key first — and how
    a CSV row becomes a database row. Imports commit with ``durable=False``: a register is
    re-imported from its source's CSV, never the only copy.
    """

    _store: str
    _table: str
    _columns: tuple[str, ...]
    _duplicate: type[RegisterImportError]
    _duplicate_message: str

    def __init__(self, where: Database | StoreLocation, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._db = open_database(
            where, store=self._store, migrations=migrations_of("realdid.authority", self._store)
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def count(self) -> int:
        with self._db.reading() as tx:
            (n,) = tx.execute(f"SELECT count(*) FROM {self._table}").fetchone()  # noqa: S608
        return int(n)

    @abstractmethod
    def _row(self, fields: list[str]) -> tuple[Any, ...]:
        """The database row for one CSV row, or an :class:`AuthorityError` naming the field."""

    def _field_of(self, error: AuthorityError) -> str:
        """The ``field: `` prefix for a validation error that does not name its field."""
        return _field_of(error)

    def import_csv(self, path: Path | str) -> int:
        """Load records from a CSV file; all or nothing. Returns the number imported.

        The header must be the register's columns. Every row is validated while streaming;
        the first bad row, or a key already present in the file or the register, aborts the
        import and rolls everything back. Errors name the line and the field, never a value.
        """
        state = _ImportProgress()
        try:
            with (
                open(path, encoding="utf-8", newline="") as f,
                self._db.transaction(durable=False) as tx,
            ):
                self._load(tx, self._rows(csv.reader(f, strict=True), state))
        except RegisterImportError:
            raise
        except AuthorityError as e:
            raise RegisterImportError(
                f"{self._field_of(e)}{e.diagnostics()} [{e.code}]", line=state.line
            ) from e
        except (csv.Error, UnicodeDecodeError) as e:
            # The reader failed on the row after the last good one.
            raise RegisterImportError(
                f"not a valid UTF-8 CSV row ({type(e).__name__})", line=state.line + 1
            ) from e
        return state.rows

    def _load(self, tx: Transaction, rows: Iterator[tuple[int, tuple[Any, ...]]]) -> None:
        """Insert the numbered ``rows`` in batches, in ``tx``, stopping at the first bad one."""
        batch: list[tuple[int, tuple[Any, ...]]] = []
        while True:
            try:
                numbered = next(rows, None)
            except (AuthorityError, csv.Error, UnicodeDecodeError):
                self._insert(tx, batch)  # a duplicate before the bad row is the first error
                raise
            if numbered is None:
                break
            batch.append(numbered)
            if len(batch) == _BATCH_ROWS:
                self._insert(tx, batch)
                batch = []
        self._insert(tx, batch)

    def _insert(self, tx: Transaction, batch: Sequence[tuple[int, tuple[Any, ...]]]) -> None:
        """Insert ``batch``; a row whose key was not inserted is a duplicate, named by line.

        ``ON CONFLICT DO NOTHING … RETURNING`` the keys, not a caught unique violation: a
        failed statement aborts a PostgreSQL transaction, and the keys returned say which
        row was the duplicate (the later of two in the file, or one already registered).
        """
        if not batch:
            return
        one_row = "(" + ", ".join("?" * len(self._columns)) + ")"
        inserted = {
            key
            for (key,) in tx.execute(
                f"INSERT INTO {self._table} ({', '.join(self._columns)})"  # noqa: S608
                f" VALUES {', '.join([one_row] * len(batch))}"
                f" ON CONFLICT DO NOTHING RETURNING {self._columns[0]}",
                [value for _, row in batch for value in row],
            )
        }
        for line, row in batch:
            if row[0] not in inserted:
                raise self._duplicate(self._duplicate_message, line=line)
            inserted.remove(row[0])

    def _rows(
        self, reader: Iterator[list[str]], state: _ImportProgress
    ) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """``(line, database row)`` for each CSV row after the header, validated."""
        state.line = 1
        header = next(reader, None)
        if header is None or tuple(header) != self._columns:
            raise RegisterImportError(f"header must be {','.join(self._columns)}", line=1)
        for fields in reader:
            state.line += 1
            try:
                row = self._row(fields)
            except RegisterImportError as e:
                raise RegisterImportError(str(e), line=state.line) from e
            state.rows += 1
            yield state.line, row


class SqliteRegister(CsvBackedRegister):
    """A :class:`PopulationRegister` in the store ``register`` (a SQLite file, or a schema of
    a PostgreSQL database), loaded by :meth:`import_csv`."""

    _store = "register"
    _table = "residents"
    _columns = CSV_COLUMNS
    _duplicate = DuplicateResidentError
    _duplicate_message = "ID number already in the file or the register"

    def lookup(self, id_number: str) -> Resident | None:
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT id_number, family_name, given_name, sex, birth_date, region_code,"
                " face_template FROM residents WHERE id_number = ?",
                (id_number,),
            ).fetchone()
        if row is None:
            return None
        return Resident(
            id_number=row[0],
            family_name=row[1],
            given_name=row[2],
            sex=row[3],
            birth_date=datetime.date.fromisoformat(row[4]),
            region_code=row[5],
            face_template=bytes(row[6]),
        )

    def _row(self, fields: list[str]) -> tuple[Any, ...]:
        r = Resident.from_row(fields, clock=self._clock)
        return (
            r.id_number,
            r.family_name,
            r.given_name,
            r.sex,
            r.birth_date.isoformat(),
            r.region_code,
            r.face_template,
        )


@dataclass(slots=True)
class _ImportProgress:
    line: int = 0
    rows: int = 0


def _field_of(error: AuthorityError) -> str:
    if isinstance(error, IdNumberError):
        return "id_number: "
    if isinstance(error, FaceCaptureError):
        return "face_template: "
    return ""
