"""Operations: wire form, parsing, hashing, signing (realdid.did._operations), plus the
fixed wire-format vectors in tests/vectors/did_operations.json."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from realdid.crypto import (
    KeyType,
    LocalSigner,
    PublicKey,
    b64url_encode,
    canonicalize,
    multihash_b58,
)
from realdid.did import (
    MAX_OPERATION_BYTES,
    SIGNING_PREFIX,
    CreateOperation,
    DeactivateOperation,
    Did,
    DocumentContent,
    InvalidOperationSignatureError,
    MalformedOperationError,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    RecoverOperation,
    ServiceEntry,
    UpdateOperation,
    apply_operation,
    commitment_of,
    operation_hash,
    sign,
    signing_input,
    to_dict,
    verify_operation_signature,
)

VECTORS_DIR = Path(__file__).parents[2] / "vectors"
VECTORS = json.loads((VECTORS_DIR / "did_operations.json").read_text(encoding="utf-8"))

UPDATE = LocalSigner(KeyType.ED25519, b"\x01" * 32)
RECOVERY = LocalSigner(KeyType.ED25519, b"\x02" * 32)
DOC_KEY = LocalSigner(KeyType.ED25519, b"\x03" * 32)
NEXT = LocalSigner(KeyType.ED25519, b"\x04" * 32)
PREVIOUS = "ab" * 32


def make_create() -> CreateOperation:
    return CreateOperation(
        DocumentContent(
            (PublicKeyEntry("key-1", DOC_KEY.public_key, ("authentication",)),),
            (ServiceEntry("hub", "LinkedDomains", "https://example.com/"),),
        ),
        commitment_of(UPDATE.public_key),
        commitment_of(RECOVERY.public_key),
    )


DID = make_create().did


def make_update() -> UpdateOperation:
    op = UpdateOperation(
        DID,
        PREVIOUS,
        UPDATE.public_key,
        (
            Patch("add-services", services=(ServiceEntry("s2", "T", "https://b.example/"),)),
            Patch("remove-public-keys", ids=("key-1",)),
        ),
        commitment_of(NEXT.public_key),
    )
    signed = sign(op, UPDATE)
    assert isinstance(signed, UpdateOperation)
    return signed


def make_recover() -> RecoverOperation:
    op = RecoverOperation(
        DID,
        PREVIOUS,
        RECOVERY.public_key,
        DocumentContent(),
        commitment_of(NEXT.public_key),
        commitment_of(DOC_KEY.public_key),
    )
    signed = sign(op, RECOVERY)
    assert isinstance(signed, RecoverOperation)
    return signed


def make_deactivate() -> DeactivateOperation:
    signed = sign(DeactivateOperation(DID, PREVIOUS, RECOVERY.public_key), RECOVERY)
    assert isinstance(signed, DeactivateOperation)
    return signed


WIRE = {
    "create": lambda: to_dict(make_create()),
    "update": lambda: to_dict(make_update()),
    "recover": lambda: to_dict(make_recover()),
    "deactivate": lambda: to_dict(make_deactivate()),
}
MEMBERS = {
    "create": {"type", "document", "updateCommitment", "recoveryCommitment"},
    "update": {
        "type",
        "did",
        "previous",
        "revealedKey",
        "patches",
        "nextUpdateCommitment",
        "signature",
    },
    "recover": {
        "type",
        "did",
        "previous",
        "revealedKey",
        "document",
        "nextUpdateCommitment",
        "nextRecoveryCommitment",
        "signature",
    },
    "deactivate": {"type", "did", "previous", "revealedKey", "signature"},
}
KINDS = list(WIRE)


def wire(kind: str) -> dict[str, Any]:
    return copy.deepcopy(WIRE[kind]())


# -- wire form, hash and suffix --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_wire_form_has_exactly_the_specified_members(kind: str) -> None:
    assert set(wire(kind)) == MEMBERS[kind]
    assert wire(kind)["type"] == kind


@pytest.mark.parametrize("kind", KINDS)
def test_parse_round_trip_and_hash(kind: str) -> None:
    value = wire(kind)
    parsed = ParsedOperation.from_value(value)
    assert parsed.operation.type == kind
    assert to_dict(parsed.operation) == value
    assert parsed.canonical == canonicalize(value)
    assert parsed.hash == hashlib.sha256(parsed.canonical).hexdigest()
    assert parsed.hash == operation_hash(parsed.canonical)
    assert ParsedOperation.from_canonical(parsed.canonical) == parsed


def test_create_suffix_is_multihash_of_canonical_operation() -> None:
    create = make_create()
    parsed = ParsedOperation.from_value(to_dict(create))
    assert parsed.did == create.did
    assert parsed.did.suffix == multihash_b58(parsed.canonical)
    assert str(parsed.did).startswith("did:realdid:Qm")


def test_create_suffix_changes_with_any_member() -> None:
    create = make_create()
    other = CreateOperation(
        create.document, create.update_commitment, commitment_of(NEXT.public_key)
    )
    assert other.did != create.did


@pytest.mark.parametrize("kind", ["update", "recover", "deactivate"])
def test_signed_operation_names_its_did(kind: str) -> None:
    parsed = ParsedOperation.from_value(wire(kind))
    assert parsed.did == DID


def test_commitment_is_multihash_of_canonical_public_jwk() -> None:
    for key_type in KeyType:
        public_key = LocalSigner(key_type, b"\x09" * 32).public_key
        assert commitment_of(public_key) == multihash_b58(canonicalize(public_key.to_jwk()))
    assert commitment_of(UPDATE.public_key) != commitment_of(RECOVERY.public_key)


# -- signatures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [make_update, make_recover, make_deactivate])
def test_signing_input_is_prefix_and_jcs_without_signature(make: Any) -> None:
    op = make()
    assert SIGNING_PREFIX == b"realdid-operation-v1\n"
    assert signing_input(op) == SIGNING_PREFIX + canonicalize(op.unsigned_dict())
    assert "signature" not in op.unsigned_dict()
    verify_operation_signature(op)
    op.revealed_key.verify(signing_input(op), op.signature)


def test_sign_refuses_signer_that_is_not_the_revealed_key() -> None:
    op = DeactivateOperation(DID, PREVIOUS, RECOVERY.public_key)
    with pytest.raises(ValueError, match="revealed key"):
        sign(op, UPDATE)


@pytest.mark.parametrize("key_type", list(KeyType))
def test_every_key_type_can_sign_operations(key_type: KeyType) -> None:
    signer = LocalSigner(key_type, b"\x0a" * 32)
    op = sign(DeactivateOperation(DID, PREVIOUS, signer.public_key), signer)
    parsed = ParsedOperation.from_value(to_dict(op))
    assert isinstance(parsed.operation, DeactivateOperation)
    verify_operation_signature(parsed.operation)


def test_tampered_operation_fails_signature_check() -> None:
    value = wire("update")
    value["nextUpdateCommitment"] = commitment_of(DOC_KEY.public_key)
    parsed = ParsedOperation.from_value(value)  # parsing does not verify signatures
    assert isinstance(parsed.operation, UpdateOperation)
    with pytest.raises(InvalidOperationSignatureError) as info:
        verify_operation_signature(parsed.operation)
    assert info.value.code == "invalid-signature"


def test_signature_without_prefix_does_not_verify() -> None:
    op = DeactivateOperation(DID, PREVIOUS, RECOVERY.public_key)
    bare = RECOVERY.sign(canonicalize(op.unsigned_dict()))
    with pytest.raises(InvalidOperationSignatureError):
        verify_operation_signature(DeactivateOperation(DID, PREVIOUS, RECOVERY.public_key, bare))


def test_unsigned_operation_does_not_verify() -> None:
    op = DeactivateOperation(DID, PREVIOUS, RECOVERY.public_key)
    assert to_dict(op)["signature"] == ""
    with pytest.raises(InvalidOperationSignatureError):
        verify_operation_signature(op)


# -- parse errors ------------------------------------------------------------------------------------


def assert_malformed(value: Any, match: str | None = None) -> None:
    with pytest.raises(MalformedOperationError, match=match) as info:
        ParsedOperation.from_value(value)
    assert info.value.code == "malformed-operation"


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_member_is_refused(kind: str) -> None:
    value = wire(kind)
    value["comment"] = "hello"
    assert_malformed(value, "unknown member 'comment'")


@pytest.mark.parametrize(
    ("kind", "member"),
    [(kind, member) for kind in KINDS for member in sorted(MEMBERS[kind]) if member != "type"],
)
def test_missing_member_is_refused(kind: str, member: str) -> None:
    value = wire(kind)
    del value[member]
    assert_malformed(value, f"missing member '{member}'")


WRONG_VALUES: list[Any] = [None, 1, 1.5, True, "x", [], {}]


@pytest.mark.parametrize(
    ("kind", "member"),
    [(kind, member) for kind in KINDS for member in sorted(MEMBERS[kind]) if member != "type"],
)
@pytest.mark.parametrize("bad", WRONG_VALUES, ids=[repr(v) for v in WRONG_VALUES])
def test_wrong_type_is_refused(kind: str, member: str, bad: Any) -> None:
    value = wire(kind)
    if member == "signature" and bad == "x":
        bad = "x="  # "x" alone is odd-length base64url; keep the case about wrong spelling
    value[member] = bad
    assert_malformed(value)


@pytest.mark.parametrize(
    "kind_value",
    ["Create", "CREATE", "revoke", "delete", "", None, 1, ["create"], {"type": "create"}],
)
def test_unknown_operation_type_is_refused(kind_value: Any) -> None:
    value = wire("create")
    value["type"] = kind_value
    assert_malformed(value, "operation type must be one of")


def test_missing_type_is_refused() -> None:
    value = wire("create")
    del value["type"]
    assert_malformed(value, "operation type")


@pytest.mark.parametrize("value", [None, [], "create", 1, True, [{"type": "create"}]])
def test_non_object_operation_is_refused(value: Any) -> None:
    assert_malformed(value, "JSON object")


def test_type_of_other_operation_is_refused() -> None:
    value = wire("deactivate")
    value["type"] = "update"
    assert_malformed(value)


@pytest.mark.parametrize(
    "previous",
    ["AB" * 32, "ab" * 31, "ab" * 33, "g" * 64, " " + "a" * 63, "0x" + "a" * 62],
)
def test_bad_previous_is_refused(previous: str) -> None:
    value = wire("update")
    value["previous"] = previous
    assert_malformed(value, "previous")


@pytest.mark.parametrize(
    ("kind", "member"),
    [
        ("create", "updateCommitment"),
        ("create", "recoveryCommitment"),
        ("update", "nextUpdateCommitment"),
        ("recover", "nextUpdateCommitment"),
        ("recover", "nextRecoveryCommitment"),
    ],
)
@pytest.mark.parametrize(
    "commitment",
    [
        "",
        "Qm",
        "ab" * 32,
        commitment_of(UPDATE.public_key)[:-1],
        commitment_of(UPDATE.public_key) + "x",
    ],
)
def test_bad_commitment_is_refused(kind: str, member: str, commitment: str) -> None:
    value = wire(kind)
    value[member] = commitment
    assert_malformed(value, member)


@pytest.mark.parametrize(
    "did",
    [
        "did:web:example.com",
        "did:realdid:abc",
        str(DID) + "#key-1",
        DID.suffix,
    ],
)
def test_bad_did_member_is_refused(did: str) -> None:
    value = wire("deactivate")
    value["did"] = did
    assert_malformed(value, "did")


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda jwk: {**jwk, "kid": "k1"}, id="kid"),
        pytest.param(lambda jwk: {**jwk, "alg": "EdDSA"}, id="alg"),
        pytest.param(lambda jwk: {**jwk, "use": "sig"}, id="use"),
        pytest.param(lambda jwk: {**jwk, "d": b64url_encode(b"\x02" * 32)}, id="private-d"),
        pytest.param(lambda jwk: {k: v for k, v in jwk.items() if k != "x"}, id="no-x"),
        pytest.param(lambda jwk: {**jwk, "x": jwk["x"] + "="}, id="padded-x"),
        pytest.param(lambda jwk: {**jwk, "kty": "EC"}, id="wrong-kty"),
        pytest.param(lambda jwk: {**jwk, "x": b64url_encode(bytes(31))}, id="short-x"),
        pytest.param(lambda jwk: {"kty": "RSA", "n": "AQAB", "e": "AQAB"}, id="rsa"),
        pytest.param(lambda jwk: [jwk], id="list"),
        pytest.param(lambda jwk: jwk["x"], id="string"),
    ],
)
@pytest.mark.parametrize("kind", ["update", "recover", "deactivate"])
def test_bad_revealed_key_is_refused(kind: str, mangle: Any) -> None:
    value = wire(kind)
    value["revealedKey"] = mangle(value["revealedKey"])
    assert_malformed(value, "revealedKey")


def test_ec_revealed_key_with_extra_member_is_refused() -> None:
    signer = LocalSigner(KeyType.P256, b"\x0b" * 32)
    value = to_dict(sign(DeactivateOperation(DID, PREVIOUS, signer.public_key), signer))
    assert ParsedOperation.from_value(copy.deepcopy(value))
    value["revealedKey"]["kid"] = "x"
    assert_malformed(value, "exactly the public JWK members")


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("a" * 129, id="too-long"),
        pytest.param("AAAA==", id="padded"),
        pytest.param("AA+/", id="standard-alphabet"),
        pytest.param("AA AA", id="space"),
        pytest.param("é", id="non-ascii"),
    ],
)
def test_bad_signature_encoding_is_refused(signature: str) -> None:
    value = wire("deactivate")
    value["signature"] = signature
    assert_malformed(value, "signature")


def test_wrong_length_signature_parses_but_does_not_verify() -> None:
    value = wire("deactivate")
    value["signature"] = b64url_encode(b"\x01" * 63)
    parsed = ParsedOperation.from_value(value)
    assert isinstance(parsed.operation, DeactivateOperation)
    with pytest.raises(InvalidOperationSignatureError):
        verify_operation_signature(parsed.operation)


@pytest.mark.parametrize(
    "patches",
    [
        pytest.param([], id="empty"),
        pytest.param([{"action": "remove-services", "ids": ["hub"]}] * 11, id="11-patches"),
        pytest.param([{"action": "replace", "document": {}}], id="unknown-action"),
        pytest.param([{"action": "ietf-json-patch", "patches": []}], id="json-patch"),
        pytest.param([{"ids": ["hub"]}], id="no-action"),
        pytest.param([{"action": "remove-services", "ids": []}], id="no-ids"),
        pytest.param([{"action": "remove-services", "ids": ["a"] * 11}], id="11-ids"),
        pytest.param([{"action": "remove-services", "ids": ["#bad"]}], id="bad-id"),
        pytest.param([{"action": "remove-services", "ids": "hub"}], id="ids-string"),
        pytest.param([{"action": "remove-services", "ids": ["hub"], "x": 1}], id="extra-member"),
        pytest.param([{"action": "remove-services", "services": ["hub"]}], id="wrong-member"),
        pytest.param([{"action": "add-services", "services": []}], id="no-services"),
        pytest.param(
            [
                {
                    "action": "add-services",
                    "services": [{"id": "s", "type": "T", "serviceEndpoint": "ftp://x"}],
                }
            ],
            id="bad-service",
        ),
        pytest.param([{"action": "add-public-keys", "publicKeys": [{"id": "k"}]}], id="bad-key"),
        pytest.param([{"action": ["add-services"], "services": []}], id="action-list"),
        pytest.param(["remove-services"], id="patch-string"),
        pytest.param({"action": "remove-services", "ids": ["hub"]}, id="patches-object"),
    ],
)
def test_bad_patches_are_refused(patches: Any) -> None:
    value = wire("update")
    value["patches"] = patches
    assert_malformed(value)


def test_patch_round_trips() -> None:
    patches = [
        {
            "action": "add-public-keys",
            "publicKeys": [
                {
                    "id": "k",
                    "publicKeyMultibase": DOC_KEY.public_key.to_multibase(),
                    "purposes": ["authentication"],
                }
            ],
        },
        {"action": "remove-public-keys", "ids": ["a", "b"]},
        {
            "action": "add-services",
            "services": [{"id": "s", "type": "T", "serviceEndpoint": "https://x.example/"}],
        },
        {"action": "remove-services", "ids": ["c"]},
    ]
    for patch in patches:
        assert Patch.from_dict(patch).to_dict() == patch


def oversize_update() -> dict[str, Any]:
    """Ten add-services patches of ten long services each: every part valid, the whole too big."""
    value = wire("update")
    value["patches"] = [
        {
            "action": "add-services",
            "services": [
                {
                    "id": f"s{p}-{i}",
                    "type": "T",
                    "serviceEndpoint": "https://example.com/" + "a" * 230,
                }
                for i in range(10)
            ],
        }
        for p in range(10)
    ]
    return value


def test_oversize_operation_is_refused() -> None:
    value = oversize_update()
    assert len(canonicalize(value)) > MAX_OPERATION_BYTES
    assert_malformed(value, "exceeds")


def test_oversize_bytes_are_refused_before_parsing() -> None:
    data = b"[" * (MAX_OPERATION_BYTES + 1)
    with pytest.raises(MalformedOperationError, match="exceeds"):
        ParsedOperation.from_canonical(data)


def test_operation_at_size_cap_is_accepted() -> None:
    parsed = ParsedOperation.from_value(wire("create"))
    assert len(parsed.canonical) <= MAX_OPERATION_BYTES == 16 * 1024


# -- from_canonical ------------------------------------------------------------------------------------


def non_canonical_spellings(value: dict[str, Any]) -> list[bytes]:
    canonical = canonicalize(value)
    reordered = json.dumps(dict(reversed(list(value.items()))), separators=(",", ":")).encode()
    return [
        json.dumps(value).encode(),  # whitespace after separators
        json.dumps(value, indent=2).encode(),
        canonical + b"\n",
        b" " + canonical,
        reordered,
        canonical.replace(b'"type"', b'"\\u0074ype"'),  # escaped letter
        canonical.replace(b"{", b"{ ", 1),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_non_canonical_bytes_are_refused(kind: str) -> None:
    value = wire(kind)
    ParsedOperation.from_canonical(canonicalize(value))
    for data in non_canonical_spellings(value):
        assert data != canonicalize(value)
        with pytest.raises(MalformedOperationError, match="canonical"):
            ParsedOperation.from_canonical(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"{'type':'create'}", id="single-quotes"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="deep-nesting"),
        pytest.param(b"NaN", id="nan"),
        pytest.param(b'{"type":"create","type":"create"}', id="duplicate-member"),
    ],
)
def test_garbage_bytes_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedOperationError):
        ParsedOperation.from_canonical(data)


def test_duplicate_member_spelling_is_refused() -> None:
    """JSON with a repeated member parses (last wins) but is not the canonical text."""
    value = wire("create")
    data = canonicalize(value)
    doubled = data.replace(b'{"document"', b'{"type":"update","document"', 1)
    with pytest.raises(MalformedOperationError):
        ParsedOperation.from_canonical(doubled)


# -- wire-format vectors (tests/vectors/did_operations.json) -----------------------------------------


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_did_vectors", VECTORS_DIR / "generate_did_vectors.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VECTOR_OPS = VECTORS["operations"]
VECTOR_KEYS = {k["name"]: k for k in VECTORS["keys"]}


@pytest.mark.parametrize("vector", VECTOR_OPS, ids=[v["name"] for v in VECTOR_OPS])
def test_vector_operation(vector: dict[str, Any]) -> None:
    canonical = vector["canonical"].encode("utf-8")
    parsed = ParsedOperation.from_canonical(canonical)
    assert parsed.hash == vector["hash"]
    assert hashlib.sha256(canonical).hexdigest() == vector["hash"]
    assert canonicalize(vector["operation"]) == canonical
    assert ParsedOperation.from_value(vector["operation"]) == parsed
    assert to_dict(parsed.operation) == vector["operation"]
    assert parsed.operation.type == vector["type"]
    assert str(parsed.did) == VECTORS["did"]
    if isinstance(parsed.operation, CreateOperation):
        assert parsed.did.suffix == vector["suffix"]
        assert multihash_b58(canonical) == vector["suffix"]
    else:
        assert signing_input(parsed.operation) == vector["signingInput"].encode("utf-8")
        verify_operation_signature(parsed.operation)
        signer_key = VECTOR_KEYS[vector["signer"]]
        assert parsed.operation.revealed_key == PublicKey.from_jwk(signer_key["publicJwk"])


@pytest.mark.parametrize("key", VECTORS["keys"], ids=[k["name"] for k in VECTORS["keys"]])
def test_vector_key(key: dict[str, Any]) -> None:
    signer = LocalSigner(KeyType(key["keyType"]), bytes.fromhex(key["seed"]))
    assert signer.public_key.to_jwk() == key["publicJwk"]
    assert canonicalize(key["publicJwk"]) == key["publicJwkCanonical"].encode()
    assert signer.public_key.to_multibase() == key["publicKeyMultibase"]
    assert commitment_of(signer.public_key) == key["commitment"]
    assert signer.public_key.algorithm == key["algorithm"]


def test_vector_life_cycle_applies_in_order() -> None:
    from realdid.did import AnchorPoint, DidState

    state: DidState | None = None
    for vector in VECTOR_OPS:
        parsed = ParsedOperation.from_canonical(vector["canonical"].encode("utf-8"))
        anchor = vector["anchor"]
        at = AnchorPoint(anchor["sequence"], anchor["leafIndex"], anchor["timestamp"])
        state = apply_operation(state, parsed.operation, parsed.hash, at)
        expected = vector["stateAfter"]
        assert state.version_id == expected["versionId"] == parsed.hash
        assert state.update_commitment == expected["updateCommitment"]
        assert state.recovery_commitment == expected["recoveryCommitment"]
        assert state.deactivated is expected["deactivated"]
        if not state.deactivated:
            assert state.document.render(VECTORS["did"]) == expected["didDocument"]
    assert state is not None
    assert state.deactivated


def test_vectors_chain_previous_hashes() -> None:
    for before, after in itertools.pairwise(VECTOR_OPS):
        assert after["operation"]["previous"] == before["hash"]
        assert after["operation"]["did"] == VECTORS["did"]


def test_vector_file_is_what_the_generator_produces() -> None:
    """Regenerating from the fixed seeds must give the committed file byte for byte."""
    generator = load_generator()
    committed = (VECTORS_DIR / "did_operations.json").read_text(encoding="utf-8")
    assert generator.render(generator.build_vectors()) == committed


def test_vector_did_parses() -> None:
    assert str(Did.parse(VECTORS["did"])) == VECTORS["did"]
    assert VECTORS["signingPrefix"].encode() == SIGNING_PREFIX
