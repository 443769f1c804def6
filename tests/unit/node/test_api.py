"""The registry node's HTTP API (realdid.node._app), driven in process.

Each test runs a real :class:`RegistryNode` (SQLite, file CAS, solo ledger, the anchoring
thread) behind ``create_app``; ``TestClient`` is used as a context manager so that the
lifespan starts and stops the node. Hostile inputs must each get their precise RFC 9457
problem and change nothing: the queue, the ledger position and the DID's resolution are
compared before and after.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from realdid.crypto import KeyType, LocalSigner, canonicalize
from realdid.did import (
    DID_JSON,
    RESOLUTION_CONTEXT,
    RESOLUTION_MEDIA_TYPE,
    CreateOperation,
    DeactivateOperation,
    Did,
    DocumentContent,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    RecoverOperation,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
)
from realdid.http import NO_RATE_LIMITS, Rate, RateLimiter
from realdid.ledger import RegistryStore, verify_resolution_evidence
from realdid.node import NodeConfig, RegistryNode, create_app

with warnings.catch_warnings():
    # starlette>=1.x warns at import that its TestClient prefers httpx2; the project (and
    # NodeClient) use httpx, and the warnings-as-errors setting would fail collection.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PROBLEM_JSON = "application/problem+json"
MAX_REQUEST_BYTES = NodeConfig(data_dir=Path()).max_request_bytes
MAX_OPERATIONS = NodeConfig(data_dir=Path()).max_operations_per_request


# -- building operations -----------------------------------------------------------------------
def op_hash(operation: dict[str, Any]) -> str:
    return ParsedOperation.from_value(operation).hash


def service(name: str) -> ServiceEntry:
    return ServiceEntry(name, "LinkedDomains", f"https://{name}.example")


class Controller:
    """A DID controller that tracks its keys and latest version, as a wallet would."""

    def __init__(self, key_type: KeyType = KeyType.ED25519) -> None:
        self.key_type = key_type
        self.signing = LocalSigner.generate(key_type)
        self.update_key = LocalSigner.generate(key_type)
        self.recovery_key = LocalSigner.generate(key_type)
        self.create = to_dict(
            CreateOperation(
                DocumentContent(
                    (PublicKeyEntry("key-1", self.signing.public_key, ("authentication",)),), ()
                ),
                commitment_of(self.update_key.public_key),
                commitment_of(self.recovery_key.public_key),
            )
        )
        self.did = str(ParsedOperation.from_value(self.create).did)
        self.previous = op_hash(self.create)

    def update(
        self,
        *patches: Patch,
        previous: str | None = None,
        key: LocalSigner | None = None,
        advance: bool = True,
    ) -> dict[str, Any]:
        """An update revealing ``key`` (default: the current update key)."""
        key = key or self.update_key
        next_key = LocalSigner.generate(self.key_type)
        operation = to_dict(
            sign(
                UpdateOperation(
                    Did.parse(self.did),
                    self.previous if previous is None else previous,
                    key.public_key,
                    patches or (Patch("add-services", services=(service("shop"),)),),
                    commitment_of(next_key.public_key),
                ),
                key,
            )
        )
        if advance:
            self.update_key, self.previous = next_key, op_hash(operation)
        return operation

    def recover(self) -> dict[str, Any]:
        signing, update, recovery = (LocalSigner.generate(self.key_type) for _ in range(3))
        operation = to_dict(
            sign(
                RecoverOperation(
                    Did.parse(self.did),
                    self.previous,
                    self.recovery_key.public_key,
                    DocumentContent(
                        (PublicKeyEntry("key-r", signing.public_key, ("assertionMethod",)),),
                        (service("recovered"),),
                    ),
                    commitment_of(update.public_key),
                    commitment_of(recovery.public_key),
                ),
                self.recovery_key,
            )
        )
        self.signing, self.update_key, self.recovery_key = signing, update, recovery
        self.previous = op_hash(operation)
        return operation

    def deactivate(self) -> dict[str, Any]:
        operation = to_dict(
            sign(
                DeactivateOperation(
                    Did.parse(self.did), self.previous, self.recovery_key.public_key
                ),
                self.recovery_key,
            )
        )
        self.previous = op_hash(operation)
        return operation


# -- running a node ----------------------------------------------------------------------------
@contextmanager
def running(
    data_dir: Path, rate_limits: RateLimiter = NO_RATE_LIMITS, **config: Any
) -> Iterator[TestClient]:
    settings: dict[str, Any] = {"batch_interval": 0.05, **config}
    node = RegistryNode(NodeConfig(data_dir=data_dir, **settings))
    with TestClient(create_app(node, rate_limits=rate_limits)) as client:
        yield client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with running(tmp_path / "node") as c:
        yield c


@pytest.fixture
def slow_client(tmp_path: Path) -> Iterator[TestClient]:
    """A node that never cuts a batch during the test: submitted operations stay pending."""
    with running(tmp_path / "node", batch_interval=60.0) as c:
        yield c


def wait_anchored(client: TestClient, operation_hash: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll the operation until the observer has decided it (anchored or rejected)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/1.0/operations/{operation_hash}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] != "pending":
            return body
        assert time.monotonic() < deadline, f"{operation_hash} still pending after {timeout} s"
        time.sleep(0.01)


def submit(client: TestClient, payload: Any) -> Any:
    response = client.post("/1.0/operations", json=payload)
    assert response.status_code == 202, response.text
    return response.json()


def apply(client: TestClient, *operations: dict[str, Any]) -> list[dict[str, Any]]:
    """Submit ``operations`` in one request and wait until each is anchored and applied."""
    receipts = submit(client, list(operations))
    statuses = [wait_anchored(client, r["operationHash"]) for r in receipts]
    for status in statuses:
        assert status["status"] == "anchored", status
    return statuses


def resolve(client: TestClient, did: str, **headers: str) -> Any:
    return client.get(f"/1.0/identifiers/{did}", headers=headers)


def assert_problem(response: Any, code: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:realdid:problem:{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    return body


def snapshot(client: TestClient, *dids: str) -> tuple[Any, ...]:
    health = client.get("/healthz").json()
    resolutions = tuple((r.status_code, r.json()) for r in (resolve(client, d) for d in dids))
    return health["queueLength"], health["anchorSequence"], resolutions


def accepted_total(client: TestClient) -> float:
    text = client.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("realdid_operations_accepted_total{")
    )


# -- a settled registry for hostile inputs -----------------------------------------------------
@dataclass
class World:
    client: TestClient
    alice: Controller  # created, then updated once
    spent_previous: str  # alice's create: superseded by her update
    spent_key: LocalSigner  # alice's first update key: revealed by that update
    applied_update: dict[str, Any]
    dead: Controller  # deactivated

    def snapshot(self) -> tuple[Any, ...]:
        return snapshot(self.client, self.alice.did, self.dead.did)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One settled node shared by the hostile-input tests: each of them proves that it
    changed nothing, so sharing is what a refusal promises (and keeps the suite fast)."""
    with running(tmp_path_factory.mktemp("world") / "node") as client:
        alice, dead = Controller(), Controller()
        apply(client, alice.create, dead.create)
        spent_previous, spent_key = alice.previous, alice.update_key
        update = alice.update()
        apply(client, update, dead.deactivate())
        assert client.get("/healthz").json()["queueLength"] == 0
        yield World(client, alice, spent_previous, spent_key, update, dead)


