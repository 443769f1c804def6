"""The *solo* ledger: a single-signer, hash-chained, signed block log in a database.

The embedded default backend of ARCHITECTURE.md section 5, for development and
single-operator deployments. Each anchor is one block; block height is the anchor sequence.
A block header is hashed as the SHA-256 of its RFC 8785 canonical JSON, links to the previous
block's hash, and is signed by the operator's key over a domain-separated message. The first
block pins that key: a later writer with another key is refused, and :meth:`SoloLedger.verify`
walks the whole log so that any edit of the database is found and located. Example::

    >>> import tempfile, pathlib
    >>> from realdid.clock import FixedClock
    >>> from realdid.crypto import LocalSigner
    >>> from realdid.ledger import AnchorRequest
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "solo.db"
    >>> signer = LocalSigner.generate()
    >>> with SoloLedger(path, signer, FixedClock(1_700_000_000)) as ledger:
    ...     anchor = ledger.anchor(AnchorRequest("ab" * 32, "cd" * 32, 3))
    ...     report = ledger.verify(signer.public_key)
    >>> anchor.sequence, report.block_count
    (0, 1)

The log is a :class:`~realdid.storage.Database` (store ``solo``): a SQLite file, or the
schema ``solo`` of a PostgreSQL database, so every process of a node reads the same log.

Truncation of the newest blocks cannot be detected from the file alone; compare
:attr:`VerifyReport.head_hash` with a copy kept elsewhere (e.g. by peers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from realdid.clock import Clock
from realdid.crypto import (
    DEFAULT_POLICY,
    CryptoError,
    PublicKey,
    Signer,
    canonicalize,
    sha256,
    verify_signature,
)
from realdid.storage import (
    Database,
    StorageError,
    StoreLocation,
    Transaction,
    is_postgres_url,
    migrations_of,
    open_database,
)

from ._interface import (
    Anchor,
    AnchorRequest,
    ClosedOnExit,
    LedgerError,
    LedgerIntegrityError,
    LedgerUnavailableError,
    is_hex_digest,
    is_unsigned,
)

__all__ = [
    "GENESIS_PREVIOUS_HASH",
    "Block",
    "BlockIntegrityError",
    "SoloLedger",
    "VerifyReport",
]

GENESIS_PREVIOUS_HASH: Final = "0" * 64
# Domain separation: a block signature can never be replayed as any other RealDID signature.
BLOCK_SIGNATURE_CONTEXT: Final = b"realdid-solo-block-v1\n"
_FORMAT: Final = "realdid-solo-v1"
_HEADER_KEYS: Final = frozenset(
    {
        "height",
        "previousHash",
        "timestamp",
        "batchHash",
        "merkleRoot",
        "operationCount",
        "signer",
    }
)

_INSERT_BLOCK = """
INSERT INTO blocks (height, previous_hash, timestamp, batch_hash, merkle_root,
                    operation_count, signer, block_hash, signature)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_SELECT_BLOCKS = """
SELECT height, previous_hash, timestamp, batch_hash, merkle_root, operation_count, signer,
       block_hash, signature
FROM blocks WHERE height > ? ORDER BY height LIMIT ?
"""
#: Blocks read per query while :meth:`SoloLedger.verify` walks the log.
_VERIFY_PAGE: Final = 1000


