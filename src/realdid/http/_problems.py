"""RFC 9457 problem details: the mechanism every RealDID service and client shares.

Each service declares its own codes in one :class:`ProblemTable` inside its own package
(the registry node in ``realdid.node``, the authority and the relying party in theirs);
this module only knows how a code becomes a ``type`` URI, a status and a title, how a
problem is written (RFC 9457 section 3) and how an answer is read back by a client.

Codes are kebab-case (``did-not-found``). W3C DID Resolution error names such as
``notFound`` are a different vocabulary, mapped to these codes only where a resolver
answers (the node's resolution route), never inside a table.

Example::

    >>> table = ProblemTable(ProblemType("did-not-found", 404, "DID not found"))
    >>> table.body("did-not-found", "no anchored DID with this identifier")["type"]
    'urn:realdid:problem:did-not-found'
    >>> problem = parse_problem(404, b'{"type": "urn:realdid:problem:did-not-found"}')
    >>> problem.code, problem.detail
    ('did-not-found', None)
    >>> parse_problem(502, b"<html>Bad gateway</html>").code
    'http-502'
"""

from __future__ import annotations

import re
import types
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

from realdid import ijson

__all__ = [
    "MAX_DETAIL_CHARS",
    "MAX_PROBLEM_BYTES",
    "PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "ProblemTable",
    "ProblemType",
    "parse_problem",
    "problem_body",
    "problem_response",
]

#: Every RealDID problem ``type`` is this URN followed by the code (docs/api.md).
PROBLEM_BASE = "urn:realdid:problem:"
#: RFC 9457 section 3: the media type of a problem document.
PROBLEM_MEDIA_TYPE = "application/problem+json"
#: A client reads at most this much of an error body; a problem document is a few hundred bytes.
MAX_PROBLEM_BYTES = 64 * 1024
#: Longest ``title``/``detail`` a client keeps (the rest is cut): the text ends up in
#: terminals and logs, where a hostile server must not be able to flood either.
MAX_DETAIL_CHARS = 500

_CODE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_CODE_CHARS = 64
# RFC 9457 section 3.1: the members a problem defines; extensions must not redefine them.
_STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One problem type: its stable code, the HTTP status it is sent with and its title.

    The title is the same for every occurrence (RFC 9457 section 3.1.3); what differs per
    occurrence goes into ``detail``.
    """

    code: str
    status: int
    title: str

    def __post_init__(self) -> None:
        if len(self.code) > _MAX_CODE_CHARS or not _CODE.fullmatch(self.code):
            raise ValueError(f"problem code {self.code!r} is not kebab-case")
        if not 400 <= self.status <= 599:
            raise ValueError(f"problem {self.code}: status {self.status} is not an error status")
        if not self.title:
            raise ValueError(f"problem {self.code} has no title")

    @property
    def uri(self) -> str:
        """The ``type`` member: ``urn:realdid:problem:<code>``."""
        return PROBLEM_BASE + self.code


class ProblemTable(Mapping[str, ProblemType]):
    """The problem types one service answers with, by code: the one place a code gets its
    status and title. A code declared twice is a programming error and raises at import."""

    __slots__ = ("_types",)

    def __init__(self, *problem_types: ProblemType) -> None:
        by_code: dict[str, ProblemType] = {}
        for problem_type in problem_types:
            if problem_type.code in by_code:
                raise ValueError(f"problem code {problem_type.code} declared twice")
            by_code[problem_type.code] = problem_type
        self._types = types.MappingProxyType(by_code)

    def __getitem__(self, code: str) -> ProblemType:
        return self._types[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def body(self, code: str, detail: str, **extensions: Any) -> dict[str, Any]:
        """The problem document for ``code`` (``KeyError`` for a code not in the table)."""
        return problem_body(self[code], detail, **extensions)

    def response(
        self,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> JSONResponse:
        """The Starlette response carrying :meth:`body` with the code's status."""
        return problem_response(self[code], detail, headers=headers, **extensions)


def problem_body(problem_type: ProblemType, detail: str, **extensions: Any) -> dict[str, Any]:
    """An RFC 9457 problem document: ``type``, ``title``, ``status``, ``detail``, then the
    extension members in the order given (that order is the order on the wire)."""
    clash = _STANDARD_MEMBERS.intersection(extensions)
    if clash:
        raise ValueError(f"extension members {sorted(clash)} would redefine RFC 9457 members")
    return {
        "type": problem_type.uri,
        "title": problem_type.title,
        "status": problem_type.status,
        "detail": detail,
        **extensions,
    }


def problem_response(
    problem_type: ProblemType,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """:func:`problem_body` as ``application/problem+json`` with the type's HTTP status."""
    return JSONResponse(
        problem_body(problem_type, detail, **extensions),
        status_code=problem_type.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


# -- reading problems (clients) -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Problem:
    """What a client learned from an error answer, whatever the server sent.

    ``code`` is the RealDID code when ``type`` is ``urn:realdid:problem:<kebab-case code>``,
    otherwise ``http-<status>`` (a proxy's HTML page, another vocabulary, garbage).
    ``type`` is None when the body was no JSON object with a string ``type``. ``title`` and
    ``detail`` are cut to :data:`MAX_DETAIL_CHARS` with control characters replaced.
    """

    status: int
    code: str
    type: str | None = None
    title: str | None = None
    detail: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))


def parse_problem(status: int, body: object) -> Problem:
    """Read the error answer ``body`` (raw bytes or text, or already-decoded JSON) sent with
    HTTP ``status``. Never raises: a body that is no problem document still yields a
    :class:`Problem` with ``code`` ``http-<status>``, so callers have one path for errors."""
    fallback = f"http-{status}"
    document = _document(body)
    if document is None:
        return Problem(status, fallback)
    kind = document.get("type")
    if not isinstance(kind, str):
        return Problem(status, fallback, detail=_text(document.get("detail")))
    code = kind.removeprefix(PROBLEM_BASE) if kind.startswith(PROBLEM_BASE) else ""
    known = len(code) <= _MAX_CODE_CHARS and _CODE.fullmatch(code) is not None
    extensions = {k: v for k, v in document.items() if k not in _STANDARD_MEMBERS}
    return Problem(
        status,
        code if known else fallback,
        type=_text(kind),
        title=_text(document.get("title")),
        detail=_text(document.get("detail")),
        extensions=types.MappingProxyType(extensions),
    )


def _document(body: object) -> dict[str, Any] | None:
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    if isinstance(body, bytes | bytearray | memoryview):
        if len(body) > MAX_PROBLEM_BYTES:
            return None
        try:
            body = ijson.loads(body)
        except ijson.IJsonError:
            return None
    return body if isinstance(body, dict) else None


def _text(value: object) -> str | None:
    """A string member made safe to print: bounded, no control characters (no terminal
    escape sequences or forged log lines from a hostile server)."""
    if not isinstance(value, str):
        return None
    cut = value[:MAX_DETAIL_CHARS]
    clean = "".join(" " if unicodedata.category(c) == "Cc" else c for c in cut)
    return clean + "…" if len(value) > MAX_DETAIL_CHARS else clean
