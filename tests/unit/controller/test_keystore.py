"""The encrypted wallet file (realdid.controller._keystore)."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.pwhash.argon2id
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realdid.controller import (
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    PASSPHRASE_ENV,
    WALLET_FILENAME,
    Keystore,
    KeystoreCorruptError,
    KeystoreError,
    KeystoreExistsError,
    KeystoreNotFoundError,
    PassphraseMismatchError,
    PayloadTooLargeError,
    WeakPassphraseError,
    WrongPassphraseError,
    read_passphrase,
)
from realdid.crypto import EncodingError, b64url_decode, b64url_encode, canonicalize

PASSPHRASE = "correct horse battery staple"
# The library's minimum Argon2id cost keeps each KDF run well under a millisecond.
OPS = int(nacl.pwhash.argon2id.OPSLIMIT_MIN)
MEM = int(nacl.pwhash.argon2id.MEMLIMIT_MIN)
PAYLOAD: dict[str, Any] = {"mnemonic": "abandon " * 11 + "about", "dids": [{"n": 0}]}


def _create(directory: Path, payload: dict[str, Any] | None = None) -> Keystore:
    return Keystore.create(
        directory, PASSPHRASE, PAYLOAD if payload is None else payload, opslimit=OPS, memlimit=MEM
    )


def _document(directory: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((directory / WALLET_FILENAME).read_bytes())
    return doc


def _write_document(directory: Path, doc: Any) -> None:
    (directory / WALLET_FILENAME).write_text(json.dumps(doc))


@pytest.fixture
def wallet_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "wallet"
    _create(directory)
    return directory


# -- round trips ------------------------------------------------------------------------------
def test_create_then_open(wallet_dir: Path) -> None:
    store = Keystore.open(wallet_dir, PASSPHRASE)
    assert store.payload == PAYLOAD
    assert store.path == wallet_dir / WALLET_FILENAME


def test_create_returns_an_unlocked_store(tmp_path: Path) -> None:
    store = _create(tmp_path / "w")
    assert store.payload == PAYLOAD


def test_payload_is_a_copy(wallet_dir: Path) -> None:
    store = Keystore.open(wallet_dir, PASSPHRASE)
    store.payload["dids"].append("x")
    assert store.payload == PAYLOAD


def test_save_then_open(wallet_dir: Path) -> None:
    store = Keystore.open(wallet_dir, PASSPHRASE)
    before = _document(wallet_dir)
    new_payload = {**store.payload, "dids": [{"n": 0}, {"n": 1}], "note": "ünïcode ✓"}
    store.save(new_payload)
    assert store.payload == new_payload
    assert Keystore.open(wallet_dir, PASSPHRASE).payload == new_payload
    after = _document(wallet_dir)
    # Same key material (salt and parameters reused, no new KDF run), fresh nonce.
    assert after["kdf"] == before["kdf"]
    assert after["nonce"] != before["nonce"]


def test_saving_the_same_payload_twice_uses_two_nonces(wallet_dir: Path) -> None:
    store = Keystore.open(wallet_dir, PASSPHRASE)
    store.save(PAYLOAD)
    first = _document(wallet_dir)
    store.save(PAYLOAD)
    second = _document(wallet_dir)
    assert first["nonce"] != second["nonce"]
    assert first["ciphertext"] != second["ciphertext"]


def test_file_format_is_as_documented(wallet_dir: Path) -> None:
    """Decrypt with libsodium directly, following only the module docstring."""
    doc = _document(wallet_dir)
    assert list(doc) == ["version", "kdf", "aead", "nonce", "ciphertext"]
    assert doc["version"] == 1
    assert doc["aead"] == "xchacha20poly1305-ietf"
    assert doc["kdf"]["name"] == "argon2id"
    assert (doc["kdf"]["opslimit"], doc["kdf"]["memlimit"]) == (OPS, MEM)
    salt = b64url_decode(doc["kdf"]["salt"])
    assert len(salt) == 16
    assert len(b64url_decode(doc["nonce"])) == 24
    key = nacl.pwhash.argon2id.kdf(32, PASSPHRASE.encode(), salt, opslimit=OPS, memlimit=MEM)
    header = {k: doc[k] for k in ("version", "kdf", "aead")}
    plaintext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
        b64url_decode(doc["ciphertext"]), canonicalize(header), b64url_decode(doc["nonce"]), key
    )
    assert plaintext == canonicalize(PAYLOAD)


def test_fresh_salt_per_wallet(tmp_path: Path) -> None:
    _create(tmp_path / "a")
    _create(tmp_path / "b")
    assert _document(tmp_path / "a")["kdf"]["salt"] != _document(tmp_path / "b")["kdf"]["salt"]


def test_defaults_are_the_documented_ones() -> None:
    assert (DEFAULT_OPSLIMIT, DEFAULT_MEMLIMIT) == (3, 64 * 1024 * 1024)


def test_passphrase_is_nfc_normalised(tmp_path: Path) -> None:
    Keystore.create(tmp_path, "caf\u00e9 au lait", PAYLOAD, opslimit=OPS, memlimit=MEM)
    assert Keystore.open(tmp_path, "cafe\u0301 au lait").payload == PAYLOAD


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
PAYLOADS = st.dictionaries(st.text(), JSON_VALUES, max_size=6)


@settings(max_examples=60, deadline=None)
@given(first=PAYLOADS, second=PAYLOADS)
def test_payload_round_trip_property(first: dict[str, Any], second: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store = Keystore.create(directory, PASSPHRASE, first, opslimit=OPS, memlimit=MEM)
        assert Keystore.open(directory, PASSPHRASE).payload == first
        store.save(second)
        assert Keystore.open(directory, PASSPHRASE).payload == second


# -- files on disk ----------------------------------------------------------------------------
def test_permissions(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "wallet"
    store = _create(directory)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    store.save({"x": 1})
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_no_temporary_files_are_left(wallet_dir: Path) -> None:
    Keystore.open(wallet_dir, PASSPHRASE).save({"x": 1})
    with pytest.raises(KeystoreExistsError):
        _create(wallet_dir)
    assert [p.name for p in wallet_dir.iterdir()] == [WALLET_FILENAME]


def test_create_refuses_to_overwrite(wallet_dir: Path) -> None:
    before = (wallet_dir / WALLET_FILENAME).read_bytes()
    with pytest.raises(KeystoreExistsError) as info:
        Keystore.create(wallet_dir, "another passphrase", {}, opslimit=OPS, memlimit=MEM)
    assert info.value.code == "keystore-exists"
    assert (wallet_dir / WALLET_FILENAME).read_bytes() == before


def test_create_refuses_to_overwrite_a_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / WALLET_FILENAME).write_text("garbage")
    with pytest.raises(KeystoreExistsError):
        _create(tmp_path)
    assert (tmp_path / WALLET_FILENAME).read_text() == "garbage"


@pytest.mark.parametrize("passphrase", ["", "1234567", "short"])
def test_weak_passphrase_creates_nothing(tmp_path: Path, passphrase: str) -> None:
    with pytest.raises(WeakPassphraseError) as info:
        Keystore.create(tmp_path / "w", passphrase, {}, opslimit=OPS, memlimit=MEM)
    assert info.value.code == "weak-passphrase"
    assert not (tmp_path / "w").exists()


def test_eight_characters_is_enough(tmp_path: Path) -> None:
    Keystore.create(tmp_path, "12345678", {}, opslimit=OPS, memlimit=MEM)
    assert Keystore.open(tmp_path, "12345678").payload == {}


@pytest.mark.parametrize(
    ("opslimit", "memlimit"),
    [(0, MEM), (17, MEM), (OPS, MEM - 1), (OPS, 2 * 1024**3), (True, MEM), (OPS, 1.5)],
)
def test_bad_kdf_limits_are_refused(tmp_path: Path, opslimit: Any, memlimit: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        Keystore.create(tmp_path, PASSPHRASE, {}, opslimit=opslimit, memlimit=memlimit)
    assert not (tmp_path / WALLET_FILENAME).exists()


@pytest.mark.parametrize("payload", [{"x": float("nan")}, {"x": {1, 2}}, {"x": 2**60}])
def test_non_json_payload_is_refused(tmp_path: Path, payload: dict[str, Any]) -> None:
    with pytest.raises(EncodingError):
        _create(tmp_path, payload)
    assert not (tmp_path / WALLET_FILENAME).exists()


def test_payload_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        Keystore.create(tmp_path, PASSPHRASE, ["x"], opslimit=OPS, memlimit=MEM)  # type: ignore[arg-type]


def test_payload_too_large_for_the_file_cap_is_refused(wallet_dir: Path) -> None:
    store = Keystore.open(wallet_dir, PASSPHRASE)
    before = (wallet_dir / WALLET_FILENAME).read_bytes()
    with pytest.raises(PayloadTooLargeError):
        store.save({"blob": "x" * (13 * 1024 * 1024)})
    assert (wallet_dir / WALLET_FILENAME).read_bytes() == before
    assert store.payload == PAYLOAD


# -- opening: who is at fault -----------------------------------------------------------------
def test_wrong_passphrase(wallet_dir: Path) -> None:
    with pytest.raises(WrongPassphraseError) as info:
        Keystore.open(wallet_dir, "correct horse battery stapler")
    assert str(info.value) == "wrong passphrase or modified wallet file"
    assert info.value.code == "wrong-passphrase"
    assert str(wallet_dir) in info.value.diagnostics()
    assert str(wallet_dir) not in str(info.value)


@pytest.mark.parametrize("directory", ["missing", "missing/deeper"])
def test_not_found(tmp_path: Path, directory: str) -> None:
    with pytest.raises(KeystoreNotFoundError) as info:
        Keystore.open(tmp_path / directory, PASSPHRASE)
    assert info.value.code == "keystore-not-found"


def test_directory_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(KeystoreNotFoundError):
        Keystore.open(tmp_path / "file", PASSPHRASE)


def test_wallet_file_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / WALLET_FILENAME).mkdir()
    with pytest.raises(KeystoreCorruptError):
        Keystore.open(tmp_path, PASSPHRASE)


def _flip_first_byte(text: str) -> str:
    raw = bytearray(b64url_decode(text))
    raw[0] ^= 0x01
    return b64url_encode(bytes(raw))


def test_tampered_ciphertext(wallet_dir: Path) -> None:
    doc = _document(wallet_dir)
    doc["ciphertext"] = _flip_first_byte(doc["ciphertext"])
    _write_document(wallet_dir, doc)
    with pytest.raises(WrongPassphraseError):
        Keystore.open(wallet_dir, PASSPHRASE)


def test_tampered_tag(wallet_dir: Path) -> None:
    doc = _document(wallet_dir)
    raw = bytearray(b64url_decode(doc["ciphertext"]))
    raw[-1] ^= 0x80
    doc["ciphertext"] = b64url_encode(bytes(raw))
    _write_document(wallet_dir, doc)
    with pytest.raises(WrongPassphraseError):
        Keystore.open(wallet_dir, PASSPHRASE)


def test_tampered_nonce(wallet_dir: Path) -> None:
    doc = _document(wallet_dir)
    doc["nonce"] = _flip_first_byte(doc["nonce"])
    _write_document(wallet_dir, doc)
    with pytest.raises(WrongPassphraseError):
        Keystore.open(wallet_dir, PASSPHRASE)


@pytest.mark.parametrize(
    ("member", "value"),
    [("opslimit", OPS + 1), ("memlimit", MEM * 2), ("salt", "flip")],
)
def test_tampered_kdf_parameters(wallet_dir: Path, member: str, value: Any) -> None:
    doc = _document(wallet_dir)
    doc["kdf"][member] = _flip_first_byte(doc["kdf"]["salt"]) if value == "flip" else value
    _write_document(wallet_dir, doc)
    with pytest.raises(WrongPassphraseError):
        Keystore.open(wallet_dir, PASSPHRASE)


def test_swapped_ciphertext_from_another_wallet(tmp_path: Path) -> None:
    _create(tmp_path / "a")
    _create(tmp_path / "b", {"other": True})
    doc_a = _document(tmp_path / "a")
    doc_b = _document(tmp_path / "b")
    doc_a["nonce"], doc_a["ciphertext"] = doc_b["nonce"], doc_b["ciphertext"]
    _write_document(tmp_path / "a", doc_a)
    with pytest.raises(WrongPassphraseError):
        Keystore.open(tmp_path / "a", PASSPHRASE)


def test_authentic_but_non_object_payload_is_corrupt(tmp_path: Path) -> None:
    """A writer bug (valid AEAD, payload not an object) is reported, not returned."""
    salt = bytes(16)
    header = {
        "version": 1,
        "kdf": {"name": "argon2id", "opslimit": OPS, "memlimit": MEM, "salt": b64url_encode(salt)},
        "aead": "xchacha20poly1305-ietf",
    }
    key = nacl.pwhash.argon2id.kdf(32, PASSPHRASE.encode(), salt, opslimit=OPS, memlimit=MEM)
    nonce = bytes(24)
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        b"[1,2]", canonicalize(header), nonce, key
    )
    _write_document(
        tmp_path, {**header, "nonce": b64url_encode(nonce), "ciphertext": b64url_encode(ciphertext)}
    )
    with pytest.raises(KeystoreCorruptError) as info:
        Keystore.open(tmp_path, PASSPHRASE)
    assert info.value.field == "ciphertext"


@pytest.mark.parametrize("keep", [0, 1, 10, 50, 100, -2])
def test_truncated_file(wallet_dir: Path, keep: int) -> None:
    path = wallet_dir / WALLET_FILENAME
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(KeystoreCorruptError) as info:
        Keystore.open(wallet_dir, PASSPHRASE)
    assert info.value.code == "keystore-corrupt"
    assert info.value.path == path


def test_truncated_ciphertext(wallet_dir: Path) -> None:
    doc = _document(wallet_dir)
    doc["ciphertext"] = doc["ciphertext"][:-8]
    _write_document(wallet_dir, doc)
    with pytest.raises(WrongPassphraseError):
        Keystore.open(wallet_dir, PASSPHRASE)


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"\xff\xfe\x00garbage", b"[1, 2]", b"null", b"[" * 100_000, b'"x"'],
)
def test_non_json_or_non_object_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / WALLET_FILENAME).write_bytes(content)
    with pytest.raises(KeystoreCorruptError):
        Keystore.open(tmp_path, PASSPHRASE)


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    (tmp_path / WALLET_FILENAME).write_bytes(b" " * (16 * 1024 * 1024 + 1))
    with pytest.raises(KeystoreCorruptError, match="larger than"):
        Keystore.open(tmp_path, PASSPHRASE)


def _edit(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    target = doc
    for name in parents:
        target = target[name]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        ("version", _DELETE, "version"),
        ("version", 2, "version"),
        ("version", "1", "version"),
        ("version", True, "version"),
        ("version", 1.0, "version"),
        ("kdf", _DELETE, "kdf"),
        ("kdf", "argon2id", "kdf"),
        ("kdf.name", "scrypt", "kdf.name"),
        ("kdf.name", _DELETE, "kdf.name"),
        ("kdf.opslimit", "3", "kdf.opslimit"),
        ("kdf.opslimit", 0, "kdf.opslimit"),
        ("kdf.opslimit", 10**9, "kdf.opslimit"),
        ("kdf.opslimit", True, "kdf.opslimit"),
        ("kdf.memlimit", 1024, "kdf.memlimit"),
        ("kdf.memlimit", 4 * 1024**4, "kdf.memlimit"),  # a planted 4 TiB request: refused
        ("kdf.memlimit", None, "kdf.memlimit"),
        ("kdf.salt", "AAAA", "kdf.salt"),
        ("kdf.salt", "AAAAAAAAAAAAAAAAAAAAAA==", "kdf.salt"),
        ("kdf.salt", "!!!!", "kdf.salt"),
        ("kdf.salt", 0, "kdf.salt"),
        ("kdf.extra", 1, "kdf.extra"),
        ("aead", "aes-256-gcm", "aead"),
        ("aead", _DELETE, "aead"),
        ("nonce", b64url_encode(bytes(12)), "nonce"),
        ("nonce", [], "nonce"),
        ("ciphertext", b64url_encode(bytes(15)), "ciphertext"),
        ("ciphertext", None, "ciphertext"),
        ("ciphertext", _DELETE, "ciphertext"),
        ("comment", "hello", "comment"),
    ],
)
def test_each_malformed_field_is_named(
    wallet_dir: Path, dotted: str, value: Any, field: str
) -> None:
    doc = _document(wallet_dir)
    _edit(doc, dotted, value)
    _write_document(wallet_dir, doc)
    with pytest.raises(KeystoreCorruptError) as info:
        Keystore.open(wallet_dir, PASSPHRASE)
    assert info.value.field == field
    assert f"'{field}'" in str(info.value)
    assert "restore" in info.value.diagnostics()


def test_duplicate_member_is_corrupt(wallet_dir: Path) -> None:
    path = wallet_dir / WALLET_FILENAME
    text = path.read_text()
    path.write_text(text.replace('"version": 1,', '"version": 1, "version": 1,', 1))
    with pytest.raises(KeystoreCorruptError, match="duplicate"):
        Keystore.open(wallet_dir, PASSPHRASE)


def test_nan_is_not_json(wallet_dir: Path) -> None:
    path = wallet_dir / WALLET_FILENAME
    path.write_text(path.read_text().replace('"version": 1', '"version": NaN', 1))
    with pytest.raises(KeystoreCorruptError):
        Keystore.open(wallet_dir, PASSPHRASE)


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    _write_document(tmp_path, [])
    with pytest.raises(KeystoreCorruptError) as info:
        Keystore.open(tmp_path, PASSPHRASE)
    assert info.value.field == "(top level)"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_byte_change_is_detected(data: st.DataObject) -> None:
    """Property: a modified file never opens to a different payload nor crashes oddly."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _create(directory)
        path = directory / WALLET_FILENAME
        raw = bytearray(path.read_bytes())
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]))
        path.write_bytes(bytes(raw))
        try:
            store = Keystore.open(directory, PASSPHRASE)
        except (KeystoreCorruptError, WrongPassphraseError):
            return
        assert store.payload == PAYLOAD  # only insignificant whitespace can change


