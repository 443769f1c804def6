"""The wallet file: a JSON payload encrypted at rest under a passphrase.

Architecture section 10: "Keys at rest are encrypted (wallet: passphrase KDF + AEAD)".
The passphrase is stretched with Argon2id (RFC 9106), the payload sealed with
XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha, libsodium's ``_ietf`` construction), both from
libsodium through PyNaCl. ``wallet.json`` looks like::

    {"version": 1,
     "kdf": {"name": "argon2id", "opslimit": 3, "memlimit": 67108864, "salt": "<b64url>"},
     "aead": "xchacha20poly1305-ietf",
     "nonce": "<b64url, 24 bytes>",
     "ciphertext": "<b64url>"}

The header (``version``, ``kdf``, ``aead``) is bound to the ciphertext as associated data,
so a file whose parameters were edited fails to decrypt instead of being silently accepted.

Example::

    >>> home = Path("~/.realdid").expanduser()
    >>> passphrase = read_passphrase("New wallet passphrase: ", confirm=True)
    >>> store = Keystore.create(home, passphrase, {"dids": []})
    >>> store.save({**store.payload, "dids": ["did:realdid:..."]})
    >>> Keystore.open(home, passphrase).payload["dids"]
    ['did:realdid:...']

The payload is stored as RFC 8785 (JCS) JSON, so its numbers are I-JSON doubles.
"""

from __future__ import annotations

import getpass as _getpass
import hmac
import json
import os
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nacl.bindings
import nacl.exceptions
import nacl.pwhash.argon2id
import nacl.utils

from realdid import ijson
from realdid.crypto import EncodingError, b64url_decode, b64url_encode, canonicalize
from realdid.storage import write_private_file

from ._errors import ControllerError

WALLET_FILENAME: Final = "wallet.json"
PASSPHRASE_ENV: Final = "REALDID_PASSPHRASE"  # noqa: S105 - the variable name, not a secret

# Argon2id cost. RFC 9106 section 4 recommends t=1, m=2 GiB, or, "if much less memory is
# available", t=3 with m=64 MiB. A citizen's wallet runs on phones and old laptops and is
# unlocked interactively, so we take the second option: t=3 iterations (libsodium's
# OPSLIMIT_MODERATE) over 64 MiB (libsodium's MEMLIMIT_INTERACTIVE); libsodium always uses
# one lane (p=1), which only makes each guess cost the attacker more wall time. That is well
# above OWASP's floor (m=19 MiB, t=2) and costs ~0.1 s on a laptop, under 1 s on a phone.
DEFAULT_OPSLIMIT: Final = 3
DEFAULT_MEMLIMIT: Final = 64 * 1024 * 1024

# Bounds accepted for the parameters, both when creating and when reading a file. The upper
# bounds matter on read: the parameters are used *before* the AEAD tag can be checked, so a
# planted file asking for terabytes of memory must be refused as corrupt, not attempted.
_MIN_OPSLIMIT: Final = int(nacl.pwhash.argon2id.OPSLIMIT_MIN)
_MAX_OPSLIMIT: Final = 16
_MIN_MEMLIMIT: Final = int(nacl.pwhash.argon2id.MEMLIMIT_MIN)
_MAX_MEMLIMIT: Final = 1024 * 1024 * 1024  # libsodium's MEMLIMIT_SENSITIVE

_VERSION: Final = 1
_KDF_NAME: Final = "argon2id"
_AEAD_NAME: Final = "xchacha20poly1305-ietf"
_SALT_BYTES: Final = int(nacl.pwhash.argon2id.SALTBYTES)  # 16
_KEY_BYTES: Final = int(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES)  # 32
_NONCE_BYTES: Final = int(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)  # 24
_TAG_BYTES: Final = int(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES)  # 16
_MAX_FILE_BYTES: Final = 16 * 1024 * 1024
_MIN_PASSPHRASE_CHARS: Final = 8
_MAX_SAFE_INTEGER: Final = 2**53 - 1

_TOP_FIELDS: Final = ("version", "kdf", "aead", "nonce", "ciphertext")
_KDF_FIELDS: Final = ("name", "opslimit", "memlimit", "salt")


