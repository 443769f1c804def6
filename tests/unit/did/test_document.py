"""DID document content and its DID Core rendering (realdid.did._document)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from realdid.crypto import KeyType, LocalSigner
from realdid.did import (
    DID_CORE_CONTEXT,
    MULTIKEY_CONTEXT,
    PURPOSES,
    DocumentContent,
    InvalidPatchError,
    MalformedOperationError,
    PublicKeyEntry,
    ServiceEntry,
)
from realdid.did._document import MAX_ENDPOINT_LENGTH, MAX_PUBLIC_KEYS, MAX_SERVICES

DID = "did:realdid:QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
ED = LocalSigner(KeyType.ED25519, b"\x03" * 32).public_key
P256 = LocalSigner(KeyType.P256, b"\x04" * 32).public_key
K1 = LocalSigner(KeyType.SECP256K1, b"\x05" * 32).public_key


ED_MULTIBASE = ED.to_multibase()


def key_dict(key_id: Any = "key-1", multibase: Any = ED_MULTIBASE) -> dict[str, Any]:
    return {"id": key_id, "publicKeyMultibase": multibase, "purposes": ["authentication"]}


def service_dict(
    service_id: Any = "hub",
    endpoint: Any = "https://example.com/",
    service_type: Any = "LinkedDomains",
) -> dict[str, Any]:
    return {"id": service_id, "type": service_type, "serviceEndpoint": endpoint}


def document_dict(
    keys: list[Any] | None = None, services: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "publicKeys": [key_dict()] if keys is None else keys,
        "services": [service_dict()] if services is None else services,
    }


FULL = {
    "publicKeys": [
        {
            "id": "key-1",
            "publicKeyMultibase": ED.to_multibase(),
            "purposes": ["assertionMethod", "authentication"],
        },
        {"id": "key-2", "publicKeyMultibase": P256.to_multibase(), "purposes": ["authentication"]},
        {
            "id": "key_3",
            "publicKeyMultibase": K1.to_multibase(),
            "purposes": ["capabilityInvocation", "capabilityDelegation"],
        },
    ],
    "services": [
        {"id": "hub", "type": "LinkedDomains", "serviceEndpoint": "https://example.com/"},
        {
            "id": "inbox",
            "type": "DIDCommMessaging",
            "serviceEndpoint": "http://localhost:8080/x?y=1",
        },
    ],
}


# -- round trip and rendering -------------------------------------------------------------------


def test_from_dict_to_dict_round_trips_exactly() -> None:
    content = DocumentContent.from_dict(copy.deepcopy(FULL))
    assert content.to_dict() == FULL
    # Purposes keep the controller's order (the create suffix hashes exactly what was written).
    assert content.public_keys[0].purposes == ("assertionMethod", "authentication")


def test_empty_document() -> None:
    assert DocumentContent().to_dict() == {"publicKeys": [], "services": []}
    assert DocumentContent.from_dict({"publicKeys": [], "services": []}) == DocumentContent()
    assert DocumentContent().render(DID) == {
        "@context": [DID_CORE_CONTEXT, MULTIKEY_CONTEXT],
        "id": DID,
        "verificationMethod": [],
    }


def test_render_is_a_did_core_document() -> None:
    document = DocumentContent.from_dict(FULL).render(DID)
    assert document == {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": DID,
        "verificationMethod": [
            {
                "id": f"{DID}#key-1",
                "type": "Multikey",
                "controller": DID,
                "publicKeyMultibase": ED.to_multibase(),
            },
            {
                "id": f"{DID}#key-2",
                "type": "Multikey",
                "controller": DID,
                "publicKeyMultibase": P256.to_multibase(),
            },
            {
                "id": f"{DID}#key_3",
                "type": "Multikey",
                "controller": DID,
                "publicKeyMultibase": K1.to_multibase(),
            },
        ],
        "authentication": [f"{DID}#key-1", f"{DID}#key-2"],
        "assertionMethod": [f"{DID}#key-1"],
        "capabilityInvocation": [f"{DID}#key_3"],
        "capabilityDelegation": [f"{DID}#key_3"],
        "service": [
            {
                "id": f"{DID}#hub",
                "type": "LinkedDomains",
                "serviceEndpoint": "https://example.com/",
            },
            {
                "id": f"{DID}#inbox",
                "type": "DIDCommMessaging",
                "serviceEndpoint": "http://localhost:8080/x?y=1",
            },
        ],
    }
    assert "keyAgreement" not in document
    assert list(document) == [
        "@context",
        "id",
        "verificationMethod",
        *PURPOSES,
        "service",
    ]


def test_render_omits_empty_relationships_and_services() -> None:
    content = DocumentContent((PublicKeyEntry("k", ED, ("assertionMethod",)),))
    document = content.render(DID)
    assert set(document) == {"@context", "id", "verificationMethod", "assertionMethod"}


def test_render_is_deterministic() -> None:
    a = DocumentContent.from_dict(copy.deepcopy(FULL)).render(DID)
    b = DocumentContent.from_dict(copy.deepcopy(FULL)).render(DID)
    assert a == b
    assert list(a) == list(b)


def test_purposes_are_signature_relationships_only() -> None:
    assert PURPOSES == (
        "authentication",
        "assertionMethod",
        "capabilityInvocation",
        "capabilityDelegation",
    )


# -- limits and uniqueness ------------------------------------------------------------------------


def many_keys(n: int) -> list[dict[str, Any]]:
    return [key_dict(f"key-{i}") for i in range(n)]


def many_services(n: int) -> list[dict[str, Any]]:
    return [service_dict(f"svc-{i}") for i in range(n)]


def test_document_at_limits_is_accepted() -> None:
    content = DocumentContent.from_dict(
        document_dict(many_keys(MAX_PUBLIC_KEYS), many_services(MAX_SERVICES))
    )
    assert len(content.public_keys) == MAX_PUBLIC_KEYS == 10
    assert len(content.services) == MAX_SERVICES == 10


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(document_dict(many_keys(11), []), id="11-keys"),
        pytest.param(document_dict([], many_services(11)), id="11-services"),
        pytest.param(document_dict(many_keys(1000), []), id="1000-keys"),
    ],
)
def test_document_over_limits_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(MalformedOperationError, match="at most"):
        DocumentContent.from_dict(document)


def test_constructor_enforces_limits() -> None:
    entry = PublicKeyEntry("k", ED, ("authentication",))
    keys = tuple(PublicKeyEntry(f"k{i}", ED, ("authentication",)) for i in range(11))
    with pytest.raises(MalformedOperationError):
        DocumentContent(keys)
    with pytest.raises(MalformedOperationError, match="unique"):
        DocumentContent((entry, entry))


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(document_dict([key_dict("a"), key_dict("a")], []), id="key-key"),
        pytest.param(
            document_dict([], [service_dict("a"), service_dict("a")]), id="service-service"
        ),
        pytest.param(document_dict([key_dict("a")], [service_dict("a")]), id="key-service"),
    ],
)
def test_duplicate_ids_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(MalformedOperationError, match="unique"):
        DocumentContent.from_dict(document)


# -- public key entries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key_id",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 51, id="51-chars"),
        pytest.param("#key-1", id="hash"),
        pytest.param("key 1", id="space"),
        pytest.param("key-1\n", id="trailing-newline"),
        pytest.param("ключ", id="non-ascii"),
        pytest.param("key:1", id="colon"),
        pytest.param("key/1", id="slash"),
        pytest.param(1, id="int"),
        pytest.param(None, id="null"),
    ],
)
def test_bad_ids_are_refused(key_id: Any) -> None:
    with pytest.raises(MalformedOperationError):
        PublicKeyEntry.from_dict(key_dict(key_id))
    with pytest.raises(MalformedOperationError):
        ServiceEntry.from_dict(service_dict(key_id))


def test_id_of_50_chars_is_accepted() -> None:
    assert PublicKeyEntry.from_dict(key_dict("a" * 50)).id == "a" * 50


@pytest.mark.parametrize(
    "purposes",
    [
        pytest.param([], id="empty"),
        pytest.param(["keyAgreement"], id="key-agreement"),
        pytest.param(["Authentication"], id="wrong-case"),
        pytest.param(["authentication", "authentication"], id="duplicate"),
        pytest.param("authentication", id="string-not-list"),
        pytest.param([1], id="int"),
        pytest.param([["authentication"]], id="nested"),
        pytest.param(None, id="null"),
        pytest.param({"authentication": True}, id="object"),
    ],
)
def test_bad_purposes_are_refused(purposes: Any) -> None:
    value = key_dict()
    value["purposes"] = purposes
    with pytest.raises(MalformedOperationError, match="purposes"):
        PublicKeyEntry.from_dict(value)


@pytest.mark.parametrize(
    "multibase",
    ["", "z", "not-multibase", "z6Mk", 42, None, ED.to_multibase()[:-2]],
)
def test_bad_public_key_multibase_is_refused(multibase: Any) -> None:
    with pytest.raises(MalformedOperationError):
        PublicKeyEntry.from_dict(key_dict(multibase=multibase))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({**key_dict(), "type": "Multikey"}, id="unknown-member"),
        pytest.param({**key_dict(), "controller": DID}, id="controller-member"),
        pytest.param({"id": "k", "purposes": ["authentication"]}, id="missing-key"),
        pytest.param({"publicKeyMultibase": ED.to_multibase(), "purposes": []}, id="missing-id"),
        pytest.param({"id": "k", "publicKeyMultibase": ED.to_multibase()}, id="missing-purposes"),
        pytest.param([key_dict()], id="list"),
        pytest.param("key", id="string"),
        pytest.param(None, id="null"),
    ],
)
def test_public_key_entry_schema(value: Any) -> None:
    with pytest.raises(MalformedOperationError):
        PublicKeyEntry.from_dict(value)


def test_public_key_entry_round_trip_for_each_key_type() -> None:
    for public_key in (ED, P256, K1):
        entry = PublicKeyEntry("k", public_key, ("authentication",))
        assert PublicKeyEntry.from_dict(entry.to_dict()) == entry


# -- service entries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://example.com",
        "https://example.com/",
        "http://example.com:8080/path?q=1#frag",
        "https://[2001:db8::1]/x",
        "https://xn--bcher-kva.example/",
        "HTTPS://EXAMPLE.COM/",
        "https://a.example/" + "a" * (MAX_ENDPOINT_LENGTH - len("https://a.example/")),
    ],
)
def test_good_service_endpoints(endpoint: str) -> None:
    assert ServiceEntry.from_dict(service_dict(endpoint=endpoint)).endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("JavaScript://example.com/%0aalert(1)", id="javascript-authority"),
        pytest.param("ftp://example.com/file", id="ftp"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("data:text/html,<script>alert(1)</script>", id="data"),
        pytest.param("mailto:someone@example.com", id="mailto"),
        pytest.param("wss://example.com/", id="websocket"),
        pytest.param("https://user:secret@example.com/", id="user-password"),
        pytest.param("https://user@example.com/", id="user"),
        pytest.param("https://:secret@example.com/", id="password-only"),
        pytest.param("https://@example.com/", id="empty-userinfo"),
        pytest.param("//example.com/path", id="scheme-relative"),
        pytest.param("/relative/path", id="relative"),
        pytest.param("example.com", id="no-scheme"),
        pytest.param("https://", id="no-host"),
        pytest.param("https:///path", id="empty-host"),
        pytest.param("https://exa mple.com/", id="space"),
        pytest.param("https://example.com/\n", id="newline"),
        pytest.param("https://example.com/\t", id="tab"),
        pytest.param("https://bücher.example/", id="non-ascii"),
        pytest.param("https://[::1/", id="broken-ipv6"),
        pytest.param("https://example.com:99999/", id="port-out-of-range"),
        pytest.param("https://example.com:port/", id="port-not-number"),
        pytest.param(
            "https://a.example/" + "a" * (MAX_ENDPOINT_LENGTH + 1 - len("https://a.example/")),
            id="257-chars",
        ),
        pytest.param("", id="empty"),
        pytest.param(["https://example.com/"], id="list"),
        pytest.param({"origins": ["https://example.com/"]}, id="map"),
        pytest.param(None, id="null"),
    ],
)
def test_bad_service_endpoints_are_refused(endpoint: Any) -> None:
    with pytest.raises(MalformedOperationError, match="serviceEndpoint"):
        ServiceEntry.from_dict(service_dict(endpoint=endpoint))


@pytest.mark.parametrize(
    "service_type",
    ["", "1Linked", "Linked-Domains", "Linked Domains", "L" * 51, "Linked\n", 7, None, ["T"]],
)
def test_bad_service_types_are_refused(service_type: Any) -> None:
    with pytest.raises(MalformedOperationError, match="type"):
        ServiceEntry.from_dict(service_dict(service_type=service_type))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({**service_dict(), "extra": 1}, id="unknown-member"),
        pytest.param({"id": "s", "type": "T"}, id="missing-endpoint"),
        pytest.param({"id": "s", "serviceEndpoint": "https://example.com/"}, id="missing-type"),
        pytest.param("https://example.com/", id="string"),
    ],
)
def test_service_entry_schema(value: Any) -> None:
    with pytest.raises(MalformedOperationError):
        ServiceEntry.from_dict(value)


# -- document schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"publicKeys": []}, id="missing-services"),
        pytest.param({"services": []}, id="missing-keys"),
        pytest.param({"publicKeys": [], "services": [], "name": "Alice"}, id="unknown-member"),
        pytest.param({"publicKeys": {}, "services": []}, id="keys-object"),
        pytest.param({"publicKeys": [], "services": "x"}, id="services-string"),
        pytest.param({"publicKeys": None, "services": None}, id="nulls"),
        pytest.param([], id="list"),
        pytest.param(None, id="null"),
    ],
)
def test_document_schema(value: Any) -> None:
    with pytest.raises(MalformedOperationError):
        DocumentContent.from_dict(value)


# -- patches on content ------------------------------------------------------------------------------


def test_add_and_remove_keys_and_services() -> None:
    content = DocumentContent.from_dict(FULL)
    added = content.add_public_keys([PublicKeyEntry("new", ED, ("authentication",))])
    assert [k.id for k in added.public_keys] == ["key-1", "key-2", "key_3", "new"]
    removed = added.remove_public_keys(["key-2", "new"])
    assert [k.id for k in removed.public_keys] == ["key-1", "key_3"]
    with_service = removed.add_services([ServiceEntry("s2", "T", "https://x.example/")])
    assert [s.id for s in with_service.services] == ["hub", "inbox", "s2"]
    assert [s.id for s in with_service.remove_services(["hub"]).services] == ["inbox", "s2"]
    assert content == DocumentContent.from_dict(FULL), "patches return new content"


def test_removing_unknown_id_is_invalid_patch() -> None:
    content = DocumentContent.from_dict(FULL)
    with pytest.raises(InvalidPatchError) as info:
        content.remove_public_keys(["hub"])  # a service id, not a key id
    assert info.value.code == "invalid-patch"
    with pytest.raises(InvalidPatchError):
        content.remove_services(["key-1"])
    with pytest.raises(InvalidPatchError):
        content.remove_services(["hub", "nope"])


def test_patch_creating_duplicate_id_is_invalid_patch() -> None:
    content = DocumentContent.from_dict(FULL)
    with pytest.raises(InvalidPatchError, match="unique"):
        content.add_public_keys([PublicKeyEntry("hub", ED, ("authentication",))])
    with pytest.raises(InvalidPatchError, match="unique"):
        content.add_services([ServiceEntry("key-1", "T", "https://x.example/")])


def test_patch_over_limit_is_invalid_patch() -> None:
    content = DocumentContent.from_dict(document_dict(many_keys(10), many_services(10)))
    with pytest.raises(InvalidPatchError, match="at most"):
        content.add_public_keys([PublicKeyEntry("one-more", ED, ("authentication",))])
    with pytest.raises(InvalidPatchError, match="at most"):
        content.add_services([ServiceEntry("one-more", "T", "https://x.example/")])
