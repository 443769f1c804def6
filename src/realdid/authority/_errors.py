"""The root of :mod:`realdid.authority`'s errors, and the families several modules raise.

Every error carries a stable ``code`` and the ``http_status`` it is answered with: the
authority's HTTP API uses the code as the last path segment of the RFC 9457 problem
``type`` (``_app.py``), so a code is part of the API and never changes with a message. The
status is the code's entry in :data:`~._problem_types.AUTHORITY_PROBLEMS`, read from there
rather than stated again beside each ``raise``, so a code has one status wherever it is
raised. Messages carry no personal data — no ID number, name or template — so an error
can be logged and shown as it is.

The families by cause:

* :class:`EnrollmentError` — the service refused a request (an application, a registration,
  a revocation), with the code that says why. Every concern of the service raises it.
* :class:`RegisterImportError` — a register CSV (population or business) was rejected as a
  whole; both registers raise it through their shared import machinery.
* the errors of one input format live beside its parser: ID numbers (``_id_numbers.py``),
  face data (``_face.py``), credit codes (``_business.py``), operator tokens
  (``_operators.py``).
"""

from __future__ import annotations

from ._problem_types import AUTHORITY_PROBLEMS


class AuthorityError(Exception):
    """Base of :mod:`realdid.authority` errors.

    ``code`` is stable: the authority's HTTP API uses it as the last path segment of the
    RFC 9457 problem ``type``. ``http_status`` is the status the API answers it with.
    Messages carry no personal data.
    """

    code = "authority-error"

    @property
    def http_status(self) -> int:
        """The HTTP status of this error's problem type (:data:`AUTHORITY_PROBLEMS`)."""
        return AUTHORITY_PROBLEMS[self.code].status

    def diagnostics(self) -> str:
        return str(self)


def declared_code(code: str) -> str:
    """``code``, if :data:`AUTHORITY_PROBLEMS` declares it; else ``ValueError``.

    For the errors whose code is chosen where they are raised: a misspelt code fails at
    the ``raise`` (in the tests), not later as an unanswerable problem.
    """
    if code not in AUTHORITY_PROBLEMS:
        raise ValueError(f"{code!r} is not an authority problem code")
    return code


class EnrollmentError(AuthorityError):
    """A request was refused; ``code`` is the stable problem type."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = declared_code(code)


class RegisterImportError(AuthorityError):
    """A register CSV was rejected as a whole; ``line`` is the 1-based line at fault."""

    code = "register-import"

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line
