"""The authority's two operational secrets, kept in a file beside (never inside) its database.

* the **data key** (ChaCha20-Poly1305) seals the little personal data the service must
  hold between two steps of a flow — the claims of a credential that is offered but not yet
  collected, and the birth date and province a later site proof needs — so that a copy of
  the database alone reveals nothing;
* the **pepper** (HMAC-SHA256) turns ID numbers, unified social credit codes and DIDs into
  opaque lookup references. ID numbers are guessable (a few billion candidates), so an
  unkeyed hash would be a plaintext link in disguise; a keyed one is not.

Production loads both from a secrets manager or HSM; the file form is the embedded default.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ._errors import AuthorityError

_KEY_BYTES = 32
_NONCE_BYTES = 12
_FILE_BYTES = 2 * _KEY_BYTES


class ServiceSecretsError(AuthorityError):
    code = "service-secrets"


@dataclass(frozen=True, slots=True)
class ServiceSecrets:
    data_key: bytes
    pepper: bytes

    @classmethod
    def generate(cls) -> ServiceSecrets:
        return cls(secrets.token_bytes(_KEY_BYTES), secrets.token_bytes(_KEY_BYTES))

    @classmethod
    def load_or_create(cls, path: Path) -> ServiceSecrets:
        """Read the secrets file, or create it (mode 0600, atomically) on first start."""
        if not path.exists():
            fresh = cls.generate()
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(fresh.data_key + fresh.pepper)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            return fresh
        raw = path.read_bytes()
        if len(raw) != _FILE_BYTES:
            raise ServiceSecretsError(f"{path} is not a RealDID authority secrets file")
        return cls(raw[:_KEY_BYTES], raw[_KEY_BYTES:])

    def reference(self, kind: str, value: str) -> str:
        """An opaque, stable lookup key for ``value`` (hex HMAC; ``kind`` separates domains)."""
        mac = hmac.new(self.pepper, f"{kind}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + ChaCha20Poly1305(self.data_key).encrypt(nonce, plaintext, associated_data)

    def open(self, sealed: bytes, associated_data: bytes) -> bytes:
        try:
            return ChaCha20Poly1305(self.data_key).decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data
            )
        except (InvalidTag, ValueError) as e:
            raise ServiceSecretsError(
                "sealed data does not open with this service's data key"
            ) from e

    def seal_json(self, value: Any, associated_data: bytes) -> bytes:
        """Seal a JSON record (an enrollment profile, an offer's pending claims).

        Compact, key-sorted UTF-8, so the same record always seals the same plaintext.
        """
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return self.seal(text.encode(), associated_data)

    def open_json(self, sealed: bytes, associated_data: bytes) -> Any:
        """The record :meth:`seal_json` sealed under the same ``associated_data``."""
        return json.loads(self.open(sealed, associated_data))
