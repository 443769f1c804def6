"""The transaction manager of one local key: nonce, fees, sending, receipts, gap filling.

ARCHITECTURE.md section 5. Transactions are signed locally (``eth_account``) with the key
the node loaded; the key never leaves the process (no key is ever sent to the JSON-RPC
endpoint). :meth:`Transactor.transact` is one contract call from estimate to receipt::

    transactor = Transactor(rpc, local_account(key, "anchorer"), ContractErrors(anchor_abi()),
                            receipt_timeout=120.0, poll_interval=0.1, timer=SystemTimer())
    receipt = transactor.transact(contract_address, data, "anchor")

Receipt polling waits on the injected :class:`~realdid.clock.Timer`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Final, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import BlockData, Nonce, TxParams, TxReceipt, Wei

from realdid.clock import Timer
from realdid.ledger._interface import LedgerUnavailableError

from ._contract import AnchorRejectedError, ContractErrors
from ._rpc import TRANSIENT, RetryingRpc, rpc_error

__all__ = ["SentTransaction", "Transactor", "local_account"]

log = logging.getLogger(__name__)

# How often a transaction is rebuilt after the node refused its nonce before giving up.
_NONCE_ATTEMPTS: Final = 5
# Priority fee used when the node cannot suggest one (eth_maxPriorityFeePerGas missing).
_FALLBACK_PRIORITY_FEE: Final = Wei(1_000_000_000)
# How long a transaction may wait for a receipt before checking whether it is stuck.
_STUCK_CHECK_SECONDS: Final = 1.0
# What nodes say when a transaction with the same hash is already in their pool.
_ALREADY_KNOWN: Final = ("already known", "known transaction", "already imported", "alreadyknown")
# What nodes say about a nonce that is not the account's next one (geth, Besu, anvil, Nethermind).
_NONCE_PROBLEMS: Final = ("nonce", "replacement transaction underpriced", "tx_replay")


def local_account(key: bytes, role: str) -> LocalAccount:
    """The account of a 32-byte secp256k1 secret; :class:`ValueError` names the ``role``."""
    if not isinstance(key, bytes) or len(key) != 32:
        raise ValueError(f"{role} key must be a 32-byte secp256k1 secret")
    try:
        return cast(LocalAccount, Account.from_key(key))
    except (ValueError, TypeError) as e:  # scalar zero or not below the curve order
        raise ValueError(f"{role} key is not a valid secp256k1 secret") from e


@dataclass(frozen=True, slots=True)
class SentTransaction:
    """A transaction the node has accepted."""

    tx_hash: HexBytes
    nonce: int


class Transactor:
    """Signs and sends transactions from one local key: nonce, gas, fees, receipts.

    The nonce is tracked locally, read from the node's ``pending`` count on first use and
    again whenever the node refuses it (another process used the key, a transaction was
    dropped) or a transaction did not get mined in time.
    """

    def __init__(
        self,
        rpc: RetryingRpc,
        account: LocalAccount,
        errors: ContractErrors,
        *,
        receipt_timeout: float,
        poll_interval: float,
        timer: Timer,
    ) -> None:
        self._rpc = rpc
        self._w3 = rpc.w3
        self._account = account
        self._errors = errors
        self._receipt_timeout = receipt_timeout
        self._poll_interval = poll_interval
        self._timer = timer
        self._nonce: int | None = None
        self._chain_id: int | None = None

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    def transact(self, to: ChecksumAddress | None, data: HexStr, what: str) -> TxReceipt:
        """Send and wait for a successful receipt; raise :class:`AnchorRejectedError` on revert."""
        receipt = self.wait_receipt(self.send(to, data, what))
        self.check_status(receipt, to, data)
        return receipt

    def send(self, to: ChecksumAddress | None, data: HexStr, what: str) -> SentTransaction:
        """Estimate, sign and send one transaction; return once the node has it."""
        for _ in range(_NONCE_ATTEMPTS):
            nonce = self._next_nonce()
            tx = self._build(to, data, nonce)
            sent = self._sign_and_submit(tx, nonce)
            if sent is not None:
                self._nonce = nonce + 1
                log.debug("sent %s as %s (nonce %d)", what, sent.tx_hash.to_0x_hex(), nonce)
                return sent
            log.info("nonce %d refused for %s; asking the node again", nonce, what)
            self._nonce = None
        raise LedgerUnavailableError(
            f"node kept refusing the nonce of {self.address} after {_NONCE_ATTEMPTS} attempts"
        )

    def _sign_and_submit(self, tx: TxParams, nonce: int) -> SentTransaction | None:
        signed = self._account.sign_transaction(cast(dict[str, Any], tx))
        sent = SentTransaction(HexBytes(signed.hash), nonce)
        submit = functools.partial(self._submit, bytes(signed.raw_transaction), sent.tx_hash)
        return sent if self._rpc.call("eth_sendRawTransaction", submit) else None

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self._rpc.call(
                "eth_getTransactionCount",
                lambda: self._w3.eth.get_transaction_count(self.address, "pending"),
            )
        return self._nonce

    def _chain(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._rpc.call("eth_chainId", lambda: self._w3.eth.chain_id)
        return self._chain_id

    def _build(self, to: ChecksumAddress | None, data: HexStr, nonce: int) -> TxParams:
        call: TxParams = {"from": self.address, "data": data, "value": Wei(0)}
        if to is not None:
            call["to"] = to
        try:
            estimate = self._rpc.call("eth_estimateGas", lambda: self._w3.eth.estimate_gas(call))
        except ContractLogicError as e:  # the call would revert: nothing is sent
            raise self._errors.rejection(e) from e
        except Web3RPCError as e:
            raise LedgerUnavailableError(f"gas estimation failed: {rpc_error(e)[1]}") from e
        tx: TxParams = {
            **call,
            "chainId": self._chain(),
            "nonce": Nonce(nonce),
            "gas": estimate + estimate // 4,  # headroom: state may change before inclusion
        }
        tx.update(self._fees())
        return tx

    def _fees(self) -> TxParams:
        """EIP-1559 fees from the node; legacy ``gasPrice`` on chains without a base fee."""
        block: BlockData = self._rpc.call(
            "eth_getBlockByNumber", lambda: self._w3.eth.get_block("latest")
        )
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:
            return {"gasPrice": self._rpc.call("eth_gasPrice", lambda: self._w3.eth.gas_price)}
        try:
            tip = self._rpc.call("eth_maxPriorityFeePerGas", lambda: self._w3.eth.max_priority_fee)
        except Web3RPCError:
            tip = _FALLBACK_PRIORITY_FEE
        # Twice the base fee survives six full blocks of base-fee increases (12.5 % each).
        return {"maxFeePerGas": Wei(2 * base_fee + tip), "maxPriorityFeePerGas": tip}

    def _submit(self, raw: bytes, tx_hash: HexBytes) -> bool:
        """Send; ``True`` once the node has the transaction, ``False`` on a nonce refusal."""
        try:
            self._w3.eth.send_raw_transaction(raw)
        except Web3RPCError as e:
            message = rpc_error(e)[1].lower()
            # A retried send whose first attempt did reach the node.
            if any(s in message for s in _ALREADY_KNOWN):
                return True
            if any(s in message for s in _NONCE_PROBLEMS):
                return self.is_known(tx_hash)  # "nonce too low" because it was mined already
            raise LedgerUnavailableError(f"node refused the transaction: {message}") from e
        return True

    def is_known(self, tx_hash: HexBytes) -> bool:
        """Whether the node has the transaction (in its pool or mined)."""
        try:
            self._w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True

    def wait_receipt(self, sent: SentTransaction) -> TxReceipt:
        """Poll for the receipt for at most ``receipt_timeout`` seconds.

        Every ``_STUCK_CHECK_SECONDS`` without a receipt, look for the two ways a sent
        transaction can wait forever: the node dropped it (fail now; the caller retries), or
        it dropped an earlier nonce of ours, typically mined in a block that a reorganisation
        removed, so that this one is queued behind a gap (fill the gap).
        """
        start = self._timer.monotonic()
        deadline = start + self._receipt_timeout
        next_check = start + _STUCK_CHECK_SECONDS
        while True:
            failure: Exception | None = None
            try:
                return self._w3.eth.get_transaction_receipt(sent.tx_hash)
            except TransactionNotFound:
                pass
            except TRANSIENT as e:
                failure = e
            now = self._timer.monotonic()
            if now >= deadline:
                # It may be stuck or dropped: take the next nonce from the node next time.
                self._nonce = None
                if failure is not None:
                    raise LedgerUnavailableError(
                        f"EVM node {self._rpc.url} unavailable while waiting for "
                        f"{sent.tx_hash.to_0x_hex()}: {failure}"
                    ) from failure
                raise LedgerUnavailableError(
                    f"transaction {sent.tx_hash.to_0x_hex()} not mined within "
                    f"{self._receipt_timeout} s"
                )
            if failure is None and now >= next_check:
                next_check = now + _STUCK_CHECK_SECONDS
                try:
                    self._unstick(sent)
                except TRANSIENT as e:
                    log.debug("could not check %s: %s", sent.tx_hash.to_0x_hex(), e)
            self._timer.sleep(self._poll_interval)

    def _unstick(self, sent: SentTransaction) -> None:
        try:
            self._w3.eth.get_transaction_receipt(sent.tx_hash)
        except TransactionNotFound:
            pass
        else:
            return  # mined meanwhile
        if not self.is_known(sent.tx_hash):
            self._nonce = None
            raise LedgerUnavailableError(
                f"transaction {sent.tx_hash.to_0x_hex()} was dropped by the node; retry"
            )
        pending = self._w3.eth.get_transaction_count(self.address, "pending")
        if pending >= sent.nonce:
            return  # nothing missing below it: it is just waiting for a block
        log.warning(
            "nonces %d..%d of %s are missing (dropped by a reorganisation?); filling them "
            "with empty transactions so that %s can be mined",
            pending,
            sent.nonce - 1,
            self.address,
            sent.tx_hash.to_0x_hex(),
        )
        fees = self._fees()
        for nonce in range(pending, sent.nonce):
            filler: TxParams = {
                "chainId": self._chain(),
                "nonce": Nonce(nonce),
                "to": self.address,
                "value": Wei(0),
                "gas": 21_000,
                **fees,
            }
            self._sign_and_submit(filler, nonce)  # a nonce refusal: filled meanwhile

    def check_status(self, receipt: TxReceipt, to: ChecksumAddress | None, data: HexStr) -> None:
        """Raise :class:`AnchorRejectedError` for a reverted transaction, with its reason.

        The reason is recovered by replaying the call against the state of the block that
        included it; if the replay succeeds (the state changed within the block), the
        reason is reported as unknown.
        """
        if receipt["status"] == 1:
            return
        call: TxParams = {"from": self.address, "data": data}
        if to is not None:
            call["to"] = to
        try:
            self._rpc.call(
                "eth_call", lambda: self._w3.eth.call(call, block_identifier=receipt["blockNumber"])
            )
        except ContractLogicError as e:
            raise self._errors.rejection(e) from e
        raise AnchorRejectedError(
            "Reverted",
            f"transaction {receipt['transactionHash'].to_0x_hex()} reverted (reason unavailable)",
        )
