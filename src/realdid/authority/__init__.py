"""The identity authority: population register, resident ID numbers, face matching.

ID numbers are checked under GB 11643-1999 through python-stdnum; the register is a
:class:`PopulationRegister` (a database implementation, SQLite or PostgreSQL, loaded from
the civil register's CSV); faces go through a :class:`FaceMatcher` (the one here is
simulated). Example::

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

from ._app import create_authority_app
from ._audit import AuditChainError, AuditEntry, AuditLog
from ._business import (
    BUSINESS_CSV_COLUMNS,
    ENTERPRISE_PREFIX,
    MAX_COMPANY_NAME_CHARS,
    BusinessRegister,
    DuplicateEnterpriseError,
    Enterprise,
    SqliteBusinessRegister,
    UsccChecksumError,
    UsccError,
    UsccFormatError,
    generate_enterprises,
    organisation_code_check_character,
    validate_uscc,
    write_business_csv,
    write_business_register,
)
from ._claims import BUSINESS, REAL_NAME, RP_REGISTRATION, SITE_PROOF, VCT
from ._config import AuthorityConfig
from ._errors import AuthorityError, EnrollmentError, RegisterImportError
from ._escrow import (
    EscrowOpener,
    EscrowOpenError,
    EscrowSealer,
    X25519EscrowKey,
    X25519EscrowPublicKey,
    open_record,
    seal_record,
)
from ._face import (
    FACE_TEMPLATE_BYTES,
    FACE_TEMPLATE_DIMENSIONS,
    FaceCaptureError,
    FaceComparison,
    FaceMatcher,
    SimulatedFaceMatcher,
    decode_face,
    encode_face,
)
from ._id_numbers import (
    IdNumberBirthDateError,
    IdNumberChecksumError,
    IdNumberError,
    IdNumberFormatError,
    IdNumberRegionError,
    ParsedIdNumber,
    validate_id_number,
)
from ._identity import IssuerIdentity, WalletIssuer
from ._issuance import Offer
from ._operators import Operator, OperatorAuthError, OperatorForbiddenError, OperatorStore, Role
from ._problem_types import AUTHORITY_PROBLEMS, OAuthProblemType
from ._register import (
    CSV_COLUMNS,
    CsvBackedRegister,
    DuplicateResidentError,
    PopulationRegister,
    Resident,
    SqliteRegister,
)
from ._resolver import DidKeyError, DidKeyResolver, DocumentKeyResolver, RegistryKeyResolver
from ._runtime import AuthorityRuntime, AuthoritySettings
from ._secrets import ServiceSecrets
from ._service import Authority
from ._store import AuthorityDatabase
from ._synthetic import (
    county_region_codes,
    generate_residents,
    read_captures,
    write_captures,
    write_csv,
    write_register,
)

__all__ = [
    "AUTHORITY_PROBLEMS",
    "BUSINESS",
    "BUSINESS_CSV_COLUMNS",
    "CSV_COLUMNS",
    "ENTERPRISE_PREFIX",
    "FACE_TEMPLATE_BYTES",
    "FACE_TEMPLATE_DIMENSIONS",
    "MAX_COMPANY_NAME_CHARS",
    "REAL_NAME",
    "RP_REGISTRATION",
    "SITE_PROOF",
    "VCT",
    "AuditChainError",
    "AuditEntry",
    "AuditLog",
    "Authority",
    "AuthorityConfig",
    "AuthorityDatabase",
    "AuthorityError",
    "AuthorityRuntime",
    "AuthoritySettings",
    "BusinessRegister",
    "CsvBackedRegister",
    "DidKeyError",
    "DidKeyResolver",
    "DocumentKeyResolver",
    "DuplicateEnterpriseError",
    "DuplicateResidentError",
    "EnrollmentError",
    "Enterprise",
    "EscrowOpenError",
    "EscrowOpener",
    "EscrowSealer",
    "FaceCaptureError",
    "FaceComparison",
    "FaceMatcher",
    "IdNumberBirthDateError",
    "IdNumberChecksumError",
    "IdNumberError",
    "IdNumberFormatError",
    "IdNumberRegionError",
    "IssuerIdentity",
    "OAuthProblemType",
    "Offer",
    "Operator",
    "OperatorAuthError",
    "OperatorForbiddenError",
    "OperatorStore",
    "ParsedIdNumber",
    "PopulationRegister",
    "RegisterImportError",
    "RegistryKeyResolver",
    "Resident",
    "Role",
    "ServiceSecrets",
    "SimulatedFaceMatcher",
    "SqliteBusinessRegister",
    "SqliteRegister",
    "UsccChecksumError",
    "UsccError",
    "UsccFormatError",
    "WalletIssuer",
    "X25519EscrowKey",
    "X25519EscrowPublicKey",
    "county_region_codes",
    "create_authority_app",
    "decode_face",
    "encode_face",
    "generate_enterprises",
    "generate_residents",
    "open_record",
    "organisation_code_check_character",
    "read_captures",
    "seal_record",
    "validate_id_number",
    "validate_uscc",
    "write_business_csv",
    "write_business_register",
    "write_captures",
    "write_csv",
    "write_register",
]