# -- errors and secrets -----------------------------------------------------------------------
def test_error_family() -> None:
    codes = {
        WrongPassphraseError: "wrong-passphrase",
        KeystoreCorruptError: "keystore-corrupt",
        KeystoreExistsError: "keystore-exists",
        KeystoreNotFoundError: "keystore-not-found",
        WeakPassphraseError: "weak-passphrase",
        PassphraseMismatchError: "passphrase-mismatch",
        PayloadTooLargeError: "payload-too-large",
    }
    for cls, code in codes.items():
        assert issubclass(cls, KeystoreError)
        assert cls.code == code


def test_repr_shows_no_secrets(wallet_dir: Path) -> None:
    store = Keystore.open(wallet_dir, PASSPHRASE)
    assert "abandon" not in repr(store)
    assert PASSPHRASE not in repr(store)


# -- read_passphrase --------------------------------------------------------------------------
def _asker(*answers: str) -> tuple[list[str], Any]:
    prompts: list[str] = []
    queue = list(answers)

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return queue.pop(0)

    return prompts, ask


def test_passphrase_from_environment_wins() -> None:
    prompts, ask = _asker()
    got = read_passphrase(
        "Passphrase: ", confirm=True, environ={PASSPHRASE_ENV: "from env!"}, ask=ask
    )
    assert got == "from env!"
    assert prompts == []


