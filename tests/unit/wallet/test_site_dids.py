"""Per-site DIDs (ADR 0012): derived from the seed and the RP's DID, regained after restore."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from realdid.controller import Keystore, site_tag
from realdid.controller._controller import SITE_INDEX, DidRecord, DidStateError
from realdid.controller._seed import derive_signer, seed_from_mnemonic
from realdid.crypto import KeyType
from realdid.wallet import Wallet

from .test_wallet import KDF, PASSPHRASE, Registry, new_wallet, published_keys, running

RP_A = "did:realdid:QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
RP_B = "did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc"
KEY_TYPES = [KeyType.ED25519.value, KeyType.P256.value]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with running(tmp_path / "node", batch_interval=0.05) as r:
        yield r


def test_tag_is_the_adr_hash() -> None:
    expected = hashlib.sha256(b"realdid/site/" + RP_A.encode()).digest()[:16].hex()
    assert site_tag(RP_A) == expected
    assert len(site_tag(RP_A)) == 32
    assert site_tag(RP_A) != site_tag(RP_B)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_site_did_is_deterministic_and_distinct(tmp_path: Path, key_type: str) -> None:
    wallet, phrase = new_wallet(tmp_path / "one")
    twin, _ = new_wallet(tmp_path / "two", mnemonic=phrase)
    stranger, _ = new_wallet(tmp_path / "three")
    a = wallet.site_did(RP_A, key_type)
    assert a == twin.site_did(RP_A, key_type)  # same seed, same RP: same DID
    assert a != wallet.site_did(RP_B, key_type)  # another RP: another DID
    assert a != stranger.site_did(RP_A, key_type)  # another seed: another DID
    roots = {str(wallet.initial_create(i, k.value).did) for i in range(5) for k in KeyType}
    assert a not in roots


def test_site_keys_follow_the_documented_path(tmp_path: Path) -> None:
    wallet, phrase = new_wallet(tmp_path / "w")
    seed = seed_from_mnemonic(phrase)
    create = wallet.initial_create(SITE_INDEX, KeyType.ED25519.value, site=RP_A)
    expected = derive_signer(seed, f"site/ed25519/{site_tag(RP_A)}/signing/0", KeyType.ED25519)
    assert create.document.public_keys[0].public_key == expected.public_key
    # ...and never one of a root DID's keys.
    root = derive_signer(seed, "did/ed25519/0/signing/0", KeyType.ED25519)
    assert expected.public_key != root.public_key


def test_old_keystore_without_site_field_loads(tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path / "w")
    record = asdict(
        DidRecord("did:realdid:QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", 0, "Ed25519")
    )
    del record["site"]
    store = Keystore.open(tmp_path / "w", PASSPHRASE)
    store.save({**store.payload, "dids": [record]})
    reopened = Wallet.open(tmp_path / "w", PASSPHRASE)
    assert reopened.dids[0].site == ""
    assert not reopened.dids[0].is_site
    assert reopened.disclosures == []
    assert reopened.site_record(RP_A) is None
    del wallet


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_create_anchor_and_operate(registry: Registry, tmp_path: Path, key_type: str) -> None:
    wallet, _ = new_wallet(tmp_path / "w")
    root = wallet.create(registry.client)
    submitted = wallet.create_site_did(registry.client, RP_A, key_type)
    registry.anchored(root, submitted)
    assert submitted.did == wallet.site_did(RP_A, key_type)
    record = wallet.site_record(RP_A)
    assert record is not None
    assert (record.site, record.key_type) == (RP_A, key_type)
    assert wallet.create_site_did(registry.client, RP_A).did == submitted.did  # idempotent
    assert len(wallet.dids) == 2
    # A later ordinary DID is still number 1: site DIDs take no index.
    assert wallet.create(registry.client).did == str(wallet.initial_create(1, "Ed25519").did)
    # The same update/rotate/deactivate code works for the site DID.
    registry.anchored(wallet.rotate(registry.client, submitted.did))
    assert published_keys(registry.document(submitted.did)) == [
        wallet.signing_key(submitted.did).public_key.to_multibase()
    ]
    registry.anchored(wallet.deactivate(registry.client, submitted.did))
    assert registry.resolve(submitted.did)[0] == 410
    with pytest.raises(DidStateError):
        wallet.rotate(registry.client, submitted.did)


def test_restored_wallet_adopts_its_site_did(registry: Registry, tmp_path: Path) -> None:
    wallet, phrase = new_wallet(tmp_path / "w")
    first = wallet.create_site_did(registry.client, RP_A, KeyType.P256.value)
    registry.anchored(first)
    registry.anchored(wallet.rotate(registry.client, first.did))

    restored, _ = Wallet.init(tmp_path / "restored", PASSPHRASE, mnemonic=phrase, **KDF)
    assert restored.restore(registry.client) == []  # site DIDs are not found by scanning
    # Asked for an Ed25519 one, it still finds the P-256 account it had at this site.
    adopted = restored.create_site_did(registry.client, RP_A, KeyType.ED25519.value)
    assert adopted.did == first.did
    record = restored.site_record(RP_A)
    assert record is not None
    assert (record.key_type, record.signing_counter, record.last_operation) == ("P-256", 1, "")
    assert restored.signing_key(first.did).public_key == wallet.signing_key(first.did).public_key
    # The adopted record is a working controller.
    registry.anchored(restored.rotate(registry.client, first.did))
    assert registry.document(first.did)["verificationMethod"][0]["id"] == f"{first.did}#key-3"
    # Persisted: a reopened wallet knows the site.
    assert Wallet.open(tmp_path / "restored", PASSPHRASE).site_record(RP_A) is not None


def test_site_record_survives_reopen_and_json_shape(registry: Registry, tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path / "w")
    registry.anchored(wallet.create_site_did(registry.client, RP_B))
    stored = Keystore.open(tmp_path / "w", PASSPHRASE).payload["dids"]
    assert (stored[0]["site"], stored[0]["index"]) == (RP_B, SITE_INDEX)
    json.dumps(stored)
    assert Wallet.open(tmp_path / "w", PASSPHRASE).site_record(RP_B) is not None
