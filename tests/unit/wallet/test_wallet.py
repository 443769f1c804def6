"""The resident's wallet (realdid.wallet._wallet) against a real in-process registry node."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nacl.pwhash.argon2id
import pytest

from realdid.controller import DidStateError, Submitted, UnknownDidError
from realdid.crypto import KeyType
from realdid.did import ServiceEntry, commitment_of
from realdid.node import NodeConfig, RegistryNode, create_app
from realdid.registry import NodeClient
from realdid.wallet import Wallet, WalletError

with warnings.catch_warnings():
    # starlette>=1.x warns at import that its TestClient prefers httpx2; the project (and
    # NodeClient) use httpx, and the warnings-as-errors setting would fail collection.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PASSPHRASE = "correct horse battery staple"
# The library's minimum Argon2id cost: the keystore is re-encrypted on every wallet change.
KDF: dict[str, Any] = {
    "opslimit": int(nacl.pwhash.argon2id.OPSLIMIT_MIN),
    "memlimit": int(nacl.pwhash.argon2id.MEMLIMIT_MIN),
}
KEY_TYPES = [k.value for k in KeyType]
UNKNOWN_DID = "did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc"


def shop(name: str = "shop") -> ServiceEntry:
    return ServiceEntry(name, "LinkedDomains", f"https://{name}.example")


@dataclass
class Registry:
    node: RegistryNode
    client: NodeClient

    def anchored(self, *submitted: Submitted) -> None:
        for s in submitted:
            status = self.client.wait_anchored(s.operation_hash, timeout=10.0, interval=0.01)
            assert status["status"] == "anchored"

    def resolve(self, did: str) -> tuple[int, dict[str, Any]]:
        # NodeClient checks that the node answered 410 exactly for a deactivated DID.
        result = self.client.resolve(did)
        return (410 if result.deactivated else 200), result.to_dict()

    def document(self, did: str) -> dict[str, Any]:
        status, result = self.resolve(did)
        assert status == 200
        document: dict[str, Any] = result["didDocument"]
        return document

    def anchor_now(self) -> None:
        """Cut and apply everything queued, for a node whose own loop is idle."""
        while self.node.writer.cut() is not None:
            pass
        self.node.observer.catch_up()


@contextmanager
def running(data_dir: Path, batch_interval: float) -> Iterator[Registry]:
    node = RegistryNode(NodeConfig(data_dir=data_dir, batch_interval=batch_interval))
    with TestClient(create_app(node)) as test_client:
        # NodeClient accepts an httpx transport, and a TestClient *is* an httpx.Client whose
        # transport sends requests through the ASGI app on the portal that the context
        # manager started (lifespan running). Reusing that transport keeps NodeClient's own
        # code (paths, headers, problem parsing) under test, with no network and no patching.
        client = NodeClient(str(test_client.base_url), transport=test_client._transport)
        try:
            yield Registry(node, client)
        finally:
            client.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with running(tmp_path / "node", batch_interval=0.05) as r:
        yield r


@pytest.fixture
def idle_registry(tmp_path: Path) -> Iterator[Registry]:
    """A node whose loop never cuts during the test: the test anchors with ``anchor_now``."""
    with running(tmp_path / "node", batch_interval=60.0) as r:
        yield r


def new_wallet(directory: Path, mnemonic: str | None = None) -> tuple[Wallet, str]:
    return Wallet.init(directory, PASSPHRASE, mnemonic=mnemonic, **KDF)


def method_metadata(registry: Registry, did: str) -> dict[str, Any]:
    metadata: dict[str, Any] = registry.resolve(did)[1]["didDocumentMetadata"]["method"]
    return metadata


def published_keys(document: dict[str, Any]) -> list[str]:
    return [vm["publicKeyMultibase"] for vm in document["verificationMethod"]]


# -- the lifecycle -----------------------------------------------------------------------------
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_full_lifecycle(registry: Registry, tmp_path: Path, key_type: str) -> None:
    wallet, _ = new_wallet(tmp_path / "wallet")
    created = wallet.create(registry.client, key_type)
    assert created.did.startswith("did:realdid:Qm")
    registry.anchored(created)
    document = registry.document(created.did)
    assert published_keys(document) == [wallet.signing_key(created.did).public_key.to_multibase()]
    assert document["verificationMethod"][0]["id"] == f"{created.did}#key-1"
    assert {"authentication", "assertionMethod", "capabilityInvocation"} <= set(document)
    record = wallet.record(created.did)
    assert (record.key_type, record.previous) == (key_type, created.operation_hash)

    first_key = wallet.signing_key(created.did).public_key.to_multibase()
    rotated = wallet.rotate(registry.client, created.did)
    registry.anchored(rotated)
    document = registry.document(created.did)
    new_key = wallet.signing_key(created.did).public_key.to_multibase()
    assert new_key != first_key
    assert published_keys(document) == [new_key]
    assert document["verificationMethod"][0]["id"] == f"{created.did}#key-2"

    updated = wallet.update(registry.client, created.did, add_services=(shop(),))
    registry.anchored(updated)
    assert registry.document(created.did)["service"] == [
        {
            "id": f"{created.did}#shop",
            "type": "LinkedDomains",
            "serviceEndpoint": "https://shop.example",
        }
    ]
    removed = wallet.update(registry.client, created.did, remove_services=("shop",))
    registry.anchored(removed)
    assert "service" not in registry.document(created.did)

    commitments_before = method_metadata(registry, created.did)
    recovered = wallet.recover(registry.client, created.did)
    registry.anchored(recovered)
    document = registry.document(created.did)
    assert published_keys(document) == [wallet.signing_key(created.did).public_key.to_multibase()]
    commitments_after = method_metadata(registry, created.did)
    assert commitments_after["updateCommitment"] != commitments_before["updateCommitment"]
    assert commitments_after["recoveryCommitment"] != commitments_before["recoveryCommitment"]
    record = wallet.record(created.did)
    assert (record.update_counter, record.recovery_counter) == (4, 1)

    # after recovery, ordinary updates continue with the new update key
    registry.anchored(wallet.rotate(registry.client, created.did))

    deactivated = wallet.deactivate(registry.client, created.did)
    registry.anchored(deactivated)
    status, result = registry.resolve(created.did)
    assert status == 410
    assert result["didDocumentMetadata"]["deactivated"] is True
    assert wallet.record(created.did).deactivated

    with pytest.raises(DidStateError):
        wallet.rotate(registry.client, created.did)
    with pytest.raises(DidStateError):
        wallet.deactivate(registry.client, created.did)
    with pytest.raises(DidStateError):
        wallet.update(registry.client, created.did, add_services=(shop("late"),))
    with pytest.raises(DidStateError):
        wallet.recover(registry.client, created.did)


def test_wallet_state_survives_reopening(registry: Registry, tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path / "wallet")
    created = wallet.create(registry.client)
    registry.anchored(created)
    registry.anchored(wallet.rotate(registry.client, created.did))
    reopened = Wallet.open(tmp_path / "wallet", PASSPHRASE)
    assert [asdict(r) for r in reopened.dids] == [asdict(r) for r in wallet.dids]
    registry.anchored(reopened.rotate(registry.client, created.did))
    assert published_keys(registry.document(created.did)) == [
        reopened.signing_key(created.did).public_key.to_multibase()
    ]


def test_added_key_is_published_beside_the_old_one(registry: Registry, tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path / "wallet")
    created = wallet.create(registry.client)
    registry.anchored(created)
    registry.anchored(wallet.update(registry.client, created.did, add_key=True))
    ids = [vm["id"] for vm in registry.document(created.did)["verificationMethod"]]
    assert ids == [f"{created.did}#key-1", f"{created.did}#key-2"]
    registry.anchored(wallet.update(registry.client, created.did, remove_keys=("key-1",)))
    ids = [vm["id"] for vm in registry.document(created.did)["verificationMethod"]]
    assert ids == [f"{created.did}#key-2"]


def test_chained_operations_without_waiting(idle_registry: Registry, tmp_path: Path) -> None:
    """Create and two updates are submitted before anything is anchored: each chains onto
    the wallet's own pending operation, and all three apply in one batch."""
    wallet, _ = new_wallet(tmp_path / "wallet")
    created = wallet.create(idle_registry.client)
    first = wallet.update(idle_registry.client, created.did, add_services=(shop("a"),))
    second = wallet.update(idle_registry.client, created.did, add_services=(shop("b"),))
    for s in (created, first, second):
        assert idle_registry.client.operation_status(s.operation_hash) == {
            "operationHash": s.operation_hash,
            "status": "pending",
        }
    idle_registry.anchor_now()
    idle_registry.anchored(created, first, second)
    document = idle_registry.document(created.did)
    assert [s["id"] for s in document["service"]] == [f"{created.did}#a", f"{created.did}#b"]
    _, result = idle_registry.resolve(created.did)
    assert result["didDocumentMetadata"]["versionId"] == second.operation_hash


