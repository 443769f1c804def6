"""Generate ``did_operations.json``: a fixed life cycle of one ``did:realdid`` DID.

Every key comes from a fixed 32-byte seed and every signing key is deterministic (Ed25519,
RFC 8032; secp256k1 through libsecp256k1's RFC 6979 nonces), so running this script twice
gives the same file byte for byte. The vectors pin the wire format: canonical bytes,
operation hashes, the DID suffix, commitments and signatures. If a change to
``realdid.did`` or ``realdid.crypto`` alters any of them, ``tests/unit/did/test_operations.py``
fails; regenerate deliberately (and bump the signing prefix / spec version) only when the
wire format is meant to change::

    .venv/bin/python tests/vectors/generate_did_vectors.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from realdid.crypto import KeyType, LocalSigner, canonicalize
from realdid.did import (
    AnchorPoint,
    CreateOperation,
    DeactivateOperation,
    DidState,
    DocumentContent,
    Operation,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    RecoverOperation,
    ServiceEntry,
    UpdateOperation,
    apply_operation,
    commitment_of,
    sign,
    signing_input,
    to_dict,
)

VECTORS_FILE = Path(__file__).with_name("did_operations.json")

# name -> (key type, seed byte); the seed is the byte repeated 32 times.
KEYS: dict[str, tuple[KeyType, int]] = {
    "update-0": (KeyType.ED25519, 0x01),
    "recovery-0": (KeyType.ED25519, 0x02),
    "document-ed25519": (KeyType.ED25519, 0x03),
    "document-p256": (KeyType.P256, 0x04),
    "update-1": (KeyType.SECP256K1, 0x05),
    "update-2": (KeyType.ED25519, 0x06),
    "update-3": (KeyType.ED25519, 0x07),
    "recovery-1": (KeyType.ED25519, 0x08),
    "document-secp256k1": (KeyType.SECP256K1, 0x09),
}
FIRST_ANCHOR_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z


def signer(name: str) -> LocalSigner:
    key_type, seed = KEYS[name]
    return LocalSigner(key_type, bytes([seed]) * 32)


def anchor_point(index: int) -> AnchorPoint:
    """Operation ``index`` is anchored alone in anchor ``index + 1``, one hour apart."""
    return AnchorPoint(sequence=index + 1, leaf_index=0, timestamp=FIRST_ANCHOR_TIME + 3600 * index)


def _operations() -> list[tuple[str, str | None, Operation]]:
    """The life cycle: (name, signing key name or None, operation)."""
    k = {name: signer(name).public_key for name in KEYS}
    create = CreateOperation(
        DocumentContent(
            public_keys=(
                PublicKeyEntry(
                    "key-1", k["document-ed25519"], ("authentication", "assertionMethod")
                ),
                PublicKeyEntry("key-2", k["document-p256"], ("authentication",)),
            ),
            services=(ServiceEntry("hub", "LinkedDomains", "https://example.com/"),),
        ),
        commitment_of(k["update-0"]),
        commitment_of(k["recovery-0"]),
    )
    did = create.did
    ops: list[tuple[str, str | None, Operation]] = [("create", None, create)]

    def previous() -> str:
        return ParsedOperation.from_value(to_dict(ops[-1][2])).hash

    update_1 = UpdateOperation(
        did,
        previous(),
        k["update-0"],
        (
            Patch(
                "add-public-keys",
                public_keys=(
                    PublicKeyEntry("key-3", k["document-secp256k1"], ("capabilityInvocation",)),
                ),
            ),
            Patch("remove-services", ids=("hub",)),
        ),
        commitment_of(k["update-1"]),
    )
    ops.append(("update-add-key-remove-service", "update-0", sign(update_1, signer("update-0"))))
    update_2 = UpdateOperation(
        did,
        previous(),
        k["update-1"],
        (
            Patch(
                "add-services",
                services=(ServiceEntry("inbox", "DIDCommMessaging", "https://inbox.example.org/"),),
            ),
            Patch("remove-public-keys", ids=("key-2",)),
        ),
        commitment_of(k["update-2"]),
    )
    ops.append(("update-secp256k1-signed", "update-1", sign(update_2, signer("update-1"))))
    recover = RecoverOperation(
        did,
        previous(),
        k["recovery-0"],
        DocumentContent(
            public_keys=(PublicKeyEntry("key-1", k["document-ed25519"], ("authentication",)),)
        ),
        commitment_of(k["update-3"]),
        commitment_of(k["recovery-1"]),
    )
    ops.append(("recover", "recovery-0", sign(recover, signer("recovery-0"))))
    deactivate = DeactivateOperation(did, previous(), k["recovery-1"])
    ops.append(("deactivate", "recovery-1", sign(deactivate, signer("recovery-1"))))
    return ops


def build_vectors() -> dict[str, Any]:
    keys = []
    for name, (key_type, seed) in KEYS.items():
        public_key = signer(name).public_key
        keys.append(
            {
                "name": name,
                "keyType": key_type.value,
                "algorithm": key_type.algorithm,
                "seed": (bytes([seed]) * 32).hex(),
                "publicJwk": public_key.to_jwk(),
                "publicJwkCanonical": canonicalize(public_key.to_jwk()).decode("utf-8"),
                "publicKeyMultibase": public_key.to_multibase(),
                "commitment": commitment_of(public_key),
            }
        )
    operations = []
    state: DidState | None = None
    did = ""
    for index, (name, signer_name, operation) in enumerate(_operations()):
        parsed = ParsedOperation.from_value(to_dict(operation))
        did = str(parsed.did)
        at = anchor_point(index)
        state = apply_operation(state, parsed.operation, parsed.hash, at)
        entry: dict[str, Any] = {
            "name": name,
            "type": operation.type,
            "operation": to_dict(operation),
            "canonical": parsed.canonical.decode("utf-8"),
            "hash": parsed.hash,
        }
        if isinstance(operation, CreateOperation):
            entry["suffix"] = parsed.did.suffix
        else:
            entry["signer"] = signer_name
            entry["signingInput"] = signing_input(operation).decode("utf-8")
        entry["anchor"] = {
            "sequence": at.sequence,
            "leafIndex": at.leaf_index,
            "timestamp": at.timestamp,
        }
        entry["stateAfter"] = {
            "versionId": state.version_id,
            "updateCommitment": state.update_commitment,
            "recoveryCommitment": state.recovery_commitment,
            "deactivated": state.deactivated,
            "didDocument": state.document.render(did) if not state.deactivated else None,
        }
        operations.append(entry)
    return {
        "description": "A fixed did:realdid life cycle (create, update, update, recover, "
        "deactivate) from fixed seeds; generated by tests/vectors/generate_did_vectors.py.",
        "signingPrefix": "realdid-operation-v1\n",
        "did": did,
        "keys": keys,
        "operations": operations,
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    VECTORS_FILE.write_text(render(build_vectors()), encoding="utf-8")


if __name__ == "__main__":
    main()
