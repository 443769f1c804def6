"""``did:realdid`` identifiers (docs/did-method.md section "Syntax")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from realdid.crypto import is_multihash_b58

from ._errors import InvalidDidError, MethodNotSupportedError

METHOD = "realdid"
PREFIX = "did:realdid:"
MAX_DID_LENGTH = 256

# W3C DID Core section 3.1 ABNF: did = "did:" method-name ":" method-specific-id
_GENERIC_DID = re.compile(
    r"^did:([a-z0-9]+):((?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+$"
)


@dataclass(frozen=True, slots=True, order=True)
class Did:
    """A parsed ``did:realdid:<suffix>``; the suffix is a base58btc SHA-256 multihash."""

    suffix: str

    def __post_init__(self) -> None:
        if not is_multihash_b58(self.suffix):
            raise InvalidDidError(
                "DID suffix must be a base58btc SHA-256 multihash (46 chars, 'Qm...')"
            )

    @classmethod
    def parse(cls, text: str) -> Did:
        """Parse a DID string strictly. DID URLs (path, query, fragment) are refused here."""
        if not isinstance(text, str) or len(text) > MAX_DID_LENGTH:
            raise InvalidDidError("DID must be a string of at most 256 characters")
        match = _GENERIC_DID.fullmatch(text)  # fullmatch: '$' would accept a final newline
        if match is None:
            raise InvalidDidError("not a valid DID (W3C DID Core section 3.1 syntax)")
        if match.group(1) != METHOD:
            raise MethodNotSupportedError(f"DID method '{match.group(1)}' is not supported")
        suffix = text[len(PREFIX) :]
        return cls(suffix)

    def __str__(self) -> str:
        return PREFIX + self.suffix
