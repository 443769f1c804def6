"""The relying-party SDK: log people in with their RealDID wallet (OpenID4VP, ADR 0012).

A website builds one :class:`RelyingParty` and mounts :func:`login_routes`::

    from fastapi import FastAPI
    from realdid.credentials import CredentialQuery, DcqlQuery
    from realdid.rp import (HttpDidResolver, LoginRequestStore, RelyingParty,
        RelyingPartyConfig, StatusListCache, login_routes)

    resolver = HttpDidResolver("http://127.0.0.1:8080", ttl=60)
    rp = RelyingParty(
        RelyingPartyConfig(base_url="https://forum.example", client_did=did,
            key_id=did + "#key-1", registration=registration_sd_jwt,
            trusted_issuers=frozenset({authority_did})),
        signer=signer, store=LoginRequestStore("logins.db"), resolver=resolver,
        status_lists=StatusListCache(resolver=resolver,
            trusted_issuers=frozenset({authority_did}), policy=DEFAULT_POLICY))
    app = FastAPI()
    app.include_router(login_routes(rp))

    pending = rp.create_request(DcqlQuery((CredentialQuery(
        "site", ("urn:realdid:SiteProof",), ("age_over_18",)),)))
    # show pending.qr_svg() and pending.code; keep pending.transaction in the session;
    # poll rp.outcome(transaction) until .state == "done"; the account is .login.subject.
"""

from ._errors import LOGIN_ERRORS, LOGIN_PROBLEMS, LoginError, RpError
from ._http import MAX_RESPONSE_BYTES, login_routes
from ._resolver import (
    DidDocumentResolver,
    HttpDidResolver,
    ResolvedDid,
    ResolverUnavailableError,
    authentication_keys,
)
from ._service import (
    LoginOutcome,
    PendingLogin,
    RelyingParty,
    RelyingPartyConfig,
    VerifiedLogin,
)
from ._status import StatusListCache, StatusReferenceError, StatusUnavailableError
from ._store import LoginRequestStore, StoredRequest

__all__ = [
    "LOGIN_ERRORS",
    "LOGIN_PROBLEMS",
    "MAX_RESPONSE_BYTES",
    "DidDocumentResolver",
    "HttpDidResolver",
    "LoginError",
    "LoginOutcome",
    "LoginRequestStore",
    "PendingLogin",
    "RelyingParty",
    "RelyingPartyConfig",
    "ResolvedDid",
    "ResolverUnavailableError",
    "RpError",
    "StatusListCache",
    "StatusReferenceError",
    "StatusUnavailableError",
    "StoredRequest",
    "VerifiedLogin",
    "authentication_keys",
    "login_routes",
]
