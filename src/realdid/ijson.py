"""I-JSON (RFC 7493): the one parser for JSON that crosses a trust boundary.

Every JSON text RealDID receives from outside the process — HTTP request bodies, answers
from other services, compact JWS segments, files a person hands it — is parsed here, so
that all of them refuse the same things:

* not UTF-8, a byte order mark, lone surrogates, ``NaN``/``Infinity``, numbers outside
  the IEEE double range, and nesting deeper than 1,024 levels (orjson refuses these on its
  own, RFC 7493 sections 2.1-2.2);
* **duplicate member names** in any object (RFC 7493 section 2.3). Parsers disagree on
  ``{"a":1,"a":2}`` — first wins, last wins, error — so a signed or validated object could
  mean one thing to the check and another to the next reader. orjson keeps the last value
  silently; the standard library's parser reports every member to a hook, which is how the
  duplicates are found.

The cost is measured (``bench/bench_ijson.py``): about 5 µs more than orjson alone for a
330-byte DID operation, against ~50 µs for the signature check that follows.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import orjson

__all__ = ["DuplicateMemberError", "IJsonError", "loads", "reject_constant", "unique_members"]

_MAX_NAME_IN_ERROR = 40


class IJsonError(ValueError):
    """The text is not an I-JSON message; ``str()`` says why, without echoing values.

    A :class:`ValueError`, so callers that caught the parsers' errors keep working; like
    every package's error root it carries the problem ``code`` services answer it with.
    """

    code = "malformed-json"
    http_status = 400


class DuplicateMemberError(IJsonError):
    """An object names the same member twice."""

    def __init__(self, name: str) -> None:
        shown = name if len(name) <= _MAX_NAME_IN_ERROR else name[:_MAX_NAME_IN_ERROR] + "…"
        super().__init__(f"member {shown!r} appears twice in one object (RFC 7493 section 2.3)")
        self.name = name


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :func:`json.loads`: the object, or :class:`DuplicateMemberError`."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateMemberError(name)
            seen.add(name)
    return result


def reject_constant(name: str) -> NoReturn:
    """``parse_constant`` for :func:`json.loads`: ``NaN`` and ``Infinity`` are not JSON."""
    raise IJsonError(f"{name} is not a JSON value")


#: The second pass's parser, built once (a ``json.loads`` with hooks builds one per call).
_DUPLICATE_CHECK = json.JSONDecoder(
    object_pairs_hook=unique_members, parse_constant=reject_constant
)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse one I-JSON text; :class:`IJsonError` (a :class:`ValueError`) if it is not one."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise IJsonError(f"not valid JSON: {e}") from None
    if not isinstance(value, dict | list):
        return value  # a scalar holds no object, so no member can repeat
    text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    try:
        # orjson accepted the text, so this second pass can only fail on a duplicate or on
        # nesting deeper than the interpreter's recursion limit (just under orjson's 1,024).
        _DUPLICATE_CHECK.decode(text)
    except RecursionError:
        raise IJsonError("JSON nested too deeply") from None
    return value
