"""The resident's wallet: DIDs, credentials, enrollment with the authority, private login.

:class:`Wallet` is a :class:`realdid.controller.DidController` (the seed, the keystore and
the DID operations live there, shared with the identity authority) that also keeps the
credentials received and the log of every login answer given. Example::

    >>> from pathlib import Path
    >>> from realdid.registry import NodeClient
    >>> wallet, phrase = Wallet.init(Path("wallet-dir"), "correct horse battery")
    >>> created = wallet.create(NodeClient("http://127.0.0.1:8080"))
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
from ._wallet import Wallet, WalletError

__all__ = [
    "AuthorityClient",
    "AuthorityClientError",
    "Wallet",
    "WalletError",
    "enroll",
    "enroll_business",
    "redeem_offer",
    "request_site_proof",
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
]
