"""Unified social credit codes (GB 32100-2015) and the enterprise (business) register.

The code checks are python-stdnum's (:mod:`stdnum.cn.uscc`: length, character set and the
final check character); this module maps its exceptions onto stable error codes, exactly as
:mod:`realdid.authority._id_numbers` does for resident ID numbers. The register is an
interface (:class:`BusinessRegister`) with a database implementation (the store
``business``, SQLite or PostgreSQL) loaded from the CSV a market-regulation register
delivers. Error messages never echo codes, names or dates: they name the line and the field.

Synthetic enterprises (never real ones) come from :func:`generate_enterprises`: a county
GB/T 2260 region code from stdnum's table, a GB 11714 organisation code with a valid check
character of its own, and the GB 32100 check character computed by stdnum.
"""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc

from realdid.clock import Clock, SystemClock

from ._errors import AuthorityError, RegisterImportError
from ._register import CsvBackedRegister, check_name_field
from ._synthetic import county_region_codes, seeded_names, write_rows

BUSINESS_CSV_COLUMNS = (
    "uscc",
    "name",
    "legal_representative",
    "registered_on",
    "region_code",
)
MAX_COMPANY_NAME_CHARS = 200
"""Longest accepted company name (legal representatives follow ``MAX_NAME_CHARS``)."""
ENTERPRISE_PREFIX = "91"
"""GB 32100 §4.2/§4.3: registration authority 9 (market regulation), category 1 (enterprise)."""
REGISTRATION_YEARS = (1990, 2024)
"""Inclusive range of synthetic registration years."""

_USCC_LENGTH = 18
_MAX_USCC_INPUT_CHARS = 64  # 18 characters plus any spaces and hyphens a human typed
_MAX_FIELD_CHARS = 1024
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 Table 1: no I, O, S, V, Z
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714-1997 §5
_REGION_CODE = re.compile(r"[0-9]{6}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIRST_REGISTRATION = datetime.date(REGISTRATION_YEARS[0], 1, 1)
_REGISTRATION_DAYS = (datetime.date(REGISTRATION_YEARS[1], 12, 31) - _FIRST_REGISTRATION).days + 1


# -- errors --------------------------------------------------------------------------------------
class UsccError(AuthorityError):
    """A unified social credit code that is not valid under GB 32100-2015; see subclasses."""

    code = "uscc-invalid"


class UsccFormatError(UsccError):
    """Not 18 characters, or not 8 digits followed by 10 characters of the GB 32100 set."""

    code = "uscc-format"


class UsccChecksumError(UsccError):
    """The GB 32100 check character (the 18th) does not match."""

    code = "uscc-checksum"


class DuplicateEnterpriseError(RegisterImportError):
    """A code appears twice in the file, or is already in the business register."""

    code = "business-register-duplicate"


# -- codes ---------------------------------------------------------------------------------------
def validate_uscc(text: str) -> str:
    """Check a unified social credit code; return it normalised, or raise :class:`UsccError`.

    Normalisation is stdnum's ``compact``: ASCII spaces and hyphens are dropped and letters
    uppercased. Anything non-ASCII is refused before that, so Unicode case mapping (``ﬀ``
    uppercases to ``FF``) or dash folding can never turn foreign text into a valid code.
    The organisation code inside (characters 9-17) is not checked against GB 11714: stdnum
    does not, and the register must accept every code the issuing authority assigned.
    """
    if not isinstance(text, str) or not text.isascii() or len(text) > _MAX_USCC_INPUT_CHARS:
        raise UsccFormatError("a credit code is 18 ASCII letters and digits")
    try:
        return uscc.validate(text)
    except stdnum_errors.InvalidLength as e:
        raise UsccFormatError("a credit code has exactly 18 characters") from e
    except stdnum_errors.InvalidChecksum as e:
        raise UsccChecksumError("the credit code's check character does not match") from e
    except stdnum_errors.ValidationError as e:  # InvalidFormat, or any other stdnum verdict
        raise UsccFormatError(
            "a credit code is 8 digits then 10 characters from 0-9 and A-Y without I, O, S, V or Z"
        ) from e


def organisation_code_check_character(body: str) -> str:
    """The GB 11714-1997 check character of an 8-character organisation code body.

    Weighted sum (3, 7, 9, 10, 5, 8, 4, 2) with digits worth 0-9 and letters A-Z worth
    10-35; the check is ``11 - sum mod 11``, written ``X`` for 10 and ``0`` for 11. stdnum
    has no function for it, so it lives here.
    """
    if len(body) != len(_ORG_CODE_WEIGHTS) or not body.isascii() or not body.isalnum():
        raise ValueError("an organisation code body is 8 ASCII digits or uppercase letters")
    if body != body.upper():
        raise ValueError("an organisation code body is 8 ASCII digits or uppercase letters")
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


# -- enterprises ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Enterprise:
    """One business-register record; ``region_code`` is the USCC's characters 3-8."""

    uscc: str
    name: str
    legal_representative: str
    registered_on: datetime.date
    region_code: str

    def to_row(self) -> list[str]:
        """The record as CSV fields, in :data:`BUSINESS_CSV_COLUMNS` order."""
        return [
            self.uscc,
            self.name,
            self.legal_representative,
            self.registered_on.isoformat(),
            self.region_code,
        ]

    @classmethod
    def from_row(cls, row: list[str], *, clock: Clock | None = None) -> Enterprise:
        """Parse and cross-check CSV fields; raise :class:`AuthorityError` naming the field.

        The code must be canonical (as :func:`validate_uscc` returns it), the region code
        must be the one the code carries, and the registration date must not lie in the
        future by ``clock`` (default: the system clock).
        """
        if len(row) != len(BUSINESS_CSV_COLUMNS):
            raise RegisterImportError(
                f"expected {len(BUSINESS_CSV_COLUMNS)} fields, found {len(row)}"
            )
        for field, value in zip(BUSINESS_CSV_COLUMNS, row, strict=True):
            if len(value) > _MAX_FIELD_CHARS:
                raise RegisterImportError(f"{field}: longer than {_MAX_FIELD_CHARS} characters")
        code_text, name, legal_representative, registered_text, region_code = row
        code = validate_uscc(code_text)
        if code != code_text:
            raise UsccFormatError("the credit code must be 18 uppercase characters, no spaces")
        _check_company_name(name)
        check_name_field("legal_representative", legal_representative)
        registered_on = _parse_date(registered_text, clock or SystemClock())
        if _REGION_CODE.fullmatch(region_code) is None:
            raise RegisterImportError("region_code: must be 6 digits")
        if region_code != code[2:8]:
            raise RegisterImportError("region_code: does not match the credit code")
        return cls(
            uscc=code,
            name=name,
            legal_representative=legal_representative,
            registered_on=registered_on,
            region_code=region_code,
        )


def _check_company_name(value: str) -> None:
    if not value or len(value) > MAX_COMPANY_NAME_CHARS:
        raise RegisterImportError(f"name: must be 1 to {MAX_COMPANY_NAME_CHARS} characters")
    if value != value.strip() or not value.isprintable():
        raise RegisterImportError("name: must not contain control characters or surrounding spaces")


def _parse_date(text: str, clock: Clock) -> datetime.date:
    if _ISO_DATE.fullmatch(text) is None:
        raise RegisterImportError("registered_on: must be YYYY-MM-DD")
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError as e:
        raise RegisterImportError("registered_on: not a real date") from e
    today = datetime.datetime.fromtimestamp(clock.now(), tz=datetime.UTC).date()
    if day > today:
        raise RegisterImportError("registered_on: in the future")
    return day


# -- the register --------------------------------------------------------------------------------
class BusinessRegister(Protocol):
    """The enterprise register as the authority sees it: look a code up."""

    def lookup(self, uscc: str) -> Enterprise | None: ...

    def count(self) -> int: ...


class SqliteBusinessRegister(CsvBackedRegister):
    """A :class:`BusinessRegister` in the store ``business`` (a SQLite file, or a schema of
    a PostgreSQL database), loaded by :meth:`import_csv`."""

    _store = "business"
    _table = "enterprises"
    _columns = BUSINESS_CSV_COLUMNS
    _duplicate = DuplicateEnterpriseError
    _duplicate_message = "credit code already in the file or the register"

    def lookup(self, uscc: str) -> Enterprise | None:
        """The enterprise with this canonical code (see :func:`validate_uscc`), if any."""
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT uscc, name, legal_representative, registered_on, region_code"
                " FROM enterprises WHERE uscc = ?",
                (uscc,),
            ).fetchone()
        if row is None:
            return None
        return Enterprise(
            uscc=row[0],
            name=row[1],
            legal_representative=row[2],
            registered_on=datetime.date.fromisoformat(row[3]),
            region_code=row[4],
        )

    def _row(self, fields: list[str]) -> tuple[Any, ...]:
        e = Enterprise.from_row(fields, clock=self._clock)
        return (e.uscc, e.name, e.legal_representative, e.registered_on.isoformat(), e.region_code)

    def _field_of(self, error: AuthorityError) -> str:
        return "uscc: " if isinstance(error, UsccError) else ""