class BlockIntegrityError(LedgerIntegrityError):
    """A stored block is inconsistent; ``height`` says which one, ``reason`` what is wrong."""

    def __init__(self, height: int, reason: str) -> None:
        super().__init__(f"block {height}: {reason}")
        self.height = height
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Block:
    """A solo block header: everything the block hash and the signature cover."""

    height: int
    previous_hash: str
    timestamp: int
    batch_hash: str
    merkle_root: str
    operation_count: int
    signer: str

    def __post_init__(self) -> None:
        for name in ("height", "timestamp", "operation_count"):
            if not is_unsigned(getattr(self, name)):
                raise ValueError(f"{name} must be a non-negative integer")
        for name in ("previous_hash", "batch_hash", "merkle_root"):
            if not is_hex_digest(getattr(self, name)):
                raise ValueError(f"{name} must be 64 lowercase hex characters")
        if not isinstance(self.signer, str) or not self.signer.startswith("z"):
            raise ValueError("signer must be a publicKeyMultibase")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Block:
        """Parse a header; unknown members are refused since the header is hashed as is."""
        if not isinstance(data, Mapping) or set(data) != _HEADER_KEYS:
            raise ValueError(f"block header must have exactly the members {sorted(_HEADER_KEYS)}")
        return cls(
            height=data["height"],
            previous_hash=data["previousHash"],
            timestamp=data["timestamp"],
            batch_hash=data["batchHash"],
            merkle_root=data["merkleRoot"],
            operation_count=data["operationCount"],
            signer=data["signer"],
        )

    def to_dict(self) -> dict[str, str | int]:
        return {
            "height": self.height,
            "previousHash": self.previous_hash,
            "timestamp": self.timestamp,
            "batchHash": self.batch_hash,
            "merkleRoot": self.merkle_root,
            "operationCount": self.operation_count,
            "signer": self.signer,
        }

    @property
    def block_hash(self) -> str:
        """Lowercase hex SHA-256 of the RFC 8785 canonical JSON of the header."""
        return sha256(canonicalize(self.to_dict())).hex()

    def signing_message(self) -> bytes:
        """``b"realdid-solo-block-v1\\n" || block hash bytes``, what the signer signs."""
        return BLOCK_SIGNATURE_CONTEXT + bytes.fromhex(self.block_hash)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of a successful :meth:`SoloLedger.verify`."""

    block_count: int
    head_height: int
    head_hash: str | None
    signer: str | None


@dataclass(frozen=True, slots=True)
class _StoredBlock:
    """One row of ``blocks`` as read back (columns of :data:`_SELECT_BLOCKS`)."""

    height: int
    previous_hash: str
    timestamp: int
    batch_hash: str
    merkle_root: str
    operation_count: int
    signer: str
    block_hash: str
    signature: object

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> _StoredBlock:
        height, previous, timestamp, batch, root, count, signer, block_hash, signature = row
        if isinstance(signature, memoryview):
            signature = bytes(signature)
        return cls(height, previous, timestamp, batch, root, count, signer, block_hash, signature)

    def to_anchor(self) -> Anchor:
        return Anchor(
            sequence=self.height,
            batch_hash=self.batch_hash,
            merkle_root=self.merkle_root,
            operation_count=self.operation_count,
            block_number=self.height,
            block_hash=self.block_hash,
            transaction_id=self.block_hash,
            timestamp=self.timestamp,
            anchorer=self.signer,
        )


class SoloLedger(ClosedOnExit):
    """The solo :class:`~realdid.ledger.Ledger` backend.

    Safe to share between threads and processes: an append holds the ``solo-append`` lock
    of the database (SQLite's write lock; a PostgreSQL advisory lock), so appends from
    several processes are ordered and each links to the block before it.
    ``where`` is the SQLite file, a ``postgresql://`` URL or an open
    :class:`~realdid.storage.Database`.
    """

    def __init__(self, where: Database | StoreLocation, signer: Signer, clock: Clock) -> None:
        self._signer: Signer | None = signer
        self._signer_id: str | None = signer.public_key.to_multibase()
        self._clock = clock
        self._db = self._open(where, read_only=False)
        try:
            pinned = self._meta("signer")
            if pinned is not None and pinned != self._signer_id:
                raise LedgerIntegrityError(
                    f"this ledger is pinned to signer {pinned}, not {self._signer_id}"
                )
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open_readonly(cls, where: Database | StoreLocation) -> SoloLedger:
        """Open an existing ledger without a key, to read and :meth:`verify` it."""
        self = cls.__new__(cls)
        self._signer = None
        self._signer_id = None
        self._db = cls._open(where, read_only=True)
        return self

    @staticmethod
    def _open(where: Database | StoreLocation, *, read_only: bool) -> Database:
        local = not isinstance(where, Database) and not is_postgres_url(where)
        if read_only and local and not Path(str(where)).is_file():
            raise LedgerUnavailableError(f"no solo ledger at {where}")
        try:
            db = open_database(
                where,
                store="solo",
                migrations=migrations_of("realdid.ledger", "solo"),
                read_only=read_only,
            )
        except StorageError as e:
            raise LedgerUnavailableError(f"cannot open the solo ledger: {e}") from e
        try:
            with db.reading() as tx:
                fmt = tx.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except StorageError as e:
            db.close()
            raise LedgerUnavailableError(f"cannot open the solo ledger: {e}") from e
        if fmt is None or fmt[0] != _FORMAT:
            db.close()
            raise LedgerError(f"the database is not a {_FORMAT} ledger")
        return db

    # -- Ledger protocol --------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "solo"

    @property
    def signer(self) -> str | None:
        """The pinned signer's publicKeyMultibase (``None`` before the first block)."""
        return self._meta("signer")

    def anchor(self, request: AnchorRequest) -> Anchor:
        """Append one signed block for ``request``; durable when this returns.

        The timestamp is the clock's, raised to the previous block's if the clock went back,
        so that block timestamps never decrease.
        """
        if self._signer is None or self._signer_id is None:
            raise LedgerError("solo ledger opened read-only cannot anchor")
        request.check()
        try:
            with self._db.transaction() as tx:
                tx.lock("solo-append")
                block, block_hash = self._append(tx, request, self._signer, self._signer_id)
        except StorageError as e:
            raise LedgerUnavailableError(f"solo ledger could not append: {e}") from e
        return Anchor(
            sequence=block.height,
            batch_hash=block.batch_hash,
            merkle_root=block.merkle_root,
            operation_count=block.operation_count,
            block_number=block.height,
            block_hash=block_hash,
            transaction_id=block_hash,
            timestamp=block.timestamp,
            anchorer=block.signer,
        )

    def _append(
        self, tx: Transaction, request: AnchorRequest, signer: Signer, signer_id: str
    ) -> tuple[Block, str]:
        """Sign and insert the block after the current head, inside ``tx``."""
        row = tx.execute("SELECT value FROM meta WHERE key = 'signer'").fetchone()
        pinned = None if row is None else str(row[0])
        if pinned is not None and pinned != signer_id:
            raise LedgerIntegrityError(f"this ledger is pinned to signer {pinned}, not {signer_id}")
        last = tx.execute(
            "SELECT height, block_hash, timestamp FROM blocks ORDER BY height DESC LIMIT 1"
        ).fetchone()
        if last is None:
            height, previous, not_before = 0, GENESIS_PREVIOUS_HASH, 0
        else:
            height, previous, not_before = last[0] + 1, last[1], last[2]
        block = Block(
            height=height,
            previous_hash=previous,
            timestamp=max(self._clock.now(), not_before),
            batch_hash=request.batch_hash,
            merkle_root=request.merkle_root,
            operation_count=request.operation_count,
            signer=signer_id,
        )
        block_hash = block.block_hash
        signature = signer.sign(block.signing_message())
        tx.execute(
            _INSERT_BLOCK,
            (
                block.height,
                block.previous_hash,
                block.timestamp,
                block.batch_hash,
                block.merkle_root,
                block.operation_count,
                block.signer,
                block_hash,
                signature,
            ),
        )
        if pinned is None:
            tx.execute("INSERT INTO meta (key, value) VALUES ('signer', ?)", (signer_id,))
        return block, block_hash

    def anchors_after(self, sequence: int, limit: int) -> list[Anchor]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        return [block.to_anchor() for block in self._blocks_after(sequence, limit)]

    def _blocks_after(self, height: int, limit: int) -> list[_StoredBlock]:
        try:
            with self._db.reading() as tx:
                rows = tx.execute(_SELECT_BLOCKS, (height, limit)).fetchall()
        except StorageError as e:
            raise LedgerUnavailableError(f"solo ledger could not be read: {e}") from e
        return [_StoredBlock.of(row) for row in rows]

    def head(self) -> int:
        """Height of the newest block, ``-1`` when the ledger is empty."""
        try:
            with self._db.reading() as tx:
                row = tx.execute("SELECT MAX(height) FROM blocks").fetchone()
        except StorageError as e:
            raise LedgerUnavailableError(f"solo ledger could not be read: {e}") from e
        return -1 if row[0] is None else int(row[0])

    def close(self) -> None:
        self._db.close()

    # -- verification -----------------------------------------------------------------------
    def verify(self, expected_signer: PublicKey | None = None) -> VerifyReport:
        """Walk every block and raise :class:`LedgerIntegrityError` at the first fault.

        For each block, in order: the height is the next one; the header parses; the stored
        hash equals the hash recomputed from the header columns; ``previousHash`` is the
        previous block's hash (64 zeros for block 0); the timestamp does not decrease; the
        block names the pinned signer; the signature verifies under it. Pass
        ``expected_signer`` (the operator's key, known out of band) to also check the pin
        itself; without it, a wholesale rewrite under another key is not detectable.

        The walk reads the log a page at a time: blocks appended meanwhile are walked
        too (the log only grows at its head), and none is held in memory twice.
        """
        return self._verify(expected_signer)

    def _all_blocks(self) -> Iterator[_StoredBlock]:
        height = -1
        while page := self._blocks_after(height, _VERIFY_PAGE):
            yield from page
            height = page[-1].height

    def _verify(self, expected_signer: PublicKey | None) -> VerifyReport:
        pinned = self._meta("signer")
        expected_id = expected_signer.to_multibase() if expected_signer is not None else None
        if pinned is not None and expected_id is not None and pinned != expected_id:
            raise LedgerIntegrityError(
                f"ledger is pinned to signer {pinned}, expected {expected_id}"
            )
        signer_key: PublicKey | None = None
        if pinned is not None:
            try:
                signer_key = PublicKey.from_multibase(pinned)
            except CryptoError as e:
                raise LedgerIntegrityError(f"pinned signer is not a valid key: {e}") from e

        count = 0
        previous_hash, previous_ts = GENESIS_PREVIOUS_HASH, 0
        for row in self._all_blocks():
            height = count
            if row.height != height:
                raise BlockIntegrityError(height, f"missing (next stored height is {row.height})")
            if signer_key is None:
                raise BlockIntegrityError(height, "no pinned signer recorded in meta")
            try:
                block = Block(
                    height=row.height,
                    previous_hash=row.previous_hash,
                    timestamp=row.timestamp,
                    batch_hash=row.batch_hash,
                    merkle_root=row.merkle_root,
                    operation_count=row.operation_count,
                    signer=row.signer,
                )
            except ValueError as e:
                raise BlockIntegrityError(height, f"malformed header: {e}") from e
            if block.block_hash != row.block_hash:
                raise BlockIntegrityError(height, "stored hash does not match header")
            if block.previous_hash != previous_hash:
                if height == 0:
                    raise BlockIntegrityError(height, "previousHash of the first block is not zero")
                raise BlockIntegrityError(
                    height, f"previousHash does not link to block {height - 1}"
                )
            if block.timestamp < previous_ts:
                raise BlockIntegrityError(height, f"timestamp decreases from block {height - 1}")
            if block.signer != pinned:
                raise BlockIntegrityError(height, f"signer {block.signer} is not the pinned signer")
            signature = row.signature
            if not isinstance(signature, bytes):
                raise BlockIntegrityError(height, "signature is not stored as bytes")
            try:
                verify_signature(
                    signer_key, block.signing_message(), signature, policy=DEFAULT_POLICY
                )
            except CryptoError as e:
                raise BlockIntegrityError(height, "signature does not verify") from e
            previous_hash, previous_ts = row.block_hash, block.timestamp
            count += 1
        return VerifyReport(
            block_count=count,
            head_height=count - 1,
            head_hash=previous_hash if count else None,
            signer=pinned,
        )

    def _meta(self, key: str) -> str | None:
        try:
            with self._db.reading() as tx:
                row = tx.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except StorageError as e:
            raise LedgerUnavailableError(f"solo ledger could not be read: {e}") from e
        return None if row is None else str(row[0])
