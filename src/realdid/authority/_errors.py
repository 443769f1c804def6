"""The root of :mod:`realdid.authority`'s errors, and the families several modules raise.

Every error carries a stable ``code``: the authority's HTTP API uses it as the last path
segment of the RFC 9457 problem ``type`` (``_app.py``), so a code is part of the API and
never changes with a message. Messages carry no personal data — no ID number, name or
template — so an error can be logged and shown as it is.

The families by cause:

* :class:`EnrollmentError` — the service refused a request (an application, a registration,
  a revocation); it carries the HTTP status the refusal maps to. Every concern of the
  service raises it.
* :class:`RegisterImportError` — a register CSV (population or business) was rejected as a
  whole; both registers raise it through their shared import machinery.
* the errors of one input format live beside its parser: ID numbers (``_id_numbers.py``),
  face data (``_face.py``), credit codes (``_business.py``), operator tokens
  (``_operators.py``).
"""

from __future__ import annotations


class AuthorityError(Exception):
    """Base of :mod:`realdid.authority` errors.

    ``code`` is stable: the authority's HTTP API uses it as the last path segment of the
    RFC 9457 problem ``type``. Messages carry no personal data.
    """

    code = "authority-error"

    def diagnostics(self) -> str:
        return str(self)


class EnrollmentError(AuthorityError):
    """An application was refused; ``code`` is the stable problem type, ``status`` the HTTP status."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RegisterImportError(AuthorityError):
    """A register CSV was rejected as a whole; ``line`` is the 1-based line at fault."""

    code = "register-import"

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line
