"""The relying party: create OpenID4VP login requests and verify the wallet's answers.

A website holds one :class:`RelyingParty`. :meth:`RelyingParty.create_request` stores a
request (nonce, state, short code, expiry) server-side and returns what the login page
shows; the wallet fetches the signed request object (:meth:`RelyingParty.request_object`)
and posts its answer, which :meth:`RelyingParty.verify_response` checks in the order of
ADR 0012 and records as the request's outcome; the page polls :meth:`RelyingParty.outcome`
with its secret transaction handle and, once done, the site signs the person in as
:attr:`VerifiedLogin.subject` (for a site proof: the per-site DID, pseudonymous).

Every refusal is a :class:`LoginError` whose ``code`` is stable (:data:`LOGIN_ERRORS` lists
them with their HTTP status); messages never contain personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import segno

from realdid.clock import Clock, SystemClock
from realdid.credentials import (
    CLIENT_ID_PREFIX,
    CREDENTIAL_FORMAT,
    AlgorithmNotAllowedError,
    AuthorizationRequest,
    AuthorizationResponse,
    CredentialError,
    CredentialType,
    DcqlQuery,
    ExpiredError,
    KeyBindingError,
    MalformedRpRegistrationError,
    MalformedSdJwtError,
    MalformedStatusListError,
    NotYetValidError,
    Oid4vpError,
    RpRegistration,
    StaleKeyBindingError,
    UntrustedIssuerError,
    VerificationError,
    VerifiedCredential,
    WrongAudienceError,
    WrongNonceError,
    authorization_url,
    client_id_for,
    new_code,
    normalise_code,
    parse_status_reference,
    peek_sd_jwt_unverified,
    sign_request_object,
    verify,
)
from realdid.crypto import (
    DEFAULT_POLICY,
    AlgorithmPolicy,
    CryptoError,
    EncodingError,
    PublicKey,
    Signer,
)
from realdid.did import Did, DidError
from realdid.randomness import Randomness

from ._errors import LoginError, WalletRefusalError
from ._resolver import (
    DidDocumentResolver,
    HttpDidResolver,
    ResolverUnavailableError,
    issuer_key,
)
from ._status import StatusListCache, StatusReferenceError, StatusUnavailableError
from ._store import DuplicateRequestError, LoginRequestStore, StoredRequest

#: Claims a credential shows whatever is requested; kept in :attr:`VerifiedLogin.claims`.
_ALWAYS_SHOWN = frozenset({"verified_person", "assurance_level"})
#: Wallets refuse request objects that live longer (realdid.credentials' MAX_REQUEST_LIFETIME).
MAX_REQUEST_LIFETIME = 3600
_MAX_HANDLE = 128  # longest request id / state / transaction worth a database lookup


@dataclass(frozen=True, slots=True)
class RelyingPartyConfig:
    """Who the site is towards wallets, and how much staleness it accepts."""

    base_url: str
    client_did: str
    key_id: str
    registration: str
    trusted_issuers: frozenset[str]
    prefix: str = "/oid4vp"
    request_ttl: int = 300
    max_kb_age: int = 300
    did_cache_ttl: int = 60
    policy: AlgorithmPolicy = DEFAULT_POLICY
    #: Where the same-device flow continues after a successful response (under base_url).
    complete_path: str = "/login/complete"

    @property
    def client_id(self) -> str:
        """``decentralized_identifier:<client_did>``: the KB-JWT audience wallets use."""
        return CLIENT_ID_PREFIX + self.client_did  # checked once, in RelyingParty()

    @property
    def response_uri(self) -> str:
        return f"{self.base_url}{self.prefix}/responses"

    @property
    def complete_url(self) -> str:
        return f"{self.base_url}{self.complete_path}"


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What the login page needs: the QR code, the short code, and the secret to poll with."""

    request_id: str
    transaction: str
    code: str
    authorization_url: str
    request_uri: str
    code_url: str
    expires_at: int

    def qr_svg(self) -> str:
        """The ``openid4vp://`` URL as an inline SVG QR code (no XML declaration)."""
        qr = segno.make(self.authorization_url, error="m")
        return str(qr.svg_inline(scale=4, title="Log in with your RealDID wallet"))


@dataclass(frozen=True, slots=True)
class VerifiedLogin:
    """A verified login: the account is ``subject``; ``claims`` only what was asked for."""

    subject: str
    credential_type: str
    claims: Mapping[str, Any]
    issuer: str
    verified_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "credential_type": self.credential_type,
            "claims": dict(self.claims),
            "issuer": self.issuer,
            "verified_at": self.verified_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifiedLogin:
        return cls(
            subject=str(data["subject"]),
            credential_type=str(data["credential_type"]),
            claims=dict(data["claims"]),
            issuer=str(data["issuer"]),
            verified_at=int(data["verified_at"]),
        )


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    state: Literal["pending", "done", "failed", "expired"]
    login: VerifiedLogin | None = None
    error: str | None = None


