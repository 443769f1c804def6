"""The *evm* ledger backend: anchors ordered by the ``RealDIDAnchor`` contract.

ARCHITECTURE.md section 5, ADR 0010. :class:`EvmLedger` anchors batches with one contract
transaction each and follows the contract's confirmed ``Anchored`` events into a small
state file; :class:`EvmAnchorAdmin` is the consortium admin's side (permitting anchorers).
Example, against a local anvil (``make contracts`` is not needed: the artifact is
committed)::

    address = EvmLedger.deploy(url, admin_key, [anchorer_address])
    with EvmLedger(url, address, anchorer_key, Path("evm-follower.db")) as ledger:
        ledger.anchor(AnchorRequest(batch_hash, merkle_root, operation_count=3))
        ledger.anchors_after(-1, 100)  # [] until two more blocks are mined on top

Transactions are signed locally (``eth_account``) with the anchorer key the node loaded;
the key never leaves the process (no key is ever sent to the JSON-RPC endpoint).

The package is imported inside :func:`recursion_limit_kept`: ``eth_account`` pulls in
``py_ecc``, which raises the interpreter's recursion limit at import, and the limit is put
back so that importing this package changes no global state (see :mod:`._recursion_limit`).
"""

from __future__ import annotations

from ._recursion_limit import recursion_limit_kept

with recursion_limit_kept():
    from ._admin import EvmAnchorAdmin
    from ._contract import AnchorRejectedError, load_anchor_artifact
    from ._follower_state import ScanPosition
    from ._ledger import EvmLedger

__all__ = [
    "AnchorRejectedError",
    "EvmAnchorAdmin",
    "EvmLedger",
    "ScanPosition",
    "load_anchor_artifact",
]
