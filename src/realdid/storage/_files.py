"""Private files (keys, secrets, wallets) written so that a crash or a race never harms them.

:func:`write_private_file` is the one way RealDID writes such a file:

1. the data goes to a fresh temporary file in the target's directory, created with mode
   0600 (by :func:`tempfile.mkstemp`), so a secret is never readable by others, not even
   for an instant under a loose umask;
2. the temporary file is fsynced, so the bytes are on disk before any name points to them;
3. it becomes the target in one atomic step — :func:`os.replace`, or with ``exclusive``
   :func:`os.link`, which fails if the target exists where a rename would silently
   clobber a file created between an existence check and the rename;
4. the directory is fsynced, so the new name itself survives power loss.

Readers see either no file (or the previous one) or the complete new file.

Example::

    >>> import pathlib, tempfile
    >>> key = pathlib.Path(tempfile.mkdtemp()) / "signing.key"
    >>> write_private_file(key, b"secret", exclusive=True)
    >>> oct(key.stat().st_mode & 0o777), key.read_bytes()
    ('0o600', b'secret')
    >>> write_private_file(key, b"other", exclusive=True)
    Traceback (most recent call last):
    ...
    FileExistsError: [Errno 17] File exists: ...
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["PRIVATE_FILE_MODE", "fsync_directory", "write_private_file"]

#: Owner read/write only.
PRIVATE_FILE_MODE = 0o600


def write_private_file(
    path: Path | str, data: bytes, *, exclusive: bool = False, mode: int = PRIVATE_FILE_MODE
) -> None:
    """Write ``data`` to ``path`` atomically and durably, readable by the owner only.

    ``exclusive``: create ``path`` only if it does not exist, raising
    :class:`FileExistsError` otherwise (never overwrite a key). ``mode`` may be widened
    only for public material that shares the procedure (an escrow public key, 0644); the
    temporary file is 0600 whatever ``mode`` says, until the data is complete.
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), PRIVATE_FILE_MODE)  # mkstemp's 0600, stated as the contract
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode != PRIVATE_FILE_MODE:
            os.chmod(temp, mode)
        if exclusive:
            _create(temp, target)
        else:
            os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    fsync_directory(target.parent)


def _create(temp: Path, target: Path) -> None:
    try:
        os.link(temp, target)  # atomic, and fails if target exists
    except FileExistsError:
        raise
    except OSError:
        # A filesystem without hard links (FAT, some network shares): claim the name with
        # O_EXCL first, so a file someone else created is still never replaced, then
        # rename the complete data over the (empty) placeholder this call owns.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        os.replace(temp, target)


def fsync_directory(directory: Path | str) -> None:
    """Make a rename or link in ``directory`` durable (POSIX; a no-op where directories
    cannot be opened, e.g. Windows, whose renames are journaled)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
