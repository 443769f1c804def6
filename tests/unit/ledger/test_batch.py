"""Batch files (realdid.ledger._batch): round trip, size caps, hostile gzip."""

from __future__ import annotations

import gzip
import hashlib
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realdid.ledger import (
    MAX_BATCH_OPERATIONS,
    InvalidBatchError,
    LedgerError,
    decode_batch,
    encode_batch,
)
from realdid.ledger._batch import MAX_BATCH_BYTES

OPERATIONS = [b'{"type":"create","n":0}', b'{"type":"create","n":1}', b'{"type":"update"}']

# Canonical JSON never holds a raw newline, so batch lines are newline-free byte strings.
lines = st.binary(max_size=200).filter(lambda b: b"\n" not in b)


def gzip_stream(total: int, byte: bytes = b"\0", chunk: int = 1 << 20) -> bytes:
    """gzip of ``total`` copies of ``byte``, compressed in chunks so memory stays at ``chunk``."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = byte * chunk
    out = []
    remaining = total
    while remaining:
        n = min(remaining, chunk)
        out.append(compressor.compress(block[:n]))
        remaining -= n
    out.append(compressor.flush())
    return b"".join(out)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A real decompression bomb: ~64 KiB of gzip that expands one byte past the cap."""
    data = gzip_stream(MAX_BATCH_BYTES + 1)
    assert len(data) < 1024 * 1024
    return data


# -- round trip --------------------------------------------------------------------------------
def test_round_trip() -> None:
    assert decode_batch(encode_batch(OPERATIONS)) == OPERATIONS


@given(st.lists(lines, min_size=1, max_size=50))
def test_round_trip_property(operations: list[bytes]) -> None:
    assert decode_batch(encode_batch(operations)) == operations


def test_encoding_is_deterministic_and_gzip() -> None:
    first, second = encode_batch(OPERATIONS), encode_batch(OPERATIONS)
    assert first == second  # mtime=0: same operations, same batch hash on every node
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()
    assert gzip.decompress(first) == b"\n".join(OPERATIONS)


def test_single_operation_round_trip() -> None:
    assert decode_batch(encode_batch([b"{}"])) == [b"{}"]


def test_largest_batch_round_trips() -> None:
    operations = [b"x"] * MAX_BATCH_OPERATIONS
    assert decode_batch(encode_batch(operations)) == operations


# -- encode refusals ---------------------------------------------------------------------------
def test_encode_refuses_empty_batch() -> None:
    with pytest.raises(InvalidBatchError):
        encode_batch([])


def test_encode_refuses_too_many_operations() -> None:
    with pytest.raises(InvalidBatchError, match=str(MAX_BATCH_OPERATIONS)):
        encode_batch([b"x"] * (MAX_BATCH_OPERATIONS + 1))


def test_error_is_a_ledger_error_with_stable_code() -> None:
    assert issubclass(InvalidBatchError, LedgerError)
    assert InvalidBatchError.code == "invalid-batch"


# -- decode refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not gzip at all",
        b'{"type":"create"}',
        zlib.compress(b'{"type":"create"}'),  # zlib container, not gzip
        b"\x1f\x8b",  # gzip magic only
    ],
    ids=["empty", "text", "raw-json", "zlib-container", "magic-only"],
)
def test_decode_refuses_non_gzip(data: bytes) -> None:
    with pytest.raises(InvalidBatchError):
        decode_batch(data)


def test_decode_refuses_corrupt_deflate_stream() -> None:
    good = encode_batch(OPERATIONS * 20)
    corrupt = bytearray(good)
    corrupt[len(good) // 2] ^= 0xFF
    with pytest.raises(InvalidBatchError):
        decode_batch(bytes(corrupt))


def test_decode_refuses_bad_crc() -> None:
    good = bytearray(encode_batch(OPERATIONS))
    good[-8] ^= 0x01  # first byte of the CRC-32 in the gzip trailer
    with pytest.raises(InvalidBatchError):
        decode_batch(bytes(good))


@pytest.mark.parametrize("cut", [1, 4, 8, 20])
def test_decode_refuses_truncated_file(cut: int) -> None:
    good = encode_batch(OPERATIONS)
    with pytest.raises(InvalidBatchError, match="truncated"):
        decode_batch(good[:-cut])


@pytest.mark.parametrize(
    "trailer",
    [b"x", b"\0" * 16, encode_batch([b"smuggled"])],
    ids=["one-byte", "zeros", "second-gzip-member"],
)
def test_decode_refuses_trailing_data(trailer: bytes) -> None:
    with pytest.raises(InvalidBatchError, match="trailing"):
        decode_batch(encode_batch(OPERATIONS) + trailer)


def test_decode_refuses_decompression_bomb(bomb: bytes) -> None:
    with pytest.raises(InvalidBatchError, match="expands beyond"):
        decode_batch(bomb)


def test_decode_refuses_too_many_lines() -> None:
    # 100,000 newlines are 100,001 (empty) lines: one more than a batch may hold.
    data = gzip.compress(b"\n" * MAX_BATCH_OPERATIONS, mtime=0)
    with pytest.raises(InvalidBatchError, match="more than"):
        decode_batch(data)


def test_decode_accepts_exactly_the_operation_cap() -> None:
    data = gzip.compress(b"\n" * (MAX_BATCH_OPERATIONS - 1), mtime=0)
    assert len(decode_batch(data)) == MAX_BATCH_OPERATIONS
