"""Short login codes: 8 Crockford base32 characters shown as ``XXXX-XXXX`` (40 bits).

A person who cannot scan the QR code types the code into the wallet; the wallet asks the
RP (never a central service, ADR 0012 "Short codes") for the ``openid4vp://`` URL it stands
for. Crockford's alphabet leaves out I, L, O and U so that what people misread or mistype
(``i``/``l`` for one, ``o`` for zero, lower case, spaces, dashes) still finds the code. The RP (issuing and looking codes up) and the wallet (reading what
the person typed) both normalise here, so a code one accepts the other accepts too.

Example::

    >>> normalise_code(" abcd-efgh ") == "ABCD-EFGH"
    True
    >>> normalise_code("1O1I-LLOO")
    '1011-1100'
"""

from __future__ import annotations

from realdid.randomness import Randomness

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8  # 8 x 5 bits = 40 bits
_FOLD = str.maketrans({"I": "1", "L": "1", "O": "0"})
_ALPHABET = frozenset(CROCKFORD_ALPHABET)
#: Longest input worth normalising; anything longer is refused before any work.
_MAX_INPUT = 32


def new_code(randomness: Randomness | None = None) -> str:
    """A fresh random code, ``XXXX-XXXX``: 40 bits from ``randomness`` (:mod:`secrets`)."""
    source = randomness or Randomness()
    value = int.from_bytes(source.token_bytes(5 * CODE_LENGTH // 8), "big")
    chars = [CROCKFORD_ALPHABET[(value >> (5 * i)) & 31] for i in range(CODE_LENGTH)]
    return format_code("".join(chars))


def format_code(compact: str) -> str:
    """``ABCDEFGH`` -> ``ABCD-EFGH``."""
    half = CODE_LENGTH // 2
    return f"{compact[:half]}-{compact[half:]}"


def normalise_code(text: str) -> str | None:
    """The canonical ``XXXX-XXXX`` form of what a person typed, or None if it is no code.

    Upper-cases, drops dashes and whitespace, and folds I/L to 1 and O to 0 (Crockford).
    """
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        return None
    compact = "".join(text.split()).replace("-", "").upper().translate(_FOLD)
    if len(compact) != CODE_LENGTH or not set(compact) <= _ALPHABET:
        return None
    return format_code(compact)
