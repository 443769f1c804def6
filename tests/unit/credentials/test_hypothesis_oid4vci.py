"""Hypothesis round trips of the OpenID4VCI message classes (ADR 0013), and their parsers on
arbitrary input: every refusal is an :class:`Oid4vciError` with an OAuth-style code."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realdid.credentials import (
    MAX_PROOF_JWT_BYTES,
    CredentialRequest,
    CredentialResponse,
    NonceResponse,
    Oid4vciError,
    TokenRequest,
    TokenResponse,
)

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENS = st.text(min_size=1, max_size=1024)
IDENTIFIERS = st.text(min_size=1, max_size=256)
_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children)
    ),
    max_leaves=20,
)


@FAST
@given(TOKENS)
def test_token_request_round_trips(code: str) -> None:
    request = TokenRequest(code)
    assert TokenRequest.from_form(request.to_form()) == request
    assert TokenRequest.from_form(request.to_form()).to_form() == request.to_form()


@FAST
@given(TOKENS, st.integers(min_value=1, max_value=2**31))
def test_token_response_round_trips(token: str, expires_in: int) -> None:
    response = TokenResponse(token, expires_in)
    assert TokenResponse.from_dict(response.to_dict()) == response
    assert TokenResponse.from_dict(response.to_dict()).to_dict() == response.to_dict()


@FAST
@given(TOKENS)
def test_nonce_response_round_trips(c_nonce: str) -> None:
    response = NonceResponse(c_nonce)
    assert NonceResponse.from_dict(response.to_dict()) == response
    assert NonceResponse.from_dict(response.to_dict()).to_dict() == response.to_dict()


@FAST
@given(
    IDENTIFIERS,
    st.lists(st.text(min_size=1, max_size=MAX_PROOF_JWT_BYTES), min_size=1, max_size=4),
)
def test_credential_request_round_trips(configuration_id: str, proofs: list[str]) -> None:
    request = CredentialRequest(configuration_id, tuple(proofs))
    parsed = CredentialRequest.from_dict(request.to_dict(), max_proofs=len(proofs))
    assert parsed == request
    assert parsed.to_dict() == request.to_dict()


@FAST
@given(st.lists(st.text(min_size=1, max_size=200), min_size=1, max_size=16))
def test_credential_response_round_trips(credentials: list[str]) -> None:
    response = CredentialResponse(tuple(credentials))
    assert CredentialResponse.from_dict(response.to_dict()) == response
    assert CredentialResponse.from_dict(response.to_dict()).to_dict() == response.to_dict()


def _oauth_code(error: Oid4vciError) -> None:
    assert error.error
    assert error.description


def _refused_with_a_code(parse: Any, value: Any) -> None:
    try:
        parse(value)
    except Oid4vciError as e:
        _oauth_code(e)


@FAST
@given(JSON)
def test_parsers_on_arbitrary_json(value: Any) -> None:
    for parse in (
        TokenResponse.from_dict,
        NonceResponse.from_dict,
        CredentialRequest.from_dict,
        CredentialResponse.from_dict,
    ):
        _refused_with_a_code(parse, value)


@FAST
@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40) | JSON, max_size=5) | JSON)
def test_token_request_on_arbitrary_forms(form: Any) -> None:
    _refused_with_a_code(TokenRequest.from_form, form)
