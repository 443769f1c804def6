"""The follower: confirmed ``Anchored`` logs of the chain, scanned into the state file.

ARCHITECTURE.md section 5. Only *confirmed* anchors are handed to the observer: an anchor is
confirmed once its block is at least ``confirmations`` blocks below the chain head. The
follower scans ``Anchored`` logs of confirmed blocks only, in pages of at most
``log_page_blocks`` blocks (halved when the node refuses a range as too large), and stores
each page with the new scan position in the :class:`FollowerState`, so that a restart
resumes where it stopped. A reorganisation shallower than the confirmation depth therefore
never reaches that file; a deeper one is detected (the recorded hash of the last scanned
block no longer matches the chain) and reported as
:class:`~realdid.ledger.LedgerIntegrityError` instead of being silently followed::

    follower = AnchorFollower(rpc, events, address, state, confirmations=2,
                              log_page_blocks=1000)
    follower.anchors_after(-1, 100)  # scans newly confirmed blocks first
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Final

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3.exceptions import BlockNotFound, Web3RPCError
from web3.types import BlockData, LogReceipt

from realdid.ledger._interface import (
    Anchor,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
)

from ._contract import ANCHORED_TOPIC, AnchoredEvents
from ._follower_state import FollowerState, ScanPosition
from ._rpc import RetryingRpc, rpc_error

__all__ = ["AnchorFollower"]

log = logging.getLogger(__name__)

# What nodes say when an eth_getLogs query spans too many blocks or returns too many logs:
# geth/Infura (-32005 "query returned more than 10000 results"), Besu ("exceeds maximum
# range"), Alchemy ("log response size exceeded"), Erigon ("max block range"), proxies.
_RANGE_TOO_LARGE_CODES: Final = frozenset({-32005})
_RANGE_TOO_LARGE = re.compile(
    r"range|too large|too many|more than|limit|exceed|response size", re.IGNORECASE
)


def _is_range_too_large(e: Web3RPCError) -> bool:
    code, message = rpc_error(e)
    return code in _RANGE_TOO_LARGE_CODES or _RANGE_TOO_LARGE.search(message) is not None


class _RangeTooLargeError(Exception):
    """The node refused an eth_getLogs range as too large (internal: the page is halved)."""


class AnchorFollower:
    """Follows one contract's anchors into one state file.

    Reads are serialised by one reentrant lock (they share the state file and its scan
    position); :meth:`check_chain` may also be called by the anchoring side, which does
    not take the lock for its JSON-RPC calls.
    """

    def __init__(
        self,
        rpc: RetryingRpc,
        events: AnchoredEvents,
        contract: ChecksumAddress,
        state: FollowerState,
        *,
        confirmations: int,
        log_page_blocks: int,
    ) -> None:
        self._rpc = rpc
        self._events = events
        self._address = contract
        self._state = state
        self._confirmations = confirmations
        self._log_page_blocks = log_page_blocks
        self._lock = threading.RLock()
        self._chain_checked = False

    @property
    def scan_position(self) -> ScanPosition:
        """The last block whose ``Anchored`` logs are in the state file."""
        with self._lock:
            return self._state.scan_position()

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        """Confirmed anchors after ``sequence``, in order; scans new confirmed blocks first
        unless the state file already holds ``limit`` of them."""
        with self._lock:
            anchors = self._state.anchors_after(sequence, limit)
            if len(anchors) < limit:
                self._sync()
                anchors = self._state.anchors_after(sequence, limit)
            return anchors

    def head(self) -> int:
        """The chain's newest block number (not necessarily confirmed)."""
        return self._rpc.call("eth_blockNumber", lambda: self._rpc.w3.eth.block_number)

    def block(self, block: HexBytes | int) -> BlockData:
        """One block by hash or number, without retries (wrap in :meth:`RetryingRpc.call`)."""
        return self._rpc.w3.eth.get_block(block)

    def sync(self) -> ScanPosition:
        """Scan every newly confirmed block now; return the new scan position."""
        with self._lock:
            self._sync()
        return self.scan_position

    def close(self) -> None:
        with self._lock:
            self._state.close()

    def check_chain(self) -> None:
        """Once per instance: the chain is the one the state file follows, with code at the
        contract address. Pins the chain id in the state file on first contact."""
        if self._chain_checked:
            return
        w3 = self._rpc.w3
        chain_id = self._rpc.call("eth_chainId", lambda: w3.eth.chain_id)
        code = self._rpc.call("eth_getCode", lambda: w3.eth.get_code(self._address))
        if len(code) == 0:
            raise LedgerError(f"no contract at {self._address} on chain {chain_id}")
        with self._lock:
            self._state.pin_chain(chain_id)
        self._chain_checked = True

    def _sync(self) -> None:
        self.check_chain()
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
            if not self._state.store_page(start, anchors, end, end_hash):
                return  # another writer moved the position: re-read it on the next call
            start = end + 1

    def _logs(self, start: int, end: int) -> list[LogReceipt]:
        def query() -> list[LogReceipt]:
            try:
                return list(
                    self._rpc.w3.eth.get_logs(
                        {
                            "address": self._address,
                            "topics": [ANCHORED_TOPIC.to_0x_hex()],
                            "fromBlock": start,
                            "toBlock": end,
                        }
                    )
                )
            except Web3RPCError as e:
                if _is_range_too_large(e):
                    raise _RangeTooLargeError(rpc_error(e)[1]) from e
                raise LedgerUnavailableError(
                    f"eth_getLogs {start}..{end} failed: {rpc_error(e)[1]}"
                ) from e

        return self._rpc.call("eth_getLogs", query)

    def _block_hash(self, number: int) -> str:
        try:
            block = self._rpc.call("eth_getBlockByNumber", lambda: self.block(number))
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
                    "eth_getBlockByNumber", functools.partial(self.block, number)
                )
                blocks[number] = (HexBytes(block["hash"]).to_0x_hex(), int(block["timestamp"]))
            block_hash, timestamp = blocks[number]
            if HexBytes(entry["blockHash"]).to_0x_hex() != block_hash:
                raise LedgerUnavailableError(f"block {number} changed during the scan; retry later")
            anchors.append(self._events.decode(entry, timestamp))
        return anchors