def post_raw(client: TestClient, body: Any, content_type: str | None = "application/json") -> Any:
    headers = {} if content_type is None else {"content-type": content_type}
    return client.post("/1.0/operations", content=body, headers=headers)


# -- the happy path ----------------------------------------------------------------------------
def test_create_returns_a_durable_receipt(slow_client: TestClient) -> None:
    alice = Controller()
    response = slow_client.post("/1.0/operations", json=alice.create)
    assert response.status_code == 202
    receipt = response.json()
    expected_hash = hashlib.sha256(canonicalize(alice.create)).hexdigest()
    assert receipt == {
        "operationHash": expected_hash,
        "did": alice.did,
        "status": "pending",
        "location": f"/1.0/operations/{expected_hash}",
    }
    status = slow_client.get(receipt["location"])
    assert status.json() == {"operationHash": expected_hash, "status": "pending"}
    assert slow_client.get("/healthz").json()["queueLength"] == 1
    assert_problem(resolve(slow_client, alice.did), "did-not-found", 404)  # not anchored yet


def test_full_lifecycle(client: TestClient) -> None:
    alice = Controller()
    created = apply(client, alice.create)[0]
    assert created["anchor"]["ledger"] == "solo"
    assert created["inclusionProof"]["treeSize"] == created["anchor"]["operationCount"]
    evidence = verify_resolution_evidence({"versionId": created["operationHash"], **created})
    assert evidence.version_id == created["operationHash"]

    response = resolve(client, alice.did)
    assert response.status_code == 200
    assert response.headers["content-type"] == RESOLUTION_MEDIA_TYPE
    result = response.json()
    assert result["@context"] == RESOLUTION_CONTEXT
    assert result["didResolutionMetadata"] == {"contentType": DID_JSON}
    document = result["didDocument"]
    assert document["id"] == alice.did
    assert document["verificationMethod"] == [
        {
            "id": f"{alice.did}#key-1",
            "type": "Multikey",
            "controller": alice.did,
            "publicKeyMultibase": alice.signing.public_key.to_multibase(),
        }
    ]
    assert document["authentication"] == [f"{alice.did}#key-1"]
    metadata = result["didDocumentMetadata"]
    assert metadata["versionId"] == created["operationHash"]
    assert metadata["deactivated"] is False
    assert "updated" not in metadata
    assert metadata["created"].endswith("Z")
    assert metadata["method"] == {
        "updateCommitment": commitment_of(alice.update_key.public_key),
        "recoveryCommitment": commitment_of(alice.recovery_key.public_key),
    }
    assert verify_resolution_evidence(metadata).version_id == created["operationHash"]

    bare = resolve(client, alice.did, accept=DID_JSON)
    assert bare.status_code == 200
    assert bare.headers["content-type"] == DID_JSON
    assert bare.json() == document

    # update
    update = alice.update(Patch("add-services", services=(service("shop"),)))
    apply(client, update)
    result = resolve(client, alice.did).json()
    assert result["didDocument"]["service"] == [
        {
            "id": f"{alice.did}#shop",
            "type": "LinkedDomains",
            "serviceEndpoint": "https://shop.example",
        }
    ]
    assert result["didDocumentMetadata"]["versionId"] == op_hash(update)
    assert "updated" in result["didDocumentMetadata"]
    verify_resolution_evidence(result["didDocumentMetadata"])

    # recover
    recover = alice.recover()
    apply(client, recover)
    result = resolve(client, alice.did).json()
    assert [vm["id"] for vm in result["didDocument"]["verificationMethod"]] == [
        f"{alice.did}#key-r"
    ]
    assert [s["id"] for s in result["didDocument"]["service"]] == [f"{alice.did}#recovered"]
    assert result["didDocumentMetadata"]["method"] == {
        "updateCommitment": commitment_of(alice.update_key.public_key),
        "recoveryCommitment": commitment_of(alice.recovery_key.public_key),
    }
    verify_resolution_evidence(result["didDocumentMetadata"])

    # deactivate
    deactivate = alice.deactivate()
    apply(client, deactivate)
    response = resolve(client, alice.did)
    assert response.status_code == 410
    result = response.json()
    assert result["didDocument"] == {"@context": ["https://www.w3.org/ns/did/v1"], "id": alice.did}
    assert result["didDocumentMetadata"]["deactivated"] is True
    assert result["didDocumentMetadata"]["versionId"] == op_hash(deactivate)
    assert "method" not in result["didDocumentMetadata"]
    verify_resolution_evidence(result["didDocumentMetadata"])
    bare = resolve(client, alice.did, accept=DID_JSON)
    assert bare.status_code == 410
    assert bare.json() == result["didDocument"]


