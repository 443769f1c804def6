"""The wallet's errors: one root, :class:`WalletError`, below the controller's.

Each carries a stable ``code`` (what the CLI prints and tests compare) and a
``diagnostics()`` text for people.
"""

from __future__ import annotations

from realdid.controller import ControllerError

#: The codes a :class:`LoginFlowError` carries, one per step of the login flow that can
#: refuse (``rp-refused:<code>`` carries the RP's own problem code).
LOGIN_FLOW_CODES = (
    "invalid-login-target",
    "rp-unreachable",
    "invalid-request-object",
    "registration-missing",
    "registration-invalid",
    "registration-unverifiable",
    "not-entitled",
    "no-credential",
    "site-did-deactivated",
    "rp-refused:<code>",
)


class WalletError(ControllerError):
    code = "wallet-error"


class LoginFlowError(WalletError):
    """The login cannot go on; ``code`` is one of :data:`LOGIN_FLOW_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def diagnostics(self) -> str:
        return f"{self.code}: {self.message}"
