"""Batch files: the content-addressed files that carry operations (docs/did-method.md §6).

A batch file is the gzip compression of the operations' RFC 8785 canonical bytes joined by
``\\n`` (canonical JSON never contains a raw newline). Its address and *batch hash* is the
hex SHA-256 of the compressed bytes. The Merkle tree of a batch has one leaf per operation
whose leaf data is the operation's 32-byte hash, so a resolver can prove that a DID's
``versionId`` is in an anchored batch without shipping the batch.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence

from ._interface import LedgerError

MAX_BATCH_OPERATIONS = 100_000
MAX_BATCH_BYTES = 64 * 1024 * 1024  # decompressed; refuses decompression bombs


class InvalidBatchError(LedgerError):
    """A batch file that cannot be decoded (corrupt, oversized or too many operations)."""

    code = "invalid-batch"


def encode_batch(operations: Sequence[bytes]) -> bytes:
    """Compress canonical operations into a batch file (``mtime=0`` for stable bytes)."""
    if not operations or len(operations) > MAX_BATCH_OPERATIONS:
        raise InvalidBatchError(f"a batch holds 1 to {MAX_BATCH_OPERATIONS} operations")
    return gzip.compress(b"\n".join(operations), compresslevel=6, mtime=0)


def decode_batch(data: bytes) -> list[bytes]:
    """Decompress a batch file into its lines, refusing anything over the size caps."""
    decompressor = zlib.decompressobj(wbits=31)  # 31 = gzip container
    try:
        raw = decompressor.decompress(data, MAX_BATCH_BYTES + 1)
    except zlib.error as e:
        raise InvalidBatchError("batch file is not valid gzip") from e
    if len(raw) > MAX_BATCH_BYTES or decompressor.unconsumed_tail:
        raise InvalidBatchError(f"batch file expands beyond {MAX_BATCH_BYTES} bytes")
    if not decompressor.eof or decompressor.unused_data:
        raise InvalidBatchError("batch file is truncated or has trailing data")
    lines = raw.split(b"\n")
    if len(lines) > MAX_BATCH_OPERATIONS:
        raise InvalidBatchError(f"batch file holds more than {MAX_BATCH_OPERATIONS} operations")
    return lines