@pytest.mark.parametrize("key_type", list(KeyType))
def test_every_key_type_creates_and_updates(client: TestClient, key_type: KeyType) -> None:
    alice = Controller(key_type)
    apply(client, alice.create)
    apply(client, alice.update())
    result = resolve(client, alice.did).json()
    assert result["didDocumentMetadata"]["versionId"] == alice.previous


def test_bulk_create_and_update_of_the_same_did(client: TestClient) -> None:
    alice = Controller()
    create, update = alice.create, alice.update()
    response = client.post("/1.0/operations", json=[create, update])
    assert response.status_code == 202
    receipts = response.json()
    assert [r["operationHash"] for r in receipts] == [op_hash(create), op_hash(update)]
    assert {r["did"] for r in receipts} == {alice.did}
    for receipt in receipts:
        assert wait_anchored(client, receipt["operationHash"])["status"] == "anchored"
    result = resolve(client, alice.did).json()
    assert result["didDocumentMetadata"]["versionId"] == op_hash(update)


def test_observer_decides_between_two_queued_updates(client: TestClient) -> None:
    """Both build on the same version; intake cannot know which wins, the ledger order does."""
    alice = Controller()
    apply(client, alice.create)
    base, key = alice.previous, alice.update_key
    first = alice.update(Patch("add-services", services=(service("first"),)))
    second = alice.update(
        Patch("add-services", services=(service("second"),)), previous=base, key=key, advance=False
    )
    receipts = submit(client, [first, second])
    outcomes = [wait_anchored(client, r["operationHash"]) for r in receipts]
    assert outcomes[0]["status"] == "anchored"
    assert outcomes[1]["status"] == "rejected"
    assert outcomes[1]["reason"] == "stale-previous"
    assert "inclusionProof" not in outcomes[1]
    assert outcomes[1]["anchor"]["ledger"] == "solo"
    services = resolve(client, alice.did).json()["didDocument"]["service"]
    assert [s["id"] for s in services] == [f"{alice.did}#first"]


