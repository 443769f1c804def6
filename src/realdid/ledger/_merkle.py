"""RFC 9162 (Certificate Transparency v2) section 2.1 Merkle trees over batch operations.

Written by hand rather than on top of a library for two reasons: the wire format of a
serialised tree is a compact run of leaf hashes (levels are recomputed on load), and building
or proving over a 100,000-operation batch must stay far below a second. ``pymerkle`` serves
as an independent oracle in the unit tests, next to a recursive transcription of the RFC.

Hashing follows RFC 9162 section 2.1.1: ``MTH({})`` is SHA-256 of the empty string, a leaf
is ``SHA-256(0x00 || d)`` and an interior node ``SHA-256(0x01 || left || right)``; the
prefixes keep leaves and nodes apart (no second-preimage attack by re-reading a node as a
leaf). Example::

    >>> tree = MerkleTree.from_leaves([b"op-0", b"op-1", b"op-2"])
    >>> proof = tree.inclusion_proof(2)
    >>> verify_inclusion(leaf_hash(b"op-2"), 2, tree.size, proof, tree.root)
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence

from ._interface import LedgerError

__all__ = [
    "HASH_SIZE",
    "MerkleEncodingError",
    "MerkleProofError",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "verify_inclusion",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
# Serialised tree: magic, format version, big-endian leaf count, then the leaf hashes.
_MAGIC = b"RDMT"
_VERSION = 1
_HEADER = struct.Struct(">4sBQ")
# A proof for a tree of at most 2**64 leaves has at most 64 hashes; anything longer is junk.
_MAX_PROOF_LENGTH = 64

_sha256 = hashlib.sha256


class MerkleProofError(LedgerError):
    """An inclusion proof does not prove the leaf against the claimed root and size."""

    code = "invalid-inclusion-proof"


class MerkleEncodingError(LedgerError):
    """Bytes that are not a serialised :class:`MerkleTree`, or leaf hashes of a wrong size."""

    code = "invalid-merkle-tree"


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 section 2.1.1: ``MTH({d(0)}) = SHA-256(0x00 || d(0))``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 section 2.1.1: an interior node, ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _build_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """All levels bottom-up; an unpaired last node is promoted unchanged to the next level.

    Promotion yields exactly RFC 9162's MTH, whose split point ``k`` is the largest power of
    two below ``n``: the left ``k`` leaves always form a perfect subtree, and the unpaired
    node at a level is the root of the right-hand remainder that is still waiting for a
    sibling of its own height.
    """
    levels = [leaves]
    level = leaves
    while len(level) > 1:
        sha, prefix = _sha256, _NODE_PREFIX
        upper = [
            sha(prefix + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            upper.append(level[-1])
        levels.append(upper)
        level = upper
    return levels


class MerkleTree:
    """An immutable Merkle tree over a batch's operations (RFC 9162 section 2.1.1)."""

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        """Build from leaf *hashes*; prefer the named constructors, which say what they take."""
        leaves = list(leaf_hashes)
        for i, h in enumerate(leaves):
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise MerkleEncodingError(f"leaf hash {i} is not {HASH_SIZE} bytes")
        self._levels = _build_levels(leaves)

    @classmethod
    def from_leaves(cls, leaves: Sequence[bytes]) -> MerkleTree:
        """Tree over leaf *data*: each entry is hashed with :func:`leaf_hash`."""
        sha, prefix = _sha256, _LEAF_PREFIX
        return cls([sha(prefix + d).digest() for d in leaves])

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Sequence[bytes]) -> MerkleTree:
        """Tree over already computed leaf hashes (32 bytes each)."""
        return cls(leaf_hashes)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """``MTH(D[n])``; for the empty tree, SHA-256 of the empty string (section 2.1.1)."""
        if not self._levels[0]:
            return _sha256(b"").digest()
        return self._levels[-1][0]

    @property
    def leaf_hashes(self) -> tuple[bytes, ...]:
        return tuple(self._levels[0])

    def leaf_hash(self, index: int) -> bytes:
        self._check_index(index)
        return self._levels[0][index]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """``PATH(index, D[n])`` of RFC 9162 section 2.1.3.1, ordered leaf to root.

        At each level the sibling of the current node is emitted if it exists; a promoted
        node has none, which is exactly where the RFC's recursion descends without adding a
        hash. Raises :class:`IndexError` when ``index`` is not a leaf of this tree.
        """
        self._check_index(index)
        proof: list[bytes] = []
        i = index
        for level in self._levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            i >>= 1
        return proof

    def to_bytes(self) -> bytes:
        """Compact form: ``b"RDMT"``, version byte, uint64 leaf count, the leaf hashes."""
        return _HEADER.pack(_MAGIC, _VERSION, self.size) + b"".join(self._levels[0])

    @classmethod
    def from_bytes(cls, data: bytes) -> MerkleTree:
        """Inverse of :meth:`to_bytes`; raise :class:`MerkleEncodingError` on bad input."""
        if len(data) < _HEADER.size:
            raise MerkleEncodingError("serialised Merkle tree is truncated")
        magic, version, count = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise MerkleEncodingError("not a serialised Merkle tree (bad magic or version)")
        body = memoryview(data)[_HEADER.size :]
        if len(body) != count * HASH_SIZE:
            raise MerkleEncodingError(
                f"serialised Merkle tree declares {count} leaves but carries {len(body)} bytes"
            )
        raw = bytes(body)
        return cls([raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MerkleTree):
            return NotImplemented
        return self._levels[0] == other._levels[0]

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"MerkleTree(size={self.size}, root={self.root.hex()})"

    def _check_index(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size:
            raise IndexError(f"leaf index {index!r} out of range for a tree of {self.size}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify ``proof`` per RFC 9162 section 2.1.3.2; raise :class:`MerkleProofError`.

    The steps below are the RFC's, numbered as there. Hashes of the wrong size are refused
    up front so that no malformed input reaches the hash function.
    """
    for name, value in (("leaf hash", leaf_hash), ("root", root)):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise MerkleProofError(f"{name} is not {HASH_SIZE} bytes")
    if len(proof) > _MAX_PROOF_LENGTH:
        raise MerkleProofError("inclusion proof is too long")
    if any(not isinstance(p, bytes) or len(p) != HASH_SIZE for p in proof):
        raise MerkleProofError(f"inclusion proof holds a hash that is not {HASH_SIZE} bytes")
    for name, number in (("leaf index", index), ("tree size", tree_size)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise MerkleProofError(f"{name} must be a non-negative integer")
    # 1. leaf_index must be below tree_size.
    if index >= tree_size:
        raise MerkleProofError(f"leaf index {index} is not below tree size {tree_size}")
    # 2. fn = leaf_index, sn = tree_size - 1;  3. r = hash.
    fn, sn = index, tree_size - 1
    r = leaf_hash
    # 4. for each p in the path:
    for p in proof:
        # 4a. a path longer than the tree is tall fails.
        if sn == 0:
            raise MerkleProofError("inclusion proof is longer than the tree is tall")
        # 4b. fn is a right child, or the last node of its level (a promoted node).
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # 4b.ii. climb past the levels where this node was promoted unpaired.
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # 4c.
        fn >>= 1
        sn >>= 1
    # 5. the path must reach the root level, and reproduce the root hash.
    if sn != 0:
        raise MerkleProofError("inclusion proof is shorter than the tree is tall")
    if not hmac.compare_digest(r, root):
        raise MerkleProofError("inclusion proof does not lead to the root hash")
