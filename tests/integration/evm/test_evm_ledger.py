"""The ``evm`` ledger backend against a real anvil chain (ARCHITECTURE.md section 5, issue 3).

Every test deploys the committed ``RealDIDAnchor`` artifact on a fresh anvil (automine: one
block per transaction; ``evm_mine`` adds empty blocks) and drives :class:`EvmLedger` through
its public API only. What is checked from the outside:

* anchors come back in sequence order, gap-free, and only once ``confirmations`` blocks
  are on top of theirs;
* the contract refuses non-anchorers (nothing reaches the chain), the admin governs the
  anchorer set, and the admin role moves only in two steps;
* a follower resumes from its state file without re-reading old blocks, and pages its
  ``eth_getLogs`` queries (halving them when the node refuses a range);
* a reorganisation shallower than the confirmation depth never reaches the follower, a
  deeper one is reported instead of followed;
* the chain endpoint going away and coming back: :class:`LedgerUnavailableError`, then
  anchoring and following resume;
* the committed contract artifact is what the pinned compiler builds from the source.
"""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from web3 import Web3

from realdid.clock import FixedClock
from realdid.ledger import (
    Anchor,
    AnchorRejectedError,
    AnchorRequest,
    EvmAnchorAdmin,
    EvmLedger,
    InvalidAnchorRequestError,
    Ledger,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
)
from realdid.ledger.evm import ScanPosition, load_anchor_artifact

if TYPE_CHECKING:
    from .conftest import AnvilProcess, RpcProxy

pytestmark = pytest.mark.integration

ARTIFACT = Path("src") / "realdid" / "ledger" / "contracts" / "RealDIDAnchor.json"
NOW = 1_700_000_000


def request(i: int) -> AnchorRequest:
    return AnchorRequest(
        batch_hash=hashlib.sha256(f"batch {i}".encode()).hexdigest(),
        merkle_root=hashlib.sha256(f"root {i}".encode()).hexdigest(),
        operation_count=i + 1,
    )


def address_of(key: bytes) -> str:
    return str(Account.from_key(key).address)


def anchor_count(url: str, address: str) -> int:
    w3 = Web3(Web3.HTTPProvider(url))
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=_abi())
    return int(contract.functions.anchorCount().call())


def _abi() -> Any:
    return load_anchor_artifact()["abi"]


@pytest.fixture
def open_ledger(tmp_path: Path) -> Iterator[Callable[..., EvmLedger]]:
    """``open_ledger(url, address, key, name, **options)``: an EvmLedger with short test
    timeouts and its state file in ``tmp_path``; closed at teardown."""
    opened: list[EvmLedger] = []

    def open_(url: str, address: str, key: bytes | None, name: str, **options: Any) -> EvmLedger:
        settings: dict[str, Any] = {
            "clock": FixedClock(NOW),
            "retry_timeout": 1.0,
            "request_timeout": 5.0,
            "receipt_timeout": 30.0,
            "poll_interval": 0.02,
            **options,
        }
        ledger = EvmLedger(url, address, key, tmp_path / f"{name}.db", **settings)
        opened.append(ledger)
        return ledger

    try:
        yield open_
    finally:
        for ledger in opened:
            ledger.close()


@pytest.fixture
def deployed(anvil: AnvilProcess, dev_keys: list[bytes]) -> str:
    """The anchor contract, admin = dev account 0, sole anchorer = dev account 1."""
    return EvmLedger.deploy(anvil.url, dev_keys[0], [address_of(dev_keys[1])])


