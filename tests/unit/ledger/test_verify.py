"""End-to-end verification of a node's data directory, and client-side evidence checks.

The data directory is produced by a real :class:`RegistryNode` whose writer and observer
are stepped by hand (no background thread), then tampered with the way an attacker with
file access would: raw bytes in ``cas/``, raw SQL on ``ledger.db`` and ``node.db``.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from realdid.clock import FixedClock
from realdid.crypto import KeyType, LocalSigner
from realdid.did import (
    CreateOperation,
    DeactivateOperation,
    Did,
    DocumentContent,
    ParsedOperation,
    Patch,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
)
from realdid.ledger import (
    Block,
    FileContentStore,
    LedgerError,
    LedgerIntegrityError,
    RegistryReport,
    VerifiedEvidence,
    verify_registry,
    verify_resolution_evidence,
)
from realdid.node import NodeConfig, RegistryNode

T0 = 1_700_000_000


@dataclass
class Controller:
    update: LocalSigner
    next_update: LocalSigner
    recovery: LocalSigner
    create: ParsedOperation

    @classmethod
    def new(cls) -> Controller:
        update, recovery = LocalSigner.generate(), LocalSigner.generate()
        create = ParsedOperation.from_value(
            to_dict(
                CreateOperation(
                    DocumentContent(),
                    commitment_of(update.public_key),
                    commitment_of(recovery.public_key),
                )
            )
        )
        return cls(update, LocalSigner.generate(), recovery, create)

    @property
    def did(self) -> Did:
        return self.create.did

    def add_service(self, previous: str, name: str) -> ParsedOperation:
        entry = ServiceEntry(name, "LinkedDomains", f"https://{name}.example")
        op = UpdateOperation(
            self.did,
            previous,
            self.update.public_key,
            (Patch("add-services", services=(entry,)),),
            commitment_of(self.next_update.public_key),
        )
        return ParsedOperation.from_value(to_dict(sign(op, self.update)))

    def deactivate(self, previous: str) -> ParsedOperation:
        op = DeactivateOperation(self.did, previous, self.recovery.public_key)
        return ParsedOperation.from_value(to_dict(sign(op, self.recovery)))


@dataclass
class Registry:
    """What the tests know about the data directory they built."""

    data_dir: Path
    alice: Controller
    bob: Controller
    carol: Controller
    alice_update: ParsedOperation
    batch_hashes: list[str]


def step(node: RegistryNode, ops: list[ParsedOperation], *, observe: bool = True) -> str:
    """Queue ``ops``, cut one batch and (optionally) apply it; return the batch hash."""
    node.store.enqueue(ops, node.clock.now())
    anchor = node.writer.cut()
    assert anchor is not None
    if observe:
        assert node.observer.catch_up() == 1
    return anchor.batch_hash


def build(data_dir: Path, *, observe_last: bool = True) -> Registry:
    """Three anchors: two creates; an update + a create; a deactivation."""
    node = RegistryNode(NodeConfig(data_dir=data_dir), clock=FixedClock(T0))
    try:
        alice, bob, carol = Controller.new(), Controller.new(), Controller.new()
        update = alice.add_service(alice.create.hash, "shop")
        hashes = [
            step(node, [alice.create, bob.create]),
            step(node, [update, carol.create]),
            step(node, [bob.deactivate(bob.create.hash)], observe=observe_last),
        ]
    finally:
        node.stop()
    return Registry(data_dir, alice, bob, carol, update, hashes)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Built once (fsyncs make building cost more than verifying); tests tamper with copies."""
    return build(tmp_path_factory.mktemp("template") / "node")


@pytest.fixture
def registry(template: Registry, tmp_path: Path) -> Registry:
    data_dir = tmp_path / "node"
    shutil.copytree(template.data_dir, data_dir)
    return dataclasses.replace(template, data_dir=data_dir)


def sql(path: Path, statement: str, *params: Any) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def batch_path(registry: Registry, index: int) -> Path:
    return FileContentStore(registry.data_dir / "cas").path_for(registry.batch_hashes[index])


# -- verify_registry ---------------------------------------------------------------------------
def test_untouched_registry_verifies(registry: Registry) -> None:
    report = verify_registry(registry.data_dir)
    assert report == RegistryReport(blocks=3, operations=5, dids=3)


def test_verify_is_repeatable_and_read_only(registry: Registry) -> None:
    ledger_before = (registry.data_dir / "ledger.db").read_bytes()
    verify_registry(registry.data_dir)
    assert verify_registry(registry.data_dir) == RegistryReport(3, 5, 3)
    assert (registry.data_dir / "ledger.db").read_bytes() == ledger_before


def test_newest_anchor_not_yet_applied_still_verifies(tmp_path: Path) -> None:
    """A running node may lag the ledger by an anchor; that is not an inconsistency."""
    registry = build(tmp_path / "node", observe_last=False)
    assert verify_registry(registry.data_dir) == RegistryReport(3, 5, 3)


