"""One error root per package, carrying ``code`` and ``http_status`` (issue 10, section 4).

Every exception class a RealDID package defines derives from that package's root, so a
caller catches one class per package and a service's HTTP edge maps any error by reading
its ``code`` and ``http_status`` — never by a table of its own.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import realdid
from realdid.authority import AuthorityError
from realdid.controller import ControllerError
from realdid.credentials import CredentialError
from realdid.crypto import CryptoError
from realdid.did import DidError
from realdid.http import HttpError
from realdid.ijson import IJsonError
from realdid.ledger import LedgerError
from realdid.node import NodeError
from realdid.registry import NodeClientError
from realdid.rp import RpError
from realdid.settings import SettingsError
from realdid.storage import StorageError
from realdid.wallet import WalletError

ROOTS: dict[str, type[Exception]] = {
    "authority": AuthorityError,
    "controller": ControllerError,
    "credentials": CredentialError,
    "crypto": CryptoError,
    "did": DidError,
    "http": HttpError,
    "ijson": IJsonError,
    "ledger": LedgerError,
    "node": NodeError,
    "registry": NodeClientError,
    "rp": RpError,
    "settings": SettingsError,
    "storage": StorageError,
    "wallet": WalletError,
}

# Packages that raise nothing of their own: the CLI turns the others' errors into one line;
# clock and randomness hand the standard library's errors through; web serves pages.
WITHOUT_ERRORS = {"cli", "web"}


def _package_errors() -> list[tuple[str, type[BaseException]]]:
    found: list[tuple[str, type[BaseException]]] = []
    for module_info in pkgutil.walk_packages(realdid.__path__, "realdid."):
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            public = not value.__name__.startswith("_")  # private ones never leave their module
            if issubclass(value, BaseException) and value.__module__ == module.__name__ and public:
                found.append((module.__name__.split(".")[1], value))
    return found


@pytest.mark.parametrize(("package", "root"), sorted(ROOTS.items()))
def test_each_root_carries_a_code_and_an_http_status(package: str, root: type[Exception]) -> None:
    assert root.__module__.startswith(f"realdid.{package}")
    assert isinstance(root.code, str)
    assert root.code
    status = root.http_status
    if isinstance(status, property):  # read from the package's problem table, per instance
        return
    assert 400 <= status <= 599


def test_every_error_a_package_defines_derives_from_its_root() -> None:
    strays = [
        f"{error.__module__}.{error.__qualname__}"
        for package, error in _package_errors()
        if package not in WITHOUT_ERRORS and not issubclass(error, ROOTS[package])
    ]
    assert strays == []


def test_packages_without_a_root_define_no_errors() -> None:
    defined = [
        f"{error.__module__}.{error.__qualname__}"
        for package, error in _package_errors()
        if package in WITHOUT_ERRORS
    ]
    assert defined == []
