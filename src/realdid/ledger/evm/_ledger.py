"""The *evm* ledger: anchors ordered by the ``RealDIDAnchor`` contract on an EVM chain.

ARCHITECTURE.md section 5, ADR 0010. Each :meth:`EvmLedger.anchor` is one transaction
calling ``anchor(batchHash, merkleRoot, operationCount)`` on the contract; the contract
numbers anchors 0, 1, 2, ... and emits ``Anchored``; every node follows those events. The
ledger composes the pieces of this package: the retrying JSON-RPC transport
(:mod:`._rpc`), the transaction manager of the anchorer key (:mod:`._transactions`), and
the follower of confirmed anchors with its state file (:mod:`._follower`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from eth_typing import HexStr
from hexbytes import HexBytes
from web3.types import TxReceipt

from realdid.clock import Clock, SystemClock, SystemTimer, Timer
from realdid.ledger._interface import (
    Anchor,
    AnchorRequest,
    ClosedOnExit,
    LedgerError,
    LedgerIntegrityError,
)
from realdid.storage import Database, StoreLocation

from ._connection import AnchorConnection
from ._contract import (
    AnchoredEvents,
    ContractErrors,
    anchor_abi,
    checksum_address,
    load_anchor_artifact,
)
from ._follower import AnchorFollower
from ._follower_state import FollowerState, ScanPosition
from ._rpc import RetryingRpc
from ._transactions import SentTransaction, Transactor, local_account

__all__ = ["EvmLedger"]

log = logging.getLogger(__name__)

# The contract stores ``operationCount`` as a ``uint32``.
_OPERATION_COUNT_BITS: Final = 32
# Transactions sent but not known to be mined, remembered so that a retried anchor() of the
# same request waits for the earlier transaction instead of anchoring the batch twice.
_MAX_PENDING: Final = 64


class EvmLedger(ClosedOnExit):
    """The evm :class:`~realdid.ledger.Ledger` backend.

    ``anchorer_key=None`` opens a read-only follower. Use one instance per state file.
    Calls are serialised per role: :meth:`anchor` calls one after another (they share the
    nonce), and followers' reads one after another (they share the state file); an anchor
    being mined does not block reads. ``clock`` stamps the scan position; ``timer``
    paces the retries and the receipt polling (both real time when omitted).
    """

    def __init__(
        self,
        rpc_url: str,
        contract_address: str,
        anchorer_key: bytes | None,
        state_path: Database | StoreLocation,
        *,
        confirmations: int = 2,
        log_page_blocks: int = 1000,
        from_block: int = 0,
        clock: Clock | None = None,
        request_timeout: float = 10.0,
        retry_timeout: float = 30.0,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.1,
        timer: Timer | None = None,
    ) -> None:
        if isinstance(confirmations, bool) or not isinstance(confirmations, int):
            raise TypeError("confirmations must be an integer")
        if confirmations < 0:
            raise ValueError("confirmations must not be negative")
        if log_page_blocks < 1:
            raise ValueError("log_page_blocks must be at least 1")
        if from_block < 0:
            raise ValueError("from_block must not be negative")
        account = None if anchorer_key is None else local_account(anchorer_key, "anchorer")
        self._chain = AnchorConnection.open(
            rpc_url, contract_address, request_timeout, retry_timeout, timer
        )
        self._confirmations = confirmations
        self._events = AnchoredEvents(self._chain.contract)
        self._transactor = (
            None
            if account is None
            else self._chain.transactor(
                account, receipt_timeout=receipt_timeout, poll_interval=poll_interval
            )
        )
        self._pending: OrderedDict[AnchorRequest, SentTransaction] = OrderedDict()
        self._anchor_lock = threading.Lock()
        try:
            state = FollowerState.open(
                state_path,
                self._chain.address,
                from_block,
                clock if clock is not None else SystemClock(),
            )
        except BaseException:
            self._chain.rpc.close()
            raise
        self._follower = AnchorFollower(
            self._chain.rpc,
            self._events,
            self._chain.address,
            state,
            confirmations=confirmations,
            log_page_blocks=log_page_blocks,
        )

    # -- deployment -------------------------------------------------------------------------
    @classmethod
    def deploy(
        cls,
        rpc_url: str,
        admin_key: bytes,
        anchorers: Sequence[str],
        *,
        request_timeout: float = 10.0,
        retry_timeout: float = 30.0,
        receipt_timeout: float = 120.0,
        timer: Timer | None = None,
    ) -> str:
        """Deploy ``RealDIDAnchor`` from the committed artifact with the admin key's account
        as admin, permit ``anchorers``, and return the contract's checksummed address."""
        account = local_account(admin_key, "admin")
        checked = [checksum_address(a) for a in anchorers]
        artifact = load_anchor_artifact()
        timer = timer if timer is not None else SystemTimer()
        rpc = RetryingRpc.over_http(
            rpc_url, request_timeout=request_timeout, retry_timeout=retry_timeout, timer=timer
        )
        try:
            factory = rpc.w3.eth.contract(abi=anchor_abi(), bytecode=artifact["bytecode"])
            data = HexStr(factory.constructor(account.address).data_in_transaction)
            transactor = Transactor(
                rpc,
                account,
                ContractErrors(anchor_abi()),
                receipt_timeout=receipt_timeout,
                poll_interval=0.1,
                timer=timer,
            )
            receipt = transactor.transact(None, data, "deployment")
            address = receipt.get("contractAddress")
            if address is None:
                raise LedgerError("deployment receipt names no contract address")
            contract = rpc.w3.eth.contract(address=address, abi=anchor_abi())
            for anchorer in checked:
                call = HexStr(contract.encode_abi("addAnchorer", args=[anchorer]))
                transactor.transact(address, call, "addAnchorer")
            log.info("deployed RealDIDAnchor at %s (admin %s)", address, account.address)
            return str(address)
        finally:
            rpc.close()

    @property
    def scan_position(self) -> ScanPosition:
        """The last block whose ``Anchored`` logs are in the state file."""
        return self._follower.scan_position

    # -- Ledger protocol --------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "evm"

    @property
    def contract_address(self) -> str:
        return self._chain.address

    @property
    def confirmations(self) -> int:
        return self._confirmations

    @property
    def anchorer_address(self) -> str | None:
        """The anchorer key's account address (checksummed); ``None`` for a follower."""
        return None if self._transactor is None else self._transactor.address

    def anchor(self, request: AnchorRequest) -> Anchor:
        """Send one ``anchor`` transaction and return the anchor once it is mined.

        The anchor is not yet confirmed: :meth:`anchors_after` returns it only after
        ``confirmations`` more blocks. Calling again with the same request after a
        :class:`LedgerUnavailableError` waits for the earlier transaction if the node still
        has it, instead of anchoring the batch twice.
        """
        if self._transactor is None:
            raise LedgerError("EVM ledger opened without an anchorer key cannot anchor")
        request.check(operation_count_bits=_OPERATION_COUNT_BITS)
        transactor = self._transactor
        data = HexStr(
            self._chain.contract.encode_abi(
                "anchor",
                args=[
                    bytes.fromhex(request.batch_hash),
                    bytes.fromhex(request.merkle_root),
                    request.operation_count,
                ],
            )
        )
        with self._anchor_lock:
            self._follower.check_chain()
            receipt: TxReceipt | None = None
            earlier = self._pending.get(request)
            if earlier is not None and self._chain.rpc.call(
                "eth_getTransactionByHash", lambda: transactor.is_known(earlier.tx_hash)
            ):
                log.info("waiting for the earlier transaction %s", earlier.tx_hash.to_0x_hex())
                receipt = transactor.wait_receipt(earlier)
            if receipt is None:
                sent = transactor.send(self._chain.address, data, "anchor")
                self._pending[request] = sent
                while len(self._pending) > _MAX_PENDING:
                    self._pending.popitem(last=False)
                receipt = transactor.wait_receipt(sent)
            self._pending.pop(request, None)
            transactor.check_status(receipt, self._chain.address, data)
            return self._anchor_from_receipt(receipt, request)

    def _anchor_from_receipt(self, receipt: TxReceipt, request: AnchorRequest) -> Anchor:
        entries = [entry for entry in receipt["logs"] if self._events.emitted_by(entry)]
        if len(entries) != 1:
            raise LedgerIntegrityError(
                f"transaction {receipt['transactionHash'].to_0x_hex()} holds {len(entries)} "
                f"Anchored events of {self._chain.address}, expected 1"
            )
        block_hash = HexBytes(receipt["blockHash"])
        block = self._chain.rpc.call("eth_getBlockByHash", lambda: self._follower.block(block_hash))
        anchor = self._events.decode(entries[0], int(block["timestamp"]))
        if (anchor.batch_hash, anchor.merkle_root, anchor.operation_count) != (
            request.batch_hash,
            request.merkle_root,
            request.operation_count,
        ):
            raise LedgerIntegrityError(
                f"Anchored event of {anchor.transaction_id} does not match the request"
            )
        return anchor

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        """Confirmed anchors after ``sequence``, in order; scans new confirmed blocks first
        unless the state file already holds ``limit`` of them. Raises
        :class:`LedgerUnavailableError` when the chain cannot be reached."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        if limit == 0:
            return []
        return self._follower.anchors_after(sequence, limit)

    def head(self) -> int:
        """The chain's newest block number (not necessarily confirmed)."""
        return self._follower.head()

    def sync(self) -> ScanPosition:
        """Scan every newly confirmed block now; return the new scan position."""
        return self._follower.sync()

    def close(self) -> None:
        with self._anchor_lock:
            self._follower.close()
            self._chain.rpc.close()
