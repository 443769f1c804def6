"""I-JSON parsing (RFC 7493): what every JSON text from outside the process must satisfy."""

from __future__ import annotations

import json

import pytest

from realdid import ijson


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            b'{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}',
            {"a": 1, "b": [True, None, "x"], "c": {"d": 1.5}},
        ),
        (b'{"a":1,"A":2}', {"a": 1, "A": 2}),  # names are case-sensitive
        (b'[{"a":1},{"a":2}]', [{"a": 1}, {"a": 2}]),  # one name in two objects is fine
        (b'{"a":{"a":{"a":1}}}', {"a": {"a": {"a": 1}}}),  # and in nested ones
        (b'"text"', "text"),
        (b"42", 42),
        ('{"名":"张三"}'.encode(), {"名": "张三"}),
    ],
)
def test_i_json_is_parsed(text: bytes, value: object) -> None:
    assert ijson.loads(text) == value
    assert ijson.loads(text.decode()) == value  # str and bytes alike
    assert ijson.loads(memoryview(text)) == value


@pytest.mark.parametrize(
    ("text", "name"),
    [
        pytest.param(b'{"a":1,"a":2}', "a", id="top-level"),
        pytest.param(b'{"a":1,"a":1}', "a", id="same-value"),
        pytest.param(b'[1,{"x":{"k":[],"k":{}}}]', "k", id="nested-in-array"),
        pytest.param(b'{"a":1,"\\u0061":2}', "a", id="escaped-spelling"),
        pytest.param('{"名":1,"名":2}'.encode(), "名", id="non-ascii"),
        pytest.param(b'{"":1,"":2}', "", id="empty-name"),
    ],
)
def test_duplicate_member_is_refused(text: bytes, name: str) -> None:
    with pytest.raises(ijson.DuplicateMemberError) as caught:
        ijson.loads(text)
    assert caught.value.name == name
    assert "appears twice" in str(caught.value)


def test_error_names_the_member_but_never_echoes_values() -> None:
    secret = "110101199003077777"
    long_name = "n" * 500
    with pytest.raises(ijson.DuplicateMemberError) as caught:
        ijson.loads(json.dumps({"x": secret})[:-1] + f',"{long_name}":1,"{long_name}":2}}')
    message = str(caught.value)
    assert secret not in message
    assert len(message) < 120  # the name is cut short
    with pytest.raises(ijson.IJsonError) as invalid:
        ijson.loads(f'{{"id":"{secret}",}}')
    assert secret not in str(invalid.value)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"\xef\xbb\xbf{}", id="byte-order-mark"),
        pytest.param(b'"\\ud800"', id="lone-surrogate"),
        pytest.param(b"NaN", id="nan"),
        pytest.param(b'{"a":-Infinity}', id="infinity"),
        pytest.param(b"1e400", id="beyond-double"),
        pytest.param(b"{'a':1}", id="single-quotes"),
        pytest.param(b'{"a":1,}', id="trailing-comma"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
        pytest.param(b"[" * 1000 + b"{}" + b"]" * 1000, id="nesting-past-recursion-limit"),
    ],
)
def test_not_i_json_is_refused(text: bytes) -> None:
    with pytest.raises(ijson.IJsonError):
        ijson.loads(text)


def test_hooks_refuse_for_the_standard_parser_too() -> None:
    """The keystore parses with the standard library and these hooks (exact integers)."""
    with pytest.raises(ijson.DuplicateMemberError):
        json.loads('{"a":1,"a":2}', object_pairs_hook=ijson.unique_members)
    with pytest.raises(ijson.IJsonError, match="NaN"):
        json.loads("NaN", parse_constant=ijson.reject_constant)
    assert ijson.unique_members([("a", 1), ("b", 2)]) == {"a": 1, "b": 2}
