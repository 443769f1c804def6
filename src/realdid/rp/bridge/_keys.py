"""The bridge's two long-lived secrets: the ID-token signing key and the pairwise secret.

* The **signing key** (P-256, ES256) signs every ID token; clients fetch its public half from
  ``/jwks`` and select it by ``kid`` (its RFC 7638 thumbprint), so a new key is simply a new
  ``kid``.
* The **pairwise secret** keys the HMAC that turns the per-site DID the bridge receives into
  a different ``sub`` for every client sector (OpenID Connect Core 8.1). Whoever holds it can
  link a person's subjects across client sites, so it never leaves the bridge.

Both live in files of mode 0600, created atomically on first start; production would load
them from an HSM or secrets manager instead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from realdid.storage import write_private_file

SIGNING_KEY_FILE = "bridge-signing-key.pem"
PAIRWISE_SECRET_FILE = "bridge-pairwise-secret"  # noqa: S105 (a file name)
_SECRET_BYTES = 32


class BridgeKeyError(Exception):
    """A key file exists but is not what the bridge wrote (stable ``code``)."""

    code = "bridge-key-file"


@dataclass(frozen=True, slots=True)
class BridgeKeys:
    """The signing key (private, P-256) and the pairwise-subject secret."""

    signing_key: ECKey
    pairwise_secret: bytes


def load_or_create_bridge_keys(directory: Path | str) -> BridgeKeys:
    """Read the bridge's key files in ``directory``, creating missing ones (mode 0600)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    key_path = folder / SIGNING_KEY_FILE
    secret_path = folder / PAIRWISE_SECRET_FILE
    if not key_path.exists():
        _create(key_path, ECKey.generate_key("P-256", private=True).as_pem(private=True))
    if not secret_path.exists():
        _create(secret_path, secrets.token_bytes(_SECRET_BYTES))
    return BridgeKeys(_read_signing_key(key_path), _read_secret(secret_path))


def _create(path: Path, data: bytes) -> None:
    """Create a key file (0600, atomic, durable); if another process created it meanwhile,
    its file stands: two bridges starting at once must end up with the same key."""
    with contextlib.suppress(FileExistsError):
        write_private_file(path, data, exclusive=True)


def _read_signing_key(path: Path) -> ECKey:
    try:
        key = ECKey.import_key(path.read_bytes())
    except (JoseError, ValueError, TypeError) as e:
        raise BridgeKeyError(f"{path.name} is not a PEM EC private key") from e
    if key.curve_name != "P-256" or not key.is_private:
        raise BridgeKeyError(f"{path.name} must hold a P-256 private key")
    return key


def _read_secret(path: Path) -> bytes:
    raw = path.read_bytes()
    if len(raw) != _SECRET_BYTES:
        raise BridgeKeyError(f"{path.name} must hold exactly {_SECRET_BYTES} bytes")
    return raw


def key_id(signing_key: ECKey) -> str:
    """The ``kid`` of the signing key: its RFC 7638 JWK thumbprint."""
    return str(signing_key.thumbprint())


def public_jwks(signing_key: ECKey) -> dict[str, list[dict[str, str]]]:
    """The JWK Set clients verify ID tokens with (public members only)."""
    jwk = {str(k): str(v) for k, v in signing_key.as_dict(private=False).items()}
    jwk.update({"kid": key_id(signing_key), "use": "sig", "alg": "ES256"})
    return {"keys": [jwk]}


def pairwise_subject(secret: bytes, sector_identifier: str, site_did: str) -> str:
    """OpenID Connect Core 8.1 pairwise ``sub``: base64url(HMAC-SHA256(secret, sector \\n DID)).

    Keyed, so nobody without the bridge's secret can compute or link subjects; different per
    sector, so two client sites never see the same ``sub`` for one person; stable per sector,
    so a client sees the same ``sub`` every time. The newline cannot occur in a DID or in a
    sector identifier (a host name), so the input encoding is unambiguous.
    """
    message = f"{sector_identifier}\n{site_did}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