def test_chaining_onto_an_anchored_update(registry: Registry, tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path / "wallet")
    created = wallet.create(registry.client)
    registry.anchored(created)
    first = wallet.update(registry.client, created.did, add_services=(shop("a"),))
    second = wallet.update(registry.client, created.did, add_services=(shop("b"),))
    registry.anchored(first, second)  # whichever path _synced took, both must apply
    services = registry.document(created.did)["service"]
    assert [s["id"] for s in services] == [f"{created.did}#a", f"{created.did}#b"]


# -- restore -----------------------------------------------------------------------------------
def test_restore_from_mnemonic(registry: Registry, tmp_path: Path) -> None:
    key_type = KeyType.ED25519.value
    original, phrase = new_wallet(tmp_path / "original")
    busy = original.create(registry.client, key_type)
    plain = original.create(registry.client, key_type)
    registry.anchored(busy, plain)
    registry.anchored(original.rotate(registry.client, busy.did))
    registry.anchored(original.update(registry.client, busy.did, add_key=True))
    registry.anchored(original.recover(registry.client, busy.did))
    registry.anchored(original.rotate(registry.client, busy.did))

    restored, _ = new_wallet(tmp_path / "restored", mnemonic=phrase)
    found = restored.restore(registry.client)
    assert [r.did for r in found] == [busy.did, plain.did]
    for did in (busy.did, plain.did):
        mine, theirs = original.record(did), restored.record(did)
        assert (theirs.index, theirs.key_type, theirs.deactivated) == (
            mine.index,
            mine.key_type,
            False,
        )
        assert (theirs.update_counter, theirs.recovery_counter, theirs.signing_counter) == (
            mine.update_counter,
            mine.recovery_counter,
            mine.signing_counter,
        )
        assert theirs.previous == mine.previous
    assert (
        restored.record(busy.did).update_counter,
        restored.record(busy.did).recovery_counter,
    ) == (
        4,
        1,
    )

    # The restored wallet is a working controller: it can rotate and the result applies.
    rotated = restored.rotate(registry.client, busy.did)
    registry.anchored(rotated)
    assert published_keys(registry.document(busy.did)) == [
        restored.signing_key(busy.did).public_key.to_multibase()
    ]
    registry.anchored(restored.update(registry.client, plain.did, add_services=(shop(),)))
    # ... and the original device re-syncs from the registry before its next operation.
    registry.anchored(original.rotate(registry.client, busy.did))
    assert method_metadata(registry, busy.did)["updateCommitment"] == commitment_of(
        original._key(
            original.record(busy.did).index,
            "update",
            original.record(busy.did).update_counter,
            key_type,
        ).public_key
    )


