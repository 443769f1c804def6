"""The registry client: what the wallet, the relying party, the authority and
``realdid resolve`` need of a registry node, and :class:`NodeClient`, which asks one over HTTP.

Every HTTP answer is read through :func:`realdid.http.download` with a cap, so a node that
misbehaves cannot make its clients buffer more than :data:`MAX_RESPONSE_BYTES`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import httpx

from realdid import ijson
from realdid.clock import SystemTimer, Timer
from realdid.did import RESOLUTION_MEDIA_TYPE
from realdid.http import MAX_RESPONSE_BYTES, ResponseTooLargeError, download

from ._errors import NodeClientError, ResolutionResultError
from ._resolution import ResolutionResult


class RegistryClient(ABC):
    """A registry node's operations and resolution, with the node's answers and error codes.

    :class:`NodeClient` asks a node over HTTP; a node in the same process serves the same
    answers without a round trip (``realdid.node.LocalRegistryClient``). Failures are
    :class:`NodeClientError`, whose ``code`` is the node's RFC 9457 problem type either way.
    """

    def __init__(self, timer: Timer | None = None) -> None:
        #: Paces :meth:`wait_anchored` (a ``FakeTimer`` in tests).
        self._timer = timer or SystemTimer()

    @abstractmethod
    def submit(self, operation: dict[str, Any]) -> dict[str, Any]:
        """Queue a signed operation; its receipt (``operationHash``, ``did``, ``status``)."""

    @abstractmethod
    def operation_status(self, operation_hash: str) -> dict[str, Any] | None:
        """``pending``, ``anchored`` (with evidence) or ``rejected``; None if unknown."""

    @abstractmethod
    def resolve(self, did: str) -> ResolutionResult:
        """The DID's resolution result, also for a deactivated DID."""

    @abstractmethod
    def close(self) -> None:
        """Release what the client holds."""

    def wait_anchored(
        self, operation_hash: str, *, timeout: float = 60.0, interval: float = 0.1
    ) -> dict[str, Any]:
        """Poll until the operation is anchored; raise if it was rejected or time runs out."""
        deadline = self._timer.monotonic() + timeout
        while True:
            status = self.operation_status(operation_hash)
            if status is not None and status["status"] == "anchored":
                return status
            if status is not None and status["status"] == "rejected":
                raise NodeClientError(
                    "operation-rejected",
                    f"operation was rejected by the registry: {status.get('reason')}",
                )
            if self._timer.monotonic() > deadline:
                raise NodeClientError("timeout", f"operation not anchored within {timeout:.0f} s")
            self._timer.sleep(interval)


class NodeClient(RegistryClient):
    """One node's HTTP API."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        timer: Timer | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise NodeClientError(
                "invalid-node-url",
                f"node URL must start with http:// or https://, got '{base_url}'",
            )
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )
        self._max_response_bytes = max_response_bytes
        super().__init__(timer)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return download(self._http, method, path, max_length=self._max_response_bytes, **kwargs)
        except ResponseTooLargeError as e:
            raise NodeClientError(e.code, f"the node at {self._http.base_url}: {e}") from e
        except httpx.HTTPError as e:
            raise NodeClientError(
                "node-unreachable",
                f"cannot reach node at {self._http.base_url}: {type(e).__name__}",
            ) from e

    @staticmethod
    def _problem(response: httpx.Response) -> NodeClientError:
        try:
            body = ijson.loads(response.content)
            code = str(body.get("type", "")).rsplit(":", 1)[-1] or f"http-{response.status_code}"
            # Resolution errors also carry the W3C DID Resolution error code: show that name.
            resolution = body.get("didResolutionMetadata") or {}
            title = resolution.get("error") or body.get("title", "error")
            return NodeClientError(code, f"{title}: {body.get('detail', '')}".rstrip(": "))
        except ValueError:
            return NodeClientError(
                f"http-{response.status_code}", f"node answered HTTP {response.status_code}"
            )

    def submit(self, operation: dict[str, Any]) -> dict[str, Any]:
        response = self._request("POST", "/1.0/operations", json=operation)
        if response.status_code != 202:
            raise self._problem(response)
        receipt: dict[str, Any] = ijson.loads(response.content)
        return receipt

    def operation_status(self, operation_hash: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/1.0/operations/{operation_hash}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._problem(response)
        status: dict[str, Any] = ijson.loads(response.content)
        return status

    def resolve(self, did: str) -> ResolutionResult:
        """The DID's resolution result (HTTP 200, or 410 for a deactivated DID).

        :class:`~realdid.registry.ResolutionResultError` if the answer is not a resolution
        result, or if its HTTP status and ``deactivated`` disagree (the node sends 410 exactly
        for a deactivated DID, so a disagreement means the answer cannot be trusted).
        """
        response = self._request(
            "GET", f"/1.0/identifiers/{did}", headers={"Accept": RESOLUTION_MEDIA_TYPE}
        )
        if response.status_code not in (200, 410):
            raise self._problem(response)
        try:
            body = ijson.loads(response.content)
        except ValueError as e:
            raise ResolutionResultError("the node's resolution result is not JSON") from e
        result = ResolutionResult.from_dict(body)
        if result.deactivated != (response.status_code == 410):
            raise ResolutionResultError(
                f"the node answered HTTP {response.status_code} for a DID whose metadata says"
                f" deactivated={result.deactivated}"
            )
        return result
