"""DID controllers: DIDs whose keys are derived from one seed, in one encrypted keystore.

Every private key is derived from one BIP-39 seed (:func:`derive_signer`), and the state
lives in one passphrase-encrypted file (:class:`Keystore`). :class:`DidController` runs the
``did:realdid`` operations on those DIDs against a registry node, and
:func:`ensure_anchored` brings a service's own DID onto the registry.

This package sits on the registry client, below both the resident's wallet
(:class:`realdid.wallet.Wallet` is a controller that also keeps credentials) and the
identity authority (which controls its issuer DID with it): the authority must not depend
on the resident wallet, and the two must not keep two implementations of the DID operations.
Example::

    >>> from pathlib import Path
    >>> from realdid.crypto import KeyType
    >>> from realdid.controller import Keystore, derive_signer, new_mnemonic, seed_from_mnemonic
    >>> phrase = new_mnemonic()  # show once to the user, who writes it down
    >>> Keystore.create(Path("wallet-dir"), "correct horse battery", {"mnemonic": phrase})
    >>> store = Keystore.open(Path("wallet-dir"), "correct horse battery")
    >>> seed = seed_from_mnemonic(store.payload["mnemonic"])
    >>> signer = derive_signer(seed, "did/0/update/0", KeyType.ED25519)
"""

from __future__ import annotations

from ._anchoring import ensure_anchored
from ._controller import (
    DidController,
    DidRecord,
    DidStateError,
    Submitted,
    UnknownDidError,
    site_tag,
)
from ._errors import ControllerError
from ._keystore import (
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    PASSPHRASE_ENV,
    WALLET_FILENAME,
    Keystore,
    KeystoreCorruptError,
    KeystoreError,
    KeystoreExistsError,
    KeystoreNotFoundError,
    PassphraseMismatchError,
    PayloadTooLargeError,
    WeakPassphraseError,
    WrongPassphraseError,
    check_passphrase_strength,
    read_passphrase,
)
from ._seed import (
    InvalidDerivationPathError,
    InvalidMnemonicError,
    derive_signer,
    new_mnemonic,
    normalize_mnemonic,
    seed_from_mnemonic,
    validate_derivation_path,
)

__all__ = [
    "DEFAULT_MEMLIMIT",
    "DEFAULT_OPSLIMIT",
    "PASSPHRASE_ENV",
    "WALLET_FILENAME",
    "ControllerError",
    "DidController",
    "DidRecord",
    "DidStateError",
    "InvalidDerivationPathError",
    "InvalidMnemonicError",
    "Keystore",
    "KeystoreCorruptError",
    "KeystoreError",
    "KeystoreExistsError",
    "KeystoreNotFoundError",
    "PassphraseMismatchError",
    "PayloadTooLargeError",
    "Submitted",
    "UnknownDidError",
    "WeakPassphraseError",
    "WrongPassphraseError",
    "check_passphrase_strength",
    "derive_signer",
    "ensure_anchored",
    "new_mnemonic",
    "normalize_mnemonic",
    "read_passphrase",
    "seed_from_mnemonic",
    "site_tag",
    "validate_derivation_path",
]
