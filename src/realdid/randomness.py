"""Injected randomness, so that every unguessable value can be replayed under test.

Nonces, login transactions, short codes, CSRF tokens, script nonces, access tokens and record
ids are bearer secrets: whoever guesses one acts as its holder. So they are drawn from
:mod:`secrets` (a CSPRNG), and a deployment never passes anything else. The seam exists, as
:mod:`realdid.clock` does for time, so that a test can fix the values a component draws and
assert exactly what it did with them.

One shape serves every component: a source of random bytes (:attr:`Randomness.token_bytes`)
and of uniform integers below a bound (:attr:`Randomness.randbelow`, e.g. status-list
indexes, which must not reveal issuance order).

Example::

    >>> Randomness(token_bytes=lambda n: bytes(n)).token(3)
    'AAAA'
    >>> seeded = Randomness.seeded(7)
    >>> seeded.token(8) == Randomness.seeded(7).token(8)
    True
"""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Randomness"]


@dataclass(frozen=True, slots=True)
class Randomness:
    """A source of random bytes and of uniform integers below a bound; :mod:`secrets` by default."""

    token_bytes: Callable[[int], bytes] = secrets.token_bytes
    randbelow: Callable[[int], int] = secrets.randbelow

    @classmethod
    def seeded(cls, seed: int) -> Randomness:
        """A reproducible source for tests: the same seed draws the same values.

        Not secret at all (Mersenne Twister): never for anything a deployment issues.
        """
        generator = random.Random(seed)  # noqa: S311 - deterministic on purpose (tests)
        return cls(token_bytes=generator.randbytes, randbelow=generator.randrange)

    def token(self, nbytes: int) -> str:
        """``nbytes`` random bytes as unpadded base64url: :func:`secrets.token_urlsafe`'s format."""
        return base64.urlsafe_b64encode(self.token_bytes(nbytes)).rstrip(b"=").decode("ascii")
