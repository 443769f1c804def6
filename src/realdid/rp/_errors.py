"""The relying party's error root, :class:`LoginError`, and the codes it carries.

:data:`LOGIN_ERRORS` is the one list of refusal codes with their HTTP status and title
(docs/login.md); sites and wallets key on the codes, so a code never changes with a
message. :data:`LOGIN_PROBLEMS` is the same list as the RFC 9457 problem table the
OpenID4VP routes answer with, so a handler maps any refusal by reading the error alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from realdid.http import RATE_LIMITED, ProblemTable, ProblemType

__all__ = ["LOGIN_ERRORS", "LOGIN_PROBLEMS", "LoginError", "RpError", "WalletRefusalError"]

#: code -> (HTTP status, title). Stable: sites and wallets key on these codes.
LOGIN_ERRORS: Mapping[str, tuple[int, str]] = {
    "invalid-query": (400, "The credential query is not one this profile supports"),
    "not-entitled": (400, "The query asks for more than the registration permits"),
    "unknown-request": (400, "No such login request"),
    "expired-request": (400, "The login request has expired"),
    "request-answered": (410, "The login request has already been answered"),
    "unknown-code": (404, "No live login request has this code"),
    "invalid-response": (400, "The response is not a valid OpenID4VP direct_post response"),
    "replayed-response": (400, "The login request has already been answered"),
    "access-denied": (400, "The person declined to log in"),
    "wallet-error": (400, "The wallet could not answer the request"),
    "untrusted-issuer": (400, "The credential is not from an issuer this site trusts"),
    "wrong-audience": (400, "The presentation is addressed to another site"),
    "wrong-nonce": (400, "The presentation answers another login request"),
    "stale-presentation": (400, "The presentation was not made just now"),
    "expired-credential": (400, "The credential has expired"),
    "credential-not-yet-valid": (400, "The credential is not yet valid"),
    "algorithm-not-allowed": (400, "The presentation uses an algorithm this site refuses"),
    "tampered-presentation": (400, "The presentation does not verify"),
    "wrong-credential-type": (400, "The credential is not of a requested type"),
    "missing-claims": (400, "The presentation does not disclose every requested claim"),
    "invalid-status-reference": (400, "The credential's status reference is unusable"),
    "revoked": (400, "The credential has been revoked or suspended"),
    "status-unavailable": (503, "The credential's revocation status cannot be checked now"),
    "missing-subject": (400, "The credential names no holder DID"),
    "unknown-holder": (400, "The holder DID is not anchored in the registry"),
    "holder-deactivated": (400, "The holder DID is deactivated"),
    "holder-key-mismatch": (400, "The credential's key is not a key of the holder DID"),
    "registry-unavailable": (503, "The DID registry cannot be reached now"),
    "payload-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Send application/x-www-form-urlencoded"),
    "storage-unavailable": (503, "The site's login store is unavailable for a moment; retry"),
    "internal-error": (500, "The response could not be checked"),
}


#: :data:`LOGIN_ERRORS` as the RFC 9457 problem table the OpenID4VP routes answer with.
LOGIN_PROBLEMS = ProblemTable(
    *(ProblemType(code, status, title) for code, (status, title) in LOGIN_ERRORS.items()),
    RATE_LIMITED,  # one client started too many logins (the site's GET /login)
)


class RpError(Exception):
    """The root of :mod:`realdid.rp` errors (the SDK, the OIDC bridge, the login pages).

    Like every package's error root it carries a stable ``code`` and the ``http_status``
    the relying party's HTTP face answers it with.
    """

    code = "rp-error"
    http_status = 500

    def diagnostics(self) -> str:
        return str(self)


class LoginError(RpError):
    """A refused login step.

    ``code`` is stable (see :data:`LOGIN_ERRORS`); ``http_status`` is the HTTP status of this
    refusal, the code's own unless the step says otherwise (a request object fetched by an
    unknown id is 404 and an expired one 410 on its own URL, while the same codes are a
    400 inside a posted response). The HTTP face answers with :attr:`problem_type`.
    """

    def __init__(
        self, code: str, message: str | None = None, *, http_status: int | None = None
    ) -> None:
        default_status, title = LOGIN_ERRORS[code]
        super().__init__(message or title)
        self.code = code
        self.http_status = http_status or default_status
        self.title = title
        self.message = message or title

    @property
    def problem_type(self) -> ProblemType:
        """The code's entry in :data:`LOGIN_PROBLEMS`, at this refusal's status."""
        listed = LOGIN_PROBLEMS[self.code]
        if listed.status == self.http_status:
            return listed
        return replace(listed, status=self.http_status)

    def diagnostics(self) -> str:
        return f"{self.code}: {self.message}"


class WalletRefusalError(LoginError):
    """The wallet answered with an OAuth error; the outcome keeps the wallet's own code."""

    def __init__(self, code: str, wallet_error: str) -> None:
        super().__init__(code)
        self.wallet_error = wallet_error
