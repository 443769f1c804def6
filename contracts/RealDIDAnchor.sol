// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title RealDID batch anchor registry
/// @author RealDID
/// @notice Orders the batches of did:realdid operations written by the members of a registry
/// consortium (ARCHITECTURE.md section 5). Each call to `anchor` records one batch as the
/// triple (batch hash, Merkle root, operation count) under the next sequence number and emits
/// `Anchored`; every registry node follows those events in sequence order to build its index.
/// @dev Operations and batch files never touch the chain: they live in content-addressed
/// storage, and nodes verify a fetched batch against `batchHash` and `merkleRoot` before use.
/// The contract keeps no per-anchor storage; the event log is the record, and the gap-free
/// `sequence` lets a follower detect a missed event.
contract RealDIDAnchor {
    /// @notice The account allowed to govern the anchorer set and to hand over this role.
    address public admin;

    /// @notice The account proposed by `proposeAdmin`, which must call `acceptAdmin`.
    /// @dev Two-step transfer: a typo in the new address cannot orphan the contract.
    address public pendingAdmin;

    /// @notice The sequence number the next anchor will receive; anchors are numbered from 0.
    uint64 public anchorCount;

    mapping(address account => bool permitted) private _anchorers;

    /// @notice `anchorer` may now call `anchor`.
    event AnchorerAdded(address indexed anchorer);

    /// @notice `anchorer` may no longer call `anchor`.
    event AnchorerRemoved(address indexed anchorer);

    /// @notice `currentAdmin` proposed `proposedAdmin` as the next admin.
    event AdminTransferProposed(address indexed currentAdmin, address indexed proposedAdmin);

    /// @notice The admin role moved from `previousAdmin` to `newAdmin` (also emitted by the
    /// constructor, with `previousAdmin` zero).
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);

    /// @notice A batch was anchored.
    /// @param sequence Position of this anchor in ledger order (0, 1, 2, ...; no gaps).
    /// @param batchHash SHA-256 of the batch file, its content address.
    /// @param merkleRoot RFC 9162 Merkle tree root over the batch's operations.
    /// @param operationCount Number of operations in the batch (at least 1).
    /// @param anchorer The permitted anchorer that sent the transaction.
    event Anchored(
        uint64 indexed sequence,
        bytes32 indexed batchHash,
        bytes32 merkleRoot,
        uint32 operationCount,
        address indexed anchorer
    );

    /// @notice The caller is not the admin.
    error NotAdmin(address caller);

    /// @notice The caller is not the pending admin.
    error NotPendingAdmin(address caller);

    /// @notice The caller is not a permitted anchorer.
    error NotAnchorer(address caller);

    /// @notice An anchor must cover at least one operation.
    error EmptyBatch();

    /// @notice The zero address cannot hold a role.
    error ZeroAddress();

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    /// @param initialAdmin The account that governs the anchorer set; it is not an anchorer
    /// itself unless it adds itself.
    constructor(address initialAdmin) {
        if (initialAdmin == address(0)) revert ZeroAddress();
        admin = initialAdmin;
        emit AdminTransferred(address(0), initialAdmin);
    }

    /// @notice Start handing the admin role to `newAdmin`; it takes effect when `newAdmin`
    /// calls `acceptAdmin`. A later proposal replaces an earlier one.
    function proposeAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        pendingAdmin = newAdmin;
        emit AdminTransferProposed(msg.sender, newAdmin);
    }

    /// @notice Complete the transfer started by `proposeAdmin`; only the proposed account
    /// may call it.
    function acceptAdmin() external {
        if (msg.sender != pendingAdmin) revert NotPendingAdmin(msg.sender);
        address previous = admin;
        admin = msg.sender;
        pendingAdmin = address(0);
        emit AdminTransferred(previous, msg.sender);
    }

    /// @notice Permit `account` to anchor batches. Adding a permitted anchorer again is a
    /// no-op (no event), so that a deployment script can be re-run safely.
    function addAnchorer(address account) external onlyAdmin {
        if (account == address(0)) revert ZeroAddress();
        if (_anchorers[account]) return;
        _anchorers[account] = true;
        emit AnchorerAdded(account);
    }

    /// @notice Withdraw the permission of `account`. Anchors it made earlier stay valid:
    /// the ledger is append-only. Removing a non-anchorer is a no-op (no event).
    function removeAnchorer(address account) external onlyAdmin {
        if (!_anchorers[account]) return;
        _anchorers[account] = false;
        emit AnchorerRemoved(account);
    }

    /// @notice Whether `account` may currently call `anchor`.
    function isAnchorer(address account) external view returns (bool) {
        return _anchorers[account];
    }

    /// @notice Anchor one batch and return its sequence number.
    /// @dev `operationCount` is bounded by uint32; the registry caps batches far below that.
    /// The hashes are not interpreted here: nodes reject anchors whose batch does not match.
    /// @param batchHash SHA-256 of the batch file.
    /// @param merkleRoot RFC 9162 Merkle tree root over the batch's operations.
    /// @param operationCount Number of operations in the batch; must not be zero.
    /// @return sequence The anchor's position in ledger order.
    function anchor(bytes32 batchHash, bytes32 merkleRoot, uint32 operationCount)
        external
        returns (uint64 sequence)
    {
        if (!_anchorers[msg.sender]) revert NotAnchorer(msg.sender);
        if (operationCount == 0) revert EmptyBatch();
        sequence = anchorCount;
        anchorCount = sequence + 1;
        emit Anchored(sequence, batchHash, merkleRoot, operationCount, msg.sender);
    }
}