def test_identical_resubmission_of_a_pending_operation_is_idempotent(
    slow_client: TestClient,
) -> None:
    alice = Controller()
    first = slow_client.post("/1.0/operations", json=alice.create)
    second = slow_client.post("/1.0/operations", json=alice.create)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert slow_client.get("/healthz").json()["queueLength"] == 1
    # The same operation twice in one array is also queued once.
    bob = Controller()
    assert len(submit(slow_client, [bob.create, bob.create])) == 2
    assert slow_client.get("/healthz").json()["queueLength"] == 2


# -- hostile input: every refusal is precise and changes nothing -------------------------------
def refused(
    world: World, send: Callable[[TestClient], Any], code: str, status: int
) -> dict[str, Any]:
    before = world.snapshot()
    accepted = accepted_total(world.client)
    body = assert_problem(send(world.client), code, status)
    assert world.snapshot() == before
    assert accepted_total(world.client) == accepted
    return body


BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "truncated-json": (b'{"type": "create",', "malformed-json"),
    "invalid-utf8": (b'\xff\xfe{"type":"create"}', "malformed-json"),
    "empty-body": (b"", "malformed-json"),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, "malformed-json"),
    "number": (b"42", "malformed-operation"),
    "string": (b'"create"', "malformed-operation"),
    "null": (b"null", "malformed-operation"),
    "nan": (b"NaN", "malformed-json"),  # not JSON (RFC 8259); the parser refuses it,
    "array-of-numbers": (b"[1]", "malformed-operation"),
    "empty-object": (b"{}", "malformed-operation"),
    "unknown-type": (b'{"type":"delete","did":"did:realdid:x"}', "malformed-operation"),
    "type-not-string": (b'{"type":["create"]}', "malformed-operation"),
    "empty-array": (b"[]", "empty-submission"),
    # I-JSON (RFC 7493 section 2.3): a repeated member would mean one thing to the check
    # and another to the next parser, so it is refused before any validation.
    "duplicate-member": (b'{"type":"create","type":"update"}', "malformed-json"),
    "duplicate-nested": (b'[{"type":"create","suffixData":{"a":1,"a":1}}]', "malformed-json"),
}