def test_empty_environment_value_is_still_used() -> None:
    # Returned as is; Keystore.create then refuses it as weak. Never falls back silently.
    assert read_passphrase("P: ", confirm=False, environ={PASSPHRASE_ENV: ""}) == ""


def test_prompt_once_when_opening() -> None:
    prompts, ask = _asker("whatever")
    assert read_passphrase("Passphrase: ", confirm=False, environ={}, ask=ask) == "whatever"
    assert prompts == ["Passphrase: "]


def test_prompt_twice_when_creating() -> None:
    prompts, ask = _asker(PASSPHRASE, PASSPHRASE)
    assert read_passphrase("New passphrase: ", confirm=True, environ={}, ask=ask) == PASSPHRASE
    assert len(prompts) == 2


def test_confirmation_mismatch() -> None:
    _, ask = _asker(PASSPHRASE, PASSPHRASE + "x")
    with pytest.raises(PassphraseMismatchError):
        read_passphrase("New passphrase: ", confirm=True, environ={}, ask=ask)


def test_weak_passphrase_refused_before_confirmation() -> None:
    prompts, ask = _asker("short", "short")
    with pytest.raises(WeakPassphraseError):
        read_passphrase("New passphrase: ", confirm=True, environ={}, ask=ask)
    assert len(prompts) == 1


