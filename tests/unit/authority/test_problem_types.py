"""The authority's problem table: every error it can answer with is declared, once.

The table is the one place a code gets its status, so these tests pin what the API has
always sent (titles are the code in words; OAuth codes keep their underscores) and check
that no error of the authority or of the credentials it lets through lacks an entry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import realdid.authority
import realdid.credentials
from realdid.authority import (
    AUTHORITY_PROBLEMS,
    AuthorityError,
    DidKeyError,
    EnrollmentError,
    OAuthProblemType,
    create_authority_app,
)
from realdid.credentials import CredentialError, Oid4vciError, Oid4vpError

from .conftest import Env


def _error_classes(module: Any, root: type[Exception]) -> list[type[Exception]]:
    return [
        value
        for name in module.__all__
        if inspect.isclass(value := getattr(module, name)) and issubclass(value, root)
    ]


def test_every_authority_error_code_is_declared() -> None:
    for error in _error_classes(realdid.authority, AuthorityError):
        assert error.code in AUTHORITY_PROBLEMS, error


def test_every_credentials_error_the_authority_passes_on_is_declared() -> None:
    # OpenID4VCI errors answer under their OAuth ``error``; OpenID4VP is the RP's protocol.
    for error in _error_classes(realdid.credentials, CredentialError):
        if not issubclass(error, Oid4vciError | Oid4vpError):
            assert error.code in AUTHORITY_PROBLEMS, error


def test_titles_are_the_code_in_words() -> None:
    for code, problem_type in AUTHORITY_PROBLEMS.items():
        expected = code if isinstance(problem_type, OAuthProblemType) else code.replace("-", " ")
        assert problem_type.title == expected


def test_oauth_statuses_agree_with_the_oid4vci_errors() -> None:
    oauth = [t for t in AUTHORITY_PROBLEMS.values() if isinstance(t, OAuthProblemType)]
    assert {t.code for t in oauth} >= {"invalid_request", "invalid_grant", "invalid_token"}
    for problem_type in oauth:
        assert Oid4vciError(problem_type.code, "x").http_status == problem_type.status
    assert AUTHORITY_PROBLEMS["invalid_token"].uri == "urn:realdid:problem:invalid_token"


def test_oauth_problem_types_check_their_form() -> None:
    with pytest.raises(ValueError, match="underscores"):
        OAuthProblemType("Invalid-Token", 401, "Invalid-Token")
    with pytest.raises(ValueError, match="400 or 401"):
        OAuthProblemType("invalid_token", 403, "invalid_token")
    with pytest.raises(ValueError, match="title"):
        OAuthProblemType("invalid_token", 401, "Invalid token")


def test_an_error_reads_its_status_from_the_table() -> None:
    refusal = EnrollmentError("too-many-attempts", "slow down")
    assert refusal.http_status == 429
    assert DidKeyError("registry-unavailable", "down").http_status == 503
    assert realdid.authority.OperatorAuthError("no").http_status == 401


def test_an_undeclared_code_fails_where_it_is_raised() -> None:
    with pytest.raises(ValueError, match="not an authority problem code"):
        EnrollmentError("invalid-nmae", "typo")
    with pytest.raises(ValueError, match="not an authority problem code"):
        DidKeyError("did-gone", "typo")


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    env: Env, run_coroutine: Callable[[Coroutine[Any, Any, Any]], Any]
) -> None:
    # The body is never read: ``receive`` would fail the test if the app asked for it.
    app = create_authority_app(lambda: env.authority)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/1.0/enrollments",
        "raw_path": b"/1.0/enrollments",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"999999999")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    run_coroutine(app(scope, receive, send))
    assert sent[0]["status"] == 413
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert b'"type":"urn:realdid:problem:payload-too-large"' in body
