"""Resolve an applicant's key from its DID URL through a registry node."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from realdid.crypto import PublicKey
from realdid.did import Did, DidError, verification_key
from realdid.registry import NodeClientError, RegistryClient

from ._errors import AuthorityError, declared_code


class DidKeyError(AuthorityError):
    """The key named by an application's ``kid`` cannot be used; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = declared_code(code)


class DidKeyResolver(Protocol):
    def document(self, did: str) -> dict[str, Any]:
        """The current DID document of an anchored, active DID; else :class:`DidKeyError`."""
        ...

    def key(self, key_id: str, *, purpose: str) -> PublicKey:
        """The public key of DID URL ``key_id``, listed for ``purpose``; else :class:`DidKeyError`."""
        ...


class DocumentKeyResolver(ABC):
    """A :class:`DidKeyResolver` built on :meth:`document`: subclasses say where documents come from."""

    @abstractmethod
    def document(self, did: str) -> dict[str, Any]:
        """The current DID document of an anchored, active DID; else :class:`DidKeyError`."""

    def key(self, key_id: str, *, purpose: str) -> PublicKey:
        document = self.document(key_id.split("#", 1)[0])
        key = verification_key(document, key_id, purpose=purpose)
        if key is None:
            raise DidKeyError(
                "key-not-found", f"the DID document lists no {purpose} key '{key_id}'"
            )
        return key


class RegistryKeyResolver(DocumentKeyResolver):
    """A :class:`DidKeyResolver` that asks a registry node (always fresh: no cache)."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def document(self, did: str) -> dict[str, Any]:
        try:
            parsed = Did.parse(did)
        except DidError as e:
            raise DidKeyError("invalid-did", "kid does not name a did:realdid DID") from e
        try:
            result = self._client.resolve(str(parsed))
        except NodeClientError as e:
            if e.code == "did-not-found":
                raise DidKeyError(
                    "did-not-found", "the DID is not (yet) anchored in the registry"
                ) from e
            raise DidKeyError(
                "registry-unavailable", "the registry cannot be reached; try again"
            ) from e
        if result.deactivated:
            raise DidKeyError("did-deactivated", "the DID is deactivated")
        return result.did_document or {}
