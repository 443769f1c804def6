"""The wallet's secret-handling layer: recovery phrase, key derivation, encrypted key store.

Every private key is derived from one BIP-39 seed (:func:`derive_signer`), and the wallet's
state lives in one passphrase-encrypted file (:class:`Keystore`). Example::

    >>> from pathlib import Path
    >>> from realdid.crypto import KeyType
    >>> from realdid.wallet import Keystore, derive_signer, new_mnemonic, seed_from_mnemonic
    >>> phrase = new_mnemonic()  # show once to the user, who writes it down
    >>> Keystore.create(Path("wallet-dir"), "correct horse battery", {"mnemonic": phrase})
    >>> store = Keystore.open(Path("wallet-dir"), "correct horse battery")
    >>> seed = seed_from_mnemonic(store.payload["mnemonic"])
    >>> signer = derive_signer(seed, "did/0/update/0", KeyType.ED25519)
"""

from __future__ import annotations

from ._authority import (
    AuthorityClient,
    AuthorityClientError,
    enroll,
    enroll_business,
    redeem_offer,
    request_site_proof,
)
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
from ._wallet import DidRecord, DidStateError, Submitted, UnknownDidError, Wallet, WalletError

__all__ = [
    "DEFAULT_MEMLIMIT",
    "DEFAULT_OPSLIMIT",
    "PASSPHRASE_ENV",
    "WALLET_FILENAME",
    "AuthorityClient",
    "AuthorityClientError",
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
    "Wallet",
    "WalletError",
    "WeakPassphraseError",
    "WrongPassphraseError",
    "derive_signer",
    "enroll",
    "enroll_business",
    "new_mnemonic",
    "normalize_mnemonic",
    "read_passphrase",
    "redeem_offer",
    "request_site_proof",
    "seed_from_mnemonic",
    "validate_derivation_path",
]

# -- private login (ADR 0012) -----------------------------------------------------------------------
from ._history import Disclosure
from ._login import (
    ConsentPolicy,
    ConsentSummary,
    LoginFlowError,
    LoginResult,
    Registration,
    Release,
    SiteProofSource,
    authority_site_proof,
    login,
)
from ._wallet import site_tag

__all__ += [
    "ConsentPolicy",
    "ConsentSummary",
    "Disclosure",
    "LoginFlowError",
    "LoginResult",
    "Registration",
    "Release",
    "SiteProofSource",
    "authority_site_proof",
    "login",
    "site_tag",
]
