"""Content-addressed batch store: addressing, hostile addresses, tampering, atomic writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realdid.ledger import (
    ContentIntegrityError,
    ContentNotFoundError,
    ContentStore,
    FileContentStore,
    InvalidAddressError,
    LedgerError,
    LedgerIntegrityError,
    MemoryContentStore,
    content_address,
)

BATCH = b'{"operations":[]}'
ADDRESS = hashlib.sha256(BATCH).hexdigest()

HOSTILE_ADDRESSES = [
    "../../etc/passwd",
    "../" + "a" * 61,
    ADDRESS.upper(),
    ADDRESS[:63],
    ADDRESS + "0",
    "",
    " " + ADDRESS[1:],
    ADDRESS[:-1] + "\n",
    "/" + ADDRESS[1:],
    "ab/cd/" + ADDRESS[6:],
    "g" * 64,
    "０" * 64,  # fullwidth digits
    "٠" * 64,  # Arabic-Indic digits
]


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    if request.param == "memory":
        return MemoryContentStore()
    return FileContentStore(tmp_path / "cas")


def test_stores_implement_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryContentStore(), ContentStore)
    assert isinstance(FileContentStore(tmp_path), ContentStore)


def test_put_returns_lowercase_hex_sha256(store: ContentStore) -> None:
    assert store.put(BATCH) == ADDRESS == content_address(BATCH)
    assert store.has(ADDRESS)
    assert store.get(ADDRESS) == BATCH


def test_put_is_idempotent(store: ContentStore) -> None:
    assert store.put(BATCH) == store.put(BATCH) == ADDRESS
    assert store.get(ADDRESS) == BATCH


def test_empty_content(store: ContentStore) -> None:
    address = store.put(b"")
    assert address == hashlib.sha256(b"").hexdigest()
    assert store.get(address) == b""


def test_missing_content(store: ContentStore) -> None:
    assert not store.has(ADDRESS)
    with pytest.raises(ContentNotFoundError) as info:
        store.get(ADDRESS)
    assert info.value.code == "content-not-found"
    assert isinstance(info.value, LedgerError)


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
def test_hostile_addresses_are_refused(store: ContentStore, address: str) -> None:
    for call in (store.get, store.has):
        with pytest.raises(InvalidAddressError) as info:
            call(address)
        assert info.value.code == "invalid-content-address"


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
def test_hostile_addresses_never_touch_the_filesystem(tmp_path: Path, address: str) -> None:
    secret = tmp_path / "etc" / "passwd"
    secret.parent.mkdir()
    secret.write_bytes(b"root:x:0:0")
    store = FileContentStore(tmp_path / "a" / "b" / "cas")
    with pytest.raises(InvalidAddressError):
        store.get(address)
    with pytest.raises(InvalidAddressError):
        store.path_for(address)


def test_file_layout(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    store.put(BATCH)
    path = tmp_path / ADDRESS[:2] / ADDRESS[2:4] / ADDRESS
    assert path.read_bytes() == BATCH
    assert store.path_for(ADDRESS) == path
    # no temporary files left behind
    assert sorted(p.name for p in path.parent.iterdir()) == [ADDRESS]


def test_tampered_file_is_detected(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    store.put(BATCH)
    store.path_for(ADDRESS).write_bytes(BATCH + b" ")
    with pytest.raises(ContentIntegrityError) as info:
        store.get(ADDRESS)
    assert info.value.code == "content-integrity"
    assert isinstance(info.value, LedgerIntegrityError)


def test_content_planted_under_another_address_is_detected(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    other = store.put(b"other batch")
    store.path_for(other).write_bytes(BATCH)
    with pytest.raises(ContentIntegrityError):
        store.get(other)


def test_put_repairs_a_damaged_copy(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    store.put(BATCH)
    store.path_for(ADDRESS).write_bytes(b"garbage")
    assert store.put(BATCH) == ADDRESS
    assert store.get(ADDRESS) == BATCH


def test_put_of_existing_content_does_not_rewrite(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    store.put(BATCH)
    path = store.path_for(ADDRESS)
    before = path.stat()
    store.put(BATCH)
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_persists_across_instances(tmp_path: Path) -> None:
    FileContentStore(tmp_path).put(BATCH)
    assert FileContentStore(tmp_path).get(ADDRESS) == BATCH


def test_files_are_readable_not_writable_by_others(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    store.put(BATCH)
    assert store.path_for(ADDRESS).stat().st_mode & 0o777 == 0o644


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_property_round_trip(tmp_path_factory: pytest.TempPathFactory, blobs: list[bytes]) -> None:
    store = FileContentStore(tmp_path_factory.mktemp("cas"))
    memory = MemoryContentStore()
    for blob in blobs:
        address = store.put(blob)
        assert address == memory.put(blob) == hashlib.sha256(blob).hexdigest()
    for blob in blobs:
        assert store.get(content_address(blob)) == blob == memory.get(content_address(blob))
