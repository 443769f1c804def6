from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from realdid.authority._escrow import (
    KEY_ID_CHARS,
    EscrowKeyError,
    EscrowKeyExistsError,
    EscrowOpener,
    EscrowOpenError,
    EscrowSealer,
    SealedEscrow,
    X25519EscrowKey,
    X25519EscrowPublicKey,
    escrow_key_id,
    open_record,
    seal_record,
    sealed_key_id,
)

AAD = b"did:realdid:root123|escrow-record-1"
RECORD = {"did": "did:realdid:root123", "id_number": "11010519491231002X", "name": "张三"}


@pytest.fixture(scope="module")
def key() -> X25519EscrowKey:
    return X25519EscrowKey.generate()


def test_protocols_are_satisfied(key: X25519EscrowKey) -> None:
    sealer: EscrowSealer = key.public()
    opener: EscrowOpener = key
    assert sealer.key_id == opener.key_id
    assert len(key.key_id) == KEY_ID_CHARS
    assert key.key_id == escrow_key_id(key.public().to_bytes())


def test_record_round_trip(key: X25519EscrowKey) -> None:
    sealed = seal_record(key.public(), RECORD, associated_data=AAD)
    assert open_record(key, sealed, associated_data=AAD) == RECORD
    assert sealed_key_id(sealed) == key.key_id


def test_bytes_round_trip_including_empty(key: X25519EscrowKey) -> None:
    for plaintext in (b"", b"x", bytes(range(256)) * 10):
        assert key.open(key.public().seal(plaintext, b""), b"") == plaintext


def test_layout(key: X25519EscrowKey) -> None:
    sealed = key.public().seal(b"hello", AAD)
    parsed = SealedEscrow.parse(sealed)
    assert sealed[0] == 1
    assert sealed[1] == KEY_ID_CHARS
    assert sealed[2 : 2 + KEY_ID_CHARS] == key.key_id.encode("ascii")
    assert parsed.header == sealed[: 2 + KEY_ID_CHARS]
    assert len(sealed) == 2 + KEY_ID_CHARS + 32 + len(b"hello") + 16


def test_every_byte_flip_fails(key: X25519EscrowKey) -> None:
    sealed = seal_record(key.public(), RECORD, associated_data=AAD)
    for i in range(len(sealed)):
        for mask in (0x01, 0x80):
            tampered = bytearray(sealed)
            tampered[i] ^= mask
            with pytest.raises(EscrowOpenError) as info:
                open_record(key, bytes(tampered), associated_data=AAD)
            assert info.value.code == "escrow-open-failed"


def test_truncation_and_extension_fail(key: X25519EscrowKey) -> None:
    sealed = key.public().seal(b"hello", AAD)
    for n in range(len(sealed)):
        with pytest.raises(EscrowOpenError):
            key.open(sealed[:n], AAD)
    with pytest.raises(EscrowOpenError):
        key.open(sealed + b"\x00", AAD)


def test_wrong_associated_data_fails(key: X25519EscrowKey) -> None:
    sealed = seal_record(key.public(), RECORD, associated_data=AAD)
    for aad in (b"", AAD + b"x", AAD[:-1], b"did:realdid:other|escrow-record-1"):
        with pytest.raises(EscrowOpenError):
            open_record(key, sealed, associated_data=aad)


def test_wrong_key_fails(key: X25519EscrowKey) -> None:
    sealed = seal_record(key.public(), RECORD, associated_data=AAD)
    other = X25519EscrowKey.generate()
    with pytest.raises(EscrowOpenError, match="sealed to escrow key"):
        open_record(other, sealed, associated_data=AAD)


def test_wrong_key_with_forged_key_id_fails(key: X25519EscrowKey) -> None:
    # Relabel the record with another key's id: the id is in the HPKE info, and the key
    # is wrong anyway, so authentication fails rather than the id check.
    other = X25519EscrowKey.generate()
    sealed = key.public().seal(b"hello", AAD)
    relabelled = sealed[:2] + other.key_id.encode("ascii") + sealed[2 + KEY_ID_CHARS :]
    with pytest.raises(EscrowOpenError, match="failed authentication"):
        other.open(relabelled, AAD)


def test_seals_are_randomised(key: X25519EscrowKey) -> None:
    a = seal_record(key.public(), RECORD, associated_data=AAD)
    b = seal_record(key.public(), RECORD, associated_data=AAD)
    assert a != b
    assert a[2 + KEY_ID_CHARS :][:32] != b[2 + KEY_ID_CHARS :][:32]  # fresh ephemeral key


def test_sealed_blob_never_contains_plaintext(key: X25519EscrowKey) -> None:
    sealed = seal_record(key.public(), RECORD, associated_data=AAD)
    for value in RECORD.values():
        assert value.encode("utf-8") not in sealed
    assert b"id_number" not in sealed


def test_seal_record_rejects_non_string_values(key: X25519EscrowKey) -> None:
    with pytest.raises(TypeError):
        seal_record(key.public(), {"n": 1}, associated_data=AAD)  # type: ignore[dict-item]


def test_open_record_rejects_non_record_plaintext(key: X25519EscrowKey) -> None:
    for plaintext in (b"\xff", b"[1]", b'{"a": 1}', b"not json"):
        sealed = key.public().seal(plaintext, AAD)
        with pytest.raises(EscrowOpenError):
            open_record(key, sealed, associated_data=AAD)


