"""The waits of the evm backend on a fake clock, over an in-memory JSON-RPC provider.

The retry backoff of :class:`RetryingRpc` and the receipt polling of :class:`Transactor`
take their time from an injected :class:`~realdid.clock.Timer`: here a :class:`FakeTimer`,
which only advances when slept on, so that timeouts of seconds run instantly and their schedule is exact.
The chain is a web3 provider answering from memory (no anvil, no patching of modules).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hexbytes import HexBytes
from web3.providers.base import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from realdid.clock import FakeTimer, Timer
from realdid.ledger import LedgerUnavailableError
from realdid.ledger.evm._contract import ContractErrors, anchor_abi
from realdid.ledger.evm._rpc import RetryingRpc
from realdid.ledger.evm._transactions import SentTransaction, Transactor, local_account

TX_HASH = HexBytes("0x" + "ab" * 32)
ANCHORER_KEY = bytes(range(1, 33))


class MemoryChain(BaseProvider):
    """A JSON-RPC node in memory: ``answers`` maps a method to a function of its params
    returning the ``result``; ``outage`` methods fail at the transport that many times."""

    def __init__(self, answers: dict[str, Callable[[Any], Any]]) -> None:
        super().__init__()
        self.answers = answers
        self.outage: dict[str, int] = {}
        self.calls: list[str] = []

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.calls.append(method)
        if self.outage.get(method, 0) > 0:
            self.outage[method] -= 1
            raise requests.ConnectionError(f"connection refused ({method})")
        return {"jsonrpc": "2.0", "id": 1, "result": self.answers[method](params)}

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


def rpc_over(chain: MemoryChain, timer: Timer, *, retry_timeout: float = 30.0) -> RetryingRpc:
    return RetryingRpc("memory://chain", chain, retry_timeout=retry_timeout, timer=timer)


def transactor_over(
    chain: MemoryChain, timer: Timer, *, receipt_timeout: float = 5.0
) -> Transactor:
    return Transactor(
        rpc_over(chain, timer),
        local_account(ANCHORER_KEY, "anchorer"),
        ContractErrors(anchor_abi()),
        receipt_timeout=receipt_timeout,
        poll_interval=0.25,
        timer=timer,
    )


def pending_transaction(_: Any) -> dict[str, str]:
    return {"hash": TX_HASH.to_0x_hex(), "nonce": "0x0", "blockHash": None, "blockNumber": None}


def receipt(_: Any) -> dict[str, Any]:
    return {
        "transactionHash": TX_HASH.to_0x_hex(),
        "blockHash": "0x" + "cd" * 32,
        "blockNumber": "0x7",
        "status": "0x1",
        "logs": [],
    }


# -- retry backoff -----------------------------------------------------------------------------


def test_transport_failures_are_retried_with_doubling_backoff() -> None:
    timer = FakeTimer()
    chain = MemoryChain({"eth_blockNumber": lambda _: "0x2a"})
    chain.outage["eth_blockNumber"] = 3
    rpc = rpc_over(chain, timer)
    assert rpc.call("eth_blockNumber", lambda: rpc.w3.eth.block_number) == 42
    assert timer.sleeps == [0.05, 0.1, 0.2]
    assert chain.calls == ["eth_blockNumber"] * 4


def test_retries_stop_at_the_retry_timeout_on_the_injected_clock() -> None:
    timer = FakeTimer()
    chain = MemoryChain({"eth_blockNumber": lambda _: "0x2a"})
    chain.outage["eth_blockNumber"] = 1_000
    rpc = rpc_over(chain, timer, retry_timeout=10.0)
    started = time.monotonic()
    with pytest.raises(LedgerUnavailableError, match=r"memory://chain unavailable \(head\)"):
        rpc.call("head", lambda: rpc.w3.eth.block_number)
    assert time.monotonic() - started < 2.0  # ten seconds of backoff, none of it slept
    assert timer.sleeps == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert (
        timer.monotonic() <= 10.0 < timer.monotonic() + 2.0
    )  # the next sleep would pass the deadline


# -- receipt polling ---------------------------------------------------------------------------


def test_receipt_wait_times_out_after_the_receipt_timeout() -> None:
    timer = FakeTimer()
    chain = MemoryChain(
        {
            "eth_getTransactionReceipt": lambda _: None,
            "eth_getTransactionByHash": pending_transaction,
            "eth_getTransactionCount": lambda _: "0x1",  # nothing missing below nonce 0
        }
    )
    transactor = transactor_over(chain, timer, receipt_timeout=5.0)
    started = time.monotonic()
    with pytest.raises(LedgerUnavailableError, match=r"not mined within 5\.0 s"):
        transactor.wait_receipt(SentTransaction(TX_HASH, 0))
    assert time.monotonic() - started < 2.0
    assert timer.monotonic() == 5.0
    assert set(timer.sleeps) == {0.25}
    # Checked for being stuck once per second of waiting: at 1, 2, 3 and 4 s.
    assert chain.calls.count("eth_getTransactionByHash") == 4


def test_receipt_wait_returns_the_receipt_once_mined() -> None:
    timer = FakeTimer()
    chain = MemoryChain(
        {"eth_getTransactionReceipt": lambda p: receipt(p) if timer.monotonic() >= 0.75 else None}
    )
    transactor = transactor_over(chain, timer)
    mined = transactor.wait_receipt(SentTransaction(TX_HASH, 0))
    assert mined["blockNumber"] == 7
    assert timer.sleeps == [0.25, 0.25, 0.25]


def test_dropped_transaction_fails_at_the_first_stuck_check() -> None:
    timer = FakeTimer()
    chain = MemoryChain(
        {"eth_getTransactionReceipt": lambda _: None, "eth_getTransactionByHash": lambda _: None}
    )
    transactor = transactor_over(chain, timer, receipt_timeout=120.0)
    with pytest.raises(LedgerUnavailableError, match="was dropped by the node"):
        transactor.wait_receipt(SentTransaction(TX_HASH, 0))
    assert timer.monotonic() == 1.0


def test_nonce_gap_below_a_waiting_transaction_is_filled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    timer = FakeTimer()
    sent_raw: list[str] = []

    def send_raw(params: Any) -> str:
        sent_raw.append(params[0])
        return "0x" + "ee" * 32

    chain = MemoryChain(
        {
            # Mined once both missing nonces below it have been filled.
            "eth_getTransactionReceipt": lambda p: receipt(p) if len(sent_raw) == 2 else None,
            "eth_getTransactionByHash": pending_transaction,
            "eth_getTransactionCount": lambda _: "0x1",  # nonces 1 and 2 were dropped
            "eth_getBlockByNumber": lambda _: {"number": "0x7", "baseFeePerGas": "0x3b9aca00"},
            "eth_maxPriorityFeePerGas": lambda _: "0x3b9aca00",
            "eth_chainId": lambda _: "0x7a69",
            "eth_sendRawTransaction": send_raw,
        }
    )
    transactor = transactor_over(chain, timer)
    with caplog.at_level("WARNING"):
        mined = transactor.wait_receipt(SentTransaction(TX_HASH, 3))
    assert mined["status"] == 1
    assert len(sent_raw) == 2
    assert "nonces 1..2 of" in caplog.text
    assert (
        timer.monotonic() == 1.25
    )  # filled at the first stuck check (1 s), mined by the next poll
