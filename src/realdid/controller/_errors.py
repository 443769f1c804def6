"""The root of :mod:`realdid.controller` errors (keystore, seed and DID operations alike).

Like every package's error root it carries a stable ``code`` and an ``http_status``.
"""

from __future__ import annotations

__all__ = ["ControllerError"]


class ControllerError(Exception):
    """The root of the controller's errors (the wallet's :class:`~realdid.wallet.WalletError`
    derives from it too)."""

    code = "controller-error"
    http_status = 400  # what it refuses is the caller's input or the caller's wallet

    def diagnostics(self) -> str:
        return str(self)