def test_anchors_are_followed_in_order_once_confirmed(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
) -> None:
    writer = open_ledger(anvil.url, deployed, dev_keys[1], "writer", confirmations=2)
    follower = open_ledger(anvil.url, deployed, None, "follower", confirmations=2)
    assert isinstance(writer, Ledger)
    assert writer.name == follower.name == "evm"
    assert writer.anchorer_address == address_of(dev_keys[1])
    assert follower.anchorer_address is None
    assert Web3.is_checksum_address(deployed)

    anchored: list[Anchor] = []
    for i in range(3):
        anchor = writer.anchor(request(i))
        anchored.append(anchor)
        assert anchor.sequence == i
        assert (anchor.batch_hash, anchor.merkle_root, anchor.operation_count) == (
            request(i).batch_hash,
            request(i).merkle_root,
            request(i).operation_count,
        )
        assert anchor.anchorer == address_of(dev_keys[1])
        assert anchor.block_number == anvil.block_number() == writer.head()
        # Its own block is the head (depth 0): not confirmed; nor at depth 1.
        assert follower.anchors_after(-1, 10) == anchored[:i]
        anvil.mine(1)
        assert follower.anchors_after(-1, 10) == anchored[:i]
    anvil.mine(1)  # the last anchor is now 2 blocks deep
    assert follower.anchors_after(-1, 10) == anchored
    assert writer.anchors_after(-1, 10) == anchored  # a writer follows the same way

    assert follower.anchors_after(0, 1) == anchored[1:2]
    assert follower.anchors_after(2, 10) == []
    assert follower.anchors_after(-1, 0) == []
    assert len({a.transaction_id for a in anchored}) == 3
    assert all(a.timestamp > 0 and a.block_hash.startswith("0x") for a in anchored)
    assert anchor_count(anvil.url, deployed) == 3


def test_non_anchorer_is_refused_by_the_contract(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
) -> None:
    outsider = open_ledger(anvil.url, deployed, dev_keys[2], "outsider")
    with pytest.raises(AnchorRejectedError) as info:
        outsider.anchor(request(0))
    assert info.value.reason == "NotAnchorer"
    assert info.value.code == "anchor-rejected"
    assert isinstance(info.value, LedgerError)
    assert address_of(dev_keys[2]).lower() in info.value.detail.lower()
    # Refused at gas estimation: no transaction was sent, no anchor exists.
    assert int(anvil.rpc("eth_getTransactionCount", address_of(dev_keys[2]), "latest"), 16) == 0
    assert anchor_count(anvil.url, deployed) == 0
    anvil.mine(3)
    follower = open_ledger(anvil.url, deployed, None, "follower")
    assert follower.anchors_after(-1, 10) == []

    writer = open_ledger(anvil.url, deployed, dev_keys[1], "writer")
    with pytest.raises(AnchorRejectedError) as empty:
        writer.anchor(AnchorRequest(request(0).batch_hash, request(0).merkle_root, 0))
    assert empty.value.reason == "EmptyBatch"
    with pytest.raises(InvalidAnchorRequestError):
        writer.anchor(AnchorRequest("AB" * 32, request(0).merkle_root, 1))
    with pytest.raises(LedgerError, match="without an anchorer key"):
        follower.anchor(request(0))


def test_revert_inside_the_block_is_reported_with_its_reason(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
) -> None:
    """The permission is withdrawn in the same block, ahead of the anchor transaction: gas
    estimation passed, the mined transaction reverts, the reason is recovered by replay."""
    writer = open_ledger(anvil.url, deployed, dev_keys[1], "writer")
    writer.anchor(request(0))
    anvil.rpc("evm_setAutomine", False)
    outcome: dict[str, BaseException] = {}

    def anchor_in_background() -> None:
        try:
            writer.anchor(request(1))
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=anchor_in_background)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while int(anvil.rpc("txpool_status")["pending"], 16) < 1:
            assert time.monotonic() < deadline, "the anchor transaction never reached the pool"
            time.sleep(0.02)
        # The admin's removal pays a higher tip, so anvil (--order fees) puts it first.
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        admin = Account.from_key(dev_keys[0])
        contract = w3.eth.contract(address=Web3.to_checksum_address(deployed), abi=_abi())
        tx = contract.functions.removeAnchorer(address_of(dev_keys[1])).build_transaction(
            {
                "from": admin.address,
                "nonce": w3.eth.get_transaction_count(admin.address, "pending"),
                "maxPriorityFeePerGas": Web3.to_wei(50, "gwei"),
                "maxFeePerGas": Web3.to_wei(100, "gwei"),
            }
        )
        w3.eth.send_raw_transaction(admin.sign_transaction(tx).raw_transaction)
        anvil.mine(1)
        thread.join(30)
    finally:
        anvil.rpc("evm_setAutomine", True)
        thread.join(30)
    error = outcome.get("error")
    assert isinstance(error, AnchorRejectedError), error
    assert error.reason == "NotAnchorer"
    assert anchor_count(anvil.url, deployed) == 1


