"""The identity authority's RFC 9457 problem types: code, HTTP status, title.

:data:`AUTHORITY_PROBLEMS` is the one place an authority code gets its status. The errors
of this package read their ``http_status`` from it (``_errors.py``), and the HTTP API
(``_app.py``) answers every refusal with the entry of the error's code. It declares:

* the codes of :mod:`realdid.authority`'s own errors (refusals, key resolution, operator
  authentication, the input formats) and of the API itself;
* the codes of the :mod:`realdid.credentials` errors the authority lets through (a signed
  application that does not verify, a malformed RP registration): 400, the caller's fault;
* the OAuth 2.0 ``error`` codes of the OpenID4VCI endpoints (:class:`OAuthProblemType`).

Titles are the code in words (``did-not-found`` → "did not found"): the authority has
sent them so since its first release, and clients may show them, so they stay as they are.
Codes that only a command-line tool meets (a register import, a broken audit chain, an
escrow key) answer 400 should one ever reach the API, as every undeclared code did before
this table existed.

Example::

    >>> AUTHORITY_PROBLEMS["too-many-attempts"].status
    429
    >>> AUTHORITY_PROBLEMS["invalid_token"].uri
    'urn:realdid:problem:invalid_token'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from realdid.http import RATE_LIMITED, ProblemTable, ProblemType

__all__ = ["AUTHORITY_PROBLEMS", "OAuthProblemType"]

# RFC 6749 section 5.2 allows more characters in ``error``; every OAuth and OpenID4VCI
# code in use is lower-case words joined by underscores.
_OAUTH_ERROR = re.compile(r"[a-z]+(?:_[a-z]+)*")


@dataclass(frozen=True, slots=True)
class OAuthProblemType(ProblemType):
    """An OAuth 2.0 error code (RFC 6749 section 5.2; OpenID4VCI sections 6.3 and 8.3.1.2)
    published as a problem type.

    The OpenID4VCI endpoints have always answered ``urn:realdid:problem:<error>`` with the
    OAuth ``error`` verbatim, underscores and all, and their title is the error itself;
    that is their published ``type``, so this is the one place the table admits a code
    that is not kebab-case. The OAuth ``error`` / ``error_description`` members are added
    by the API beside the problem members.
    """

    def __post_init__(self) -> None:
        if not _OAUTH_ERROR.fullmatch(self.code):
            raise ValueError(f"OAuth error {self.code!r} is not lower-case with underscores")
        if self.status not in (400, 401):
            raise ValueError(f"OAuth error {self.code}: status {self.status} is not 400 or 401")
        if self.title != self.code:
            raise ValueError(f"OAuth error {self.code}: the title is the error itself")


def _problem(code: str, status: int) -> ProblemType:
    return ProblemType(code, status, code.replace("-", " "))


def _oauth(error: str, status: int = 400) -> OAuthProblemType:
    return OAuthProblemType(error, status, error)


AUTHORITY_PROBLEMS = ProblemTable(
    # -- the API itself ------------------------------------------------------------------------
    _problem("invalid-request", 400),
    _problem("malformed-json", 400),
    _problem("unsupported-media-type", 415),
    _problem("payload-too-large", 413),
    _problem("no-such-resource", 404),
    _problem("method-not-allowed", 405),
    _problem("authority-starting", 503),
    _problem("internal-error", 500),
    _problem("storage-unavailable", 503),  # the database restarts or fails over: retry
    RATE_LIMITED,  # one client asked for too many challenges or applications
    # -- operators ------------------------------------------------------------------------------
    _problem("unauthenticated", 401),
    _problem("forbidden", 403),
    _problem("operator-not-found", 400),
    # -- applications: the claims and the challenge ----------------------------------------------
    _problem("invalid-nonce", 400),
    _problem("invalid-name", 400),
    _problem("invalid-id-number", 400),
    _problem("invalid-face", 400),
    _problem("invalid-uscc", 400),
    _problem("invalid-company-name", 400),
    _problem("invalid-legal-representative", 400),
    _problem("invalid-site-did", 400),
    _problem("invalid-purpose", 400),
    _problem("invalid-permitted-claims", 400),
    _problem("invalid-reason", 400),
    # -- the applicant's key, resolved through the registry ---------------------------------------
    _problem("invalid-did", 400),
    _problem("did-not-found", 422),
    _problem("did-deactivated", 422),
    _problem("key-not-found", 422),
    _problem("registry-unavailable", 503),
    # -- refusals of the service ----------------------------------------------------------------
    _problem("identity-mismatch", 422),
    _problem("face-mismatch", 422),
    _problem("enterprise-mismatch", 422),
    _problem("too-many-attempts", 429),
    _problem("did-already-enrolled", 409),
    _problem("enrollment-blocked", 403),
    _problem("not-enrolled", 403),
    _problem("not-an-enterprise", 409),
    _problem("re-enrollment-required", 409),
    _problem("enterprise-not-found", 409),
    _problem("enrollment-not-found", 404),
    # -- input formats (``_id_numbers.py``, ``_business.py``, ``_face.py``) ------------------------
    _problem("id-number-invalid", 400),
    _problem("id-number-format", 400),
    _problem("id-number-checksum", 400),
    _problem("id-number-birth-date", 400),
    _problem("id-number-region", 400),
    _problem("uscc-invalid", 400),
    _problem("uscc-format", 400),
    _problem("uscc-checksum", 400),
    _problem("face-capture-invalid", 400),
    # -- met by the command-line tools, not by the API --------------------------------------------
    _problem("authority-error", 400),
    _problem("register-import", 400),
    _problem("register-duplicate", 400),
    _problem("business-register-duplicate", 400),
    _problem("audit-chain-broken", 400),
    _problem("escrow-open-failed", 400),
    _problem("escrow-key-invalid", 400),
    _problem("escrow-key-exists", 400),
    _problem("service-secrets", 400),
    # -- realdid.credentials errors the authority passes on ---------------------------------------
    _problem("credential-error", 400),
    _problem("invalid-issuance-request", 400),
    _problem("invalid-presentation-request", 400),
    _problem("verification-failed", 400),
    _problem("malformed-sd-jwt", 400),
    _problem("algorithm-not-allowed", 400),
    _problem("untrusted-issuer", 400),
    _problem("invalid-issuer-signature", 400),
    _problem("expired", 400),
    _problem("not-yet-valid", 400),
    _problem("disclosure-not-referenced", 400),
    _problem("duplicate-disclosure", 400),
    _problem("invalid-key-binding", 400),
    _problem("wrong-audience", 400),
    _problem("wrong-nonce", 400),
    _problem("stale-key-binding", 400),
    _problem("sd-hash-mismatch", 400),
    _problem("invalid-application", 400),
    _problem("invalid-application-signature", 400),
    _problem("stale-application", 400),
    _problem("malformed-rp-registration", 400),
    _problem("invalid-status-list-parameters", 400),
    _problem("status-index-out-of-range", 400),
    _problem("status-value-out-of-range", 400),
    _problem("malformed-status-list", 400),
    _problem("status-list-uri-mismatch", 400),
    _problem("malformed-jws", 400),
    _problem("invalid-jws-signature", 400),
    # -- OAuth 2.0 / OpenID4VCI errors (RFC 6749 5.2, RFC 6750 3.1, OpenID4VCI 8.3.1.2) ------------
    _oauth("invalid_request"),
    _oauth("invalid_grant"),
    _oauth("unsupported_grant_type"),
    _oauth("invalid_token", 401),
    _oauth("invalid_nonce"),
    _oauth("invalid_proof"),
    _oauth("invalid_credential_request"),
    _oauth("invalid_encryption_parameters"),
)
