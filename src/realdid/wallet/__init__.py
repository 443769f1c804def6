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
from ._errors import WalletError
from ._stored import MalformedStoredCredentialError, StoredCredential
from ._wallet import Wallet

__all__ = [
    "AuthorityClient",
    "AuthorityClientError",
    "MalformedStoredCredentialError",
    "StoredCredential",
    "Wallet",
    "WalletError",
    "enroll",
    "enroll_business",
    "redeem_offer",
    "request_site_proof",
]

# -- private login (ADR 0012) -----------------------------------------------------------------------
from ._errors import LoginFlowError
from ._history import Disclosure
from ._login import ConsentPolicy, ConsentSummary, LoginResult, Release, login
from ._login_registration import Registration
from ._login_site_proof import SiteProofSource, authority_site_proof

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
