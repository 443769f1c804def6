"""DID document content and its rendering as a W3C DID Core 1.0 document.

The controller specifies *content* — public keys with their verification relationships
and service endpoints. The method renders the DID document from it, so that every node
produces byte-identical documents (docs/did-method.md section "DID documents").
No personal data belongs here: keys and service endpoints only.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from realdid.crypto import CryptoError, PublicKey

from ._errors import InvalidPatchError, MalformedOperationError

DID_CORE_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"

# Verification relationships a signing key may serve (DID Core section 5.3). keyAgreement is
# excluded: RealDID keys are signature keys, and reusing them for key agreement is unsafe.
PURPOSES = ("authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation")
MAX_PUBLIC_KEYS = 10
MAX_SERVICES = 10
MAX_ENDPOINT_LENGTH = 256
_ID = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
_SERVICE_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,49}$")


def _require_object(
    value: Any, what: str, members: set[str], optional: frozenset[str] = frozenset()
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedOperationError(f"{what} must be a JSON object")
    keys = set(value)
    unknown = keys - members - optional
    if unknown:
        raise MalformedOperationError(f"{what} has unknown member '{sorted(unknown)[0]}'")
    missing = members - keys
    if missing:
        raise MalformedOperationError(f"{what} is missing member '{sorted(missing)[0]}'")
    return value


def _require_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise MalformedOperationError(f"{what} must match [A-Za-z0-9_-]{{1,50}}")
    return value


@dataclass(frozen=True, slots=True)
class PublicKeyEntry:
    """A verification method: ``#id``, a Multikey public key and its relationships."""

    id: str
    public_key: PublicKey
    purposes: tuple[str, ...]

    @classmethod
    def from_dict(cls, value: Any) -> PublicKeyEntry:
        obj = _require_object(value, "publicKey", {"id", "publicKeyMultibase", "purposes"})
        key_id = _require_id(obj["id"], "publicKey.id")
        try:
            public_key = PublicKey.from_multibase(obj["publicKeyMultibase"])
        except CryptoError as e:
            raise MalformedOperationError(f"publicKey '{key_id}': {e}") from e
        purposes = obj["purposes"]
        if (
            not isinstance(purposes, list)
            or not purposes
            or any(p not in PURPOSES for p in purposes)
            or len(set(purposes)) != len(purposes)
        ):
            raise MalformedOperationError(
                f"publicKey '{key_id}': purposes must be a non-empty list of distinct values from {', '.join(PURPOSES)}"
            )
        # Kept in the order given, so the operation round-trips byte for byte (the suffix of
        # a create operation is the hash of exactly what the controller wrote).
        return cls(key_id, public_key, tuple(purposes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "publicKeyMultibase": self.public_key.to_multibase(),
            "purposes": list(self.purposes),
        }


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """A service endpoint (DID Core section 5.4); an absolute http(s) URL only."""

    id: str
    type: str
    endpoint: str

    @classmethod
    def from_dict(cls, value: Any) -> ServiceEntry:
        obj = _require_object(value, "service", {"id", "type", "serviceEndpoint"})
        service_id = _require_id(obj["id"], "service.id")
        service_type = obj["type"]
        if not isinstance(service_type, str) or not _SERVICE_TYPE.fullmatch(service_type):
            raise MalformedOperationError(
                f"service '{service_id}': type must be alphanumeric, at most 50 chars"
            )
        endpoint = obj["serviceEndpoint"]
        if not isinstance(endpoint, str) or not _is_http_url(endpoint):
            raise MalformedOperationError(
                f"service '{service_id}': serviceEndpoint must be an absolute http(s) URL of at most {MAX_ENDPOINT_LENGTH} chars"
            )
        return cls(service_id, service_type, endpoint)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "serviceEndpoint": self.endpoint}


def _is_http_url(text: str) -> bool:
    if len(text) > MAX_ENDPOINT_LENGTH or not text.isascii() or any(c.isspace() for c in text):
        return False
    try:
        parts = urllib.parse.urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not 0-65535
    except ValueError:
        return False
    # Any userinfo ("user@", ":password@", "@") is refused: credentials never go in a document.
    return parts.scheme in ("https", "http") and bool(parts.hostname) and "@" not in parts.netloc