def test_restore_finds_every_key_type(registry: Registry, tmp_path: Path) -> None:
    """DIDs are numbered across key types; restore probes each index under every type."""
    original, phrase = new_wallet(tmp_path / "original")
    made = [original.create(registry.client, kt) for kt in KEY_TYPES]
    registry.anchored(*made)
    registry.anchored(*(original.rotate(registry.client, m.did) for m in made))
    restored, _ = new_wallet(tmp_path / "restored", mnemonic=phrase)
    found = restored.restore(registry.client)
    assert [(r.did, r.key_type, r.index) for r in found] == [
        (m.did, kt, i) for i, (m, kt) in enumerate(zip(made, KEY_TYPES, strict=True))
    ]
    for m in made:
        assert asdict(restored.record(m.did)) == {
            **asdict(original.record(m.did)),
            "last_operation": "",
        }
    rotated = [restored.rotate(registry.client, m.did) for m in made]
    registry.anchored(*rotated)
    for m in made:
        assert published_keys(registry.document(m.did)) == [
            restored.signing_key(m.did).public_key.to_multibase()
        ]


def test_restore_persists_and_new_dids_take_the_next_index(
    registry: Registry, tmp_path: Path
) -> None:
    original, phrase = new_wallet(tmp_path / "original")
    registry.anchored(original.create(registry.client))
    restored, _ = new_wallet(tmp_path / "restored", mnemonic=phrase)
    assert len(restored.restore(registry.client)) == 1
    reopened = Wallet.open(tmp_path / "restored", PASSPHRASE)
    assert [r.did for r in reopened.dids] == [r.did for r in original.dids]
    fresh = reopened.create(registry.client)
    assert fresh.did not in {r.did for r in original.dids}
    assert reopened.record(fresh.did).index == 1
    registry.anchored(fresh)


