"""The *evm* ledger: anchors ordered by the ``RealDIDAnchor`` contract on an EVM chain.

ARCHITECTURE.md section 5. Each :meth:`EvmLedger.anchor` is one transaction calling
``anchor(batchHash, merkleRoot, operationCount)`` on the contract (``contracts/`` at the
repository root; the compiled artifact ships in ``realdid.ledger.contracts``). The contract
numbers anchors 0, 1, 2, ... and emits ``Anchored``; every node follows those events.

Only *confirmed* anchors are handed to the observer: an anchor is confirmed once its block is
at least ``confirmations`` blocks below the chain head. The follower scans ``Anchored`` logs
of confirmed blocks only, in pages of at most ``log_page_blocks`` blocks (halved when the node
refuses a range as too large), and records the anchors and the last scanned block in a small
SQLite file so that a restart resumes where it stopped. A reorganisation shallower than the
confirmation depth therefore never reaches that file; a deeper one is detected (the recorded
hash of the last scanned block no longer matches the chain) and reported as
:class:`~realdid.ledger.LedgerIntegrityError` instead of being silently followed.

Example, against a local anvil (``make contracts`` is not needed: the artifact is committed)::

    address = EvmLedger.deploy(url, admin_key, [anchorer_address])
    with EvmLedger(url, address, anchorer_key, Path("evm-follower.db")) as ledger:
        ledger.anchor(AnchorRequest(batch_hash, merkle_root, operation_count=3))
        ledger.anchors_after(-1, 100)  # [] until two more blocks are mined on top

Transactions are signed locally (``eth_account``) with the anchorer key the node loaded;
the key never leaves the process (no key is ever sent to the JSON-RPC endpoint).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
import re
import sqlite3
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar, cast

import requests
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TooManyRequests,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import BlockData, LogReceipt, Nonce, TxParams, TxReceipt, Wei

from realdid.clock import Clock, SystemClock

from ._interface import (
    Anchor,
    AnchorRequest,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
)
from ._solo import InvalidAnchorRequestError

# Importing eth_account pulls in py_ecc, which raises the interpreter's recursion limit to
# 100,000 for its own pairing code (unused here). With that limit a deeply nested hostile
# JSON document overflows the C stack (a crash) instead of raising RecursionError, so the
# interpreter's default is put back.
_DEFAULT_RECURSION_LIMIT = 1000
if sys.getrecursionlimit() > _DEFAULT_RECURSION_LIMIT:
    sys.setrecursionlimit(_DEFAULT_RECURSION_LIMIT)

__all__ = [
    "AnchorRejectedError",
    "EvmAnchorAdmin",
    "EvmLedger",
    "ScanPosition",
    "load_anchor_artifact",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_FORMAT: Final = "realdid-evm-v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_UINT32_MAX: Final = 2**32 - 1
# How often a transaction is rebuilt after the node refused its nonce before giving up.
_NONCE_ATTEMPTS: Final = 5
# Priority fee used when the node cannot suggest one (eth_maxPriorityFeePerGas missing).
_FALLBACK_PRIORITY_FEE: Final = Wei(1_000_000_000)
# Transactions sent but not known to be mined, remembered so that a retried anchor() of the
# same request waits for the earlier transaction instead of anchoring the batch twice.
_MAX_PENDING: Final = 64
# How long a transaction may wait for a receipt before checking whether it is stuck.
_STUCK_CHECK_SECONDS: Final = 1.0

# Failures of the transport, never of the request: retried with backoff. ``requests``
# exceptions (connection refused, reset, read timeout, HTTP 5xx) are OSError subclasses.
_TRANSIENT: Final = (OSError, ProviderConnectionError, RequestTimedOut, TooManyRequests)
# What nodes say when a transaction with the same hash is already in their pool.
_ALREADY_KNOWN: Final = ("already known", "known transaction", "already imported", "alreadyknown")
# What nodes say about a nonce that is not the account's next one (geth, Besu, anvil, Nethermind).
_NONCE_PROBLEMS: Final = ("nonce", "replacement transaction underpriced", "tx_replay")
# What nodes say when an eth_getLogs query spans too many blocks or returns too many logs:
# geth/Infura (-32005 "query returned more than 10000 results"), Besu ("exceeds maximum
# range"), Alchemy ("log response size exceeded"), Erigon ("max block range"), proxies.
_RANGE_TOO_LARGE_CODES: Final = frozenset({-32005})
_RANGE_TOO_LARGE = re.compile(
    r"range|too large|too many|more than|limit|exceed|response size", re.IGNORECASE
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS anchors (
    sequence        INTEGER PRIMARY KEY,
    batch_hash      TEXT    NOT NULL,
    merkle_root     TEXT    NOT NULL,
    operation_count INTEGER NOT NULL,
    block_number    INTEGER NOT NULL,
    block_hash      TEXT    NOT NULL,
    transaction_id  TEXT    NOT NULL,
    timestamp       INTEGER NOT NULL,
    anchorer        TEXT    NOT NULL
);
"""
_SELECT_ANCHORS = """
SELECT sequence, batch_hash, merkle_root, operation_count, block_number, block_hash,
       transaction_id, timestamp, anchorer
FROM anchors WHERE sequence > ? ORDER BY sequence LIMIT ?
"""
_INSERT_ANCHOR = """
INSERT INTO anchors (sequence, batch_hash, merkle_root, operation_count, block_number,
                     block_hash, transaction_id, timestamp, anchorer)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


class AnchorRejectedError(LedgerError):
    """The anchor contract refused the transaction (it reverted, or would revert).

    ``reason`` is the contract's custom error name (``"NotAnchorer"``, ``"EmptyBatch"``, ...)
    or ``"Reverted"`` when the node gave no decodable reason. Retrying will not help until
    the cause (e.g. the anchorer permission) is fixed by the consortium admin.
    """

    code = "anchor-rejected"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"anchor contract rejected the transaction: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ScanPosition:
    """How far the follower has scanned: every ``Anchored`` log up to ``block_number``
    (inclusive) is in the state file. ``block_hash`` is ``None`` before the first scan;
    ``updated_at`` is the clock's time of the last page stored (0 before that)."""

    block_number: int
    block_hash: str | None
    updated_at: int