def test_unsupported_version_and_malformed_key_id(key: X25519EscrowKey) -> None:
    sealed = key.public().seal(b"hello", AAD)
    with pytest.raises(EscrowOpenError, match="version"):
        key.open(b"\x02" + sealed[1:], AAD)
    with pytest.raises(EscrowOpenError, match="key id"):
        key.open(sealed[:2] + b"!" * KEY_ID_CHARS + sealed[2 + KEY_ID_CHARS :], AAD)


def test_private_key_file(tmp_path: Path, key: X25519EscrowKey) -> None:
    path = tmp_path / "escrow.jwk"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    loaded = X25519EscrowKey.load(path)
    assert loaded.key_id == key.key_id
    sealed = seal_record(key.public(), RECORD, associated_data=AAD)
    assert open_record(loaded, sealed, associated_data=AAD) == RECORD


def test_public_key_file(tmp_path: Path, key: X25519EscrowKey) -> None:
    path = tmp_path / "escrow.pub.jwk"
    key.public().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "d" not in json.loads(path.read_text())
    loaded = X25519EscrowPublicKey.load(path)
    assert loaded == key.public()
    assert X25519EscrowPublicKey.from_bytes(loaded.to_bytes()) == loaded
    sealed = seal_record(loaded, RECORD, associated_data=AAD)
    assert open_record(key, sealed, associated_data=AAD) == RECORD


def test_save_refuses_to_overwrite(tmp_path: Path, key: X25519EscrowKey) -> None:
    path = tmp_path / "escrow.jwk"
    path.write_bytes(b"precious")
    with pytest.raises(EscrowKeyExistsError) as info:
        key.save(path)
    assert info.value.code == "escrow-key-exists"
    with pytest.raises(EscrowKeyExistsError):
        key.public().save(path)
    assert path.read_bytes() == b"precious"
    assert list(tmp_path.iterdir()) == [path]


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EscrowKeyError, match="not found") as info:
        X25519EscrowKey.load(tmp_path / "absent.jwk")
    assert info.value.code == "escrow-key-invalid"
    with pytest.raises(EscrowKeyError, match="not found"):
        X25519EscrowPublicKey.load(tmp_path / "absent.jwk")


def test_load_garbled_files(tmp_path: Path, key: X25519EscrowKey) -> None:
    good = tmp_path / "good.jwk"
    key.save(good)
    jwk = json.loads(good.read_text())
    other = X25519EscrowKey.generate()
    other_x = json.loads(_saved(tmp_path, other.public(), "other.pub")).get("x")
    bad_contents = [
        b"",
        b"\xff\xfe",
        b"not json",
        b"[" * 3000 + b"]" * 3000,
        b"x" * 5000,
        b"[]",
        json.dumps({**jwk, "extra": 1}).encode(),
        json.dumps({k: v for k, v in jwk.items() if k != "x"}).encode(),
        json.dumps({**jwk, "crv": "Ed25519"}).encode(),
        json.dumps({**jwk, "kty": "EC"}).encode(),
        json.dumps({**jwk, "d": jwk["d"] + "="}).encode(),
        json.dumps({**jwk, "d": jwk["d"][:-2]}).encode(),
        json.dumps({**jwk, "x": other_x}).encode(),
        json.dumps({**jwk, "kid": other.key_id}).encode(),
        json.dumps({**jwk, "kid": 5}).encode(),
    ]
    for i, content in enumerate(bad_contents):
        path = tmp_path / f"bad{i}.jwk"
        path.write_bytes(content)
        with pytest.raises(EscrowKeyError):
            X25519EscrowKey.load(path)


def test_public_load_refuses_private_key_file(tmp_path: Path, key: X25519EscrowKey) -> None:
    path = tmp_path / "escrow.jwk"
    key.save(path)
    with pytest.raises(EscrowKeyError, match="private key"):
        X25519EscrowPublicKey.load(path)


def test_public_load_rejects_mismatched_kid(tmp_path: Path, key: X25519EscrowKey) -> None:
    path = tmp_path / "escrow.pub.jwk"
    key.public().save(path)
    jwk = json.loads(path.read_text())
    path.chmod(0o600)
    path.write_text(json.dumps({**jwk, "kid": "A" * KEY_ID_CHARS}))
    with pytest.raises(EscrowKeyError, match="kid"):
        X25519EscrowPublicKey.load(path)


def test_error_messages_carry_no_key_material(tmp_path: Path, key: X25519EscrowKey) -> None:
    path = tmp_path / "escrow.jwk"
    key.save(path)
    d = json.loads(path.read_text())["d"]
    path.unlink()
    path.write_text(json.dumps({"kty": "OKP", "crv": "X25519", "kid": key.key_id, "d": d}))
    with pytest.raises(EscrowKeyError) as info:
        X25519EscrowKey.load(path)
    assert d not in info.value.diagnostics()
    assert d not in repr(key)


def test_from_bytes_rejects_wrong_length() -> None:
    for raw in (b"", b"\x01" * 31, b"\x01" * 33):
        with pytest.raises(EscrowKeyError):
            X25519EscrowPublicKey.from_bytes(raw)


def _saved(tmp_path: Path, public: X25519EscrowPublicKey, name: str) -> str:
    path = tmp_path / name
    public.save(path)
    return path.read_text()