def test_admin_governs_the_anchorers(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
) -> None:
    member = address_of(dev_keys[3])
    ledger = open_ledger(anvil.url, deployed, dev_keys[3], "member")
    with EvmAnchorAdmin(anvil.url, deployed, dev_keys[0]) as admin:
        assert admin.admin() == admin.address == address_of(dev_keys[0])
        assert admin.is_anchorer(address_of(dev_keys[1]))
        assert not admin.is_anchorer(member)
        with pytest.raises(AnchorRejectedError, match="NotAnchorer"):
            ledger.anchor(request(0))

        admin.add_anchorer(member)
        admin.add_anchorer(member)  # idempotent
        assert admin.is_anchorer(member)
        assert ledger.anchor(request(0)).sequence == 0

        admin.remove_anchorer(member)
        assert not admin.is_anchorer(member)
        with pytest.raises(AnchorRejectedError) as removed:
            ledger.anchor(request(1))
        assert removed.value.reason == "NotAnchorer"

        with pytest.raises(AnchorRejectedError) as zero:
            admin.add_anchorer("0x" + "00" * 20)
        assert zero.value.reason == "ZeroAddress"

        with EvmAnchorAdmin(anvil.url, deployed, dev_keys[3]) as impostor:
            with pytest.raises(AnchorRejectedError) as not_admin:
                impostor.add_anchorer(member)
            assert not_admin.value.reason == "NotAdmin"

        # Two-step transfer: the proposal alone changes nothing, only the proposed accepts.
        successor_address = address_of(dev_keys[4])
        admin.propose_admin(successor_address)
        assert admin.admin() == address_of(dev_keys[0])
        with EvmAnchorAdmin(anvil.url, deployed, dev_keys[5]) as stranger:
            with pytest.raises(AnchorRejectedError) as not_pending:
                stranger.accept_admin()
            assert not_pending.value.reason == "NotPendingAdmin"
        with EvmAnchorAdmin(anvil.url, deployed, dev_keys[4]) as successor:
            successor.accept_admin()
            assert successor.admin() == successor_address
            successor.add_anchorer(member)
        with pytest.raises(AnchorRejectedError) as former:
            admin.remove_anchorer(member)
        assert former.value.reason == "NotAdmin"
        assert admin.is_anchorer(member)
    assert ledger.anchor(request(1)).sequence == 1


def test_follower_resumes_from_its_state_file(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
    rpc_proxy: Callable[..., RpcProxy],
) -> None:
    proxy = rpc_proxy(anvil.url)
    writer = open_ledger(anvil.url, deployed, dev_keys[1], "writer")
    written = [writer.anchor(request(i)) for i in range(3)]
    anvil.mine(2)

    follower = open_ledger(proxy.url, deployed, None, "follower")
    assert follower.scan_position == ScanPosition(-1, None, 0)
    assert follower.anchors_after(-1, 10) == written
    position = follower.scan_position
    head = anvil.block_number()
    assert position.block_number == head - 2
    assert position.block_hash == anvil.rpc("eth_getBlockByNumber", hex(head - 2), False)["hash"]
    assert position.updated_at == NOW
    follower.close()

    anvil.mine(5)
    later = writer.anchor(request(3))
    anvil.mine(2)
    proxy.clear()
    reopened = open_ledger(proxy.url, deployed, None, "follower")
    assert reopened.scan_position == position
    # Already stored anchors are served from the state file, without asking the chain.
    assert reopened.anchors_after(-1, 3) == written
    assert proxy.calls == []
    # New ones: the scan starts right after the stored position, not at block 0.
    assert reopened.anchors_after(2, 10) == [later]
    ranges = proxy.log_ranges()
    assert ranges
    assert ranges[0][0] == position.block_number + 1
    assert min(start for start, _ in ranges) > position.block_number
    assert reopened.anchors_after(-1, 10) == [*written, later]