@dataclass(frozen=True, slots=True)
class DocumentContent:
    """What a controller puts in its DID document: keys and services, ids unique."""

    public_keys: tuple[PublicKeyEntry, ...] = ()
    services: tuple[ServiceEntry, ...] = ()

    def __post_init__(self) -> None:
        _check_limits(self.public_keys, self.services, MalformedOperationError)

    @classmethod
    def from_dict(cls, value: Any) -> DocumentContent:
        obj = _require_object(value, "document", {"publicKeys", "services"})
        keys, services = obj["publicKeys"], obj["services"]
        if not isinstance(keys, list) or not isinstance(services, list):
            raise MalformedOperationError("document.publicKeys and document.services must be lists")
        if len(keys) > MAX_PUBLIC_KEYS or len(services) > MAX_SERVICES:
            raise MalformedOperationError(
                f"document may hold at most {MAX_PUBLIC_KEYS} keys and {MAX_SERVICES} services"
            )
        return cls(
            tuple(PublicKeyEntry.from_dict(k) for k in keys),
            tuple(ServiceEntry.from_dict(s) for s in services),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "publicKeys": [k.to_dict() for k in self.public_keys],
            "services": [s.to_dict() for s in self.services],
        }

    # -- patches (update operations) -----------------------------------------------------
    def add_public_keys(self, entries: Sequence[PublicKeyEntry]) -> DocumentContent:
        return self._replace(keys=(*self.public_keys, *entries))

    def remove_public_keys(self, ids: Sequence[str]) -> DocumentContent:
        present = {k.id for k in self.public_keys}
        for key_id in ids:
            if key_id not in present:
                raise InvalidPatchError(f"no public key with id '{key_id}' to remove")
        return self._replace(keys=tuple(k for k in self.public_keys if k.id not in ids))

    def add_services(self, entries: Sequence[ServiceEntry]) -> DocumentContent:
        return self._replace(services=(*self.services, *entries))

    def remove_services(self, ids: Sequence[str]) -> DocumentContent:
        present = {s.id for s in self.services}
        for service_id in ids:
            if service_id not in present:
                raise InvalidPatchError(f"no service with id '{service_id}' to remove")
        return self._replace(services=tuple(s for s in self.services if s.id not in ids))

    def _replace(
        self,
        keys: tuple[PublicKeyEntry, ...] | None = None,
        services: tuple[ServiceEntry, ...] | None = None,
    ) -> DocumentContent:
        new_keys = self.public_keys if keys is None else keys
        new_services = self.services if services is None else services
        _check_limits(new_keys, new_services, InvalidPatchError)
        return DocumentContent(new_keys, new_services)

    # -- rendering --------------------------------------------------------------------------
    def render(self, did: str) -> dict[str, Any]:
        """The W3C DID Core 1.0 JSON-LD document for ``did`` (deterministic member order)."""
        document: dict[str, Any] = {
            "@context": [DID_CORE_CONTEXT, MULTIKEY_CONTEXT],
            "id": did,
            "verificationMethod": [
                {
                    "id": f"{did}#{k.id}",
                    "type": "Multikey",
                    "controller": did,
                    "publicKeyMultibase": k.public_key.to_multibase(),
                }
                for k in self.public_keys
            ],
        }
        for purpose in PURPOSES:
            refs = [f"{did}#{k.id}" for k in self.public_keys if purpose in k.purposes]
            if refs:
                document[purpose] = refs
        if self.services:
            document["service"] = [
                {"id": f"{did}#{s.id}", "type": s.type, "serviceEndpoint": s.endpoint}
                for s in self.services
            ]
        return document


def _check_limits(
    keys: Sequence[PublicKeyEntry], services: Sequence[ServiceEntry], error: type[Exception]
) -> None:
    if len(keys) > MAX_PUBLIC_KEYS or len(services) > MAX_SERVICES:
        raise error(f"document may hold at most {MAX_PUBLIC_KEYS} keys and {MAX_SERVICES} services")
    ids = [k.id for k in keys] + [s.id for s in services]
    if len(set(ids)) != len(ids):
        raise error("key and service ids must be unique within a document")