def test_missing_node_database_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerIntegrityError, match="no registry node database"):
        verify_registry(tmp_path)


@pytest.mark.parametrize("offset", [0, 10, -5, -1])
def test_tampered_batch_file_names_the_anchor(registry: Registry, offset: int) -> None:
    path = batch_path(registry, 1)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(LedgerIntegrityError, match=r"anchor 1 \(block 1\)") as excinfo:
        verify_registry(registry.data_dir)
    assert registry.batch_hashes[1] in str(excinfo.value)


def test_deleted_batch_file_names_the_anchor(registry: Registry) -> None:
    batch_path(registry, 2).unlink()
    with pytest.raises(LedgerIntegrityError, match=r"anchor 2 \(block 2\).*batch file"):
        verify_registry(registry.data_dir)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("merkle_root", "ab" * 32),
        ("batch_hash", "cd" * 32),
        ("operation_count", 7),
        ("timestamp", T0 + 1),
        ("previous_hash", "00" * 32),
        ("signature", b"\0" * 64),
    ],
)
def test_tampered_block_names_the_block(registry: Registry, column: str, value: object) -> None:
    sql(registry.data_dir / "ledger.db", f"UPDATE blocks SET {column} = ? WHERE height = 1", value)  # noqa: S608 - column names come from the parametrize list above
    with pytest.raises(LedgerIntegrityError, match="block 1"):
        verify_registry(registry.data_dir)


def resign_last_block(registry: Registry, **changes: Any) -> None:
    """What only the holder of the ledger key can do: rewrite the newest block validly."""
    ledger = registry.data_dir / "ledger.db"
    key = LocalSigner(KeyType.ED25519, (registry.data_dir / "solo-ledger.key").read_bytes())
    (row,) = sql(
        ledger,
        "SELECT height, previous_hash, timestamp, batch_hash, merkle_root, operation_count, "
        "signer FROM blocks ORDER BY height DESC LIMIT 1",
    )
    fields = dict(
        zip(
            (
                "height",
                "previous_hash",
                "timestamp",
                "batch_hash",
                "merkle_root",
                "operation_count",
                "signer",
            ),
            row,
            strict=True,
        )
    )
    block = Block(**{**fields, **changes})
    sql(
        ledger,
        "UPDATE blocks SET merkle_root = ?, operation_count = ?, block_hash = ?, signature = ? "
        "WHERE height = ?",
        block.merkle_root,
        block.operation_count,
        block.block_hash,
        key.sign(block.signing_message()),
        block.height,
    )


def test_validly_signed_wrong_root_is_caught_against_the_batch(registry: Registry) -> None:
    resign_last_block(registry, merkle_root="ef" * 32)
    with pytest.raises(LedgerIntegrityError, match=r"anchor 2 \(block 2\).*Merkle root"):
        verify_registry(registry.data_dir)


def test_validly_signed_wrong_count_is_caught_against_the_batch(registry: Registry) -> None:
    resign_last_block(registry, operation_count=2)
    with pytest.raises(LedgerIntegrityError, match=r"anchor 2 \(block 2\).*anchor says 2"):
        verify_registry(registry.data_dir)


def test_truncated_ledger_is_caught_against_the_index(registry: Registry) -> None:
    sql(registry.data_dir / "ledger.db", "DELETE FROM blocks WHERE height = 2")
    with pytest.raises(LedgerIntegrityError, match="index claims anchor 2"):
        verify_registry(registry.data_dir)


def test_rolled_back_did_state_names_the_did(tmp_path: Path) -> None:
    """Swap the state of one DID for an older one: the index no longer matches the ledger."""
    data_dir = tmp_path / "node"
    node = RegistryNode(NodeConfig(data_dir=data_dir), clock=FixedClock(T0))
    alice, bob = Controller.new(), Controller.new()
    try:
        step(node, [alice.create])
        old_rows = sql(data_dir / "node.db", "SELECT suffix, state FROM dids")
        step(node, [alice.add_service(alice.create.hash, "shop"), bob.create])
    finally:
        node.stop()
    assert verify_registry(data_dir).dids == 2
    ((key, old_state),) = old_rows
    sql(data_dir / "node.db", "UPDATE dids SET state = ? WHERE suffix = ?", old_state, key)
    with pytest.raises(LedgerIntegrityError, match=f"did:realdid:{alice.did.suffix}"):
        verify_registry(data_dir)


