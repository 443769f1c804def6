"""login_routes over HTTP: content types, problem JSON, size cap, polling, a full login."""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI

from realdid.credentials import verify_request_object
from realdid.crypto import DEFAULT_POLICY
from realdid.rp import MAX_RESPONSE_BYTES, login_routes
from realdid.storage import DatabaseUnavailableError

from .conftest import BASE_URL, RpEnv, Wallet

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PROBLEM_JSON = "application/problem+json"
FORM_TYPE = "application/x-www-form-urlencoded"
Runner = Callable[[Coroutine[Any, Any, Any]], Any]
FORM = {"content-type": FORM_TYPE}


@pytest.fixture
def client(env: RpEnv) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(login_routes(env.rp))
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


def path(url: str) -> str:
    return url.removeprefix(BASE_URL)


def assert_problem(response: object, status: int, code: str) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail"}
    assert body["type"] == f"urn:realdid:problem:{code}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]


def test_full_login_over_http(env: RpEnv, client: TestClient) -> None:
    holder = env.site_holder()
    credential = env.issue(holder)
    pending = env.request()

    by_code = client.get(f"/oid4vp/codes/{pending.code.lower()}")
    assert by_code.status_code == 200
    assert by_code.json() == {"authorization_url": pending.authorization_url}

    fetched = client.get(path(pending.request_uri))
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/oauth-authz-req+jwt"
    assert fetched.headers["cache-control"] == "no-store"
    request = verify_request_object(
        fetched.text,
        resolve_key=env.resolver.key,
        now=env.clock.now(),
        policy=DEFAULT_POLICY,
        expected_client_id=env.rp.config.client_id,
    )
    assert request.response_uri == f"{BASE_URL}/oid4vp/responses"

    wallet = Wallet(env, pending)
    assert client.get(f"/oid4vp/transactions/{pending.transaction}").json() == {
        "state": "pending",
        "error": None,
    }
    posted = client.post(path(request.response_uri), data=wallet.answer(credential))
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"redirect_uri": f"{BASE_URL}/login/complete"}

    polled = client.get(f"/oid4vp/transactions/{pending.transaction}")
    assert polled.json() == {"state": "done", "error": None}  # never the claims
    outcome = env.rp.outcome(pending.transaction)
    assert outcome.login is not None
    assert outcome.login.subject == holder.did


def test_refusals_are_problems(env: RpEnv, client: TestClient) -> None:
    wallet = Wallet(env, env.request())
    response = client.post(
        "/oid4vp/responses", data=wallet.answer(env.issue(env.site_holder()), nonce="x")
    )
    assert_problem(response, 400, "wrong-nonce")
    assert client.get(f"/oid4vp/transactions/{wallet.pending.transaction}").json() == {
        "state": "failed",
        "error": "wrong-nonce",
    }
    replay = client.post("/oid4vp/responses", data=wallet.answer(env.issue(env.site_holder())))
    assert_problem(replay, 400, "replayed-response")


def test_access_denied_over_http(env: RpEnv, client: TestClient) -> None:
    wallet = Wallet(env, env.request())
    assert_problem(client.post("/oid4vp/responses", data=wallet.refuse()), 400, "access-denied")
    assert client.get(f"/oid4vp/transactions/{wallet.pending.transaction}").json() == {
        "state": "failed",
        "error": "access_denied",
    }


def test_status_unavailable_is_503(env: RpEnv, client: TestClient) -> None:
    env.status.down = True
    wallet = Wallet(env, env.request())
    response = client.post("/oid4vp/responses", data=wallet.answer(env.issue(env.site_holder())))
    assert_problem(response, 503, "status-unavailable")


def test_unknown_and_expired_request_objects(env: RpEnv, client: TestClient) -> None:
    assert_problem(client.get("/oid4vp/requests/nope"), 404, "unknown-request")
    pending = env.request()
    env.clock.advance(300)
    assert_problem(client.get(path(pending.request_uri)), 410, "expired-request")
    assert client.get(f"/oid4vp/transactions/{pending.transaction}").json() == {
        "state": "expired",
        "error": None,
    }


def test_unknown_code(client: TestClient) -> None:
    assert_problem(client.get("/oid4vp/codes/ZZZZ-ZZZZ"), 404, "unknown-code")
    assert_problem(client.get("/oid4vp/codes/%00%00"), 404, "unknown-code")


def test_unknown_transaction_reads_as_expired(client: TestClient) -> None:
    body = client.get("/oid4vp/transactions/whatever").json()
    assert body == {"state": "expired", "error": None}


