"""Every settings test starts from a clean environment: no ``REALDID_*`` variable leaks in
from the shell (a developer's ``REALDID_NODE`` or ``REALDID_CONFIG``) to change a result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("REALDID_"):
            monkeypatch.delenv(name)


def write_toml(directory: Path, text: str) -> Path:
    path = directory / "realdid.toml"
    path.write_text(text, encoding="utf-8")
    return path
