"""The registry client of a node in the same process: no HTTP round trip to oneself.

``realdid serve`` runs the node and the identity authority in one process (each worker
holds both), and the authority resolves every applicant's DID and submits its own DID's
operations. Over HTTP each of those was a request to this very process — an enrollment
spent more time in its node round trips than in its own work. :class:`LocalRegistryClient`
gives the same answers from the node's objects: the receipts and statuses of
:meth:`RegistryNode.operation_status` the API serves, resolution results built by the
same :meth:`RegistryNode.resolve`, and refusals as :class:`NodeClientError` with the
problem-type codes an HTTP client reads from the node's RFC 9457 answers.
"""

from __future__ import annotations

from typing import Any

from realdid.clock import Timer
from realdid.did import Did, DidError
from realdid.registry import NodeClientError, RegistryClient, ResolutionResult
from realdid.storage import DatabaseUnavailableError

from ._intake import IntakeRefusedError, parse_submission, receipt
from ._resolution import RESOLUTION_ERROR_CODES
from ._service import RegistryNode

__all__ = ["LocalRegistryClient"]


class LocalRegistryClient(RegistryClient):
    """A :class:`~realdid.registry.RegistryClient` on ``node``, which this process runs."""

    def __init__(self, node: RegistryNode, *, timer: Timer | None = None) -> None:
        super().__init__(timer)
        self._node = node

    def close(self) -> None:
        """Nothing to release: the node belongs to whoever started it."""

    def submit(self, operation: dict[str, Any]) -> dict[str, Any]:
        node = self._node
        if node.config.read_only or not node.config.accepts_operations:
            raise NodeClientError("read-only-node", "this node accepts no operations")
        try:
            parsed = parse_submission([operation], node.store)
            # Its own transaction: the authority submits a few operations a day, so there
            # is nothing for the API's group commit to gather them with.
            node.store.enqueue(parsed, node.clock.now())
        except IntakeRefusedError as e:
            node.metrics.operations_refused.labels(e.code).inc()
            raise NodeClientError(e.code, e.detail) from e
        except DatabaseUnavailableError as e:
            raise NodeClientError("storage-unavailable", str(e)) from e
        node.accepted(parsed)
        return receipt(parsed[0])

    def operation_status(self, operation_hash: str) -> dict[str, Any] | None:
        try:
            return self._node.operation_status(operation_hash)
        except DatabaseUnavailableError as e:
            raise NodeClientError("storage-unavailable", str(e)) from e

    def resolve(self, did: str) -> ResolutionResult:
        try:
            parsed = Did.parse(did)
        except DidError as e:
            raise NodeClientError(RESOLUTION_ERROR_CODES[e.code], f"{e.code}: {e}") from e
        try:
            found = self._node.resolve(parsed)
        except DatabaseUnavailableError as e:
            raise NodeClientError("storage-unavailable", str(e)) from e
        if found is None:
            raise NodeClientError(
                RESOLUTION_ERROR_CODES["notFound"], "notFound: no anchored DID with this identifier"
            )
        return ResolutionResult.from_dict(found[1])
