"""The ``RealDIDAnchor`` contract as the backend sees it: artifact, errors, events.

ARCHITECTURE.md section 5, ADR 0010. The compiled artifact (``abi``, ``bytecode``,
``compiler``) is committed in ``realdid.ledger.contracts``; the source is ``contracts/`` at
the repository root. The contract reverts with custom errors (``NotAnchorer(address)``,
``EmptyBatch()``, ...), decoded here into :class:`AnchorRejectedError`, and numbers anchors
in its ``Anchored`` event, decoded into :class:`~realdid.ledger.Anchor`::

    errors = ContractErrors(anchor_abi())
    events = AnchoredEvents(w3.eth.contract(address=address, abi=anchor_abi()))
    anchors = [events.decode(entry, timestamp) for entry in receipt["logs"]
               if events.emitted_by(entry)]
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from eth_abi.abi import decode as abi_decode
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import LogReceipt

from realdid.ledger._interface import Anchor, LedgerError, LedgerIntegrityError

__all__ = [
    "ANCHORED_TOPIC",
    "AnchorRejectedError",
    "AnchoredEvents",
    "ContractErrors",
    "anchor_abi",
    "checksum_address",
    "load_anchor_artifact",
]

# topic 0 of every ``Anchored`` log: the Keccak-256 of the event's signature.
ANCHORED_TOPIC: Final = HexBytes(
    Web3.keccak(text="Anchored(uint64,bytes32,bytes32,uint32,address)")
)


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


def anchor_abi() -> list[dict[str, Any]]:
    """The ``abi`` of the committed artifact."""
    return cast(list[dict[str, Any]], load_anchor_artifact()["abi"])


def checksum_address(address: str) -> ChecksumAddress:
    """``address`` in its EIP-55 checksummed form; :class:`ValueError` if it is none."""
    if not isinstance(address, str) or not Web3.is_address(address):
        raise ValueError(f"not an EVM address: {address!r}")
    return Web3.to_checksum_address(address)


class ContractErrors:
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


class AnchoredEvents:
    """The ``Anchored`` events of one deployed contract, decoded into anchors."""

    def __init__(self, contract: Contract) -> None:
        self._address = contract.address
        self._event = contract.events.Anchored()

    def emitted_by(self, entry: LogReceipt) -> bool:
        """Whether a receipt's log is an ``Anchored`` event of this contract."""
        return bool(
            entry["address"].lower() == self._address.lower()
            and entry["topics"]
            and HexBytes(entry["topics"][0]) == ANCHORED_TOPIC
        )

    def decode(self, entry: LogReceipt, timestamp: int) -> Anchor:
        """The anchor of one log; ``timestamp`` is its block's (logs do not carry it)."""
        try:
            event = self._event.process_log(entry)
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
