"""The four ``did:realdid`` operations, their wire form and their signatures.

Every operation is a JSON object; its **canonical bytes** are the RFC 8785 (JCS) form and
its **hash** is the lowercase hex SHA-256 of those bytes. A create operation is
self-certifying: the DID suffix is the base58btc SHA-256 multihash of its canonical bytes.
Update, recover and deactivate operations

* name the DID and the hash of the DID's latest applied operation (``previous``), so an
  operation can apply to exactly one state and can never be replayed;
* reveal the public key whose commitment the DID currently holds (update key for
  ``update``, recovery key for ``recover``/``deactivate``);
* are signed by that key over ``SIGNING_PREFIX || JCS(operation without "signature")``;
* commit to the next key(s) by hash (pre-rotation).

See docs/did-method.md for the normative text. Example::

    >>> update_key, recovery_key = LocalSigner.generate(), LocalSigner.generate()
    >>> op = CreateOperation(DocumentContent(), commitment_of(update_key.public_key),
    ...                      commitment_of(recovery_key.public_key))
    >>> str(op.did).startswith("did:realdid:Qm")
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from realdid.crypto import (
    CryptoError,
    EncodingError,
    PublicKey,
    Signer,
    b64url_decode,
    b64url_encode,
    base58btc_encode,
    canonicalize,
    is_multihash_b58,
    multihash_b58,
)

from ._document import DocumentContent, PublicKeyEntry, ServiceEntry, _require_id, _require_object
from ._errors import (
    DidError,
    InvalidOperationSignatureError,
    MalformedOperationError,
)
from ._identifier import Did

SIGNING_PREFIX = b"realdid-operation-v1\n"
MAX_OPERATION_BYTES = 16 * 1024
MAX_PATCHES = 10
_HEX = frozenset("0123456789abcdef")
_MULTIHASH_SHA256 = b"\x12\x20"


def commitment_of(public_key: PublicKey) -> str:
    """Commitment to a key: base58btc SHA-256 multihash of the canonical public JWK."""
    return multihash_b58(canonicalize(public_key.to_jwk()))


def operation_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def _require_commitment(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_multihash_b58(value):
        raise MalformedOperationError(f"{what} must be a base58btc SHA-256 multihash")
    return value


def _require_hash(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not _HEX.issuperset(value):
        raise MalformedOperationError(f"{what} must be 64 lowercase hex characters")
    return value


def _require_did(value: Any) -> Did:
    try:
        return Did.parse(value)
    except DidError as e:
        raise MalformedOperationError(f"did: {e}") from e


def _require_key(value: Any) -> PublicKey:
    if not isinstance(value, Mapping):
        raise MalformedOperationError("revealedKey must be a JWK object")
    try:
        key = PublicKey.from_jwk(value)
    except CryptoError as e:
        raise MalformedOperationError(f"revealedKey: {e}") from e
    # Exactly the canonical members: one key, one spelling, one commitment.
    if dict(value) != key.to_jwk():
        raise MalformedOperationError("revealedKey must contain exactly the public JWK members")
    return key


def _require_signature(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) > 128:
        raise MalformedOperationError("signature must be base64url text")
    try:
        return b64url_decode(value)
    except EncodingError as e:
        raise MalformedOperationError(f"signature: {e}") from e


@dataclass(frozen=True, slots=True)
class CreateOperation:
    type: ClassVar[str] = "create"
    document: DocumentContent
    update_commitment: str
    recovery_commitment: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "create",
            "document": self.document.to_dict(),
            "updateCommitment": self.update_commitment,
            "recoveryCommitment": self.recovery_commitment,
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> CreateOperation:
        _require_object(
            obj, "create operation", {"type", "document", "updateCommitment", "recoveryCommitment"}
        )
        return cls(
            DocumentContent.from_dict(obj["document"]),
            _require_commitment(obj["updateCommitment"], "updateCommitment"),
            _require_commitment(obj["recoveryCommitment"], "recoveryCommitment"),
        )

    @property
    def did(self) -> Did:
        return Did(multihash_b58(canonicalize(self.to_dict())))


@dataclass(frozen=True, slots=True)
class UpdateOperation:
    """Patch keys and services; revealed key = current update key."""

    type: ClassVar[str] = "update"
    did: Did
    previous: str
    revealed_key: PublicKey
    patches: tuple[Patch, ...]
    next_update_commitment: str
    signature: bytes = b""

    def unsigned_dict(self) -> dict[str, Any]:
        return {
            "type": "update",
            "did": str(self.did),
            "previous": self.previous,
            "revealedKey": self.revealed_key.to_jwk(),
            "patches": [p.to_dict() for p in self.patches],
            "nextUpdateCommitment": self.next_update_commitment,
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> UpdateOperation:
        _require_object(
            obj,
            "update operation",
            {
                "type",
                "did",
                "previous",
                "revealedKey",
                "patches",
                "nextUpdateCommitment",
                "signature",
            },
        )
        patches = obj["patches"]
        if not isinstance(patches, list) or not 1 <= len(patches) <= MAX_PATCHES:
            raise MalformedOperationError(f"patches must be a list of 1 to {MAX_PATCHES} patches")
        return cls(
            _require_did(obj["did"]),
            _require_hash(obj["previous"], "previous"),
            _require_key(obj["revealedKey"]),
            tuple(Patch.from_dict(p) for p in patches),
            _require_commitment(obj["nextUpdateCommitment"], "nextUpdateCommitment"),
            _require_signature(obj["signature"]),
        )


@dataclass(frozen=True, slots=True)
class RecoverOperation:
    """Replace the document and both commitments; revealed key = current recovery key."""

    type: ClassVar[str] = "recover"
    did: Did
    previous: str
    revealed_key: PublicKey
    document: DocumentContent
    next_update_commitment: str
    next_recovery_commitment: str
    signature: bytes = b""

    def unsigned_dict(self) -> dict[str, Any]:
        return {
            "type": "recover",
            "did": str(self.did),
            "previous": self.previous,
            "revealedKey": self.revealed_key.to_jwk(),
            "document": self.document.to_dict(),
            "nextUpdateCommitment": self.next_update_commitment,
            "nextRecoveryCommitment": self.next_recovery_commitment,
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> RecoverOperation:
        _require_object(
            obj,
            "recover operation",
            {
                "type",
                "did",
                "previous",
                "revealedKey",
                "document",
                "nextUpdateCommitment",
                "nextRecoveryCommitment",
                "signature",
            },
        )
        return cls(
            _require_did(obj["did"]),
            _require_hash(obj["previous"], "previous"),
            _require_key(obj["revealedKey"]),
            DocumentContent.from_dict(obj["document"]),
            _require_commitment(obj["nextUpdateCommitment"], "nextUpdateCommitment"),
            _require_commitment(obj["nextRecoveryCommitment"], "nextRecoveryCommitment"),
            _require_signature(obj["signature"]),
        )


@dataclass(frozen=True, slots=True)
class DeactivateOperation:
    """Permanently deactivate the DID; revealed key = current recovery key."""

    type: ClassVar[str] = "deactivate"
    did: Did
    previous: str
    revealed_key: PublicKey
    signature: bytes = b""

    def unsigned_dict(self) -> dict[str, Any]:
        return {
            "type": "deactivate",
            "did": str(self.did),
            "previous": self.previous,
            "revealedKey": self.revealed_key.to_jwk(),
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> DeactivateOperation:
        _require_object(
            obj, "deactivate operation", {"type", "did", "previous", "revealedKey", "signature"}
        )
        return cls(
            _require_did(obj["did"]),
            _require_hash(obj["previous"], "previous"),
            _require_key(obj["revealedKey"]),
            _require_signature(obj["signature"]),
        )


@dataclass(frozen=True, slots=True)
class Patch:
    """One document patch: ``add-public-keys``, ``remove-public-keys``, ``add-services``,
    ``remove-services``."""

    action: str
    public_keys: tuple[PublicKeyEntry, ...] = ()
    services: tuple[ServiceEntry, ...] = ()
    ids: tuple[str, ...] = ()

    ACTIONS: ClassVar[tuple[str, ...]] = (
        "add-public-keys",
        "remove-public-keys",
        "add-services",
        "remove-services",
    )

    @classmethod
    def from_dict(cls, value: Any) -> Patch:
        if not isinstance(value, Mapping) or value.get("action") not in cls.ACTIONS:
            raise MalformedOperationError(f"patch action must be one of {', '.join(cls.ACTIONS)}")
        action = value["action"]
        if action == "add-public-keys":
            obj = _require_object(value, "patch", {"action", "publicKeys"})
            items = _require_list(obj["publicKeys"], "publicKeys")
            return cls(action, public_keys=tuple(PublicKeyEntry.from_dict(k) for k in items))
        if action == "add-services":
            obj = _require_object(value, "patch", {"action", "services"})
            items = _require_list(obj["services"], "services")
            return cls(action, services=tuple(ServiceEntry.from_dict(s) for s in items))
        obj = _require_object(value, "patch", {"action", "ids"})
        ids = _require_list(obj["ids"], "ids")
        return cls(action, ids=tuple(_require_id(i, "patch id") for i in ids))

    def to_dict(self) -> dict[str, Any]:
        if self.action == "add-public-keys":
            return {"action": self.action, "publicKeys": [k.to_dict() for k in self.public_keys]}
        if self.action == "add-services":
            return {"action": self.action, "services": [s.to_dict() for s in self.services]}
        return {"action": self.action, "ids": list(self.ids)}

    def apply(self, document: DocumentContent) -> DocumentContent:
        if self.action == "add-public-keys":
            return document.add_public_keys(self.public_keys)
        if self.action == "remove-public-keys":
            return document.remove_public_keys(self.ids)
        if self.action == "add-services":
            return document.add_services(self.services)
        return document.remove_services(self.ids)


def _require_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not 1 <= len(value) <= 10:
        raise MalformedOperationError(f"{what} must be a list of 1 to 10 entries")
    return value


Operation = CreateOperation | UpdateOperation | RecoverOperation | DeactivateOperation
SignedOperation = UpdateOperation | RecoverOperation | DeactivateOperation
_PARSERS: dict[str, Any] = {
    "create": CreateOperation.from_dict,
    "update": UpdateOperation.from_dict,
    "recover": RecoverOperation.from_dict,
    "deactivate": DeactivateOperation.from_dict,
}


def signing_input(operation: SignedOperation) -> bytes:
    return SIGNING_PREFIX + canonicalize(operation.unsigned_dict())


def to_dict(operation: Operation) -> dict[str, Any]:
    """The wire form of an operation (what is submitted, batched and hashed)."""
    if isinstance(operation, CreateOperation):
        return operation.to_dict()
    return {**operation.unsigned_dict(), "signature": b64url_encode(operation.signature)}


def sign(operation: SignedOperation, signer: Signer) -> SignedOperation:
    """Return ``operation`` signed by ``signer``, whose public key must be the revealed key."""
    if signer.public_key != operation.revealed_key:
        raise ValueError("signer's key is not the operation's revealed key")
    signature = signer.sign(signing_input(operation))
    if isinstance(operation, UpdateOperation):
        return UpdateOperation(
            operation.did,
            operation.previous,
            operation.revealed_key,
            operation.patches,
            operation.next_update_commitment,
            signature,
        )
    if isinstance(operation, RecoverOperation):
        return RecoverOperation(
            operation.did,
            operation.previous,
            operation.revealed_key,
            operation.document,
            operation.next_update_commitment,
            operation.next_recovery_commitment,
            signature,
        )
    return DeactivateOperation(operation.did, operation.previous, operation.revealed_key, signature)


def verify_operation_signature(operation: SignedOperation) -> None:
    """Verify the signature against the revealed key; the algorithm follows from the key type,
    so there is no algorithm header to confuse."""
    try:
        operation.revealed_key.verify(signing_input(operation), operation.signature)
    except CryptoError as e:
        raise InvalidOperationSignatureError(
            "operation signature does not verify under the revealed key"
        ) from e


def operation_suffix(line: bytes, digest: bytes) -> str | None:
    """The suffix of the DID that the batch line ``line`` (SHA-256 ``digest``) is about,
    read without parsing the operation whole; ``None`` when it cannot be told.

    Whenever :meth:`ParsedOperation.from_canonical` accepts ``line``, this is its
    ``did.suffix``: a create's suffix is the multihash of its canonical bytes, which are
    ``line``, and every other operation names its DID. A line this cannot read does not
    parse either. Used to shard the observer's work by DID (``realdid.ledger``).
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    if value.get("type") == "create":
        return base58btc_encode(_MULTIHASH_SHA256 + digest)
    did = value.get("did")
    if not isinstance(did, str):
        return None
    try:
        return Did.parse(did).suffix
    except DidError:
        return None