def test_restore_of_an_unused_seed_finds_nothing(registry: Registry, tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path / "wallet")
    assert wallet.restore(registry.client) == []
    assert wallet.dids == []


def test_restore_sees_a_deactivated_did(registry: Registry, tmp_path: Path) -> None:
    original, phrase = new_wallet(tmp_path / "original")
    created = original.create(registry.client)
    registry.anchored(created)
    registry.anchored(original.deactivate(registry.client, created.did))
    restored, _ = new_wallet(tmp_path / "restored", mnemonic=phrase)
    (record,) = restored.restore(registry.client)
    assert record.deactivated
    with pytest.raises(DidStateError):
        restored.rotate(registry.client, created.did)


def test_second_device_learns_of_a_deactivation(registry: Registry, tmp_path: Path) -> None:
    phone, phrase = new_wallet(tmp_path / "phone")
    created = phone.create(registry.client)
    registry.anchored(created)
    laptop, _ = new_wallet(tmp_path / "laptop", mnemonic=phrase)
    laptop.restore(registry.client)
    registry.anchored(phone.deactivate(registry.client, created.did))
    with pytest.raises(DidStateError, match="deactivated"):
        laptop.rotate(registry.client, created.did)
    assert laptop.record(created.did).deactivated


# -- refusals ----------------------------------------------------------------------------------
def test_unknown_did_is_refused(registry: Registry, tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path / "wallet")
    with pytest.raises(UnknownDidError):
        wallet.rotate(registry.client, UNKNOWN_DID)
    with pytest.raises(UnknownDidError):
        wallet.update(registry.client, UNKNOWN_DID, add_services=(shop(),))
    with pytest.raises(UnknownDidError):
        wallet.recover(registry.client, UNKNOWN_DID)
    with pytest.raises(UnknownDidError):
        wallet.deactivate(registry.client, UNKNOWN_DID)
    with pytest.raises(UnknownDidError):
        wallet.signing_key(UNKNOWN_DID)


def test_did_of_another_wallet_is_refused(registry: Registry, tmp_path: Path) -> None:
    other, _ = new_wallet(tmp_path / "other")
    foreign = other.create(registry.client)
    registry.anchored(foreign)
    wallet, _ = new_wallet(tmp_path / "wallet")
    with pytest.raises(UnknownDidError):
        wallet.rotate(registry.client, foreign.did)


def test_empty_update_is_refused_before_anything_is_sent(
    idle_registry: Registry, tmp_path: Path
) -> None:
    wallet, _ = new_wallet(tmp_path / "wallet")
    created = wallet.create(idle_registry.client)
    before = idle_registry.node.store.queue_length()
    with pytest.raises(WalletError, match="nothing to update"):
        wallet.update(idle_registry.client, created.did)
    assert idle_registry.node.store.queue_length() == before == 1
    assert wallet.record(created.did).update_counter == 0


def test_operation_on_a_did_this_node_never_saw_is_refused(
    idle_registry: Registry, tmp_path: Path
) -> None:
    """The create went to another node and is neither pending nor anchored here: the
    wallet says so instead of sending an operation that cannot apply."""
    wallet, _ = new_wallet(tmp_path / "wallet")
    created = wallet.create(idle_registry.client)  # pending on the first node only
    with running(tmp_path / "other-node", batch_interval=60.0) as other:
        with pytest.raises(DidStateError, match="not anchored yet"):
            wallet.rotate(other.client, created.did)
        assert other.node.store.queue_length() == 0
    record = wallet.record(created.did)
    assert (record.update_counter, record.signing_counter) == (0, 0)
    # Back on the node that has it, the wallet carries on.
    rotated = wallet.rotate(idle_registry.client, created.did)
    idle_registry.anchor_now()
    idle_registry.anchored(created, rotated)


def test_key_types_are_separate_derivations(registry: Registry, tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path / "wallet")
    made = [wallet.create(registry.client, kt) for kt in KEY_TYPES]
    registry.anchored(*made)
    assert len({m.did for m in made}) == 3
    assert [wallet.record(m.did).key_type for m in made] == KEY_TYPES
    types = {wallet.signing_key(m.did).key_type for m in made}
    assert types == set(KeyType)
