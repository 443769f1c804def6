"""Hypothesis: the RP's ``direct_post`` endpoint and verify_response on hostile bodies.

Whatever a wallet (or anyone) posts to ``{prefix}/responses``, the relying party answers
with an RFC 9457 problem (4xx) and never a server error; :meth:`RelyingParty.verify_response`
raises only :class:`LoginError`. Bodies are arbitrary bytes, arbitrary form fields, and
forms whose ``state`` names a live login request so verification runs past the lookup.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realdid.rp import LoginError, login_routes

from .conftest import BASE_URL, RpEnv, Wallet

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

# The env fixture is built once per test function and shared by its examples: garbage
# answers cannot change it, and an answer that names the live request is refused first.
SHARED = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FORM = {"content-type": "application/x-www-form-urlencoded"}
_FIELDS = st.sampled_from(
    ["vp_token", "state", "error", "error_description", "presentation_submission"]
)
_VALUES = st.text(max_size=80) | st.sampled_from(
    ['{"login":["a~b~"]}', '{"login":["x.y.z~"]}', '{"login":[1]}', "{}", "[]", "access_denied"]
)


@pytest.fixture
def client(env: RpEnv) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(login_routes(env.rp))
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


def _assert_problem(response: Any) -> None:
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].startswith("urn:realdid:problem:")


@SHARED
@given(st.binary(max_size=300))
def test_arbitrary_body_is_a_problem(client: TestClient, body: bytes) -> None:
    _assert_problem(client.post("/oid4vp/responses", content=body, headers=FORM))


@SHARED
@given(st.lists(st.tuples(_FIELDS | st.text(max_size=6), _VALUES), max_size=5))
def test_arbitrary_form_is_a_problem(client: TestClient, pairs: list[tuple[str, str]]) -> None:
    _assert_problem(client.post("/oid4vp/responses", content=urlencode(pairs), headers=FORM))


@SHARED
@given(st.dictionaries(_FIELDS, _VALUES, max_size=4), st.booleans())
def test_verify_response_raises_only_login_errors(
    env: RpEnv, form: dict[str, str], live_state: bool
) -> None:
    if live_state:
        form = {**form, "state": Wallet(env, env.request()).request.state}
    with pytest.raises(LoginError) as info:
        env.rp.verify_response(form)
    assert info.value.code