@dataclass(frozen=True, slots=True)
class ParsedOperation:
    """An operation together with its canonical bytes and hash, as nodes handle them."""

    operation: Operation
    canonical: bytes
    hash: str
    did: Did

    @classmethod
    def from_value(cls, value: Any) -> ParsedOperation:
        """Parse a decoded JSON value; raise :class:`MalformedOperationError` precisely."""
        if not isinstance(value, Mapping):
            raise MalformedOperationError("operation must be a JSON object")
        kind = value.get("type")
        parser = _PARSERS.get(kind) if isinstance(kind, str) else None
        if parser is None:
            raise MalformedOperationError(
                "operation type must be one of create, update, recover, deactivate"
            )
        operation: Operation = parser(value)
        canonical = canonicalize(to_dict(operation))
        if len(canonical) > MAX_OPERATION_BYTES:
            raise MalformedOperationError(f"operation exceeds {MAX_OPERATION_BYTES} bytes")
        digest = hashlib.sha256(canonical).digest()
        # A create's suffix is the multihash of these very bytes: derive it from the digest
        # instead of canonicalizing the operation a second time.
        did = (
            Did(base58btc_encode(_MULTIHASH_SHA256 + digest))
            if isinstance(operation, CreateOperation)
            else operation.did
        )
        return cls(operation, canonical, digest.hex(), did)

    @classmethod
    def from_canonical(cls, data: bytes) -> ParsedOperation:
        """Parse canonical bytes (a batch file line); non-canonical bytes are refused so the
        Merkle leaf, the hash and the operation are always the same thing."""
        if len(data) > MAX_OPERATION_BYTES:
            raise MalformedOperationError(f"operation exceeds {MAX_OPERATION_BYTES} bytes")
        try:
            # orjson bounds nesting (1,024 levels) on its own: hostile batch lines cannot
            # exhaust the stack whatever the interpreter's recursion limit is. A repeated
            # member (I-JSON, RFC 7493 2.3) needs no second pass here: orjson keeps one of
            # them, so the bytes cannot equal the canonical form and are refused below.
            value = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise MalformedOperationError("operation is not valid JSON") from e
        parsed = cls.from_value(value)
        if parsed.canonical != data:
            raise MalformedOperationError("operation bytes are not in RFC 8785 canonical form")
        return parsed
