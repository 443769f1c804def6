"""The identity authority: population register, resident ID numbers, face matching.

ID numbers are checked under GB 11643-1999 through python-stdnum; the register is a
:class:`PopulationRegister` (SQLite implementation loaded from the civil register's CSV);
faces go through a :class:`FaceMatcher` (the one here is simulated). Example::

    >>> import random
    >>> from realdid.authority import SqliteRegister, generate_residents, write_csv
    >>> pairs = list(generate_residents(3, random.Random(7)))
    >>> write_csv([r for r, _ in pairs], "residents.csv")
    3
    >>> register = SqliteRegister("register.db")
    >>> register.import_csv("residents.csv")
    3
    >>> from realdid.authority import SimulatedFaceMatcher
    >>> SimulatedFaceMatcher().compare(pairs[0][0].face_template, pairs[0][1]).matched
    True
"""

from __future__ import annotations

from ._register import (
    CSV_COLUMNS,
    FACE_TEMPLATE_BYTES,
    FACE_TEMPLATE_DIMENSIONS,
    AuthorityError,
    DuplicateResidentError,
    FaceCaptureError,
    FaceComparison,
    FaceMatcher,
    IdNumberBirthDateError,
    IdNumberChecksumError,
    IdNumberError,
    IdNumberFormatError,
    IdNumberRegionError,
    ParsedIdNumber,
    PopulationRegister,
    RegisterImportError,
    Resident,
    SimulatedFaceMatcher,
    SqliteRegister,
    decode_face,
    encode_face,
    validate_id_number,
)
from ._synthetic import (
    county_region_codes,
    generate_residents,
    read_captures,
    write_captures,
    write_csv,
    write_register,
)

__all__ = [
    "CSV_COLUMNS",
    "FACE_TEMPLATE_BYTES",
    "FACE_TEMPLATE_DIMENSIONS",
    "AuthorityError",
    "DuplicateResidentError",
    "FaceCaptureError",
    "FaceComparison",
    "FaceMatcher",
    "IdNumberBirthDateError",
    "IdNumberChecksumError",
    "IdNumberError",
    "IdNumberFormatError",
    "IdNumberRegionError",
    "ParsedIdNumber",
    "PopulationRegister",
    "RegisterImportError",
    "Resident",
    "SimulatedFaceMatcher",
    "SqliteRegister",
    "county_region_codes",
    "decode_face",
    "encode_face",
    "generate_residents",
    "read_captures",
    "validate_id_number",
    "write_captures",
    "write_csv",
    "write_register",
]