def test_logs_are_read_in_pages(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
    rpc_proxy: Callable[..., RpcProxy],
) -> None:
    writer = open_ledger(anvil.url, deployed, dev_keys[1], "writer")
    written = []
    for i in range(5):
        written.append(writer.anchor(request(i)))
        anvil.mine(4)
    confirmed = anvil.block_number() - 2

    proxy = rpc_proxy(anvil.url)
    follower = open_ledger(proxy.url, deployed, None, "follower", log_page_blocks=2)
    assert follower.anchors_after(-1, 100) == written
    ranges = proxy.log_ranges()
    assert all(end - start + 1 <= 2 for start, end in ranges)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == confirmed
    # Consecutive, without overlap: every block is read exactly once.
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert follower.scan_position.block_number == confirmed


def test_page_is_halved_when_the_node_refuses_the_range(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
    rpc_proxy: Callable[..., RpcProxy],
) -> None:
    writer = open_ledger(anvil.url, deployed, dev_keys[1], "writer")
    written = []
    for i in range(4):
        written.append(writer.anchor(request(i)))
        anvil.mine(3)
    confirmed = anvil.block_number() - 2

    proxy = rpc_proxy(anvil.url, max_log_blocks=3)
    follower = open_ledger(proxy.url, deployed, None, "follower", log_page_blocks=64)
    assert follower.anchors_after(-1, 100) == written
    assert proxy.refused >= 1
    accepted = [(s, e) for s, e in proxy.log_ranges() if e - s + 1 <= 3]
    assert accepted[0][0] == 0
    assert accepted[-1][1] == confirmed
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(accepted))


def test_reorg_shallower_than_confirmations_never_reaches_the_follower(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
) -> None:
    writer = open_ledger(anvil.url, deployed, dev_keys[1], "writer", confirmations=2)
    follower = open_ledger(anvil.url, deployed, None, "follower", confirmations=2)
    first = writer.anchor(request(0))
    anvil.mine(2)
    assert follower.anchors_after(-1, 10) == [first]

    snapshot = anvil.snapshot()
    orphan = writer.anchor(request(1))  # mined, sequence 1 ...
    assert orphan.sequence == 1
    assert follower.anchors_after(-1, 10) == [first]
    anvil.mine(1)  # ... one block deep: still below the confirmation depth
    assert follower.anchors_after(-1, 10) == [first]

    # The fork: both blocks disappear (with the transaction), other blocks take their place.
    anvil.revert(snapshot)
    anvil.mine(3)
    assert follower.anchors_after(-1, 10) == [first]
    # The writer's nonce is one ahead of the chain now; the gap is filled and it anchors.
    replacement = writer.anchor(request(2))
    assert replacement.sequence == 1  # the contract's counter was reverted too
    anvil.mine(2)
    followed = follower.anchors_after(-1, 10)
    assert followed == [first, replacement]
    assert [a.sequence for a in followed] == [0, 1]
    assert orphan.transaction_id not in {a.transaction_id for a in followed}
    assert orphan.batch_hash not in {a.batch_hash for a in followed}
    assert writer.anchors_after(-1, 10) == followed


