"""Compact binary encoding of :class:`~realdid.did.DidState` for the resolution index.

At 1.4 billion DIDs every byte of the index is ~1.4 GB, so the index does not store JSON:
hashes and commitments are stored as raw 32-byte digests and keys as raw key bytes. The
format is private to a node's own database (it is a cache, rebuilt from the ledger), so it
can change with the schema version. Layout (big-endian)::

    u8 format (=1) | u8 flags (1: deactivated, 2: updated differs from created)
    [32 update commitment digest | 32 recovery commitment digest]   unless deactivated
    32 versionId | point created | [point updated]
    u8 key count  { str8 id | u8 key type | key bytes | u8 n | n x u8 purpose index }
    u8 service count { str8 id | str8 type | str16 endpoint }

    point = u32 anchor sequence | u32 leaf index | u32 timestamp (seconds, until 2106)
"""

from __future__ import annotations

import struct

from realdid.crypto import KeyType, PublicKey, base58btc_decode, base58btc_encode
from realdid.did import (
    PURPOSES,
    AnchorPoint,
    DidState,
    DocumentContent,
    PublicKeyEntry,
    ServiceEntry,
)

_FORMAT = 1
_DEACTIVATED, _UPDATED = 1, 2
_MULTIHASH_PREFIX = b"\x12\x20"
_KEY_TYPES = list(KeyType)
_KEY_LENGTH = {KeyType.ED25519: 32, KeyType.P256: 33, KeyType.SECP256K1: 33}
_POINT = struct.Struct(">III")


def suffix_key(suffix: str) -> bytes:
    """The 32-byte digest under which a DID is indexed (its suffix without multihash prefix)."""
    return base58btc_decode(suffix)[2:]


def suffix_from_key(key: bytes) -> str:
    return base58btc_encode(_MULTIHASH_PREFIX + key)


#: One row of the index: (:func:`suffix_key`, :func:`encode_state`).
EncodedState = tuple[bytes, bytes]


def encoded_row(state: DidState) -> EncodedState:
    """``state`` as the index stores it."""
    return suffix_key(state.suffix), encode_state(state)


def _str(text: str, width: int) -> bytes:
    data = text.encode()
    return len(data).to_bytes(width, "big") + data


def encode_state(state: DidState) -> bytes:
    flags = (_DEACTIVATED if state.deactivated else 0) | (
        _UPDATED if state.updated != state.created else 0
    )
    out = bytearray((_FORMAT, flags))
    if not state.deactivated:
        assert state.update_commitment is not None
        assert state.recovery_commitment is not None
        out += suffix_key(state.update_commitment) + suffix_key(state.recovery_commitment)
    out += bytes.fromhex(state.version_id)
    out += _POINT.pack(state.created.sequence, state.created.leaf_index, state.created.timestamp)
    if flags & _UPDATED:
        out += _POINT.pack(
            state.updated.sequence, state.updated.leaf_index, state.updated.timestamp
        )
    out.append(len(state.document.public_keys))
    for entry in state.document.public_keys:
        out += _str(entry.id, 1)
        out.append(_KEY_TYPES.index(entry.public_key.key_type))
        out += entry.public_key.raw
        out.append(len(entry.purposes))
        out += bytes(PURPOSES.index(p) for p in entry.purposes)
    out.append(len(state.document.services))
    for service in state.document.services:
        out += _str(service.id, 1) + _str(service.type, 1) + _str(service.endpoint, 2)
    return bytes(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        if len(chunk) != n:
            raise ValueError("truncated index entry")
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def text(self, width: int) -> str:
        return self.take(int.from_bytes(self.take(width), "big")).decode()

    def point(self) -> AnchorPoint:
        return AnchorPoint(*_POINT.unpack(self.take(_POINT.size)))


def decode_state(suffix: str, data: bytes) -> DidState:
    """Inverse of :func:`encode_state` (trusted input: the node's own database)."""
    reader = _Reader(data)
    if reader.u8() != _FORMAT:
        raise ValueError("unknown index entry format")
    flags = reader.u8()
    update = recovery = None
    if not flags & _DEACTIVATED:
        update = suffix_from_key(reader.take(32))
        recovery = suffix_from_key(reader.take(32))
    version_id = reader.take(32).hex()
    created = reader.point()
    updated = reader.point() if flags & _UPDATED else created
    keys = []
    for _ in range(reader.u8()):
        key_id = reader.text(1)
        key_type = _KEY_TYPES[reader.u8()]
        public_key = PublicKey(key_type, reader.take(_KEY_LENGTH[key_type]))
        purposes = tuple(PURPOSES[i] for i in reader.take(reader.u8()))
        keys.append(PublicKeyEntry(key_id, public_key, purposes))
    services = [
        ServiceEntry(reader.text(1), reader.text(1), reader.text(2)) for _ in range(reader.u8())
    ]
    return DidState(
        suffix=suffix,
        document=DocumentContent(tuple(keys), tuple(services)),
        update_commitment=update,
        recovery_commitment=recovery,
        version_id=version_id,
        created=created,
        updated=updated,
        deactivated=bool(flags & _DEACTIVATED),
    )
