"""The authority's own identity: its ``did:realdid`` and the key it signs credentials with.

Credentials name the authority's DID as ``iss`` and a verification method of it as ``kid``,
so any verifier finds the key by resolving the DID through any registry node — no
RealDID-specific trust store. The key is held by a :class:`~realdid.controller.DidController`
over a wallet directory: seed-derived DID keys like a resident's, without the resident wallet
itself (P-256: ES256 is what the OpenID4VC High Assurance Interoperability Profile and the
IETF reference SD-JWT library accept); a deployment with an HSM implements :class:`IssuerIdentity`
over its remote signer instead.

Rotation adds a new verification method and keeps the old ones, so credentials signed
before the rotation keep verifying until they expire or are revoked; the new key is used
only once the update is anchored and resolvable. Every worker process of the authority holds
its own copy of the wallet: one that sees the wallet file replaced (a rotation in another
process) reads it again, within :data:`RELOAD_CHECK_SECONDS`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from realdid.controller import WALLET_FILENAME, DidController, ensure_anchored
from realdid.crypto import KeyType, Signer
from realdid.did import verification_key
from realdid.registry import NodeClientError, RegistryClient

log = logging.getLogger(__name__)

ISSUER_KEY_TYPE = KeyType.P256
#: How often (seconds, at most) a worker checks whether another one rotated the key.
RELOAD_CHECK_SECONDS = 1.0


class IssuerIdentity(Protocol):
    @property
    def did(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    @property
    def signer(self) -> Signer: ...


class WalletIssuer:
    """An :class:`IssuerIdentity` whose DID and keys are held in a wallet directory."""

    def __init__(
        self,
        wallet: DidController,
        client: RegistryClient,
        *,
        reopen: Callable[[], DidController] | None = None,
        wallet_file: Path | None = None,
    ) -> None:
        """``reopen`` and ``wallet_file``: how to read the wallet again when the file
        changes under this process (another worker rotated the key)."""
        if not wallet.dids:
            raise ValueError("the issuer wallet holds no DID yet: use WalletIssuer.bootstrap")
        self._wallet = wallet
        self._client = client
        self._lock = threading.Lock()
        self._did = wallet.dids[0].did
        self._counter = wallet.dids[0].signing_counter
        self._reopen = reopen
        self._wallet_file = wallet_file
        self._stamp = _stamp(wallet_file)
        self._checked = time.monotonic()

    @classmethod
    def bootstrap(
        cls, directory: Path, passphrase: str, client: RegistryClient, *, timeout: float = 120.0
    ) -> WalletIssuer:
        """Open (or create) the issuer wallet and make sure its DID is anchored and current.

        Safe to call again after a crash at any point: a create that never reached the node
        is submitted again (it is deterministic, so the DID does not change).
        """
        wallet = DidController.open_or_init(directory, passphrase)
        ensure_anchored(wallet, client, key_type=ISSUER_KEY_TYPE, timeout=timeout)
        issuer = cls(
            wallet,
            client,
            reopen=lambda: DidController.open(directory, passphrase),
            wallet_file=directory / WALLET_FILENAME,
        )
        issuer._require_published(issuer.key_id)
        log.info("authority DID %s ready, signing with %s", issuer.did, issuer.key_id)
        return issuer

    @property
    def did(self) -> str:
        return self._did

    @property
    def key_id(self) -> str:
        self._follow_rotation()
        return f"{self._did}#key-{self._counter + 1}"

    @property
    def signer(self) -> Signer:
        self._follow_rotation()
        with self._lock:
            return self._wallet.signing_key(self._did, self._counter)

    def _follow_rotation(self) -> None:
        """Read the wallet again if its file was replaced since (checked once a second)."""
        if self._reopen is None or time.monotonic() - self._checked < RELOAD_CHECK_SECONDS:
            return
        with self._lock:
            self._checked = time.monotonic()
            stamp = _stamp(self._wallet_file)
            if stamp == self._stamp:
                return
            self._wallet = self._reopen()
            self._counter = self._wallet.record(self._did).signing_counter
            self._stamp = stamp
        log.info("authority signing key is now %s (rotated by another process)", self.key_id)

    def rotate(self, *, timeout: float = 120.0) -> str:
        """Add a fresh signing key to the DID, wait until it resolves, then sign with it."""
        with self._lock:
            submitted = self._wallet.update(self._client, self._did, add_key=True)
        self._client.wait_anchored(submitted.operation_hash, timeout=timeout)
        with self._lock:
            self._counter = self._wallet.record(self._did).signing_counter
            self._stamp = _stamp(self._wallet_file)
        self._require_published(self.key_id)
        log.info("authority signing key rotated to %s", self.key_id)
        return self.key_id

    def _require_published(self, key_id: str) -> None:
        document = self._client.resolve(self._did).did_document or {}
        if verification_key(document, key_id, purpose="assertionMethod") is None:
            raise NodeClientError(
                "issuer-key-unpublished",
                f"the registry does not list {key_id} in the authority's DID document",
            )


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    """What changes when the wallet file is replaced: inode, size, modification time."""
    if path is None:
        return None
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)