def test_numbers_round_trip_as_json_doubles(tmp_path: Path) -> None:
    payload = {"big": 3.346378280994575e16, "e": 1e16, "one": 1.0, "neg0": -0.0, "int": 2**53 - 1}
    store = _create(tmp_path, payload)
    for loaded in (store.payload, Keystore.open(tmp_path, PASSPHRASE).payload):
        assert loaded == payload
        assert loaded["big"] == 3.346378280994575e16
        assert loaded["int"] == 2**53 - 1
        assert isinstance(loaded["int"], int)


# -- the randomness seam ----------------------------------------------------------------------
class Counting:
    """A pinned randomness source: byte ``i`` of draw ``n`` is ``n``, so draws are told apart."""

    def __init__(self) -> None:
        self.draws: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.draws.append(n)
        return bytes([len(self.draws)]) * n


def test_salt_and_nonces_come_from_the_injected_source(tmp_path: Path) -> None:
    wallet_dir = tmp_path / "pinned"
    source = Counting()
    store = Keystore.create(
        wallet_dir, PASSPHRASE, PAYLOAD, opslimit=OPS, memlimit=MEM, random_bytes=source
    )
    first = _document(wallet_dir)
    assert b64url_decode(first["kdf"]["salt"]) == b"\x01" * 16
    assert b64url_decode(first["nonce"]) == b"\x02" * 24
    store.save({"changed": True})
    assert b64url_decode(_document(wallet_dir)["nonce"]) == b"\x03" * 24
    assert source.draws == [16, 24, 24]
    reopened = Keystore.open(wallet_dir, PASSPHRASE, random_bytes=source)
    assert reopened.payload == {"changed": True}
    reopened.save(PAYLOAD)
    assert b64url_decode(_document(wallet_dir)["nonce"]) == b"\x04" * 24
    assert Keystore.open(wallet_dir, PASSPHRASE).payload == PAYLOAD


def test_a_short_random_draw_is_refused(tmp_path: Path) -> None:
    wallet_dir = tmp_path / "pinned"
    with pytest.raises(ValueError, match="randomness source"):
        Keystore.create(
            wallet_dir, PASSPHRASE, PAYLOAD, opslimit=OPS, memlimit=MEM, random_bytes=lambda n: b"x"
        )
