"""The lean resolution route answers exactly as the FastAPI route does, and only when it can."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from realdid.node import NodeConfig, RegistryNode, create_app
from realdid.node._resolution import LeanResolution
from realdid.storage import DatabaseUnavailableError, StoreLocation

from .test_api import Controller, TestClient, apply

ACCEPTS = [
    "",
    "*/*",
    'application/ld+json;profile="https://w3id.org/did-resolution"',
    "application/did+json",
    "application/did+ld+json",
    "text/html, application/did+json;q=0.9",
]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RegistryNode, TestClient, list[str]]]:
    node = RegistryNode(
        NodeConfig(data_dir=tmp_path_factory.mktemp("lean") / "node", batch_interval=0.05)
    )
    with TestClient(create_app(node)) as client:
        alive, dead = Controller(), Controller()
        apply(client, alive.create, dead.create)
        apply(client, alive.update(), dead.deactivate())
        yield node, client, [alive.did, dead.did]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_lean_and_full_routes_give_the_same_answer(
    served: tuple[RegistryNode, TestClient, list[str]], accept: str
) -> None:
    _, client, dids = served
    for did in dids:
        lean = client.get(f"/1.0/identifiers/{did}", headers={"accept": accept})
        # A query string sends the request through FastAPI's route.
        full = client.get(f"/1.0/identifiers/{did}?full=1", headers={"accept": accept})
        assert lean.status_code in (200, 410)
        assert (lean.status_code, lean.headers["content-type"], lean.content) == (
            full.status_code,
            full.headers["content-type"],
            full.content,
        )
        assert int(lean.headers["content-length"]) == len(lean.content)
    assert [client.get(f"/1.0/identifiers/{d}").status_code for d in dids] == [200, 410]


class Recorder:
    """The app behind the lean route: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        self.paths.append(scope.get("path", scope["type"]))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(app: LeanResolution, path: str, *, method: str = "GET", query: str = "") -> int:
    """The status ``app`` answers (the test client drives it in its own event loop thread)."""
    client = TestClient(app)
    return client.request(method, path + (f"?{query}" if query else "")).status_code


def test_only_a_did_that_resolves_is_answered_lean(
    served: tuple[RegistryNode, TestClient, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _, (alive, dead) = served
    inner = Recorder()
    app = LeanResolution(inner, node)
    assert call(app, f"/1.0/identifiers/{alive}") == 200
    assert call(app, f"/1.0/identifiers/{dead}") == 410
    assert inner.paths == []  # neither reached the framework
    passed_on = [
        f"/1.0/identifiers/{alive}x",  # not a DID
        "/1.0/identifiers/did:realdid:" + "A" * 46,  # well-formed, unknown
        "/1.0/identifiers/did:example:123",  # another method
        f"/1.0/identifiers/{alive}/more",
        "/1.0/identifiers/",
        "/healthz",
    ]
    for path in passed_on:
        assert call(app, path) == 299
    assert call(app, f"/1.0/identifiers/{alive}", query="versionId=1") == 299
    assert call(app, f"/1.0/identifiers/{alive}", method="HEAD") == 299

    def down(_: object) -> None:
        raise DatabaseUnavailableError("the database restarts")

    monkeypatch.setattr(node, "resolve", down)
    assert call(app, f"/1.0/identifiers/{alive}") == 299  # the route answers 503 its own way
    assert (
        inner.paths == [*passed_on, f"/1.0/identifiers/{alive}"] + [f"/1.0/identifiers/{alive}"] * 2
    )


def test_a_database_outage_is_the_routes_503_not_a_500(
    served: tuple[RegistryNode, TestClient, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, client, (alive, _) = served

    def down(_: object) -> None:
        raise DatabaseUnavailableError("the database restarts")

    monkeypatch.setattr(node, "resolve", down)
    response = client.get(f"/1.0/identifiers/{alive}")
    assert response.status_code == 503
    assert response.json()["type"] == "urn:realdid:problem:storage-unavailable"


def test_the_lean_route_answers_alike_on_both_engines(
    both_engines: str, store_at: Callable[[str], StoreLocation], tmp_path: Path
) -> None:
    database = str(store_at("node")) if both_engines == "postgresql" else None
    node = RegistryNode(
        NodeConfig(data_dir=tmp_path / "node", database=database, batch_interval=0.05)
    )
    with TestClient(create_app(node)) as client:
        alice = Controller()
        apply(client, alice.create)
        lean = client.get(f"/1.0/identifiers/{alice.did}")
        full = client.get(f"/1.0/identifiers/{alice.did}?full=1")
    assert lean.status_code == 200
    assert (lean.headers["content-type"], lean.content) == (
        full.headers["content-type"],
        full.content,
    )