# -- errors -----------------------------------------------------------------------------------
class KeystoreError(ControllerError):
    """Base of every keystore error. ``code`` is short and stable (CLI and HTTP mapping).

    Messages never contain the passphrase, payload or file path (architecture section 10:
    no personal data in error messages); ``diagnostics()`` adds the path for the CLI user.
    """

    code = "keystore-error"
    hint = ""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path

    def diagnostics(self) -> str:
        text = str(self)
        if self.path is not None:
            text += f" ({self.path})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class WrongPassphraseError(KeystoreError):
    """The AEAD tag did not verify: wrong passphrase, or the file was modified."""

    code = "wrong-passphrase"

    def __init__(self, *, path: Path | None = None) -> None:
        # The two causes are indistinguishable by design (that is what the AEAD tag is for).
        super().__init__("wrong passphrase or modified wallet file", path=path)


class KeystoreCorruptError(KeystoreError):
    """The file is not a well-formed wallet file; ``field`` names the offending member."""

    code = "keystore-corrupt"
    hint = "restore the wallet from its recovery phrase or a backup"

    def __init__(self, message: str, *, field: str | None = None, path: Path | None = None) -> None:
        super().__init__(message if field is None else f"field '{field}': {message}", path=path)
        self.field = field


class KeystoreExistsError(KeystoreError):
    """``create`` refuses to replace an existing wallet file (it may hold the only keys)."""

    code = "keystore-exists"


class KeystoreNotFoundError(KeystoreError):
    """There is no wallet file in the directory."""

    code = "keystore-not-found"


class WeakPassphraseError(KeystoreError):
    """A new wallet's passphrase is empty or shorter than 8 characters."""

    code = "weak-passphrase"


class PassphraseMismatchError(KeystoreError):
    """The passphrase and its confirmation differ."""

    code = "passphrase-mismatch"


class PayloadTooLargeError(KeystoreError):
    """The encrypted payload would exceed the 16 MiB file cap, so it could not be re-opened."""

    code = "payload-too-large"


# -- the file format --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Header:
    """The authenticated, unencrypted part of the file: everything needed to derive the key."""

    opslimit: int
    memlimit: int
    salt: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "kdf": {
                "name": _KDF_NAME,
                "opslimit": self.opslimit,
                "memlimit": self.memlimit,
                "salt": b64url_encode(self.salt),
            },
            "aead": _AEAD_NAME,
        }

    def associated_data(self) -> bytes:
        """JCS bytes of the header; any change to version, parameters or salt breaks the tag."""
        return canonicalize(self.to_json())

    def derive_key(self, passphrase: str) -> bytes:
        key: bytes = nacl.pwhash.argon2id.kdf(
            _KEY_BYTES,
            _encode_passphrase(passphrase),
            self.salt,
            opslimit=self.opslimit,
            memlimit=self.memlimit,
        )
        return key


def _encode_passphrase(passphrase: str) -> bytes:
    # NFC (as RFC 8265's OpaqueString profile does) so the same passphrase typed on systems
    # with different input methods yields the same bytes.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def check_passphrase_strength(passphrase: str) -> None:
    """:class:`WeakPassphraseError` if a new keystore may not be sealed with ``passphrase``."""
    if not isinstance(passphrase, str):
        raise TypeError("passphrase must be text")
    if not passphrase:
        raise WeakPassphraseError("passphrase is empty")
    if len(unicodedata.normalize("NFC", passphrase)) < _MIN_PASSPHRASE_CHARS:
        raise WeakPassphraseError(f"passphrase is shorter than {_MIN_PASSPHRASE_CHARS} characters")


def _check_limits(opslimit: int, memlimit: int) -> None:
    """Refuse Argon2id parameters outside the accepted range (caller error, not corruption)."""
    if isinstance(opslimit, bool) or not isinstance(opslimit, int):
        raise TypeError("opslimit must be an int")
    if isinstance(memlimit, bool) or not isinstance(memlimit, int):
        raise TypeError("memlimit must be an int")
    if not _MIN_OPSLIMIT <= opslimit <= _MAX_OPSLIMIT:
        raise ValueError(f"opslimit must be in [{_MIN_OPSLIMIT}, {_MAX_OPSLIMIT}]")
    if not _MIN_MEMLIMIT <= memlimit <= _MAX_MEMLIMIT:
        raise ValueError(f"memlimit must be in [{_MIN_MEMLIMIT}, {_MAX_MEMLIMIT}]")


