"""Form bodies (realdid.http.parse_form): what the token and response endpoints read."""

from __future__ import annotations

import pytest

from realdid.http import MalformedFormError, parse_form


def test_a_form_body_reads_as_a_dict_blank_values_kept() -> None:
    assert parse_form(b"grant_type=x&code=a%20b&empty=") == {
        "grant_type": "x",
        "code": "a b",
        "empty": "",
    }


def test_an_empty_body_is_an_empty_form_even_when_strict() -> None:
    assert parse_form(b"") == {}
    assert parse_form(b"", strict=True) == {}


def test_a_repeated_parameter_is_refused() -> None:
    with pytest.raises(MalformedFormError, match="a form parameter is repeated"):
        parse_form(b"code=a&code=b")


def test_a_body_that_is_not_ascii_does_not_parse() -> None:
    with pytest.raises(MalformedFormError, match="the form body does not parse"):
        parse_form("code=é".encode())


def test_strict_refuses_a_field_without_equals_sign() -> None:
    assert parse_form(b"code=a&junk") == {"code": "a", "junk": ""}
    with pytest.raises(MalformedFormError, match="the form body does not parse"):
        parse_form(b"code=a&junk", strict=True)