class RelyingParty:
    """Login requests and response verification for one website (thread-safe)."""

    def __init__(
        self,
        config: RelyingPartyConfig,
        *,
        signer: Signer,
        store: LoginRequestStore,
        resolver: DidDocumentResolver,
        status_lists: StatusListCache,
        clock: Clock | None = None,
        randomness: Randomness | None = None,
    ) -> None:
        if config.key_id.partition("#")[0] != config.client_did:
            raise ValueError("key_id must be a DID URL of client_did")
        client_id_for(config.client_did)  # refuses a DID that is not did:realdid
        if config.base_url.endswith("/") or not config.prefix.startswith("/"):
            raise ValueError("base_url has no trailing '/' and prefix starts with '/'")
        if not 0 < config.request_ttl <= MAX_REQUEST_LIFETIME:
            raise ValueError(f"request_ttl must be 1 to {MAX_REQUEST_LIFETIME} seconds")
        self.config = config
        self._signer = signer
        self._store = store
        self._resolver = resolver
        self._status = status_lists
        self._clock = clock or SystemClock()
        self._randomness = randomness or Randomness()
        self._registration = _parse_registration(config.registration, config.client_did)
        self._permitted = {
            vct: self._registration.permitted_claims(vct) for vct in self._registration.permitted
        }
        self._closers: list[Callable[[], None]] = [store.close, status_lists.close]

    @classmethod
    def for_node(
        cls,
        config: RelyingPartyConfig,
        *,
        signer: Signer,
        node_url: str,
        store_path: Path | str,
        clock: Clock | None = None,
        randomness: Randomness | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> RelyingParty:
        """The usual wiring: DID documents from a registry node (cached ``did_cache_ttl``),
        status lists over HTTP, requests in SQLite at ``store_path``; :meth:`close` closes all."""
        resolver = HttpDidResolver(
            node_url, ttl=config.did_cache_ttl, clock=clock, transport=transport
        )
        rp = cls(
            config,
            signer=signer,
            store=LoginRequestStore(store_path),
            resolver=resolver,
            status_lists=StatusListCache(
                resolver=resolver,
                trusted_issuers=config.trusted_issuers,
                clock=clock,
                policy=config.policy,
                transport=transport,
            ),
            clock=clock,
            randomness=randomness,
        )
        rp._closers.append(resolver.close)
        return rp

    # -- what the registration says -----------------------------------------------------------
    @property
    def permitted(self) -> Mapping[str, frozenset[str]]:
        """Credential type -> claims this RP may request (from its registration)."""
        return self._permitted

    @property
    def name(self) -> str:
        """The RP's registered name (the company name from the business register)."""
        return self._registration.rp_name

    @property
    def purpose(self) -> str:
        return self._registration.purpose

    def close(self) -> None:
        for close in self._closers:
            close()

    # -- creating requests ----------------------------------------------------------------------
    def create_request(self, query: DcqlQuery) -> PendingLogin:
        """Store a new login request for ``query`` (exactly one credential query).

        Its handles, nonce and short code come from the injected randomness: the transaction
        is the browser's bearer secret, the nonce binds the wallet's key-binding JWT to this request
        (OpenID4VP 1.0, replay prevention), so both need a CSPRNG's 256 bits.
        """
        self._check_query(query)
        now = self._clock.now()
        self._store.purge(now)
        draw = self._randomness
        for _ in range(8):
            stored = StoredRequest(
                request_id=draw.token(16),
                transaction=draw.token(32),
                code=new_code(draw),
                nonce=draw.token(32),
                state=draw.token(16),
                query=query.to_dict(),
                created_at=now,
                expires_at=now + self.config.request_ttl,
            )
            try:
                self._store.insert(stored)
            except DuplicateRequestError:
                continue  # a code collided with a live one (1 in 2**40 per live request)
            return self._pending(stored)
        raise RuntimeError("could not draw a unique login code")

    def _check_query(self, query: DcqlQuery) -> None:
        try:
            DcqlQuery.from_dict(query.to_dict())
        except Oid4vpError as e:
            raise LoginError("invalid-query", e.description) from e
        if len(query.credentials) != 1:
            raise LoginError("invalid-query", "a login asks for exactly one credential")
        for credential in query.credentials:
            for vct in credential.vct_values:
                allowed = self.permitted.get(vct)
                if allowed is None:
                    raise LoginError("not-entitled", f"the registration permits no {vct}")
                beyond = set(credential.claims) - allowed
                if beyond:
                    raise LoginError(
                        "not-entitled", f"the registration does not permit {sorted(beyond)}"
                    )

    def _pending(self, stored: StoredRequest) -> PendingLogin:
        request_uri = f"{self.config.base_url}{self.config.prefix}/requests/{stored.request_id}"
        return PendingLogin(
            request_id=stored.request_id,
            transaction=stored.transaction,
            code=stored.code,
            authorization_url=authorization_url(self.config.client_id, request_uri),
            request_uri=request_uri,
            code_url=f"{self.config.base_url}{self.config.prefix}/codes/{stored.code}",
            expires_at=stored.expires_at,
        )

    def request_object(self, request_id: str) -> str:
        """The signed request object served at ``request_uri``."""
        stored = self._store.by_id(request_id) if _handle(request_id) else None
        if stored is None:
            raise LoginError("unknown-request", "no such login request", http_status=404)
        if self._clock.now() >= stored.expires_at:
            raise LoginError("expired-request", "the login request has expired", http_status=410)
        if stored.answered:
            raise LoginError("request-answered")
        request = AuthorizationRequest(
            client_id=self.config.client_id,
            response_uri=self.config.response_uri,
            nonce=stored.nonce,
            state=stored.state,
            dcql_query=DcqlQuery.from_dict(stored.query),
            verifier_info=({"format": CREDENTIAL_FORMAT, "data": self.config.registration},),
            client_name=self.name,
            issued_at=stored.created_at,
            expires_at=stored.expires_at,
        )
        return sign_request_object(request, signer=self._signer, key_id=self.config.key_id)

    def authorization_url_for_code(self, code: str) -> str:
        """The ``openid4vp://`` URL of the live, unanswered request with this short code."""
        canonical = normalise_code(code)
        stored = self._store.by_code(canonical) if canonical else None
        if stored is None or stored.answered or self._clock.now() >= stored.expires_at:
            raise LoginError("unknown-code", "no live login request has this code")
        return self._pending(stored).authorization_url

    # -- verifying responses --------------------------------------------------------------------
    def verify_response(self, form: Mapping[str, str]) -> VerifiedLogin:
        """Verify a ``direct_post`` response and record the outcome; raise :class:`LoginError`."""
        try:
            response = AuthorizationResponse.from_form(form)
        except Oid4vpError as e:
            raise LoginError("invalid-response", e.description) from e
        stored = self._store.by_state(response.state) if _handle(response.state) else None
        if stored is None:
            raise LoginError("unknown-request", "state names no login request")
        if stored.answered:
            raise LoginError("replayed-response")  # not recorded: the first outcome stands
        if self._clock.now() >= stored.expires_at:
            raise self._fail(stored, LoginError("expired-request"))
        # Verify first (no lock held), then claim the request and record the outcome in one
        # statement: of two answers verified at the same moment, exactly one is recorded.
        try:
            login = self._verify(stored, response)
        except WalletRefusalError as e:
            raise self._fail(stored, e, e.wallet_error) from None
        except LoginError as e:
            raise self._fail(stored, e) from None
        except Exception:
            self._store.finish(stored.request_id, {"state": "failed", "error": "internal"})
            raise
        if not self._store.finish(stored.request_id, {"state": "done", "login": login.to_dict()}):
            raise LoginError("replayed-response")
        return login

    def _fail(self, stored: StoredRequest, error: LoginError, wallet_error: str = "") -> LoginError:
        outcome = {"state": "failed", "error": wallet_error or error.code}
        if not self._store.finish(stored.request_id, outcome):
            return LoginError("replayed-response")
        return error

    def _verify(self, stored: StoredRequest, response: AuthorizationResponse) -> VerifiedLogin:
        if response.error is not None:
            code = "access-denied" if response.error == "access_denied" else "wallet-error"
            raise WalletRefusalError(code, response.error)
        query = DcqlQuery.from_dict(stored.query).credentials[0]
        if set(response.vp_token) != {query.id}:
            raise LoginError("invalid-response", "vp_token must answer exactly the query ids")
        now = self._clock.now()
        credential = self._credential(response.vp_token[query.id][0], stored.nonce, now)
        if credential.vct not in query.vct_values:
            raise LoginError("wrong-credential-type", "the credential is not of a requested type")
        missing = set(query.claims) - set(credential.claims)
        if missing:
            raise LoginError("missing-claims", f"not disclosed: {sorted(missing)}")
        self._check_status(credential)
        subject = self._check_holder(credential)
        requested = set(query.claims)
        claims = {
            name: value
            for name, value in credential.claims.items()
            if name in requested or (name not in credential.disclosed and name in _ALWAYS_SHOWN)
        }
        return VerifiedLogin(subject, credential.vct, claims, credential.issuer, now)

    def _credential(self, presentation: str, nonce: str, now: int) -> VerifiedCredential:
        try:
            return verify(
                presentation,
                issuer_keys=self._issuer_key,
                expected_audience=self.config.client_id,
                expected_nonce=nonce,
                now=now,
                max_kb_age=self.config.max_kb_age,
                policy=self.config.policy,
            )
        except ResolverUnavailableError as e:
            raise LoginError("registry-unavailable") from e
        except VerificationError as e:
            raise LoginError(_verification_code(e)) from e
        except CredentialError as e:  # pragma: no cover - verify raises VerificationErrors
            raise LoginError("tampered-presentation") from e

    def _issuer_key(self, iss: str, kid: str) -> PublicKey:
        return issuer_key(self._resolver, self.config.trusted_issuers, iss, kid)

    def _check_status(self, credential: VerifiedCredential) -> None:
        try:
            uri, index = parse_status_reference(credential.status)
        except MalformedStatusListError as e:
            raise LoginError("invalid-status-reference") from e
        try:
            value = self._status.status(uri, index, issuer=credential.issuer)
        except StatusReferenceError as e:
            raise LoginError("invalid-status-reference") from e
        except StatusUnavailableError as e:
            raise LoginError("status-unavailable") from e
        if value != 0:
            raise LoginError("revoked")

    def _check_holder(self, credential: VerifiedCredential) -> str:
        subject = credential.subject
        if subject is None:
            raise LoginError("missing-subject")
        try:
            Did.parse(subject)
        except DidError as e:
            raise LoginError("missing-subject", "the credential's sub is not a DID") from e
        try:
            resolved = self._resolver.document(subject)
        except LookupError as e:
            raise LoginError("unknown-holder") from e
        except ResolverUnavailableError as e:
            raise LoginError("registry-unavailable") from e
        if resolved.deactivated:
            raise LoginError("holder-deactivated")
        try:
            bound = PublicKey.from_jwk(credential.holder_jwk or {})
        except (CryptoError, EncodingError) as e:
            raise LoginError("holder-key-mismatch") from e
        if bound not in resolved.authentication_keys():
            raise LoginError("holder-key-mismatch")
        return subject

    # -- outcomes ----------------------------------------------------------------------------
    def outcome(self, transaction: str) -> LoginOutcome:
        """Where the login of this browser session stands (unknown handles read as expired)."""
        stored = self._store.by_transaction(transaction) if _handle(transaction) else None
        if stored is None:
            return LoginOutcome("expired")
        if stored.outcome is not None:
            if stored.outcome.get("state") == "done":
                return LoginOutcome("done", VerifiedLogin.from_dict(stored.outcome["login"]))
            return LoginOutcome("failed", error=str(stored.outcome.get("error")))
        if not stored.answered and self._clock.now() >= stored.expires_at:
            return LoginOutcome("expired")
        return LoginOutcome("pending")


def _handle(value: str) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_HANDLE


# Most specific first: the key-binding subclasses before KeyBindingError.
_VERIFICATION_CODES: tuple[tuple[type[VerificationError], str], ...] = (
    (UntrustedIssuerError, "untrusted-issuer"),
    (WrongAudienceError, "wrong-audience"),
    (WrongNonceError, "wrong-nonce"),
    (StaleKeyBindingError, "stale-presentation"),
    (ExpiredError, "expired-credential"),
    (NotYetValidError, "credential-not-yet-valid"),
    (AlgorithmNotAllowedError, "algorithm-not-allowed"),
    (KeyBindingError, "tampered-presentation"),
)


def _verification_code(error: VerificationError) -> str:
    """IssuerSignature, SdHashMismatch, DisclosureNotReferenced, DuplicateDisclosure,
    MalformedSdJwt and other key-binding failures all read as ``tampered-presentation``."""
    for cls, code in _VERIFICATION_CODES:
        if isinstance(error, cls):
            return code
    return "tampered-presentation"


def _parse_registration(sd_jwt: str, client_did: str) -> RpRegistration:
    """Read the RP's own registration credential (name, purpose, permitted claims).

    Not verified here: it is the site's own configuration, and wallets verify it against
    the authority (ADR 0012). It must however be an RpRegistration naming this RP's DID,
    so a misconfigured site fails at start-up rather than at every wallet.
    """
    try:
        peeked = peek_sd_jwt_unverified(sd_jwt)
    except MalformedSdJwtError as e:
        raise ValueError(f"registration is not a readable SD-JWT: {e}") from e
    if peeked.vct != CredentialType.RP_REGISTRATION:
        raise ValueError(f"registration must be a {CredentialType.RP_REGISTRATION} credential")
    if peeked.subject != client_did:
        raise ValueError("the registration names another DID than client_did")
    try:
        return RpRegistration.from_dict(peeked.claims)
    except MalformedRpRegistrationError as e:
        raise ValueError(str(e)) from e