#: Where the keystore draws its salts and nonces: ``n -> n`` random bytes.
RandomBytes = Callable[[int], bytes]


def _seal(header: _Header, key: bytes, plaintext: bytes, random_bytes: RandomBytes) -> bytes:
    """Encrypt under a fresh random nonce and serialise the whole file.

    XChaCha20's 192-bit nonce is large enough to draw at random for every save under one
    key without a realistic chance of reuse, which is why it is used rather than the
    96-bit-nonce ChaCha20-Poly1305.
    """
    nonce = random_bytes(_NONCE_BYTES)
    if len(nonce) != _NONCE_BYTES:
        raise ValueError(f"the randomness source gave {len(nonce)} bytes, not {_NONCE_BYTES}")
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, header.associated_data(), nonce, key
    )
    document = {
        **header.to_json(),
        "nonce": b64url_encode(nonce),
        "ciphertext": b64url_encode(ciphertext),
    }
    data = (json.dumps(document, indent=2) + "\n").encode("ascii")
    if len(data) > _MAX_FILE_BYTES:
        raise PayloadTooLargeError(
            f"encrypted wallet would be {len(data)} bytes, more than {_MAX_FILE_BYTES}"
        )
    return data


@dataclass(frozen=True, slots=True)
class _Envelope:
    header: _Header
    nonce: bytes
    ciphertext: bytes