@functools.cache
def load_anchor_artifact() -> Mapping[str, Any]:
    """The committed ``RealDIDAnchor`` artifact: ``abi``, ``bytecode``, ``compiler``."""
    text = (
        importlib.resources.files("realdid.ledger.contracts")
        .joinpath("RealDIDAnchor.json")
        .read_text(encoding="utf-8")
    )
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def _abi() -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], load_anchor_artifact()["abi"])


def _account(key: bytes, role: str) -> LocalAccount:
    if not isinstance(key, bytes) or len(key) != 32:
        raise ValueError(f"{role} key must be a 32-byte secp256k1 secret")
    try:
        return cast(LocalAccount, Account.from_key(key))
    except (ValueError, TypeError) as e:  # scalar zero or not below the curve order
        raise ValueError(f"{role} key is not a valid secp256k1 secret") from e


def _checksum(address: str) -> ChecksumAddress:
    if not isinstance(address, str) or not Web3.is_address(address):
        raise ValueError(f"not an EVM address: {address!r}")
    return Web3.to_checksum_address(address)


def _rpc_error(e: Web3RPCError) -> tuple[int | None, str]:
    """``(code, message)`` of a JSON-RPC error response."""
    response = e.rpc_response
    error = response.get("error") if response else None
    if isinstance(error, Mapping):
        code = error.get("code")
        return (code if isinstance(code, int) else None), str(error.get("message", ""))
    return None, str(e.message)


def _is_range_too_large(e: Web3RPCError) -> bool:
    code, message = _rpc_error(e)
    return code in _RANGE_TOO_LARGE_CODES or _RANGE_TOO_LARGE.search(message) is not None