@pytest.mark.parametrize(("body", "code"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_bad_body_is_refused(world: World, body: bytes, code: str) -> None:
    refused(world, lambda c: post_raw(c, body), code, 400)


def test_intake_charges_each_client_per_operation(tmp_path: Path) -> None:
    now = [0.0]
    limits = RateLimiter({"operations": Rate(per_second=2, burst=3)}, clock=lambda: now[0])
    with running(tmp_path / "node", rate_limits=limits) as client:
        apply(client, Controller().create, Controller().create)  # 2 of the 3 tokens, settled
        before, accepted = snapshot(client), accepted_total(client)
        pair = [Controller().create, Controller().create]
        response = client.post("/1.0/operations", json=pair)
        body = assert_problem(response, "rate-limited", 429)
        assert response.headers["retry-after"] == "1"  # one token short at 2/s: 0.5 s, rounded up
        assert "operations" in body["detail"]
        assert (snapshot(client), accepted_total(client)) == (before, accepted)  # nothing queued
        now[0] += 0.5
        submit(client, pair)  # the token came back: the same pair is accepted whole
        assert accepted_total(client) == accepted + 2


def _mutate(base: str, change: Callable[[dict[str, Any]], None]) -> Callable[[World], Any]:
    """Build the payload from the world's operations, altered by ``change``."""

    def build(world: World) -> Any:
        if base == "create":
            value = json.loads(json.dumps(Controller().create))
        else:
            value = json.loads(
                json.dumps(
                    world.alice.update(
                        Patch("add-services", services=(service("x"),)), advance=False
                    )
                )
            )
        change(value)
        return value

    return build


def _set(member: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj[member] = value

    return change


def _drop(member: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        del obj[member]

    return change


MALFORMED: dict[str, Callable[[World], Any]] = {
    "create-commitment-number": _mutate("create", _set("updateCommitment", 5)),
    "create-commitment-not-multihash": _mutate(
        "create", _set("recoveryCommitment", "Qm" + "1" * 44)
    ),
    "create-document-array": _mutate("create", _set("document", [])),
    "create-unknown-member": _mutate("create", _set("note", "hello")),
    "create-missing-member": _mutate("create", _drop("updateCommitment")),
    "update-previous-number": _mutate("update", _set("previous", 123)),
    "update-previous-uppercase": _mutate(
        "update", lambda o: o.update(previous=o["previous"].upper())
    ),
    "update-patches-object": _mutate("update", _set("patches", {})),
    "update-patches-empty": _mutate("update", _set("patches", [])),
    "update-unknown-patch": _mutate("update", _set("patches", [{"action": "replace"}])),
    "update-unknown-member": _mutate("update", _set("extra", True)),
    "update-did-other-method": _mutate("update", _set("did", "did:example:123")),
    "update-signature-number": _mutate("update", _set("signature", 7)),
    "update-signature-not-base64url": _mutate("update", _set("signature", "***")),
    "missing-signature": _mutate("update", _drop("signature")),
    "revealed-private-key": _mutate(
        "update", lambda o: o["revealedKey"].update(d="nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    ),
    "revealed-key-extra-member": _mutate("update", lambda o: o["revealedKey"].update(kid="k")),
    "service-userinfo": _mutate(
        "update",
        _set(
            "patches",
            [
                {
                    "action": "add-services",
                    "services": [
                        {"id": "s", "type": "T", "serviceEndpoint": "https://u:p@evil.example"}
                    ],
                }
            ],
        ),
    ),
}


@pytest.mark.parametrize("build", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_operation_is_refused(world: World, build: Callable[[World], Any]) -> None:
    payload = build(world)
    refused(world, lambda c: c.post("/1.0/operations", json=payload), "malformed-operation", 400)


def test_oversized_body_with_content_length(world: World) -> None:
    body = b" " * (MAX_REQUEST_BYTES + 1)
    response = refused(world, lambda c: post_raw(c, body), "payload-too-large", 413)
    assert str(MAX_REQUEST_BYTES) in response["detail"]


def test_oversized_body_streamed_without_content_length(world: World) -> None:
    chunk = b" " * 65536
    count = MAX_REQUEST_BYTES // len(chunk) + 2

    def send(c: TestClient) -> Any:
        def stream() -> Iterator[bytes]:
            for _ in range(count):
                yield chunk

        request = c.build_request(
            "POST",
            "/1.0/operations",
            content=stream(),
            headers={"content-type": "application/json"},
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        return c.send(request)

    refused(world, send, "payload-too-large", 413)


def test_lying_content_length_header(world: World) -> None:
    refused(
        world,
        lambda c: c.post(
            "/1.0/operations",
            content=b"{}",
            headers={
                "content-type": "application/json",
                "content-length": str(MAX_REQUEST_BYTES + 1),
            },
        ),
        "payload-too-large",
        413,
    )


def test_too_many_operations_in_an_array(world: World) -> None:
    payload: list[dict[str, Any]] = [{}] * (MAX_OPERATIONS + 1)
    body = refused(
        world, lambda c: c.post("/1.0/operations", json=payload), "payload-too-large", 413
    )
    assert str(MAX_OPERATIONS) in body["detail"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
def test_wrong_content_type(world: World, content_type: str) -> None:
    body = json.dumps(Controller().create).encode()
    refused(world, lambda c: post_raw(c, body, content_type), "unsupported-media-type", 415)


def test_json_content_type_with_charset_is_accepted(client: TestClient) -> None:
    body = json.dumps(Controller().create).encode()
    assert post_raw(client, body, "application/json; charset=utf-8").status_code == 202


def test_bad_signature(world: World) -> None:
    operation = world.alice.update(advance=False)
    other = world.alice.update(Patch("add-services", services=(service("other"),)), advance=False)
    operation["signature"] = other["signature"]  # valid signature, by the right key, of another op
    refused(world, lambda c: c.post("/1.0/operations", json=operation), "invalid-signature", 400)


def test_bad_signature_while_operations_are_queued(slow_client: TestClient, tmp_path: Path) -> None:
    """With operations queued for the DID, intake checks the signature alone — still refused."""
    alice = Controller()
    submit(slow_client, alice.create)
    operation = alice.update(advance=False)
    operation["signature"] = alice.update(advance=False)["signature"]
    before = snapshot(slow_client, alice.did)
    assert_problem(slow_client.post("/1.0/operations", json=operation), "invalid-signature", 400)
    assert snapshot(slow_client, alice.did) == before


def test_replay_of_an_anchored_update(world: World) -> None:
    refused(
        world,
        lambda c: c.post("/1.0/operations", json=world.applied_update),
        "operation-already-processed",
        409,
    )


def test_new_operation_on_a_spent_previous(world: World) -> None:
    operation = world.alice.update(
        Patch("add-services", services=(service("late"),)),
        previous=world.spent_previous,
        key=world.spent_key,
        advance=False,
    )
    refused(world, lambda c: c.post("/1.0/operations", json=operation), "stale-previous", 409)


def test_new_operation_revealing_a_spent_key(world: World) -> None:
    operation = world.alice.update(key=world.spent_key, advance=False)  # right previous, old key
    refused(world, lambda c: c.post("/1.0/operations", json=operation), "commitment-mismatch", 409)


def test_update_signed_by_a_stranger(world: World) -> None:
    operation = world.alice.update(key=LocalSigner.generate(), advance=False)
    refused(world, lambda c: c.post("/1.0/operations", json=operation), "commitment-mismatch", 409)


def test_operation_on_a_deactivated_did(world: World) -> None:
    operation = world.dead.update(advance=False)
    refused(world, lambda c: c.post("/1.0/operations", json=operation), "did-deactivated", 410)


def test_operation_on_an_unknown_did(world: World) -> None:
    ghost = Controller()
    operation = ghost.update(advance=False)
    refused(world, lambda c: c.post("/1.0/operations", json=operation), "did-not-found", 404)
    assert_problem(
        world.client.get(f"/1.0/operations/{op_hash(operation)}"), "operation-not-found", 404
    )


def test_duplicate_create_of_an_existing_did(world: World) -> None:
    """A DID is the hash of its create, so a second create of it is that create again: a
    conflict (409) reported as the replay it is."""
    refused(
        world,
        lambda c: c.post("/1.0/operations", json=world.alice.create),
        "operation-already-processed",
        409,
    )


@pytest.mark.parametrize(
    "patch",
    [
        Patch("remove-public-keys", ids=("no-such-key",)),
        Patch("remove-services", ids=("no-such-service",)),
        Patch("add-services", services=(service("shop"),)),  # id already in the document
        Patch(
            "add-public-keys",
            public_keys=(
                PublicKeyEntry("key-1", LocalSigner.generate().public_key, ("authentication",)),
            ),
        ),
    ],
    ids=["remove-missing-key", "remove-missing-service", "duplicate-service", "duplicate-key"],
)
def test_invalid_patch(world: World, patch: Patch) -> None:
    operation = world.alice.update(patch, advance=False)
    refused(world, lambda c: c.post("/1.0/operations", json=operation), "invalid-patch", 422)


def test_bulk_with_one_bad_operation_is_refused_whole(world: World) -> None:
    fresh = Controller()
    bad = world.alice.update(key=world.spent_key, advance=False)
    payload = [fresh.create, bad, Controller().create]
    body = refused(
        world, lambda c: c.post("/1.0/operations", json=payload), "commitment-mismatch", 409
    )
    assert body["index"] == 1
    assert "nothing in this request was accepted" in body["detail"]
    assert_problem(resolve(world.client, fresh.did), "did-not-found", 404)
    assert_problem(
        world.client.get(f"/1.0/operations/{op_hash(fresh.create)}"), "operation-not-found", 404
    )


def test_bulk_with_one_malformed_item_names_its_index(world: World) -> None:
    payload = [Controller().create, Controller().create, {"type": "create"}]
    body = refused(
        world, lambda c: c.post("/1.0/operations", json=payload), "malformed-operation", 400
    )
    assert body["index"] == 2


# -- read endpoints ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", ["xyz", "AB" * 32, "ab" * 31, "ab" * 33, "g" * 64, "%20" * 10, "０" * 64]
)
def test_operation_status_with_a_bad_hash(client: TestClient, bad: str) -> None:
    assert_problem(client.get(f"/1.0/operations/{bad}"), "invalid-operation-hash", 400)


class RacingStore(RegistryStore):
    """The node's store, with a hook run just before the queue is read (to force a race)."""

    hook: Callable[[], None] | None = None

    def is_queued(self, operation_hash: str) -> bool:
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        return super().is_queued(operation_hash)


def test_status_of_an_operation_anchored_during_the_lookup(tmp_path: Path) -> None:
    """The observer commits between the status route's outcome read and its queue read:
    the acknowledged operation must not be reported as unknown."""
    node = RegistryNode(NodeConfig(data_dir=tmp_path / "node", batch_interval=60.0))
    racing = RacingStore(tmp_path / "node" / "node.db")
    node.store = racing  # the HTTP side reads through it; writer and observer keep theirs
    alice = Controller()
    with TestClient(create_app(node)) as client:
        receipt = submit(client, alice.create)

        def anchor_now() -> None:
            assert node.writer.cut() is not None
            assert node.observer.catch_up() == 1

        racing.hook = anchor_now
        response = client.get(receipt["location"])
        assert racing.hook is None  # the race was staged
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "anchored"


def test_operation_status_unknown(client: TestClient) -> None:
    assert_problem(client.get(f"/1.0/operations/{'ab' * 32}"), "operation-not-found", 404)


@pytest.mark.parametrize(
    ("did", "status", "error"),
    [
        ("not-a-did", 400, "invalidDid"),
        ("did:realdid:", 400, "invalidDid"),
        ("did:realdid:0OIl", 400, "invalidDid"),
        ("did:realdid:QmTooShort", 400, "invalidDid"),
        ("DID:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc", 400, "invalidDid"),
        ("did:example:123456789abcdefghi", 501, "methodNotSupported"),
        ("did:web:example.com", 501, "methodNotSupported"),
        ("did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc", 404, "notFound"),
    ],
)
def test_resolution_errors(client: TestClient, did: str, status: int, error: str) -> None:
    response = resolve(client, did)
    code = {"invalidDid": "invalid-did", "methodNotSupported": "method-not-supported"}.get(
        error, "did-not-found"
    )
    body = assert_problem(response, code, status)
    assert body["didResolutionMetadata"]["error"] == error
    assert body["didDocument"] is None
    assert body["didDocumentMetadata"] == {}


def test_cas_serves_anchored_batches(client: TestClient) -> None:
    alice = Controller()
    status = apply(client, alice.create)[0]
    address = status["anchor"]["batchHash"]
    response = client.get(f"/cas/{address}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert "immutable" in response.headers["cache-control"]
    assert hashlib.sha256(response.content).hexdigest() == address


@pytest.mark.parametrize(
    "bad", ["xyz", "AB" * 32, "..%2e..%2e", "ab" * 31 + "zz", "ab" * 32 + "%00"]
)
def test_cas_bad_address(client: TestClient, bad: str) -> None:
    assert_problem(client.get(f"/cas/{bad}"), "invalid-content-address", 400)


def test_cas_unknown_address(client: TestClient) -> None:
    assert_problem(client.get(f"/cas/{'cd' * 32}"), "content-not-found", 404)


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "ledger": "solo",
        "role": "writer",
        "anchorSequence": -1,
        "queueLength": 0,
    }


def test_metrics(client: TestClient) -> None:
    alice = Controller()
    apply(client, alice.create)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'realdid_operations_accepted_total{type="create"} 1.0' in response.text
    assert accepted_total(client) == 1.0


def test_openapi_lists_the_routes(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert {
        "/1.0/operations",
        "/1.0/operations/{operation_hash}",
        "/1.0/identifiers/{did}",
        "/cas/{address}",
        "/healthz",
        "/metrics",
    } <= set(schema["paths"])
    assert "post" in schema["paths"]["/1.0/operations"]
    assert {"Operation", "Problem"} <= set(schema["components"]["schemas"])