def _parse_file(data: bytes) -> _Envelope:
    """Strictly parse a wallet file; every problem is a :class:`KeystoreCorruptError`."""
    if len(data) > _MAX_FILE_BYTES:
        raise KeystoreCorruptError(f"wallet file is larger than {_MAX_FILE_BYTES} bytes")
    document = _strict_json(data, field=None, what="wallet file")
    top = _object_with(document, _TOP_FIELDS, field=None)
    version = top["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise KeystoreCorruptError("must be an integer", field="version")
    if version != _VERSION:
        raise KeystoreCorruptError(f"unsupported version {version}", field="version")
    kdf = _object_with(top["kdf"], _KDF_FIELDS, field="kdf")
    if kdf["name"] != _KDF_NAME:
        raise KeystoreCorruptError(f"must be {_KDF_NAME!r}", field="kdf.name")
    opslimit = _int_in(kdf["opslimit"], _MIN_OPSLIMIT, _MAX_OPSLIMIT, field="kdf.opslimit")
    memlimit = _int_in(kdf["memlimit"], _MIN_MEMLIMIT, _MAX_MEMLIMIT, field="kdf.memlimit")
    salt = _b64url_field(kdf["salt"], field="kdf.salt")
    if len(salt) != _SALT_BYTES:
        raise KeystoreCorruptError(f"must encode {_SALT_BYTES} bytes", field="kdf.salt")
    if top["aead"] != _AEAD_NAME:
        raise KeystoreCorruptError(f"must be {_AEAD_NAME!r}", field="aead")
    nonce = _b64url_field(top["nonce"], field="nonce")
    if len(nonce) != _NONCE_BYTES:
        raise KeystoreCorruptError(f"must encode {_NONCE_BYTES} bytes", field="nonce")
    ciphertext = _b64url_field(top["ciphertext"], field="ciphertext")
    if len(ciphertext) < _TAG_BYTES:
        raise KeystoreCorruptError("shorter than the authentication tag", field="ciphertext")
    return _Envelope(_Header(opslimit, memlimit, salt), nonce, ciphertext)


def _parse_int(text: str) -> int | float:
    """JSON numbers are doubles (I-JSON, RFC 7493 section 2.2; JCS relies on it).

    ``canonicalize`` refuses integers outside +-(2**53 - 1), so a longer integer literal
    can only be the JCS spelling of a large float (1e16 is written "10000000000000000");
    reading it back as a float returns exactly the value that was saved.
    """
    value = int(text)
    return value if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER else float(text)


def _loads(text: str | bytes) -> Any:
    return json.loads(
        text,
        object_pairs_hook=ijson.unique_members,
        parse_constant=ijson.reject_constant,
        parse_int=_parse_int,
    )


def _strict_json(data: bytes, *, field: str | None, what: str) -> Any:
    """UTF-8 JSON without duplicate members, NaN or Infinity (RFC 8259 / I-JSON, RFC 7493)."""
    try:
        return _loads(data.decode("utf-8"))
    except ijson.DuplicateMemberError as e:
        raise KeystoreCorruptError(f"{what} has a duplicate member", field=field) from e
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise KeystoreCorruptError(f"{what} is not valid JSON", field=field) from e


def _object_with(value: Any, fields: tuple[str, ...], *, field: str | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise KeystoreCorruptError(
            "must be a JSON object", field=field if field is not None else "(top level)"
        )
    prefix = "" if field is None else f"{field}."
    for name in fields:
        if name not in value:
            raise KeystoreCorruptError("missing", field=prefix + name)
    for name in value:
        if name not in fields:
            # Unknown members are refused, not kept: a future format bumps "version".
            raise KeystoreCorruptError("unknown member", field=prefix + name)
    return value


def _int_in(value: Any, low: int, high: int, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeystoreCorruptError("must be an integer", field=field)
    if not low <= value <= high:
        raise KeystoreCorruptError(f"must be in [{low}, {high}]", field=field)
    return value


def _b64url_field(value: Any, *, field: str) -> bytes:
    if not isinstance(value, str):
        raise KeystoreCorruptError("must be a base64url string", field=field)
    try:
        return b64url_decode(value)
    except EncodingError as e:
        raise KeystoreCorruptError("is not canonical unpadded base64url", field=field) from e


def _encode_payload(payload: Mapping[str, Any]) -> bytes:
    if not isinstance(payload, Mapping):
        raise TypeError("payload must be a JSON object (a dict)")
    # RFC 8785: one byte spelling per payload; raises EncodingError for non-JSON values.
    return canonicalize(dict(payload))


# -- durable file writes ----------------------------------------------------------------------
def _create_durably(target: Path, data: bytes) -> None:
    """Create the wallet file atomically and durably (0600), never clobbering one that
    exists: a concurrent creator loses cleanly (:func:`realdid.storage.write_private_file`)."""
    try:
        write_private_file(target, data, exclusive=True)
    except FileExistsError as e:
        raise KeystoreExistsError("a wallet already exists here", path=target) from e


# -- the keystore -----------------------------------------------------------------------------
class Keystore:
    """An unlocked wallet file: the decrypted payload plus the key to re-seal it.

    Construct with :meth:`create` or :meth:`open`. The payload is an opaque JSON object
    owned by the caller (recovery phrase, DID records, credentials); this class only keeps
    it confidential and intact. The derived key stays in memory so :meth:`save` does not
    re-run Argon2id; Python cannot reliably wipe it, so drop the object when done.

    Concurrent writers are not coordinated: each save is atomic and the last one wins.

    ``random_bytes`` (default :func:`nacl.utils.random`, the OS CSPRNG) is where the Argon2id
    salt and every XChaCha20 nonce come from; tests pin it to make the file reproducible.
    """

    __slots__ = ("_header", "_key", "_path", "_plaintext", "_random_bytes")

    def __init__(
        self,
        *,
        path: Path,
        header: _Header,
        key: bytes,
        plaintext: bytes,
        random_bytes: RandomBytes,
    ) -> None:
        """Internal; use :meth:`create` or :meth:`open`."""
        self._path = path
        self._header = header
        self._key = key
        self._plaintext = plaintext
        self._random_bytes = random_bytes

    def __repr__(self) -> str:  # never show the key or the payload
        return f"Keystore(path={str(self._path)!r})"

    @classmethod
    def create(
        cls,
        directory: Path,
        passphrase: str,
        payload: Mapping[str, Any],
        *,
        opslimit: int = DEFAULT_OPSLIMIT,
        memlimit: int = DEFAULT_MEMLIMIT,
        random_bytes: RandomBytes = nacl.utils.random,
    ) -> Keystore:
        """Encrypt ``payload`` into a new ``directory/wallet.json``.

        Creates ``directory`` (mode 0700) if needed. Raises :class:`WeakPassphraseError`,
        :class:`KeystoreExistsError` (an existing wallet is never overwritten), ``TypeError``
        / ``ValueError`` for bad Argon2id limits, ``realdid.crypto.EncodingError`` if the
        payload is not JSON, :class:`PayloadTooLargeError`, or ``OSError``.
        """
        check_passphrase_strength(passphrase)
        _check_limits(opslimit, memlimit)
        plaintext = _encode_payload(payload)
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / WALLET_FILENAME
        if path.exists():  # cheap early refusal before the KDF; _create_durably re-checks
            raise KeystoreExistsError("a wallet already exists here", path=path)
        salt = random_bytes(_SALT_BYTES)
        if len(salt) != _SALT_BYTES:
            raise ValueError(f"the randomness source gave {len(salt)} bytes, not {_SALT_BYTES}")
        header = _Header(opslimit, memlimit, salt)
        key = header.derive_key(passphrase)
        _create_durably(path, _seal(header, key, plaintext, random_bytes))
        return cls(
            path=path, header=header, key=key, plaintext=plaintext, random_bytes=random_bytes
        )

    @classmethod
    def open(
        cls, directory: Path, passphrase: str, *, random_bytes: RandomBytes = nacl.utils.random
    ) -> Keystore:
        """Read and decrypt ``directory/wallet.json``.

        Raises :class:`KeystoreNotFoundError`, :class:`KeystoreCorruptError` (naming the bad
        field), :class:`WrongPassphraseError`, or ``OSError`` (e.g. permission denied).
        """
        if not isinstance(passphrase, str):
            raise TypeError("passphrase must be text")
        path = Path(directory) / WALLET_FILENAME
        try:
            with path.open("rb") as f:
                data = f.read(_MAX_FILE_BYTES + 1)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise KeystoreNotFoundError("no wallet file found", path=path) from e
        except IsADirectoryError as e:
            raise KeystoreCorruptError("wallet file is a directory", path=path) from e
        try:
            envelope = _parse_file(data)
            key = envelope.header.derive_key(passphrase)
            try:
                plaintext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                    envelope.ciphertext, envelope.header.associated_data(), envelope.nonce, key
                )
            except nacl.exceptions.CryptoError as e:
                raise WrongPassphraseError() from e
            # Authentic but not an object can only come from a buggy writer; still refuse it.
            payload = _strict_json(plaintext, field="ciphertext", what="decrypted payload")
            if not isinstance(payload, dict):
                raise KeystoreCorruptError(
                    "decrypted payload is not a JSON object", field="ciphertext"
                )
        except KeystoreError as e:
            e.path = path
            raise
        return cls(
            path=path,
            header=envelope.header,
            key=key,
            plaintext=plaintext,
            random_bytes=random_bytes,
        )

    @property
    def path(self) -> Path:
        """The wallet file (``directory/wallet.json``)."""
        return self._path

    @property
    def payload(self) -> dict[str, Any]:
        """A fresh copy of the stored payload; changing it changes nothing until :meth:`save`."""
        value: dict[str, Any] = _loads(self._plaintext)
        return value

    def save(self, payload: Mapping[str, Any]) -> None:
        """Replace the stored payload: re-encrypt under a fresh nonce, write atomically.

        The Argon2id key and salt are reused (the passphrase did not change), so saving is
        cheap. The write goes to a temporary file in the same directory, is fsynced, renamed
        over ``wallet.json`` and the directory fsynced: after a crash the file holds either
        the old or the new payload, never a mix.
        """
        plaintext = _encode_payload(payload)
        write_private_file(
            self._path, _seal(self._header, self._key, plaintext, self._random_bytes)
        )
        self._plaintext = plaintext


def read_passphrase(
    prompt: str,
    *,
    confirm: bool,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[str], str] | None = None,
) -> str:
    """Return the wallet passphrase: ``$REALDID_PASSPHRASE`` if set, else ask on the terminal.

    With ``confirm=True`` (creating a wallet) the interactive passphrase is checked for
    strength, then asked a second time and must match (:class:`PassphraseMismatchError`).
    The environment variable is for scripts and CI; it is returned as is (``create`` still
    checks its strength). ``environ`` and ``ask`` default to ``os.environ`` and
    ``getpass.getpass``; tests pass fakes.
    """
    env = os.environ if environ is None else environ
    from_env = env.get(PASSPHRASE_ENV)
    if from_env is not None:
        return from_env
    read = _getpass.getpass if ask is None else ask
    passphrase = read(prompt)
    if confirm:
        check_passphrase_strength(passphrase)
        again = read("Repeat passphrase: ")
        if not hmac.compare_digest(passphrase.encode("utf-8"), again.encode("utf-8")):
            raise PassphraseMismatchError("the two passphrases differ")
    return passphrase
