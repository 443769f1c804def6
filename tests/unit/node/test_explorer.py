"""The ledger explorer pages: recent anchors, a batch's operations, a DID's history."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from realdid.crypto import LocalSigner
from realdid.did import (
    CreateOperation,
    Did,
    DocumentContent,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
)
from realdid.node import NodeConfig, RegistryNode, create_app

with warnings.catch_warnings():
    # starlette>=1.x warns at import that its TestClient prefers httpx2 (see test_api.py).
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    node = RegistryNode(NodeConfig(data_dir=tmp_path, batch_interval=0.02))
    with TestClient(create_app(node)) as test_client:
        yield test_client


def submit_and_wait(client: TestClient, operation: dict[str, Any]) -> str:
    response = client.post("/1.0/operations", json=operation)
    assert response.status_code == 202, response.text
    operation_hash: str = response.json()["operationHash"]
    deadline = time.monotonic() + 10
    while client.get(f"/1.0/operations/{operation_hash}").json().get("status") != "anchored":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return operation_hash


def created_and_updated(client: TestClient) -> tuple[str, str, str]:
    signing, update, recovery, next_update = (LocalSigner.generate() for _ in range(4))
    create = to_dict(
        CreateOperation(
            DocumentContent(
                (PublicKeyEntry("key-1", signing.public_key, ("authentication",)),), ()
            ),
            commitment_of(update.public_key),
            commitment_of(recovery.public_key),
        )
    )
    did = str(ParsedOperation.from_value(create).did)
    create_hash = submit_and_wait(client, create)
    patch = Patch(
        "add-services", services=(ServiceEntry("hub", "LinkedDomains", "https://hub.example"),)
    )
    operation = sign(
        UpdateOperation(
            Did.parse(did),
            create_hash,
            update.public_key,
            (patch,),
            commitment_of(next_update.public_key),
        ),
        update,
    )
    update_hash = submit_and_wait(client, to_dict(operation))
    return did, create_hash, update_hash


def test_front_page_lists_recent_anchors_newest_first(client: TestClient) -> None:
    assert "No anchors yet" in client.get("/explorer").text
    created_and_updated(client)
    page = client.get("/explorer")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sequences = [int(s) for s in re.findall(r'href="/explorer/anchors/(\d+)"', page.text)]
    assert sequences == sorted(sequences, reverse=True)
    assert sequences[-1] == 0


def test_anchor_page_shows_each_operation_and_its_outcome(client: TestClient) -> None:
    did, _, update_hash = created_and_updated(client)
    status = client.get(f"/1.0/operations/{update_hash}").json()
    page = client.get(f"/explorer/anchors/{status['anchor']['sequence']}").text
    assert update_hash in page
    assert did in page
    assert "applied" in page
    assert status["anchor"]["merkleRoot"] in page


def test_did_page_shows_the_full_history_with_verified_proofs(client: TestClient) -> None:
    did, create_hash, update_hash = created_and_updated(client)
    page = client.get(f"/explorer/dids/{did}").text
    # Newest first: the update, then the create it builds on.
    assert page.index(update_hash) < page.index(create_hash)
    assert page.count("verified against root") == 2
    assert "does not verify" not in page
    assert str(markupsafe.escape('"serviceEndpoint": "https://hub.example"')) in page


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/explorer/dids/did:realdid:nope", 400),
        ("/explorer/dids/did:realdid:QmPwJMJYHqWiuJ8RR3Pt4eTSUueD6PxicC2ia9WjW96Jka", 404),
        ("/explorer/anchors/99", 404),
        ("/explorer/anchors/-1", 404),
    ],
)
def test_unknown_or_invalid_lookups_render_an_error_page(
    client: TestClient, path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert "Traceback" not in response.text
    assert "<h1>Nothing to show</h1>" in response.text


def test_search_redirects_to_a_did_or_an_anchor(client: TestClient) -> None:
    response = client.get("/explorer/search", params={"q": " 12 "}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/explorer/anchors/12"
    response = client.get("/explorer/search", params={"q": "did:realdid:x"}, follow_redirects=False)
    assert response.headers["location"] == "/explorer/dids/did:realdid:x"


def test_markup_in_a_lookup_is_escaped_not_rendered(client: TestClient) -> None:
    response = client.get("/explorer/dids/<script>alert(1)<%2Fscript>")
    assert "<script>alert(1)" not in response.text


def test_a_missing_batch_file_gives_an_error_page_not_a_crash(
    client: TestClient, tmp_path: Path
) -> None:
    did, _, update_hash = created_and_updated(client)
    sequence = client.get(f"/1.0/operations/{update_hash}").json()["anchor"]["sequence"]
    for batch_file in (tmp_path / "cas").rglob("*"):
        if batch_file.is_file():
            batch_file.unlink()
    for path in (f"/explorer/anchors/{sequence}", f"/explorer/dids/{did}"):
        response = client.get(path)
        assert response.status_code == 503
        assert "not available on this node" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/explorer/anchors/9223372036854775808",
        "/explorer/anchors/-9223372036854775808",
        "/explorer/anchors/0?offset=9223372036854775808",
        "/explorer?before=9223372036854775808",
        "/explorer/anchors/99999999999999999999999999",
    ],
)
def test_numbers_beyond_64_bits_are_a_400_problem_not_a_500(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("invalid-request")


def test_the_largest_64_bit_anchor_number_is_just_not_found(client: TestClient) -> None:
    assert client.get("/explorer/anchors/9223372036854775807").status_code == 404
    assert client.get("/explorer?before=9223372036854775807").status_code == 200
