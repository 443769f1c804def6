"""The credentials the wallet keeps: one :class:`StoredCredential` per credential received.

They live in the encrypted keystore payload under ``credentials``, as the JSON objects
``{type, did, issuer, credential, received_at}`` the wallet has written since it first
received credentials; :meth:`StoredCredential.from_dict` reads exactly those and
:meth:`~StoredCredential.to_dict` writes them back unchanged, so a wallet file opens in any
version that knows the same members. A stored entry that is not such an object (missing,
mistyped or unknown members) is refused with :class:`MalformedStoredCredentialError`
instead of being half-read: the login flow decides what to release from these entries.
Example::

    >>> entry = {"type": "RealName", "did": "did:realdid:a", "issuer": "https://id.example",
    ...     "credential": "e30.e30.sig~", "received_at": 1700000000}
    >>> stored = StoredCredential.from_dict(entry)
    >>> stored.type, stored.to_dict() == entry
    ('RealName', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from realdid.credentials import UnverifiedSdJwt, peek_sd_jwt_unverified

from ._errors import WalletError

_MEMBERS = ("type", "did", "issuer", "credential", "received_at")


class MalformedStoredCredentialError(WalletError):
    """A credential entry in the wallet file is not a stored credential."""

    code = "malformed-stored-credential"


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """A credential as the wallet received it.

    ``type`` is the OpenID4VCI credential configuration id it was offered under
    (``RealName``, ``SiteProof``, ``Business``, ``RpRegistration``); ``did`` the wallet's DID
    it was issued to; ``issuer`` the base URL of the authority it was redeemed at;
    ``credential`` the SD-JWT VC exactly as the authority sent it (relying parties verify
    what is presented from it); ``received_at`` seconds since the epoch.
    """

    type: str
    did: str
    issuer: str
    credential: str
    received_at: int

    @classmethod
    def from_dict(cls, value: Any) -> StoredCredential:
        """Read one entry of the wallet file; unknown, missing or mistyped members refused."""
        if not isinstance(value, Mapping):
            raise MalformedStoredCredentialError("a stored credential must be a JSON object")
        unknown = set(value) - set(_MEMBERS)
        missing = [name for name in _MEMBERS if name not in value]
        if unknown or missing:
            raise MalformedStoredCredentialError(
                f"a stored credential has unknown members {sorted(map(str, unknown))}"
                f" or lacks {missing}"
            )
        kind, did, issuer, credential, received_at = (value[name] for name in _MEMBERS)
        if (
            not isinstance(kind, str)
            or not isinstance(did, str)
            or not isinstance(issuer, str)
            or not isinstance(credential, str)
            or not isinstance(received_at, int)
            or isinstance(received_at, bool)
        ):
            raise MalformedStoredCredentialError(
                "a stored credential has text members and an integer received_at"
            )
        return cls(kind, did, issuer, credential, received_at)

    def to_dict(self) -> dict[str, Any]:
        """The entry as the wallet file holds it."""
        return {
            "type": self.type,
            "did": self.did,
            "issuer": self.issuer,
            "credential": self.credential,
            "received_at": self.received_at,
        }

    def peek(self) -> UnverifiedSdJwt:
        """What the credential says about itself, UNVERIFIED (the wallet reads its own
        credentials to choose one; whoever it is presented to verifies it).

        :class:`~realdid.credentials.MalformedSdJwtError` if it is unreadable.
        """
        return peek_sd_jwt_unverified(self.credential)
