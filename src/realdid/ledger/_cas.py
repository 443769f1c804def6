"""Content-addressed storage for batch files (ARCHITECTURE.md section 5, step 2).

A batch file is stored under the lowercase hex SHA-256 of its bytes, the ``batchHash`` that
the ledger anchors. Because the address *is* the hash, any node can fetch a batch from an
untrusted peer and check it; :meth:`ContentStore.get` re-hashes on every read so a file
damaged or altered on disk is never returned. Example::

    >>> store = MemoryContentStore()
    >>> address = store.put(b"batch bytes")
    >>> store.get(address)
    b'batch bytes'
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

from realdid.storage import fsync_directory, write_private_file

from ._interface import LedgerError, LedgerIntegrityError

__all__ = [
    "ContentIntegrityError",
    "ContentNotFoundError",
    "ContentStore",
    "ContentStoreError",
    "FileContentStore",
    "InvalidAddressError",
    "MemoryContentStore",
    "content_address",
]

# Exactly a lowercase hex SHA-256: the only spelling accepted, so an address can never hold
# a path separator, "..", or a second spelling of the same content.
_ADDRESS = re.compile(r"[0-9a-f]{64}")
#: Content files are public (anyone may fetch a batch by its address).
_CONTENT_FILE_MODE = 0o644


class ContentStoreError(LedgerError):
    """Base of content-store errors."""

    code = "content-store-error"


class ContentNotFoundError(ContentStoreError):
    """No content is stored under the address."""

    code = "content-not-found"


class ContentIntegrityError(ContentStoreError, LedgerIntegrityError):
    """Stored bytes no longer hash to their address (damaged or tampered with)."""

    code = "content-integrity"


class InvalidAddressError(ContentStoreError):
    """The address is not 64 lowercase hex characters."""

    code = "invalid-content-address"


def content_address(data: bytes) -> str:
    """The address of ``data``: its lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def _check_address(address: str) -> str:
    if not isinstance(address, str) or _ADDRESS.fullmatch(address) is None:
        raise InvalidAddressError("content address must be 64 lowercase hex characters")
    return address


def _check_content(address: str, data: bytes) -> bytes:
    if not hmac.compare_digest(content_address(data), address):
        raise ContentIntegrityError(f"content stored under {address} does not hash to it")
    return data


@runtime_checkable
class ContentStore(Protocol):
    """Where batch files live, keyed by their SHA-256."""

    def put(self, data: bytes) -> str:
        """Store ``data`` durably (idempotent) and return its address."""
        ...

    def get(self, address: str) -> bytes:
        """Return the verified bytes; raise :class:`ContentNotFoundError` if absent."""
        ...

    def has(self, address: str) -> bool: ...


class MemoryContentStore:
    """An in-process :class:`ContentStore` for tests."""

    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        address = content_address(data)
        self._items.setdefault(address, bytes(data))
        return address

    def get(self, address: str) -> bytes:
        try:
            data = self._items[_check_address(address)]
        except KeyError:
            raise ContentNotFoundError(f"no content stored under {address}") from None
        return _check_content(address, data)

    def has(self, address: str) -> bool:
        return _check_address(address) in self._items


class FileContentStore:
    """A :class:`ContentStore` on a local filesystem: ``root/ab/cd/<address>``.

    Writes are atomic and durable (:func:`realdid.storage.write_private_file`, mode 0644):
    the bytes go to a temporary file in the target directory, which is fsynced, renamed
    over the final name with :func:`os.replace` and followed by an fsync of the directory, so after :meth:`put` returns the file survives a power loss and
    a reader never sees a partial file. Two-level fan-out keeps directories small.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    def path_for(self, address: str) -> Path:
        """Where the content of ``address`` lives (validated: never outside ``root``)."""
        a = _check_address(address)
        return self._root / a[0:2] / a[2:4] / a

    def put(self, data: bytes) -> str:
        address = content_address(data)
        path = self.path_for(address)
        if path.is_file():
            try:
                self._read_verified(address, path)
            except ContentIntegrityError:
                pass  # damaged copy: overwrite it below with the good bytes
            else:
                return address  # already stored: no-op
        self._ensure_dir(path.parent)
        # The procedure of a private file (temp file created 0600, fsync, rename, directory
        # fsync), with the final mode widened: batch files are public.
        write_private_file(path, data, mode=_CONTENT_FILE_MODE)
        return address

    def get(self, address: str) -> bytes:
        return self._read_verified(address, self.path_for(address))

    def has(self, address: str) -> bool:
        return self.path_for(address).is_file()

    def _read_verified(self, address: str, path: Path) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ContentNotFoundError(f"no content stored under {address}") from None
        return _check_content(address, data)

    def _ensure_dir(self, directory: Path) -> None:
        """Create the fan-out directories, fsyncing each parent so the new entry is durable."""
        missing: list[Path] = []
        d = directory
        while not d.is_dir() and d != self._root:
            missing.append(d)
            d = d.parent
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):  # a concurrent put created it
                d.mkdir()
            fsync_directory(d.parent)