def test_body_size_cap(env: RpEnv, client: TestClient) -> None:
    big = urlencode({"state": "s", "vp_token": "x" * MAX_RESPONSE_BYTES})
    response = client.post("/oid4vp/responses", content=big, headers=FORM)
    assert_problem(response, 413, "payload-too-large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream is counted
        for _ in range(MAX_RESPONSE_BYTES // 1024 + 2):
            yield b"x" * 1024

    streamed = client.post("/oid4vp/responses", content=chunks(), headers=FORM)
    assert_problem(streamed, 413, "payload-too-large")


def test_media_type_and_form_syntax(env: RpEnv, client: TestClient) -> None:
    as_json = client.post("/oid4vp/responses", json={"state": "s", "vp_token": "{}"})
    assert_problem(as_json, 415, "unsupported-media-type")
    repeated = client.post("/oid4vp/responses", content=b"state=a&state=b", headers=FORM)
    assert_problem(repeated, 400, "invalid-response")
    binary = client.post("/oid4vp/responses", content="state=\u00e9".encode(), headers=FORM)
    assert_problem(binary, 400, "invalid-response")
    empty = client.post("/oid4vp/responses", content=b"", headers=FORM)
    assert_problem(empty, 400, "invalid-response")
    unknown = client.post(
        "/oid4vp/responses",
        content=urlencode({"state": "s", "vp_token": '{"q":["x"]}'}),
        headers=FORM,
    )
    assert_problem(unknown, 400, "unknown-request")


# -- the direct_post endpoint on raw ASGI messages ---------------------------------------------
def _post(
    run: Callable[[Coroutine[Any, Any, Any]], Any],
    app: FastAPI,
    messages: list[dict[str, Any]],
    **headers: str,
) -> list[dict[str, Any]]:
    """POST ``messages`` (the body's ASGI events) to /oid4vp/responses; what the app sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/oid4vp/responses",
        "raw_path": b"/oid4vp/responses",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("198.51.100.7", 5000),
        "server": ("rp.test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run(app(scope, receive, send))
    return sent


@pytest.fixture
def app(env: RpEnv) -> FastAPI:
    app = FastAPI()
    app.include_router(login_routes(env.rp))
    return app


def test_a_client_gone_mid_body_costs_one_log_line(
    app: FastAPI, caplog: pytest.LogCaptureFixture, run_coroutine: Runner
) -> None:
    caplog.set_level(logging.INFO)
    events = [{"type": "http.request", "body": b"state=", "more_body": True}]
    sent = _post(run_coroutine, app, [*events, {"type": "http.disconnect"}], content_type=FORM_TYPE)
    assert sent == []  # nobody to answer
    assert [r.getMessage() for r in caplog.records] == [
        "client went away before its request was read: POST /oid4vp/responses"
    ]


@pytest.mark.parametrize("length", ["abc", "-1", str(MAX_RESPONSE_BYTES + 1)])
def test_a_content_length_that_cannot_be_within_the_cap_is_413(
    app: FastAPI, length: str, run_coroutine: Runner
) -> None:
    sent = _post(
        run_coroutine,
        app,
        [{"type": "http.request", "body": b"", "more_body": False}],
        content_type=FORM_TYPE,
        content_length=length,
    )
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["type"] == "urn:realdid:problem:payload-too-large"


def test_verification_runs_off_the_event_loop(
    env: RpEnv, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []

    def verify_response(form: dict[str, str]) -> None:
        threads.append(threading.current_thread().name)

    monkeypatch.setattr(env.rp, "verify_response", verify_response)
    response = client.post("/oid4vp/responses", content=b"state=s&vp_token=x", headers=FORM)
    assert response.status_code == 200
    assert response.json() == {"redirect_uri": env.rp.config.complete_url}
    assert response.headers["cache-control"] == "no-store"
    assert threads
    assert threads[0].startswith("realdid-verify")


def test_a_database_outage_is_503_with_retry_after(
    env: RpEnv,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def down(form: dict[str, str]) -> None:
        raise DatabaseUnavailableError("connection refused")

    monkeypatch.setattr(env.rp, "verify_response", down)
    response = client.post("/oid4vp/responses", content=b"state=s&vp_token=x", headers=FORM)
    assert_problem(response, 503, "storage-unavailable")
    assert response.headers["retry-after"] == "1"
    assert response.headers["cache-control"] == "no-store"
    assert [r.levelname for r in caplog.records if r.name == "realdid.rp._http"] == ["WARNING"]


def test_an_unexpected_error_is_a_500_problem_without_its_traceback(
    env: RpEnv,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(form: dict[str, str]) -> None:
        raise KeyError("a secret detail")

    monkeypatch.setattr(env.rp, "verify_response", broken)
    response = client.post("/oid4vp/responses", content=b"state=s&vp_token=x", headers=FORM)
    assert_problem(response, 500, "internal-error")
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.name == "realdid.rp._http"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None  # the operator gets the traceback


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("request_object", "/oid4vp/requests/r1"),
        ("authorization_url_for_code", "/oid4vp/codes/ABCD-EFGH"),
        ("outcome", "/oid4vp/transactions/t1"),
    ],
)
def test_the_wallet_and_page_routes_answer_a_database_outage_with_503(
    env: RpEnv, client: TestClient, monkeypatch: pytest.MonkeyPatch, method: str, path: str
) -> None:
    def down(*_: object) -> None:
        raise DatabaseUnavailableError("connection refused")

    monkeypatch.setattr(env.rp, method, down)
    response = client.get(path)
    assert_problem(response, 503, "storage-unavailable")
    assert response.headers["retry-after"] == "1"
