"""The JSON-RPC connection to one deployed ``RealDIDAnchor`` contract.

:class:`~realdid.ledger.EvmLedger` (the anchorer and the follower) and
:class:`~realdid.ledger.EvmAnchorAdmin` (the admin) open it the same way: one retrying
HTTP connection, the contract bound to its checksummed address, and a transactor that
decodes the contract's custom-error reverts, all paced by one timer.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3.contract import Contract

from realdid.clock import SystemTimer, Timer

from ._contract import ContractErrors, anchor_abi, checksum_address
from ._rpc import RetryingRpc
from ._transactions import Transactor

__all__ = ["AnchorConnection"]


@dataclass(frozen=True, slots=True)
class AnchorConnection:
    """The connection, the contract's address and its bound ABI; ``timer`` paces both the
    retries and the receipt polling (real time when ``None`` is given to :meth:`open`)."""

    rpc: RetryingRpc
    address: ChecksumAddress
    contract: Contract
    timer: Timer

    @classmethod
    def open(
        cls,
        rpc_url: str,
        contract_address: str,
        request_timeout: float,
        retry_timeout: float,
        timer: Timer | None,
    ) -> AnchorConnection:
        """Connect to ``rpc_url``; :class:`ValueError` when ``contract_address`` is no address.

        ``request_timeout`` bounds one JSON-RPC call, ``retry_timeout`` the retries of a
        transient failure (:class:`RetryingRpc`)."""
        address = checksum_address(contract_address)
        timer = timer if timer is not None else SystemTimer()
        rpc = RetryingRpc.over_http(
            rpc_url, request_timeout=request_timeout, retry_timeout=retry_timeout, timer=timer
        )
        return cls(rpc, address, rpc.w3.eth.contract(address=address, abi=anchor_abi()), timer)

    def transactor(
        self, account: LocalAccount, *, receipt_timeout: float, poll_interval: float
    ) -> Transactor:
        """The transactor that signs the contract's calls with ``account``."""
        return Transactor(
            self.rpc,
            account,
            ContractErrors(anchor_abi()),
            receipt_timeout=receipt_timeout,
            poll_interval=poll_interval,
            timer=self.timer,
        )
