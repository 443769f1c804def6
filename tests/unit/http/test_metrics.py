"""Request metrics and ``GET /metrics`` of a service (realdid.http.instrument)."""

from __future__ import annotations

import re
import warnings

from fastapi import FastAPI

from realdid.http import instrument

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette>=1.x prefers httpx2 (see tests/unit/node)
    from starlette.testclient import TestClient


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item}")
    async def item(item: str) -> dict[str, str]:
        return {"item": item}

    @app.post("/fail")
    async def fail() -> None:
        raise RuntimeError("boom")

    instrument(app, "shop")
    return app


def _samples(text: str, name: str) -> dict[str, float]:
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(rf"^{name}\{{(.*)\}} (\S+)$", text, re.MULTILINE)
    }


def test_requests_are_counted_by_route_template_never_by_raw_path() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    for item in ("did:realdid:a", "did:realdid:b"):
        assert client.get(f"/items/{item}").status_code == 200
    assert client.get("/nowhere/did:realdid:c").status_code == 404
    assert client.post("/fail").status_code == 500

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = _samples(response.text, "realdid_http_requests_total")
    assert counts == {
        'method="GET",route="/items/{item}",service="shop",status="200"': 2.0,
        'method="GET",route="unmatched",service="shop",status="404"': 1.0,
        'method="POST",route="/fail",service="shop",status="500"': 1.0,
    }
    assert "did:realdid" not in response.text  # one series per route, not per resident
    durations = _samples(response.text, "realdid_http_request_seconds_count")
    assert durations['route="/items/{item}",service="shop"'] == 2.0


def test_each_app_counts_its_own_requests() -> None:
    first, second = TestClient(_app()), TestClient(_app())
    first.get("/items/x")
    text = second.get("/metrics").text
    assert "realdid_http_requests_total{" not in text  # the scrape itself is counted after