def test_state_swapped_between_dids_names_the_did(registry: Registry) -> None:
    rows = sql(registry.data_dir / "node.db", "SELECT suffix, state FROM dids")
    by_state = dict(rows)
    keys = list(by_state)
    # Give the first DID (in index order) the state of the second; the second is intact.
    sql(
        registry.data_dir / "node.db",
        "UPDATE dids SET state = ? WHERE suffix = ?",
        by_state[keys[1]],
        keys[0],
    )
    with pytest.raises(LedgerIntegrityError, match=r"index entry for did:realdid:Qm\w+ differs"):
        verify_registry(registry.data_dir)


def test_deleted_did_row_names_the_did(registry: Registry) -> None:
    ((key,),) = sql(registry.data_dir / "node.db", "SELECT suffix FROM dids LIMIT 1")
    sql(registry.data_dir / "node.db", "DELETE FROM dids WHERE suffix = ?", key)
    with pytest.raises(LedgerIntegrityError, match=r"index is missing did:realdid:Qm\w+"):
        verify_registry(registry.data_dir)


# -- verify_resolution_evidence ----------------------------------------------------------------
@pytest.fixture(scope="module")
def resolved(template: Registry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """didDocumentMetadata of alice, whose latest operation is leaf 0 of a 2-leaf batch."""
    data_dir = tmp_path_factory.mktemp("resolver") / "node"
    shutil.copytree(template.data_dir, data_dir)
    node = RegistryNode(NodeConfig(data_dir=data_dir), clock=FixedClock(T0))
    try:
        found = node.resolve(template.alice.did)
    finally:
        node.stop()
    assert found is not None
    result: dict[str, Any] = found[1]["didDocumentMetadata"]
    assert result["inclusionProof"]["auditPath"]  # a real path to tamper with
    return result


@pytest.fixture
def metadata(resolved: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(resolved)


def test_evidence_of_a_real_result_verifies(template: Registry, metadata: dict[str, Any]) -> None:
    evidence = verify_resolution_evidence(metadata)
    assert evidence == VerifiedEvidence(
        version_id=template.alice_update.hash,
        sequence=1,
        merkle_root=metadata["anchor"]["merkleRoot"],
        ledger="solo",
    )


def _flip(hex_text: str) -> str:
    return ("0" if hex_text[0] != "0" else "1") + hex_text[1:]


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def tamper(meta: dict[str, Any]) -> None:
        target = meta
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value(target[path[-1]]) if callable(value) else value

    return tamper


def _delete(*path: str) -> Callable[[dict[str, Any]], None]:
    def tamper(meta: dict[str, Any]) -> None:
        target = meta
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return tamper


TAMPERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "auditPath-entry": _set(("inclusionProof", "auditPath"), lambda p: [_flip(p[0]), *p[1:]]),
    "auditPath-extra": _set(("inclusionProof", "auditPath"), lambda p: [*p, "00" * 32]),
    "auditPath-empty": _set(("inclusionProof", "auditPath"), []),
    "auditPath-not-hex": _set(("inclusionProof", "auditPath"), lambda p: ["zz" * 32]),
    "versionId": _set(("versionId",), _flip),
    "versionId-short": _set(("versionId",), lambda v: v[:-2]),
    "leafIndex": _set(("inclusionProof", "leafIndex"), lambda i: 1 - i),
    "leafIndex-out-of-range": _set(("inclusionProof", "leafIndex"), 2),
    "leafIndex-string": _set(("inclusionProof", "leafIndex"), "0"),
    "leafIndex-negative": _set(("inclusionProof", "leafIndex"), -1),
    "treeSize": _set(("inclusionProof", "treeSize"), 3),
    "operationCount": _set(("anchor", "operationCount"), 3),
    "merkleRoot": _set(("anchor", "merkleRoot"), _flip),
    "merkleRoot-null": _set(("anchor", "merkleRoot"), None),
    "no-inclusionProof": _delete("inclusionProof"),
    "no-anchor": _delete("anchor"),
    "no-versionId": _delete("versionId"),
    "no-auditPath": _delete("inclusionProof", "auditPath"),
    "no-ledger": _delete("anchor", "ledger"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS.values()), ids=list(TAMPERS))
def test_tampered_evidence_is_rejected(
    metadata: dict[str, Any], tamper: Callable[[dict[str, Any]], None]
) -> None:
    forged = copy.deepcopy(metadata)
    tamper(forged)
    with pytest.raises(LedgerError):
        verify_resolution_evidence(forged)


@pytest.mark.parametrize("name", ["no-inclusionProof", "no-anchor", "no-versionId"])
def test_missing_evidence_says_so(metadata: dict[str, Any], name: str) -> None:
    forged = copy.deepcopy(metadata)
    TAMPERS[name](forged)
    with pytest.raises(LedgerIntegrityError, match="no complete anchoring evidence"):
        verify_resolution_evidence(forged)


def test_result_without_evidence_is_rejected() -> None:
    with pytest.raises(LedgerIntegrityError):
        verify_resolution_evidence({"created": "2023-11-14T22:13:20Z", "deactivated": False})
