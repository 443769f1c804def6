"""Status lists for the relying party: fetched once, verified, cached with bounded staleness.

A credential's ``status`` points at entry ``idx`` of the Token Status List at ``uri``. The
list is a signed JWT; its issuer must be one the RP trusts (and, when the caller says so,
the credential's own issuer), its key is resolved through the issuer's DID document. A
verified list is reused until the earliest of the token's ``ttl`` (counted from when it was
fetched), its ``exp``, and ``max_ttl``: a revocation reaches the RP within that bound.

When the list cannot be fetched or verified and no fresh copy is cached the answer is
:class:`StatusUnavailableError`, never "valid": an RP that cannot check revocation refuses.
Concurrent callers of the same URI wait for one fetch instead of each starting their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from realdid.clock import Clock, SystemClock
from realdid.credentials import (
    MAX_STATUS_LIST_JWT_BYTES,
    CredentialError,
    StatusIndexError,
    VerifiedStatusList,
    verify_status_list,
)
from realdid.crypto import AlgorithmPolicy, PublicKey
from realdid.http import ResponseTooLargeError, download

from ._errors import RpError
from ._resolver import DidDocumentResolver, ResolverUnavailableError, issuer_key

STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"


class StatusUnavailableError(RpError):
    """The status list cannot be fetched or verified now, and no fresh copy is cached."""

    code = "status-unavailable"
    http_status = 503


class StatusReferenceError(RpError):
    """The credential points outside the list it names (its index does not exist)."""

    code = "status-reference-invalid"
    http_status = 400


@dataclass(frozen=True, slots=True)
class _Entry:
    verified: VerifiedStatusList
    fresh_until: int


class StatusListCache:
    """Status values by ``(uri, index)`` from verified, cached Token Status Lists."""

    def __init__(
        self,
        fetch: Callable[[str], str] | None = None,
        *,
        resolver: DidDocumentResolver,
        trusted_issuers: frozenset[str],
        clock: Clock | None = None,
        policy: AlgorithmPolicy,
        max_ttl: int = 300,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http: httpx.Client | None = None
        if fetch is None:
            self._http = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)
        self._fetch = fetch or self._http_fetch
        self._resolver = resolver
        self._trusted = trusted_issuers
        self._clock = clock or SystemClock()
        self._policy = policy
        self._max_ttl = max_ttl
        self._entries: dict[str, _Entry] = {}
        self._uri_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def status(self, uri: str, index: int, *, issuer: str | None = None) -> int:
        """The status value of entry ``index`` (0 = valid).

        ``issuer``, when given, must be the list's issuer (the credential's ``iss``).
        Raises :class:`StatusUnavailableError` or :class:`StatusReferenceError`.
        """
        verified = self._list(uri)
        if issuer is not None and verified.issuer != issuer:
            raise StatusUnavailableError("the status list is not the credential issuer's")
        try:
            return verified.status_list.get(index)
        except StatusIndexError as e:
            raise StatusReferenceError("the status index lies outside the list") from e

    def _fresh(self, uri: str, now: int) -> VerifiedStatusList | None:
        with self._lock:
            entry = self._entries.get(uri)
        if entry is not None and now < entry.fresh_until:
            return entry.verified
        return None

    def _list(self, uri: str) -> VerifiedStatusList:
        cached = self._fresh(uri, self._clock.now())
        if cached is not None:
            return cached
        with self._lock:
            uri_lock = self._uri_locks.setdefault(uri, threading.Lock())
        with uri_lock:  # single flight: the others find the fresh entry when they get here
            now = self._clock.now()
            cached = self._fresh(uri, now)
            if cached is not None:
                return cached
            verified = self._load(uri, now)
            with self._lock:
                self._entries[uri] = _Entry(verified, self._fresh_until(verified, now))
            return verified

    def _fresh_until(self, verified: VerifiedStatusList, now: int) -> int:
        bounds = [now + self._max_ttl]
        if verified.ttl is not None:
            bounds.append(now + verified.ttl)
        if verified.expires_at is not None:
            bounds.append(verified.expires_at)
        return min(bounds)

    def _load(self, uri: str, now: int) -> VerifiedStatusList:
        try:
            token = self._fetch(uri)
        except StatusUnavailableError:
            raise
        except Exception as e:  # any transport failure means "cannot check now"
            raise StatusUnavailableError(f"status list fetch failed: {type(e).__name__}") from e
        try:
            return verify_status_list(
                token,
                expected_uri=uri,
                issuer_keys=self._issuer_key,
                now=now,
                policy=self._policy,
            )
        except CredentialError as e:
            raise StatusUnavailableError(f"status list does not verify: {e.code}") from e
        except ResolverUnavailableError as e:
            raise StatusUnavailableError("status list issuer cannot be resolved now") from e

    def _issuer_key(self, iss: str, kid: str) -> PublicKey:
        return issuer_key(self._resolver, self._trusted, iss, kid)

    def _http_fetch(self, uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise StatusUnavailableError("status list URI is not an http(s) URL")
        http = self._http
        if http is None:
            raise StatusUnavailableError("no HTTP client configured")
        try:
            response = download(
                http,
                "GET",
                uri,
                max_length=MAX_STATUS_LIST_JWT_BYTES,
                headers={"Accept": STATUS_LIST_MEDIA_TYPE},
            )
        except ResponseTooLargeError as e:
            raise StatusUnavailableError("status list is too large") from e
        if response.status_code != 200:
            raise StatusUnavailableError(f"status list answered HTTP {response.status_code}")
        try:
            return response.content.decode("ascii").strip()
        except UnicodeDecodeError as e:
            raise StatusUnavailableError("status list is not ASCII") from e
