"""write_private_file: atomic, durable, owner-only files (realdid.storage)."""

from __future__ import annotations

import doctest
import os
import stat
from pathlib import Path

import pytest

import realdid.storage._files
from realdid.storage import fsync_directory, write_private_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_module_example_runs() -> None:
    assert doctest.testmod(realdid.storage._files, optionflags=doctest.ELLIPSIS).failed == 0


def test_a_new_file_is_0600_under_any_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private_file(tmp_path / "key", b"secret")
    finally:
        os.umask(old)
    assert mode(tmp_path / "key") == 0o600
    assert (tmp_path / "key").read_bytes() == b"secret"


def test_replace_overwrites_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "wallet.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert mode(target) == 0o600
    assert os.listdir(tmp_path) == ["wallet.json"]


def test_exclusive_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"first")
    with pytest.raises(FileExistsError):
        write_private_file(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["key"]


def test_exclusive_without_hard_links_still_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*_: object) -> None:
        raise PermissionError("this filesystem has no hard links")

    monkeypatch.setattr(os, "link", no_links)
    write_private_file(tmp_path / "key", b"first", exclusive=True)
    assert (tmp_path / "key").read_bytes() == b"first"
    assert mode(tmp_path / "key") == 0o600
    with pytest.raises(FileExistsError):
        write_private_file(tmp_path / "key", b"second", exclusive=True)
    assert (tmp_path / "key").read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["key"]


def test_public_material_may_be_widened(tmp_path: Path) -> None:
    write_private_file(tmp_path / "escrow-public.jwk", b"{}", exclusive=True, mode=0o644)
    assert mode(tmp_path / "escrow-public.jwk") == 0o644


def test_a_failed_write_leaves_neither_target_nor_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(_: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_private_file(tmp_path / "key", b"secret")
    assert os.listdir(tmp_path) == []


def test_data_and_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def record(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    write_private_file(tmp_path / "key", b"secret")
    assert synced == [False, True]  # the file's bytes first, then the new name


def test_fsync_directory_of_a_missing_directory_is_a_no_op(tmp_path: Path) -> None:
    fsync_directory(tmp_path / "missing")