def test_reorg_deeper_than_confirmations_is_reported_not_followed(
    anvil: AnvilProcess,
    dev_keys: list[bytes],
    deployed: str,
    open_ledger: Callable[..., EvmLedger],
) -> None:
    writer = open_ledger(anvil.url, deployed, dev_keys[1], "writer")
    follower = open_ledger(anvil.url, deployed, None, "follower", confirmations=0)
    snapshot = anvil.snapshot()
    anchor = writer.anchor(request(0))
    assert follower.anchors_after(-1, 10) == [anchor]  # confirmations=0: taken at once

    anvil.revert(snapshot)
    anvil.mine(3)
    with pytest.raises(LedgerIntegrityError, match="reorganisation deeper"):
        follower.anchors_after(0, 10)


def test_chain_endpoint_down_then_back(
    anvil_factory: Callable[..., AnvilProcess],
    dev_keys: list[bytes],
    open_ledger: Callable[..., EvmLedger],
    dead_rpc_url: str,
) -> None:
    anvil = anvil_factory(state=True)
    address = EvmLedger.deploy(anvil.url, dev_keys[0], [address_of(dev_keys[1])])
    writer = open_ledger(anvil.url, address, dev_keys[1], "writer")
    follower = open_ledger(anvil.url, address, None, "follower")
    first = writer.anchor(request(0))
    anvil.mine(2)
    assert follower.anchors_after(-1, 10) == [first]

    anvil.stop()  # graceful: anvil writes its chain to the --state file
    started = time.monotonic()
    with pytest.raises(LedgerUnavailableError) as down:
        writer.anchor(request(1))
    assert down.value.code == "ledger-unavailable"
    with pytest.raises(LedgerUnavailableError):
        follower.anchors_after(0, 10)
    with pytest.raises(LedgerUnavailableError):
        follower.head()
    assert time.monotonic() - started < 20  # bounded by retry_timeout, not hanging

    anvil.start()  # same port, chain restored
    second = writer.anchor(request(1))
    assert second.sequence == 1
    anvil.mine(2)
    assert follower.anchors_after(-1, 10) == [first, second]

    # A URL where nothing ever listened behaves the same way.
    nowhere = open_ledger(dead_rpc_url, address, None, "nowhere")
    with pytest.raises(LedgerUnavailableError):
        nowhere.anchors_after(-1, 10)


def test_state_file_is_pinned_to_its_contract(
    dev_keys: list[bytes], open_ledger: Callable[..., EvmLedger], dead_rpc_url: str
) -> None:
    open_ledger(dead_rpc_url, address_of(dev_keys[8]), None, "pinned").close()
    with pytest.raises(LedgerError, match="follows contract"):
        open_ledger(dead_rpc_url, address_of(dev_keys[9]), None, "pinned")
    with pytest.raises(ValueError, match="32-byte"):
        open_ledger(dead_rpc_url, address_of(dev_keys[8]), b"short", "other")


def test_committed_contract_artifact_matches_a_fresh_build(
    repo_with_solc: Path, tmp_path: Path
) -> None:
    rebuilt = tmp_path / "RealDIDAnchor.json"
    subprocess.run(
        ["node", "scripts/build_contracts.mjs", "--out", str(rebuilt)],
        cwd=repo_with_solc,
        check=True,
        capture_output=True,
        timeout=300,
    )
    committed = (repo_with_solc / ARTIFACT).read_bytes()
    assert rebuilt.read_bytes() == committed, (
        "src/realdid/ledger/contracts/RealDIDAnchor.json is stale: run `make contracts`"
    )
    artifact = load_anchor_artifact()
    assert artifact["contractName"] == "RealDIDAnchor"
    assert artifact["compiler"]["settings"]["evmVersion"] == "cancun"
    assert {e["name"] for e in artifact["abi"] if e["type"] == "error"} >= {
        "NotAdmin",
        "NotAnchorer",
        "EmptyBatch",
        "ZeroAddress",
    }
