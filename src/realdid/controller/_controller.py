"""A DID controller: DIDs controlled by keys derived from one seed, kept in an encrypted keystore.

The resident's wallet (:class:`realdid.wallet.Wallet`, which adds credentials and the
disclosure log) and the identity authority (its own issuer DID) both control DIDs this way.
It lives below both, on the registry client only, so the authority holds its keys without
importing the resident wallet, and the two keep one implementation of the DID operations
(create, update, rotate, recover, deactivate, restore) and of bringing a DID on the registry
(:func:`~realdid.controller.ensure_anchored`).

Nothing secret is stored but the BIP-39 mnemonic, inside the encrypted keystore; every key
is re-derived on demand from the seed and a path
(``did/<key type>/<n>/<role>/<counter>``, e.g. ``did/ed25519/0/update/0``):

* ``signing`` keys go into the DID document (``key-<counter+1>``);
* the ``update`` key at counter *k* is revealed by the k-th update; the document never
  holds it, so a stolen signing key cannot change the DID;
* the ``recovery`` key is revealed only by ``recover`` and ``deactivate``.

Because the create operation of DID number *n* is a pure function of the seed, a restored
wallet finds its DIDs again by recomputing their identifiers and resolving them.

A *per-site DID* (ADR 0012) is the resident's account at one relying party: its keys live
under ``site/<key type>/<tag>/<role>/<counter>`` with ``tag`` the first 16 bytes of
SHA-256(``"realdid/site/" + rp_did``) in hex, so its create operation is a pure function of
the seed and the RP's DID. Two sites never share a DID or a key, no site DID is linked to
the root DIDs by anything public, and a restored wallet regains its account at a site the
next time it logs in there (:meth:`DidController.create_site_did` adopts the anchored DID).

Before each operation the wallet brings its view of the DID up to date: if its last
operation is still pending it chains onto it; otherwise it resolves the DID and finds which
derived keys match the anchored commitments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Self

from realdid.crypto import KeyType, LocalSigner
from realdid.did import (
    CreateOperation,
    DeactivateOperation,
    Did,
    DocumentContent,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    RecoverOperation,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
)
from realdid.registry import NodeClientError, RegistryClient, ResolutionResultError

from ._errors import ControllerError
from ._keystore import WALLET_FILENAME, Keystore
from ._seed import derive_signer, new_mnemonic, normalize_mnemonic, seed_from_mnemonic

PAYLOAD_VERSION = 1
SIGNING_PURPOSES = ("authentication", "assertionMethod", "capabilityInvocation")
RESTORE_GAP_LIMIT = 5
COMMITMENT_SCAN_LIMIT = 1000
#: ``index`` of a per-site DID record: site DIDs are not numbered (their path has no index).
SITE_INDEX = -1
_SITE_TAG_PREFIX = b"realdid/site/"


class UnknownDidError(ControllerError):
    code = "unknown-did"


class DidStateError(ControllerError):
    code = "did-state"


@dataclass(slots=True)
class DidRecord:
    """What the wallet remembers about one of its DIDs (no secrets).

    ``site`` is the relying party's DID for a per-site DID, ``""`` for an ordinary one
    (keystores written before per-site DIDs have no such field and load as ordinary).
    """

    did: str
    index: int
    key_type: str
    update_counter: int = 0
    recovery_counter: int = 0
    signing_counter: int = 0
    previous: str = ""
    last_operation: str = ""
    deactivated: bool = False
    site: str = ""

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> DidRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in known})

    @property
    def is_site(self) -> bool:
        return bool(self.site)


def site_tag(rp_did: str) -> str:
    """The derivation-path tag of the per-site DID for ``rp_did`` (ADR 0012)."""
    return hashlib.sha256(_SITE_TAG_PREFIX + rp_did.encode()).digest()[:16].hex()


def _base_path(record: DidRecord) -> str:
    # The key type is part of the path so one index (or site) never reuses a secret across curves.
    kind = KeyType(record.key_type).value.lower()
    if record.site:
        return f"site/{kind}/{site_tag(record.site)}"
    return f"did/{kind}/{record.index}"


@dataclass(frozen=True, slots=True)
class Submitted:
    did: str
    operation_hash: str


class DidController:
    """The DIDs of one seed and the operations on them, against a registry node."""

    def __init__(self, keystore: Keystore) -> None:
        self._keystore = keystore
        payload = keystore.payload
        self._seed = seed_from_mnemonic(payload["mnemonic"])
        self._records = [DidRecord.from_dict(r) for r in payload["dids"]]

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def init(
        cls, directory: Path, passphrase: str, *, mnemonic: str | None = None, **kdf: Any
    ) -> tuple[Self, str]:
        """Create a keystore; returns the controller and the mnemonic to write down."""
        phrase = normalize_mnemonic(mnemonic) if mnemonic is not None else new_mnemonic()
        keystore = Keystore.create(
            directory,
            passphrase,
            {"version": PAYLOAD_VERSION, "mnemonic": phrase, "dids": []},
            **kdf,
        )
        return cls(keystore), phrase

    @classmethod
    def open(cls, directory: Path, passphrase: str) -> Self:
        return cls(Keystore.open(directory, passphrase))

    @classmethod
    def open_or_init(cls, directory: Path, passphrase: str) -> Self:
        """Open the keystore in ``directory``, creating one (new seed) if there is none.

        For controllers that nobody restores from a written-down phrase (a service's own
        DID): the seed never leaves the passphrase-encrypted file.
        """
        if (directory / WALLET_FILENAME).exists():
            return cls.open(directory, passphrase)
        controller, _ = cls.init(directory, passphrase)
        return controller

    def _save(self) -> None:
        payload = dict(self._keystore.payload)
        payload["dids"] = [asdict(r) for r in self._records]
        self._keystore.save(payload)

    @property
    def dids(self) -> list[DidRecord]:
        return list(self._records)

    def key_id(self, did: str) -> str:
        """The DID URL of the current document signing key (``kid`` of what the wallet signs)."""
        return f"{did}#key-{self.record(did).signing_counter + 1}"

    def record(self, did: str) -> DidRecord:
        for record in self._records:
            if record.did == did:
                return record
        raise UnknownDidError(f"{did} is not a DID of this wallet (see 'realdid wallet did list')")

    def site_record(self, rp_did: str) -> DidRecord | None:
        """The per-site DID this wallet uses at relying party ``rp_did``, if it has one yet."""
        for record in self._records:
            if record.site == rp_did:
                return record
        return None

    # -- key derivation -------------------------------------------------------------------------
    def _derive(self, record: DidRecord, role: str, counter: int) -> LocalSigner:
        """Key ``role``/``counter`` of ``record``'s DID, ordinary or per-site alike."""
        kind = KeyType(record.key_type)
        return derive_signer(self._seed, f"{_base_path(record)}/{role}/{counter}", kind)

    def _key(self, index: int, role: str, counter: int, key_type: str) -> LocalSigner:
        """Key ``role``/``counter`` of ordinary DID number ``index``."""
        return self._derive(DidRecord("", index, key_type), role, counter)

    def _signing_entry(self, record: DidRecord, counter: int) -> PublicKeyEntry:
        key = self._derive(record, "signing", counter)
        return PublicKeyEntry(f"key-{counter + 1}", key.public_key, SIGNING_PURPOSES)

    def signing_key(self, did: str, counter: int | None = None) -> LocalSigner:
        """The document signing key number ``counter`` (default: the newest), ``#key-<counter+1>``."""
        record = self.record(did)
        chosen = record.signing_counter if counter is None else counter
        return self._derive(record, "signing", chosen)

    def initial_create(self, index: int, key_type: str, *, site: str = "") -> CreateOperation:
        """The create operation of DID number ``index`` (or of the per-site DID for RP DID
        ``site``, where ``index`` is ignored) — a pure function of the seed."""
        probe = DidRecord("", SITE_INDEX if site else index, key_type, site=site)
        return CreateOperation(
            DocumentContent((self._signing_entry(probe, 0),), ()),
            commitment_of(self._derive(probe, "update", 0).public_key),
            commitment_of(self._derive(probe, "recovery", 0).public_key),
        )

    def site_did(self, rp_did: str, key_type: str = KeyType.ED25519.value) -> str:
        """The per-site DID for ``rp_did`` under ``key_type``, computed (nothing submitted)."""
        record = self.site_record(rp_did)
        if record is not None:
            return record.did
        return str(self.initial_create(SITE_INDEX, key_type, site=rp_did).did)

    # -- operations ---------------------------------------------------------------------------
    def create(self, client: RegistryClient, key_type: str = KeyType.ED25519.value) -> Submitted:
        index = max((r.index for r in self._records if not r.site), default=-1) + 1
        parsed = ParsedOperation.from_value(to_dict(self.initial_create(index, key_type)))
        client.submit(to_dict(parsed.operation))
        record = DidRecord(
            str(parsed.did), index, key_type, previous=parsed.hash, last_operation=parsed.hash
        )
        self._records.append(record)
        self._save()
        return Submitted(record.did, parsed.hash)

    def create_site_did(
        self, client: RegistryClient, rp_did: str, key_type: str = KeyType.ED25519.value
    ) -> Submitted:
        """The per-site DID for relying party ``rp_did``: created and submitted, or — when
        this seed's site DID for that RP is already on the registry (a restored wallet) —
        adopted from it, with ``operation_hash`` its anchored version. Idempotent."""
        existing = self.site_record(rp_did)
        if existing is not None:
            return Submitted(existing.did, existing.last_operation or existing.previous)
        # A restored wallet may have created the account under another key type: probe the
        # requested one first, then the others, before creating anything.
        kinds = [KeyType(key_type), *(k for k in KeyType if k.value != key_type)]
        for kind in kinds:
            record = DidRecord(
                str(self.initial_create(SITE_INDEX, kind.value, site=rp_did).did),
                SITE_INDEX,
                kind.value,
                site=rp_did,
            )
            try:
                client.resolve(record.did)
            except NodeClientError as e:
                if e.code != "did-not-found":
                    raise
                continue
            self._sync_from_registry(client, record)
            self._records.append(record)
            self._save()
            return Submitted(record.did, record.previous)
        parsed = ParsedOperation.from_value(
            to_dict(self.initial_create(SITE_INDEX, key_type, site=rp_did))
        )
        client.submit(to_dict(parsed.operation))
        record = DidRecord(
            str(parsed.did),
            SITE_INDEX,
            key_type,
            previous=parsed.hash,
            last_operation=parsed.hash,
            site=rp_did,
        )
        self._records.append(record)
        self._save()
        return Submitted(record.did, parsed.hash)

    def rotate(self, client: RegistryClient, did: str) -> Submitted:
        """Replace the document signing key with a fresh one and move to the next update key."""
        record = self._synced(client, did)
        old = self._signing_entry(record, record.signing_counter)
        new = self._signing_entry(record, record.signing_counter + 1)
        patches = (
            Patch("add-public-keys", public_keys=(new,)),
            Patch("remove-public-keys", ids=(old.id,)),
        )
        submitted = self._update(client, record, patches)
        record.signing_counter += 1
        self._save()
        return submitted

    def update(
        self,
        client: RegistryClient,
        did: str,
        *,
        add_services: tuple[ServiceEntry, ...] = (),
        remove_services: tuple[str, ...] = (),
        add_key: bool = False,
        remove_keys: tuple[str, ...] = (),
    ) -> Submitted:
        record = self._synced(client, did)
        patches: list[Patch] = []
        if add_services:
            patches.append(Patch("add-services", services=add_services))
        if remove_services:
            patches.append(Patch("remove-services", ids=remove_services))
        if add_key:
            patches.append(
                Patch(
                    "add-public-keys",
                    public_keys=(self._signing_entry(record, record.signing_counter + 1),),
                )
            )
        if remove_keys:
            patches.append(Patch("remove-public-keys", ids=remove_keys))
        if not patches:
            raise ControllerError("nothing to update: no service or key to add or remove")
        submitted = self._update(client, record, tuple(patches))
        if add_key:
            record.signing_counter += 1
            self._save()
        return submitted

    def _update(
        self, client: RegistryClient, record: DidRecord, patches: tuple[Patch, ...]
    ) -> Submitted:
        update_key = self._derive(record, "update", record.update_counter)
        next_key = self._derive(record, "update", record.update_counter + 1)
        operation = sign(
            UpdateOperation(
                Did.parse(record.did),
                record.previous,
                update_key.public_key,
                patches,
                commitment_of(next_key.public_key),
            ),
            update_key,
        )
        return self._submit(client, record, to_dict(operation), update=1)

    def recover(self, client: RegistryClient, did: str) -> Submitted:
        """Take back control with the recovery key: new document key, new update and recovery keys."""
        record = self._synced(client, did)
        recovery_key = self._derive(record, "recovery", record.recovery_counter)
        next_update = self._derive(record, "update", record.update_counter + 1)
        next_recovery = self._derive(record, "recovery", record.recovery_counter + 1)
        document = DocumentContent((self._signing_entry(record, record.signing_counter + 1),), ())
        operation = sign(
            RecoverOperation(
                Did.parse(record.did),
                record.previous,
                recovery_key.public_key,
                document,
                commitment_of(next_update.public_key),
                commitment_of(next_recovery.public_key),
            ),
            recovery_key,
        )
        submitted = self._submit(client, record, to_dict(operation), update=1, recovery=1)
        record.signing_counter += 1
        self._save()
        return submitted

    def deactivate(self, client: RegistryClient, did: str) -> Submitted:
        record = self._synced(client, did)
        recovery_key = self._derive(record, "recovery", record.recovery_counter)
        operation = sign(
            DeactivateOperation(Did.parse(record.did), record.previous, recovery_key.public_key),
            recovery_key,
        )
        submitted = self._submit(client, record, to_dict(operation))
        record.deactivated = True
        self._save()
        return submitted

    def _submit(
        self,
        client: RegistryClient,
        record: DidRecord,
        operation: dict[str, Any],
        *,
        update: int = 0,
        recovery: int = 0,
    ) -> Submitted:
        receipt = client.submit(operation)
        record.previous = record.last_operation = receipt["operationHash"]
        record.update_counter += update
        record.recovery_counter += recovery
        self._save()
        return Submitted(record.did, receipt["operationHash"])

    # -- synchronisation with the registry --------------------------------------------------------
    def _synced(self, client: RegistryClient, did: str) -> DidRecord:
        record = self.record(did)
        if record.deactivated:
            raise DidStateError(f"{did} is deactivated; no further operations are possible")
        if record.last_operation:
            status = client.operation_status(record.last_operation)
            if status is not None and status["status"] == "pending":
                return record  # chain onto our own pending operation
        self._sync_from_registry(client, record)
        self._save()
        if record.deactivated:
            raise DidStateError(f"{did} is deactivated; no further operations are possible")
        return record

    def _sync_from_registry(self, client: RegistryClient, record: DidRecord) -> None:
        try:
            result = client.resolve(record.did)
        except NodeClientError as e:
            if e.code == "did-not-found":
                raise DidStateError(
                    f"{record.did} is not anchored yet; retry shortly or use --wait"
                ) from e
            raise
        metadata = result.document_metadata
        if metadata.version_id is None:
            raise ResolutionResultError("the registry's answer has no versionId to chain onto")
        record.previous = metadata.version_id
        record.last_operation = ""
        if result.deactivated:
            record.deactivated = True
            return
        if metadata.method is None:
            raise ResolutionResultError("the registry's answer has no method commitments")
        record.update_counter = self._find(record, "update", metadata.method.update_commitment)
        record.recovery_counter = self._find(
            record, "recovery", metadata.method.recovery_commitment
        )
        published = {
            vm["publicKeyMultibase"] for vm in result.document.get("verificationMethod", [])
        }
        record.signing_counter = self._newest_signing_counter(record, published)

    def _newest_signing_counter(self, record: DidRecord, published: set[str]) -> int:
        """The highest counter whose signing key is in the document: the remembered window
        first, the whole scan range only when the window holds none of them."""

        def newest(counters: range) -> int | None:
            matches = [
                c
                for c in counters
                if self._derive(record, "signing", c).public_key.to_multibase() in published
            ]
            return max(matches, default=None)

        window = newest(range(min(record.signing_counter + 10, COMMITMENT_SCAN_LIMIT)))
        if window is not None:
            return window
        found = newest(range(COMMITMENT_SCAN_LIMIT))
        return record.signing_counter if found is None else found

    def _find(self, record: DidRecord, role: str, commitment: str) -> int:
        for counter in _scan_from(getattr(record, f"{role}_counter")):
            if commitment_of(self._derive(record, role, counter).public_key) == commitment:
                return counter
        raise DidStateError(
            f"the registry's {role} commitment matches none of this wallet's keys: the DID is controlled elsewhere"
        )

    def restore(self, client: RegistryClient) -> list[DidRecord]:
        """Find this seed's DIDs on the registry.

        DID number *n* exists under at most one key type (``create`` numbers DIDs across key
        types), so each index is probed for every key type; the scan stops after
        ``RESTORE_GAP_LIMIT`` consecutive indexes with no DID.
        """
        found: list[DidRecord] = []
        gap, index = 0, 0
        while gap < RESTORE_GAP_LIMIT:
            record = self._probe(client, index)
            index += 1
            if record is None:
                gap += 1
                continue
            gap = 0
            if all(r.did != record.did for r in self._records):
                self._records.append(record)
            found.append(record)
        self._save()
        return found

    def _probe(self, client: RegistryClient, index: int) -> DidRecord | None:
        for key_type in KeyType:
            did = str(self.initial_create(index, key_type.value).did)
            try:
                client.resolve(did)
            except NodeClientError as e:
                if e.code != "did-not-found":
                    raise
                continue
            record = DidRecord(did, index, key_type.value)
            self._sync_from_registry(client, record)
            return record
        return None


def _scan_from(start: int) -> Iterator[int]:
    """Counters near the remembered one first, then everything up to the scan limit."""
    yield from range(start, min(start + 10, COMMITMENT_SCAN_LIMIT))
    yield from (c for c in range(COMMITMENT_SCAN_LIMIT) if not start <= c < start + 10)
