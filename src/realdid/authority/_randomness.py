"""Where the authority's unguessable values come from: one injected source.

Application nonces, pre-authorized codes, access tokens, ``c_nonce`` values, record ids and
operator tokens are drawn from :attr:`Randomness.token_bytes`; status-list indexes, and the
lottery that decides when expired protocol state is purged, from
:attr:`Randomness.randbelow`. The defaults are :mod:`secrets` (a CSPRNG: these values are
bearer secrets, and status indexes must not reveal issuance order). The seam exists so that a
test can replay a run exactly with a seeded source — a deployment never passes one.

Example::

    >>> Randomness(token_bytes=lambda n: bytes(n)).token(3)
    'AAAA'
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from realdid.crypto import b64url_encode

_RECORD_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class Randomness:
    """A source of random bytes and of uniform integers below a bound."""

    token_bytes: Callable[[int], bytes] = secrets.token_bytes
    randbelow: Callable[[int], int] = secrets.randbelow

    def token(self, nbytes: int) -> str:
        """``nbytes`` random bytes as unpadded base64url: :func:`secrets.token_urlsafe`'s format."""
        return b64url_encode(self.token_bytes(nbytes))

    def record_id(self) -> str:
        """A fresh primary key for an enrollment, escrow record or credential (128 bits)."""
        return self.token(_RECORD_ID_BYTES)
