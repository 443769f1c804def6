"""Hypothesis round-trip properties of every did:realdid serializer and parser."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realdid.crypto import KeyType, LocalSigner, canonicalize, multihash_b58
from realdid.did import (
    PURPOSES,
    CreateOperation,
    DeactivateOperation,
    Did,
    DocumentContent,
    MalformedOperationError,
    Operation,
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

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A small pool of real keys of every type; Hypothesis picks among them.
SIGNERS = [LocalSigner(key_type, bytes([seed]) * 32) for key_type in KeyType for seed in (1, 2, 3)]
signers = st.sampled_from(SIGNERS)
commitments = signers.map(lambda s: commitment_of(s.public_key))

# -- JSON values ------------------------------------------------------------------------------------

SAFE_INT = 2**53 - 1
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT)
    # Every double of magnitude >= 2**53 is an integer, which JCS writes without a fraction
    # and which then parses back as an int outside I-JSON: the one case JCS refuses.
    | st.floats(
        allow_nan=False,
        allow_infinity=False,
        min_value=-(2.0**53),
        max_value=2.0**53,
        exclude_min=True,
        exclude_max=True,
    )
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


@SETTINGS
@given(json_values)
def test_canonicalization_is_idempotent(value: Any) -> None:
    once = canonicalize(value)
    assert canonicalize(json.loads(once)) == once


@SETTINGS
@given(st.dictionaries(st.text(), st.integers(-1000, 1000), max_size=8))
def test_canonical_objects_do_not_depend_on_member_order(value: dict[str, int]) -> None:
    reversed_value = dict(reversed(list(value.items())))
    assert canonicalize(value) == canonicalize(reversed_value)


# -- documents ------------------------------------------------------------------------------------

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
ids = st.text(alphabet=ALNUM + "_-", min_size=1, max_size=50)
service_types = st.builds(
    str.__add__, st.sampled_from(ALNUM[:52]), st.text(alphabet=ALNUM, max_size=49)
)
labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=15)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join)
paths = st.lists(st.text(alphabet=ALNUM + "._~-", max_size=20), max_size=5).map(
    lambda segments: "".join("/" + s for s in segments)
)
endpoints = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["https", "http"]),
    hosts,
    st.sampled_from(["", ":443", ":8080"]),
    paths,
)
purposes = st.lists(st.sampled_from(PURPOSES), min_size=1, unique=True).map(tuple)


@st.composite
def documents(draw: st.DrawFn, max_keys: int = 10, max_services: int = 10) -> DocumentContent:
    n_keys = draw(st.integers(0, max_keys))
    n_services = draw(st.integers(0, max_services))
    all_ids = draw(
        st.lists(ids, min_size=n_keys + n_services, max_size=n_keys + n_services, unique=True)
    )
    keys = tuple(
        PublicKeyEntry(key_id, draw(signers).public_key, draw(purposes))
        for key_id in all_ids[:n_keys]
    )
    services = tuple(
        ServiceEntry(service_id, draw(service_types), draw(endpoints))
        for service_id in all_ids[n_keys:]
    )
    return DocumentContent(keys, services)


@SETTINGS
@given(documents())
def test_document_content_round_trips_exactly(content: DocumentContent) -> None:
    as_dict = content.to_dict()
    via_json = json.loads(json.dumps(as_dict))
    assert DocumentContent.from_dict(via_json) == content
    assert DocumentContent.from_dict(via_json).to_dict() == as_dict


# -- operations ---------------------------------------------------------------------------------------

previous_hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)
dids = st.binary(min_size=1, max_size=64).map(lambda b: Did(multihash_b58(b)))


@st.composite
def patches(draw: st.DrawFn) -> Patch:
    action = draw(st.sampled_from(Patch.ACTIONS))
    if action == "add-public-keys":
        content = draw(documents(max_keys=10, max_services=0).filter(lambda d: d.public_keys))
        return Patch(action, public_keys=content.public_keys)
    if action == "add-services":
        content = draw(documents(max_keys=0, max_services=10).filter(lambda d: d.services))
        return Patch(action, services=content.services)
    return Patch(action, ids=tuple(draw(st.lists(ids, min_size=1, max_size=10))))


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    kind = draw(st.sampled_from(["create", "update", "recover", "deactivate"]))
    if kind == "create":
        return CreateOperation(draw(documents()), draw(commitments), draw(commitments))
    did, previous, signer = draw(dids), draw(previous_hashes), draw(signers)
    if kind == "update":
        op: Any = UpdateOperation(
            did,
            previous,
            signer.public_key,
            tuple(draw(st.lists(patches(), min_size=1, max_size=3))),
            draw(commitments),
        )
    elif kind == "recover":
        op = RecoverOperation(
            did,
            previous,
            signer.public_key,
            draw(documents()),
            draw(commitments),
            draw(commitments),
        )
    else:
        op = DeactivateOperation(did, previous, signer.public_key)
    return sign(op, signer)


@SETTINGS
@given(operations())
def test_every_operation_round_trips_with_identical_hash(operation: Operation) -> None:
    value = json.loads(json.dumps(to_dict(operation)))
    parsed = ParsedOperation.from_value(value)
    assert parsed.operation == operation
    again = to_dict(parsed.operation)
    assert again == value
    canonical = canonicalize(again)
    assert canonical == parsed.canonical
    reparsed = ParsedOperation.from_canonical(canonical)
    assert reparsed.hash == parsed.hash
    assert reparsed == parsed
    if isinstance(operation, CreateOperation):
        assert reparsed.did == operation.did
        assert reparsed.did.suffix == multihash_b58(canonical)
    else:
        assert reparsed.did == operation.did


# -- junk never escapes as anything but MalformedOperationError -------------------------------------

junk_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=60)
    | st.sampled_from(
        [
            "create",
            "update",
            "recover",
            "deactivate",
            "add-public-keys",
            "remove-services",
            "authentication",
            "z6Mk",
            "Qm",
            "did:realdid:",
            "https://example.com/",
        ]
    )
)
junk_values = st.recursive(
    junk_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=20,
)


def _mutate(value: Any, draw: st.DrawFn) -> Any:
    """Replace, delete or add one member somewhere inside a valid operation."""
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        choice = draw(st.integers(0, 3))
        mutated = dict(value)
        if choice == 0:
            mutated[key] = draw(junk_values)
        elif choice == 1:
            del mutated[key]
        elif choice == 2:
            mutated[draw(st.text(max_size=10))] = draw(junk_values)
        else:
            mutated[key] = _mutate(value[key], draw)
        return mutated
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        mutated_list = list(value)
        if draw(st.booleans()):
            mutated_list[index] = _mutate(value[index], draw)
        else:
            mutated_list.append(draw(junk_values))
        return mutated_list
    return draw(junk_values)


@st.composite
def near_valid_operations(draw: st.DrawFn) -> Any:
    value = json.loads(json.dumps(to_dict(draw(operations()))))
    for _ in range(draw(st.integers(1, 3))):
        value = _mutate(value, draw)
    return value


def _only_malformed(value: Any) -> None:
    try:
        parsed = ParsedOperation.from_value(value)
    except MalformedOperationError:
        return
    # Whatever is accepted is consistent with its own canonical form.
    assert ParsedOperation.from_canonical(parsed.canonical) == parsed


@SETTINGS
@given(junk_values)
def test_junk_json_only_raises_malformed(value: Any) -> None:
    _only_malformed(value)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "did",
                "previous",
                "revealedKey",
                "patches",
                "document",
                "signature",
                "updateCommitment",
                "recoveryCommitment",
                "nextUpdateCommitment",
                "nextRecoveryCommitment",
            ]
        ),
        junk_values,
    ).map(lambda d: {**d, "type": d.get("type", "update")})
)
def test_junk_with_operation_members_only_raises_malformed(value: Any) -> None:
    _only_malformed(value)


@SETTINGS
@given(near_valid_operations())
def test_mutated_operations_only_raise_malformed(value: Any) -> None:
    _only_malformed(value)


@SETTINGS
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_junk_bytes_only_raise_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedOperationError):
        ParsedOperation.from_canonical(data)
