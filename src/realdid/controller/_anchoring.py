"""Bringing a controller's DID onto the registry, resumably (one way, used by every service).

A service that controls its own DID (the identity authority's issuer DID, each demo relying
party's DID) must have it anchored before it signs anything with it. The create operation of
DID number 0 is a pure function of the seed, so this is safe to repeat after a crash at any
point: a create that never reached the node is submitted again and yields the same DID.
"""

from __future__ import annotations

import logging

from realdid.crypto import KeyType
from realdid.did import ParsedOperation, to_dict
from realdid.registry import RegistryClient

from ._controller import DidController, DidRecord

log = logging.getLogger(__name__)


def ensure_anchored(
    controller: DidController, client: RegistryClient, *, key_type: KeyType, timeout: float
) -> DidRecord:
    """The controller's first DID, created under ``key_type`` if it has none, and anchored.

    Waits up to ``timeout`` seconds for the anchor; raises
    :class:`~realdid.registry.NodeClientError` if the node is unreachable, rejects the
    operation or time runs out (callers retry).
    """
    if not controller.dids:
        submitted = controller.create(client, key_type.value)
        log.info("DID %s submitted; waiting for its anchor", submitted.did)
    record = controller.dids[0]
    status = client.operation_status(record.last_operation)
    if status is None and record.update_counter == 0 and record.signing_counter == 0:
        # The node has never seen the create (a crash before it arrived, or a reset node).
        create = ParsedOperation.from_value(
            to_dict(controller.initial_create(record.index, record.key_type))
        )
        client.submit(to_dict(create.operation))
    client.wait_anchored(record.last_operation, timeout=timeout)
    return record