class _Rpc:
    """A web3 connection whose calls are retried with backoff on transport failures.

    web3's own retries are disabled so that there is one retry policy, bounded by
    ``retry_timeout``, after which :class:`LedgerUnavailableError` is raised.
    """

    def __init__(self, url: str, *, request_timeout: float, retry_timeout: float) -> None:
        self.url = url
        self._retry_timeout = retry_timeout
        self._session = requests.Session()
        self.w3 = Web3(
            Web3.HTTPProvider(
                url,
                request_kwargs={"timeout": request_timeout},
                session=self._session,
                exception_retry_configuration=None,
            )
        )

    def call(self, what: str, fn: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + self._retry_timeout
        delay = 0.05
        while True:
            try:
                return fn()
            except _TRANSIENT as e:
                if time.monotonic() + delay > deadline:
                    raise LedgerUnavailableError(
                        f"EVM node {self.url} unavailable ({what}): {type(e).__name__}: {e}"
                    ) from e
                log.debug("EVM node %s: %s failed (%s); retrying", self.url, what, e)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def close(self) -> None:
        self._session.close()


class _ContractErrors:
    """Decodes the contract's custom errors (``NotAnchorer(address)``, ...) from revert data."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._by_selector: dict[bytes, tuple[str, list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [str(item["type"]) for item in entry.get("inputs", [])]
            signature = f"{entry['name']}({','.join(types)})"
            self._by_selector[bytes(Web3.keccak(text=signature)[:4])] = (str(entry["name"]), types)

    def rejection(self, e: ContractLogicError) -> AnchorRejectedError:
        data = e.data if isinstance(e.data, str) else None
        if data is not None and data.startswith("0x") and len(data) >= 10:
            raw = HexBytes(data)
            known = self._by_selector.get(bytes(raw[:4]))
            if known is not None:
                name, types = known
                try:
                    args = abi_decode(types, bytes(raw[4:]))
                except Exception:  # malformed revert data: still report the error's name
                    return AnchorRejectedError(name, name)
                rendered = ", ".join(str(arg) for arg in args)
                return AnchorRejectedError(name, f"{name}({rendered})")
        return AnchorRejectedError("Reverted", str(e.message or e))


@dataclass(frozen=True, slots=True)
class _Sent:
    """A transaction the node has accepted."""

    tx_hash: HexBytes
    nonce: int


class _Transactor:
    """Signs and sends transactions from one local key: nonce, gas, fees, receipts.

    The nonce is tracked locally, read from the node's ``pending`` count on first use and
    again whenever the node refuses it (another process used the key, a transaction was
    dropped) or a transaction did not get mined in time.
    """

    def __init__(
        self,
        rpc: _Rpc,
        account: LocalAccount,
        errors: _ContractErrors,
        *,
        receipt_timeout: float,
        poll_interval: float,
    ) -> None:
        self._rpc = rpc
        self._w3 = rpc.w3
        self._account = account
        self._errors = errors
        self._receipt_timeout = receipt_timeout
        self._poll_interval = poll_interval
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

    def send(self, to: ChecksumAddress | None, data: HexStr, what: str) -> _Sent:
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

    def _sign_and_submit(self, tx: TxParams, nonce: int) -> _Sent | None:
        signed = self._account.sign_transaction(cast(dict[str, Any], tx))
        sent = _Sent(HexBytes(signed.hash), nonce)
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
            raise LedgerUnavailableError(f"gas estimation failed: {_rpc_error(e)[1]}") from e
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
            message = _rpc_error(e)[1].lower()
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

    def wait_receipt(self, sent: _Sent) -> TxReceipt:
        """Poll for the receipt for at most ``receipt_timeout`` seconds.

        Every ``_STUCK_CHECK_SECONDS`` without a receipt, look for the two ways a sent
        transaction can wait forever: the node dropped it (fail now; the caller retries), or
        it dropped an earlier nonce of ours, typically mined in a block that a reorganisation
        removed, so that this one is queued behind a gap (fill the gap).
        """
        start = time.monotonic()
        deadline = start + self._receipt_timeout
        next_check = start + _STUCK_CHECK_SECONDS
        while True:
            failure: Exception | None = None
            try:
                return self._w3.eth.get_transaction_receipt(sent.tx_hash)
            except TransactionNotFound:
                pass
            except _TRANSIENT as e:
                failure = e
            now = time.monotonic()
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
                except _TRANSIENT as e:
                    log.debug("could not check %s: %s", sent.tx_hash.to_0x_hex(), e)
            time.sleep(self._poll_interval)

    def _unstick(self, sent: _Sent) -> None:
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


class EvmAnchorAdmin:
    """The admin role of a deployed ``RealDIDAnchor``: governs the consortium's anchorers.

    Each method is one transaction signed with the admin key, and returns once it is mined
    (not once it is confirmed). Reverts raise :class:`AnchorRejectedError` (``NotAdmin``,
    ``ZeroAddress``, ``NotPendingAdmin``).
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
    ) -> None:
        account = _account(admin_key, "admin")
        self._address = _checksum(contract_address)
        self._rpc = _Rpc(rpc_url, request_timeout=request_timeout, retry_timeout=retry_timeout)
        self._contract: Contract = self._rpc.w3.eth.contract(address=self._address, abi=_abi())
        self._transactor = _Transactor(
            self._rpc,
            account,
            _ContractErrors(_abi()),
            receipt_timeout=receipt_timeout,
            poll_interval=poll_interval,
        )

    @property
    def address(self) -> str:
        """The admin key's account address (checksummed)."""
        return self._transactor.address

    @property
    def contract_address(self) -> str:
        return self._address

    def add_anchorer(self, account: str) -> None:
        """Permit ``account`` to anchor (no-op if it already may)."""
        self._transact("addAnchorer", _checksum(account))

    def remove_anchorer(self, account: str) -> None:
        """Withdraw the permission of ``account`` (no-op if it had none)."""
        self._transact("removeAnchorer", _checksum(account))

    def propose_admin(self, account: str) -> None:
        """First step of handing the admin role over; ``account`` must then accept."""
        self._transact("proposeAdmin", _checksum(account))

    def accept_admin(self) -> None:
        """Second step, signed by the proposed account's key."""
        self._transact("acceptAdmin")

    def is_anchorer(self, account: str) -> bool:
        checked = _checksum(account)
        result = self._rpc.call(
            "isAnchorer", lambda: self._contract.functions.isAnchorer(checked).call()
        )
        return bool(result)

    def admin(self) -> str:
        """The current admin according to the contract."""
        return str(self._rpc.call("admin", lambda: self._contract.functions.admin().call()))

    def _transact(self, function: str, *args: Any) -> None:
        data = HexStr(self._contract.encode_abi(function, args=list(args)))
        self._transactor.transact(self._address, data, function)

    def close(self) -> None:
        self._rpc.close()

    def __enter__(self) -> EvmAnchorAdmin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EvmLedger:
    """The evm :class:`~realdid.ledger.Ledger` backend.

    ``anchorer_key=None`` opens a read-only follower. Use one instance per state file.
    Calls are serialised per role: :meth:`anchor` calls one after another (they share the
    nonce), and followers' reads one after another (they share the state file); an anchor
    being mined does not block reads.
    """

    def __init__(
        self,
        rpc_url: str,
        contract_address: str,
        anchorer_key: bytes | None,
        state_path: Path,
        *,
        confirmations: int = 2,
        log_page_blocks: int = 1000,
        from_block: int = 0,
        clock: Clock | None = None,
        request_timeout: float = 10.0,
        retry_timeout: float = 30.0,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.1,
    ) -> None:
        if isinstance(confirmations, bool) or not isinstance(confirmations, int):
            raise TypeError("confirmations must be an integer")
        if confirmations < 0:
            raise ValueError("confirmations must not be negative")
        if log_page_blocks < 1:
            raise ValueError("log_page_blocks must be at least 1")
        if from_block < 0:
            raise ValueError("from_block must not be negative")
        account = None if anchorer_key is None else _account(anchorer_key, "anchorer")
        self._address = _checksum(contract_address)
        self._confirmations = confirmations
        self._log_page_blocks = log_page_blocks
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._rpc = _Rpc(rpc_url, request_timeout=request_timeout, retry_timeout=retry_timeout)
        w3 = self._rpc.w3
        self._contract: Contract = w3.eth.contract(address=self._address, abi=_abi())
        self._anchored_event = self._contract.events.Anchored()
        self._anchored_topic = HexBytes(
            Web3.keccak(text="Anchored(uint64,bytes32,bytes32,uint32,address)")
        )
        errors = _ContractErrors(_abi())
        self._transactor = (
            None
            if account is None
            else _Transactor(
                self._rpc,
                account,
                errors,
                receipt_timeout=receipt_timeout,
                poll_interval=poll_interval,
            )
        )
        self._pending: OrderedDict[AnchorRequest, _Sent] = OrderedDict()
        self._anchor_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._chain_checked = False
        try:
            self._conn = self._connect(Path(state_path), from_block)
        except BaseException:
            self._rpc.close()
            raise

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
    ) -> str:
        """Deploy ``RealDIDAnchor`` from the committed artifact with the admin key's account
        as admin, permit ``anchorers``, and return the contract's checksummed address."""
        account = _account(admin_key, "admin")
        checked = [_checksum(a) for a in anchorers]
        artifact = load_anchor_artifact()
        rpc = _Rpc(rpc_url, request_timeout=request_timeout, retry_timeout=retry_timeout)
        try:
            factory = rpc.w3.eth.contract(abi=_abi(), bytecode=artifact["bytecode"])
            data = HexStr(factory.constructor(account.address).data_in_transaction)
            transactor = _Transactor(
                rpc,
                account,
                _ContractErrors(_abi()),
                receipt_timeout=receipt_timeout,
                poll_interval=0.1,
            )
            receipt = transactor.transact(None, data, "deployment")
            address = receipt.get("contractAddress")
            if address is None:
                raise LedgerError("deployment receipt names no contract address")
            contract = rpc.w3.eth.contract(address=address, abi=_abi())
            for anchorer in checked:
                call = HexStr(contract.encode_abi("addAnchorer", args=[anchorer]))
                transactor.transact(address, call, "addAnchorer")
            log.info("deployed RealDIDAnchor at %s (admin %s)", address, account.address)
            return str(address)
        finally:
            rpc.close()

    # -- state file -------------------------------------------------------------------------
    def _connect(self, path: Path, from_block: int) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise LedgerUnavailableError(f"cannot open EVM follower state at {path}: {e}") from e
        try:
            conn.row_factory = sqlite3.Row
            # WAL + synchronous=FULL: a stored page and its scan position survive a crash.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            try:
                defaults = {
                    "format": _FORMAT,
                    "contract": self._address,
                    "scanned_block": str(from_block - 1),
                    "scanned_at": "0",
                }
                for key, value in defaults.items():
                    conn.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value)
                    )
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            conn.close()
            raise LedgerUnavailableError(f"cannot open EVM follower state at {path}: {e}") from e
        if meta["format"] != _FORMAT:
            conn.close()
            raise LedgerError(f"{path} is not a {_FORMAT} state file")
        if meta["contract"] != self._address:
            conn.close()
            raise LedgerError(f"{path} follows contract {meta['contract']}, not {self._address}")
        return conn

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def scan_position(self) -> ScanPosition:
        """The last block whose ``Anchored`` logs are in the state file."""
        with self._state_lock:
            return ScanPosition(
                block_number=int(self._meta("scanned_block") or -1),
                block_hash=self._meta("scanned_block_hash"),
                updated_at=int(self._meta("scanned_at") or 0),
            )

    # -- Ledger protocol --------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "evm"

    @property
    def contract_address(self) -> str:
        return self._address

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
        _check_request(request)
        transactor = self._transactor
        data = HexStr(
            self._contract.encode_abi(
                "anchor",
                args=[
                    bytes.fromhex(request.batch_hash),
                    bytes.fromhex(request.merkle_root),
                    request.operation_count,
                ],
            )
        )
        with self._anchor_lock:
            self._check_chain()
            receipt: TxReceipt | None = None
            earlier = self._pending.get(request)
            if earlier is not None and self._rpc.call(
                "eth_getTransactionByHash", lambda: transactor.is_known(earlier.tx_hash)
            ):
                log.info("waiting for the earlier transaction %s", earlier.tx_hash.to_0x_hex())
                receipt = transactor.wait_receipt(earlier)
            if receipt is None:
                sent = transactor.send(self._address, data, "anchor")
                self._pending[request] = sent
                while len(self._pending) > _MAX_PENDING:
                    self._pending.popitem(last=False)
                receipt = transactor.wait_receipt(sent)
            self._pending.pop(request, None)
            transactor.check_status(receipt, self._address, data)
            return self._anchor_from_receipt(receipt, request)

    def _anchor_from_receipt(self, receipt: TxReceipt, request: AnchorRequest) -> Anchor:
        entries = [
            entry
            for entry in receipt["logs"]
            if entry["address"].lower() == self._address.lower()
            and entry["topics"]
            and HexBytes(entry["topics"][0]) == self._anchored_topic
        ]
        if len(entries) != 1:
            raise LedgerIntegrityError(
                f"transaction {receipt['transactionHash'].to_0x_hex()} holds {len(entries)} "
                f"Anchored events of {self._address}, expected 1"
            )
        block_hash = HexBytes(receipt["blockHash"])
        block = self._rpc.call("eth_getBlockByHash", lambda: self._w3_block(block_hash))
        anchor = self._decode(entries[0], int(block["timestamp"]))
        if (anchor.batch_hash, anchor.merkle_root, anchor.operation_count) != (
            request.batch_hash,
            request.merkle_root,
            request.operation_count,
        ):
            raise LedgerIntegrityError(
                f"Anchored event of {anchor.transaction_id} does not match the request"
            )
        return anchor

    def _w3_block(self, block: HexBytes | int) -> BlockData:
        return self._rpc.w3.eth.get_block(block)

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        """Confirmed anchors after ``sequence``, in order; scans new confirmed blocks first
        unless the state file already holds ``limit`` of them. Raises
        :class:`LedgerUnavailableError` when the chain cannot be reached."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        if limit == 0:
            return []
        with self._state_lock:
            anchors = self._cached(sequence, limit)
            if len(anchors) < limit:
                self._sync()
                anchors = self._cached(sequence, limit)
            return anchors

    def _cached(self, sequence: int, limit: int) -> list[Anchor]:
        try:
            rows = self._conn.execute(_SELECT_ANCHORS, (sequence, limit)).fetchall()
        except sqlite3.Error as e:
            raise LedgerUnavailableError(f"EVM follower state could not be read: {e}") from e
        return [
            Anchor(
                sequence=row["sequence"],
                batch_hash=row["batch_hash"],
                merkle_root=row["merkle_root"],
                operation_count=row["operation_count"],
                block_number=row["block_number"],
                block_hash=row["block_hash"],
                transaction_id=row["transaction_id"],
                timestamp=row["timestamp"],
                anchorer=row["anchorer"],
            )
            for row in rows
        ]

    def head(self) -> int:
        """The chain's newest block number (not necessarily confirmed)."""
        return self._rpc.call("eth_blockNumber", lambda: self._rpc.w3.eth.block_number)

    def sync(self) -> ScanPosition:
        """Scan every newly confirmed block now; return the new scan position."""
        with self._state_lock:
            self._sync()
        return self.scan_position

    def close(self) -> None:
        with self._anchor_lock, self._state_lock:
            self._conn.close()
            self._rpc.close()

    def __enter__(self) -> EvmLedger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- following the chain ----------------------------------------------------------------
    def _check_chain(self) -> None:
        """Once per instance: the chain is the one the state file follows, with code at the
        contract address. Pins the chain id in the state file on first contact."""
        if self._chain_checked:
            return
        w3 = self._rpc.w3
        chain_id = self._rpc.call("eth_chainId", lambda: w3.eth.chain_id)
        code = self._rpc.call("eth_getCode", lambda: w3.eth.get_code(self._address))
        if len(code) == 0:
            raise LedgerError(f"no contract at {self._address} on chain {chain_id}")
        with self._state_lock:
            pinned = self._meta("chain_id")
            if pinned is not None and pinned != str(chain_id):
                raise LedgerIntegrityError(
                    f"state file follows chain {pinned}, but the node serves chain {chain_id}"
                )
            if pinned is None:
                self._set_meta("chain_id", str(chain_id))
        self._chain_checked = True

    def _sync(self) -> None:
        self._check_chain()
        head = self.head()
        confirmed = head - self._confirmations
        position = self.scan_position
        if confirmed == position.block_number:
            return
        if position.block_hash is not None and position.block_number <= head:
            # Deeper reorganisations than the confirmation depth must stop the follower.
            current = self._block_hash(position.block_number)
            if current != position.block_hash:
                raise LedgerIntegrityError(
                    f"block {position.block_number} changed from {position.block_hash} to "
                    f"{current}: a reorganisation deeper than {self._confirmations} "
                    "confirmations, or another chain; the follower state must be rebuilt"
                )
        if confirmed < position.block_number:
            # The head went back (a node behind its peers, a load balancer, a simulated
            # reorganisation): nothing new is confirmed until it passes the position again.
            log.debug(
                "confirmed head %d is below scanned block %d", confirmed, position.block_number
            )
            return
        start = position.block_number + 1
        page = self._log_page_blocks
        while start <= confirmed:
            end = min(start + page - 1, confirmed)
            try:
                entries = self._logs(start, end)
            except _RangeTooLargeError as e:
                if page == 1:
                    raise LedgerUnavailableError(
                        f"node refuses eth_getLogs even for block {start}: {e}"
                    ) from e
                page = max(1, page // 2)
                log.info("eth_getLogs range too large; trying %d blocks", page)
                continue
            anchors = self._decode_page(entries)
            end_hash = self._block_hash(end)
            if not self._store_page(start, anchors, end, end_hash):
                return  # another writer moved the position: re-read it on the next call
            start = end + 1

    def _logs(self, start: int, end: int) -> list[LogReceipt]:
        def query() -> list[LogReceipt]:
            try:
                return list(
                    self._rpc.w3.eth.get_logs(
                        {
                            "address": self._address,
                            "topics": [self._anchored_topic.to_0x_hex()],
                            "fromBlock": start,
                            "toBlock": end,
                        }
                    )
                )
            except Web3RPCError as e:
                if _is_range_too_large(e):
                    raise _RangeTooLargeError(_rpc_error(e)[1]) from e
                raise LedgerUnavailableError(
                    f"eth_getLogs {start}..{end} failed: {_rpc_error(e)[1]}"
                ) from e

        return self._rpc.call("eth_getLogs", query)

    def _block_hash(self, number: int) -> str:
        try:
            block = self._rpc.call("eth_getBlockByNumber", lambda: self._w3_block(number))
        except BlockNotFound as e:
            raise LedgerUnavailableError(f"EVM node does not have block {number}") from e
        return HexBytes(block["hash"]).to_0x_hex()

    def _decode_page(self, entries: list[LogReceipt]) -> list[Anchor]:
        """Decode ``Anchored`` logs, in chain order, with their blocks' timestamps."""
        blocks: dict[int, tuple[str, int]] = {}
        anchors = []
        for entry in sorted(entries, key=lambda e: (e["blockNumber"], e["logIndex"])):
            if entry.get("removed"):
                raise LedgerUnavailableError("node returned a removed log for a confirmed block")
            number = int(entry["blockNumber"])
            if number not in blocks:
                block = self._rpc.call(
                    "eth_getBlockByNumber", functools.partial(self._w3_block, number)
                )
                blocks[number] = (HexBytes(block["hash"]).to_0x_hex(), int(block["timestamp"]))
            block_hash, timestamp = blocks[number]
            if HexBytes(entry["blockHash"]).to_0x_hex() != block_hash:
                raise LedgerUnavailableError(f"block {number} changed during the scan; retry later")
            anchors.append(self._decode(entry, timestamp))
        return anchors

    def _decode(self, entry: LogReceipt, timestamp: int) -> Anchor:
        try:
            event = self._anchored_event.process_log(entry)
        except Exception as e:  # bad topics/data from the node
            raise LedgerIntegrityError(f"undecodable Anchored log: {e}") from e
        args = event["args"]
        return Anchor(
            sequence=int(args["sequence"]),
            batch_hash=bytes(args["batchHash"]).hex(),
            merkle_root=bytes(args["merkleRoot"]).hex(),
            operation_count=int(args["operationCount"]),
            block_number=int(event["blockNumber"]),
            block_hash=HexBytes(event["blockHash"]).to_0x_hex(),
            transaction_id=HexBytes(event["transactionHash"]).to_0x_hex(),
            timestamp=timestamp,
            anchorer=Web3.to_checksum_address(args["anchorer"]),
        )

    def _store_page(self, start: int, anchors: list[Anchor], end: int, end_hash: str) -> bool:
        """Append a page of anchors and move the scan position, in one transaction.

        Sequences must continue the stored ones without a gap or repeat: the contract
        numbers anchors consecutively, so anything else means a missed or forged log.
        """
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if int(self._meta("scanned_block") or -1) != start - 1:
                    self._conn.execute("ROLLBACK")
                    return False
                row = self._conn.execute("SELECT MAX(sequence) FROM anchors").fetchone()
                expected = 0 if row[0] is None else int(row[0]) + 1
                for anchor in anchors:
                    if anchor.sequence != expected:
                        raise LedgerIntegrityError(
                            f"anchor sequence {anchor.sequence} in block {anchor.block_number} "
                            f"where {expected} was expected (missed or duplicated Anchored log)"
                        )
                    self._conn.execute(
                        _INSERT_ANCHOR,
                        (
                            anchor.sequence,
                            anchor.batch_hash,
                            anchor.merkle_root,
                            anchor.operation_count,
                            anchor.block_number,
                            anchor.block_hash,
                            anchor.transaction_id,
                            anchor.timestamp,
                            anchor.anchorer,
                        ),
                    )
                    expected += 1
                self._set_meta("scanned_block", str(end))
                self._set_meta("scanned_block_hash", end_hash)
                self._set_meta("scanned_at", str(self._clock.now()))
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise LedgerUnavailableError(f"EVM follower state could not be written: {e}") from e
        if anchors:
            log.debug("stored anchors %d..%d", anchors[0].sequence, anchors[-1].sequence)
        return True


class _RangeTooLargeError(Exception):
    """The node refused an eth_getLogs range as too large (internal: the page is halved)."""


def _check_request(request: AnchorRequest) -> None:
    if not isinstance(request.batch_hash, str) or not _HEX64.fullmatch(request.batch_hash):
        raise InvalidAnchorRequestError("batch_hash must be 64 lowercase hex characters")
    if not isinstance(request.merkle_root, str) or not _HEX64.fullmatch(request.merkle_root):
        raise InvalidAnchorRequestError("merkle_root must be 64 lowercase hex characters")
    count = request.operation_count
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= _UINT32_MAX:
        raise InvalidAnchorRequestError("operation_count must be an integer in 0..2**32-1")
