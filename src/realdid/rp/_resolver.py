"""DID documents for the relying party: holders' (``sub``) and issuers' (``iss``).

An RP resolves the holder DID of every login and the issuer DID of every credential and
status list, so documents are cached in memory for a bounded time (``ttl``, the
configured staleness an RP accepts for a deactivation to reach it) and a bounded number
(least recently used out first). "Not found" is not cached: a site DID is anchored just
before the wallet presents it, and must resolve at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from realdid.clock import Clock, SystemClock
from realdid.crypto import CryptoError, EncodingError, PublicKey
from realdid.did import Did, DidError, verification_key
from realdid.registry import NodeClient, NodeClientError, ResolutionResultError

from ._errors import RpError

#: Default bound on cached documents (~100k holders at a few hundred bytes each).
DEFAULT_MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class ResolvedDid:
    """A DID's current document and whether the DID is deactivated.

    Parsed keys are memoised on the object: a cached document is asked for the same keys
    at every login, and decoding multibase keys costs more than the lookup itself.
    """

    document: dict[str, Any]
    deactivated: bool
    _keys: dict[tuple[str, str], PublicKey | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _authentication: list[list[PublicKey]] = field(default_factory=list, compare=False, repr=False)

    def key(self, key_id: str, purpose: str) -> PublicKey | None:
        """The key ``key_id`` listed for ``purpose``, or None (see ``verification_key``)."""
        memo = (key_id, purpose)
        if memo not in self._keys:
            self._keys[memo] = verification_key(self.document, key_id, purpose=purpose)
        return self._keys[memo]

    def authentication_keys(self) -> list[PublicKey]:
        if not self._authentication:
            self._authentication.append(authentication_keys(self.document))
        return self._authentication[0]


class ResolverUnavailableError(RpError):
    """The registry could not answer (network, server error): retry later, trust nothing."""

    code = "resolver-unavailable"
    http_status = 503


class DidDocumentResolver(Protocol):
    def document(self, did: str) -> ResolvedDid:
        """The DID's document; :class:`LookupError` if the DID is unknown or invalid,
        :class:`ResolverUnavailableError` if the registry cannot answer now."""
        ...


class HttpDidResolver:
    """A :class:`DidDocumentResolver` over a registry node's ``GET /1.0/identifiers/{did}``."""

    def __init__(
        self,
        node_url: str,
        *,
        ttl: int,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        timeout: float = 10.0,
    ) -> None:
        self._client = NodeClient(node_url, timeout=timeout, transport=transport)
        self._ttl = ttl
        self._clock = clock or SystemClock()
        self._max_entries = max_entries
        self._cache: OrderedDict[str, tuple[int, ResolvedDid]] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def document(self, did: str) -> ResolvedDid:
        now = self._clock.now()
        with self._lock:  # cached under the canonical form: a hit needs no parsing
            cached = self._cache.get(did)
            if cached is not None and now - cached[0] < self._ttl:
                self._cache.move_to_end(did)
                return cached[1]
        try:
            canonical = str(Did.parse(did))
        except DidError as e:
            raise LookupError("not a did:realdid DID") from e
        with self._lock:
            cached = self._cache.get(canonical)
            if cached is not None and now - cached[0] < self._ttl:
                self._cache.move_to_end(canonical)
                return cached[1]
        resolved = self._fetch(canonical)
        with self._lock:
            self._cache[canonical] = (now, resolved)
            self._cache.move_to_end(canonical)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return resolved

    def _fetch(self, did: str) -> ResolvedDid:
        try:
            result = self._client.resolve(did)
        except ResolutionResultError as e:
            raise ResolverUnavailableError("the registry answered without a DID document") from e
        except NodeClientError as e:
            if e.code in ("did-not-found", "invalid-did", "method-not-supported"):
                raise LookupError("the DID is not anchored in the registry") from e
            raise ResolverUnavailableError("the registry cannot be reached") from e
        if result.did_document is None:
            raise ResolverUnavailableError("the registry answered without a DID document")
        return ResolvedDid(result.did_document, deactivated=result.deactivated)


def authentication_keys(document: Mapping[str, Any]) -> list[PublicKey]:
    """Every key the document lists under ``authentication`` (by reference or embedded)."""
    keys: list[PublicKey] = []
    for entry in document.get("authentication") or ():
        if isinstance(entry, str):
            key = verification_key(document, entry, purpose="authentication")
            if key is not None:
                keys.append(key)
        elif isinstance(entry, dict):
            try:
                keys.append(PublicKey.from_multibase(str(entry.get("publicKeyMultibase"))))
            except (CryptoError, EncodingError):
                continue
    return keys


def issuer_key(
    resolver: DidDocumentResolver, trusted: frozenset[str], iss: str, kid: str
) -> PublicKey:
    """The assertion key ``kid`` of trusted issuer ``iss``; :class:`LookupError` otherwise.

    ``kid`` must be a DID URL of ``iss`` itself: a trusted issuer cannot lend its name to a
    key published in somebody else's document.
    """
    if iss not in trusted:
        raise LookupError("issuer is not trusted by this relying party")
    if kid.partition("#")[0] != iss:
        raise LookupError("kid is not a key of the issuer's DID")
    resolved = resolver.document(iss)
    if resolved.deactivated:
        raise LookupError("the issuer's DID is deactivated")
    key = resolved.key(kid, "assertionMethod")
    if key is None:
        raise LookupError("the issuer's DID document lists no such assertion key")
    return key
