"""Resident ID numbers (GB 11643-1999): parse, check, and say what they encode.

The checks are python-stdnum's (:mod:`stdnum.cn.ric`, with its bundled GB/T 2260 birth-place
table); this module only maps its exceptions onto stable error codes and adds the one check
stdnum leaves out (a birth date in the future). Messages never echo the number. Example::

    >>> validate_id_number("11010519491231002X").sex
    'F'
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from realdid.clock import Clock, SystemClock

from ._errors import AuthorityError

_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")


class IdNumberError(AuthorityError):
    """A resident ID number that is not valid under GB 11643-1999; see the subclasses."""

    code = "id-number-invalid"


class IdNumberFormatError(IdNumberError):
    """Not 18 characters, or not 17 ASCII digits followed by a digit or ``X``."""

    code = "id-number-format"


class IdNumberChecksumError(IdNumberError):
    """The ISO 7064 MOD 11-2 check character (GB 11643-1999 §5.5) does not match."""

    code = "id-number-checksum"


class IdNumberBirthDateError(IdNumberError):
    """The birth date code (§5.3) is not a real calendar date, or lies in the future."""

    code = "id-number-birth-date"


class IdNumberRegionError(IdNumberError):
    """The address code (§5.2) is not a GB/T 2260 code in force in the birth year."""

    code = "id-number-region"


@dataclass(frozen=True, slots=True)
class ParsedIdNumber:
    """What an 18-character resident ID number encodes (GB 11643-1999 §5)."""

    id_number: str
    region_code: str
    birth_date: datetime.date
    sequence: str
    sex: str  # "M" for an odd sequence code (§5.4), "F" for even


def validate_id_number(text: str, *, clock: Clock | None = None) -> ParsedIdNumber:
    """Parse and check a resident ID number, or raise a precise :class:`IdNumberError`.

    A lowercase ``x`` check character is accepted and canonicalised to ``X``; separators
    and whitespace are not (stdnum's ``compact`` would strip them: we parse strictly at
    the edge). ``clock`` decides what "in the future" means (default: the system clock).
    """
    if not isinstance(text, str) or len(text) != 18:
        raise IdNumberFormatError("an ID number has exactly 18 characters")
    number = text[:17] + text[17].upper()
    if _ID_NUMBER.fullmatch(number) is None:
        raise IdNumberFormatError("an ID number is 17 digits followed by a digit or X")
    try:
        ric.validate(number)
    except (stdnum_errors.InvalidLength, stdnum_errors.InvalidFormat) as e:
        raise IdNumberFormatError("an ID number is 17 digits followed by a digit or X") from e
    except stdnum_errors.InvalidChecksum as e:
        raise IdNumberChecksumError("the ID number's check character does not match") from e
    except stdnum_errors.InvalidComponent as e:
        # stdnum raises InvalidComponent for both the date and the place; tell them apart
        # the way ric.validate orders its checks: the date first.
        try:
            ric.get_birth_date(number)
        except stdnum_errors.InvalidComponent as date_error:
            raise IdNumberBirthDateError(
                "the ID number's birth date is not a real date"
            ) from date_error
        raise IdNumberRegionError(
            "the ID number's region code is not a known GB/T 2260 code for its birth year"
        ) from e
    except stdnum_errors.ValidationError as e:  # any other stdnum verdict: still a bad format
        raise IdNumberFormatError("the ID number is malformed") from e
    except KeyError as e:
        # python-stdnum 2.2 raises KeyError('county') for a GB/T 2260 entry without a
        # county (e.g. 542310): a region it cannot place is an unknown region here.
        raise IdNumberRegionError(
            "the ID number's region code is not a known GB/T 2260 code for its birth year"
        ) from e
    birth_date = ric.get_birth_date(number)
    today = datetime.datetime.fromtimestamp((clock or SystemClock()).now(), tz=datetime.UTC).date()
    if birth_date > today:
        raise IdNumberBirthDateError("the ID number's birth date is in the future")
    sequence = number[14:17]
    return ParsedIdNumber(
        id_number=number,
        region_code=number[:6],
        birth_date=birth_date,
        sequence=sequence,
        sex="M" if int(sequence) % 2 else "F",
    )