# -- synthetic enterprises -----------------------------------------------------------------------
def _random_uscc(region: str, rng: random.Random) -> str:
    body = "".join(rng.choice(_USCC_ALPHABET) for _ in range(len(_ORG_CODE_WEIGHTS)))
    organisation_code = body + organisation_code_check_character(body)
    partial = ENTERPRISE_PREFIX + region + organisation_code
    return partial + uscc.calc_check_digit(partial)


def generate_enterprises(count: int, rng: random.Random) -> Iterator[Enterprise]:
    """Yield ``count`` synthetic enterprises (never real ones), unique codes per call.

    Codes start with :data:`ENTERPRISE_PREFIX`, carry a county GB/T 2260 region code
    (:func:`county_region_codes`) and a GB 11714 organisation code whose own check
    character is valid; stdnum computes the final check character. Company and legal
    representative names come from Faker's ``zh_CN`` locale, seeded from ``rng``.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    names = seeded_names(rng)
    regions = county_region_codes()
    seen: set[str] = set()
    while len(seen) < count:
        region = rng.choice(regions)
        code = _random_uscc(region, rng)
        if code in seen:
            continue
        seen.add(code)
        yield Enterprise(
            uscc=code,
            name=names.company(),
            legal_representative=names.name(),
            registered_on=_FIRST_REGISTRATION
            + datetime.timedelta(days=rng.randrange(_REGISTRATION_DAYS)),
            region_code=region,
        )


def write_business_csv(enterprises: Iterable[Enterprise], path: Path | str) -> int:
    """Write a business-register CSV (header :data:`BUSINESS_CSV_COLUMNS`); returns the rows."""
    return write_rows(path, BUSINESS_CSV_COLUMNS, (e.to_row() for e in enterprises))


def write_business_register(count: int, rng: random.Random, path: Path | str) -> int:
    """Generate ``count`` enterprises straight to a CSV file (streamed, not held in a list)."""
    return write_business_csv(generate_enterprises(count, rng), path)
