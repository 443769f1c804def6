"""The consortium admin's side of a deployed ``RealDIDAnchor`` (ADR 0010).

The contract keeps one admin, who permits and withdraws anchorers and hands the role over
in two steps (propose, then accept with the successor's key)::

    with EvmAnchorAdmin(url, contract_address, admin_key) as admin:
        admin.add_anchorer(node_address)
        assert admin.is_anchorer(node_address)
"""

from __future__ import annotations

from typing import Any

from eth_typing import HexStr

from realdid.clock import Timer
from realdid.ledger._interface import ClosedOnExit

from ._connection import AnchorConnection
from ._contract import checksum_address
from ._transactions import local_account

__all__ = ["EvmAnchorAdmin"]


class EvmAnchorAdmin(ClosedOnExit):
    """The admin role of a deployed ``RealDIDAnchor``: governs the consortium's anchorers.

    Each method is one transaction signed with the admin key, and returns once it is mined
    (not once it is confirmed). Reverts raise :class:`AnchorRejectedError` (``NotAdmin``,
    ``ZeroAddress``, ``NotPendingAdmin``). ``timer`` paces the retries and the receipt
    polling (real time when omitted).
    """

    def __init__(
        self,
        rpc_url: str,
        contract_address: str,
        admin_key: bytes,
        *,
        request_timeout: float = 10.0,
        retry_timeout: float = 30.0,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.1,
        timer: Timer | None = None,
    ) -> None:
        account = local_account(admin_key, "admin")
        self._chain = AnchorConnection.open(
            rpc_url, contract_address, request_timeout, retry_timeout, timer
        )
        self._transactor = self._chain.transactor(
            account, receipt_timeout=receipt_timeout, poll_interval=poll_interval
        )

    @property
    def address(self) -> str:
        """The admin key's account address (checksummed)."""
        return self._transactor.address

    @property
    def contract_address(self) -> str:
        return self._chain.address

    def add_anchorer(self, account: str) -> None:
        """Permit ``account`` to anchor (no-op if it already may)."""
        self._transact("addAnchorer", checksum_address(account))

    def remove_anchorer(self, account: str) -> None:
        """Withdraw the permission of ``account`` (no-op if it had none)."""
        self._transact("removeAnchorer", checksum_address(account))

    def propose_admin(self, account: str) -> None:
        """First step of handing the admin role over; ``account`` must then accept."""
        self._transact("proposeAdmin", checksum_address(account))

    def accept_admin(self) -> None:
        """Second step, signed by the proposed account's key."""
        self._transact("acceptAdmin")

    def is_anchorer(self, account: str) -> bool:
        checked = checksum_address(account)
        result = self._chain.rpc.call(
            "isAnchorer", lambda: self._chain.contract.functions.isAnchorer(checked).call()
        )
        return bool(result)

    def admin(self) -> str:
        """The current admin according to the contract."""
        return str(
            self._chain.rpc.call("admin", lambda: self._chain.contract.functions.admin().call())
        )

    def _transact(self, function: str, *args: Any) -> None:
        data = HexStr(self._chain.contract.encode_abi(function, args=list(args)))
        self._transactor.transact(self._chain.address, data, function)

    def close(self) -> None:
        self._chain.rpc.close()
