"""The wallet's side of private login (ADR 0012): answer an OpenID4VP request from a website.

One login, in order; every step can refuse with a :class:`LoginFlowError` whose ``code`` is
stable:

1. **Target** (``invalid-login-target``): an ``openid4vp://`` URL, the RP's code URL
   (``https://rp/oid4vp/codes/CODE``), or a typed code plus the RP's base URL. Codes are
   resolved at the RP itself, never at a central service.
2. **Request object** (``invalid-request-object``, ``rp-unreachable``): fetched from
   ``request_uri`` and verified with a key of the RP's DID resolved through the registry.
3. **Credential** (``no-credential``): the wallet must hold a RealName credential; its
   issuer is the one authority the wallet trusts to register relying parties.
4. **Registration** (``registration-missing``, ``-invalid``, ``-unverifiable``): the RP's
   registration credential from ``verifier_info``, issued by that authority to the very DID
   that signed the request, unexpired and not revoked (its status list is fetched; if that
   fails the wallet refuses rather than guess).
5. **Entitlement** (``not-entitled``): every requested claim is in ``permitted[vct]``.
6. **Consent** (:class:`ConsentPolicy`): the resident sees the registered name, purpose
   and each claim, and a warning when a RealName credential would tell the site who they are.
7. **Credential per query**: a SiteProof query is answered from the per-site DID for this
   RP (created, anchored and given a site proof by the authority on first use); a RealName
   query from the root DID.
8. **Response** (``rp-refused:<code>``): ``direct_post`` of the holder-bound presentations.

Every answer after the request object verified — released, refused or failed — goes into
the encrypted disclosure log (claim names only). Refusals by the wallet are also told to
the RP (``invalid_request`` / ``access_denied``) so its login page stops waiting.

HTTP goes through an injectable :class:`httpx.Client` (tests use ``httpx.MockTransport``);
obtaining a site proof is injectable too (default: the authority over OpenID4VCI), and so is
the :class:`~realdid.clock.Clock` every ``iat``, expiry check and log entry reads.

The steps live by concept: the target, the request object and the answer (talking to the
RP) in :mod:`._login_request`, the registration in :mod:`._login_registration`, the per-site
DID and its site proof in :mod:`._login_site_proof`; this module holds the flow, consent
and the presentations.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from realdid.clock import Clock, SystemClock
from realdid.credentials import (
    AuthorizationRequest,
    CredentialError,
    CredentialQuery,
    CredentialType,
    MalformedSdJwtError,
    peek_sd_jwt_unverified,
    present,
    response_form,
)
from realdid.crypto import DEFAULT_POLICY, AlgorithmPolicy, KeyType
from realdid.registry import NodeClientError, RegistryClient

from ._errors import LoginFlowError
from ._history import FAILED_PREFIX, REFUSED, RELEASED, Disclosure
from ._login_registration import Registration, RegistrationCheck
from ._login_request import RpChannel
from ._login_site_proof import SiteProofSource, authority_site_proof, site_proof_for
from ._stored import StoredCredential
from ._wallet import Wallet

#: The wallet's stored ``type`` (OpenID4VCI configuration id) for each ``vct`` it presents.
ENTRY_TYPES: dict[str, str] = {
    CredentialType.SITE_PROOF: "SiteProof",
    CredentialType.REAL_NAME: "RealName",
}
#: Preference when a query accepts several types: the pseudonymous one first.
_PREFERENCE = (CredentialType.SITE_PROOF, CredentialType.REAL_NAME)
#: Claims every presentation of that type shows (not selectively disclosable).
ALWAYS_RELEASED = {
    CredentialType.SITE_PROOF: ("assurance_level", "verified_person"),
    CredentialType.REAL_NAME: ("assurance_level", "verified_person"),
}


class ConsentPolicy(enum.StrEnum):
    ASK = "ask"
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Release:
    """One credential the wallet would present: which type, from which DID, which claims."""

    query_id: str
    credential_type: str
    holder_did: str
    claims: tuple[str, ...]

    @property
    def reveals_identity(self) -> bool:
        return self.credential_type == CredentialType.REAL_NAME


@dataclass(frozen=True, slots=True)
class ConsentSummary:
    """What the resident is asked to agree to (names only: the values stay in the wallet)."""

    rp_name: str
    rp_did: str
    purpose: str
    releases: tuple[Release, ...]

    @property
    def warning(self) -> str | None:
        if any(r.reveals_identity for r in self.releases):
            return (
                "this site asks for your real-name credential: it will learn who you are "
                "and can link this login to your identity"
            )
        return None

    def lines(self) -> list[str]:
        """The summary as text lines (the CLI prompt shows them)."""
        out = [f"{self.rp_name} ({self.rp_did}) asks to log you in.", f"Purpose: {self.purpose}"]
        for release in self.releases:
            kind = ENTRY_TYPES.get(release.credential_type, release.credential_type)
            out.append(
                f"  {kind} as {release.holder_did}: {', '.join(release.claims) or '(no claims)'}"
            )
        if self.warning:
            out.append(f"WARNING: {self.warning}")
        return out


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The outcome of :func:`login`: ``released`` is False when consent was refused."""

    rp_name: str
    rp_did: str
    releases: tuple[Release, ...]
    released: bool
    redirect_uri: str | None = None

    @property
    def holder_did(self) -> str:
        return self.releases[0].holder_did


def login(
    wallet: Wallet,
    node: RegistryClient,
    target: str,
    *,
    site: str | None = None,
    consent: ConsentPolicy = ConsentPolicy.ASK,
    confirm: Callable[[ConsentSummary], bool] | None = None,
    key_type: str = KeyType.ED25519.value,
    http: httpx.Client | None = None,
    site_proof: SiteProofSource = authority_site_proof,
    clock: Clock | None = None,
    progress: Callable[[str], None] = lambda _message: None,
    policy: AlgorithmPolicy = DEFAULT_POLICY,
    anchor_timeout: float = 60.0,
) -> LoginResult:
    """Answer the login request ``target`` names (see the module docstring for the steps).

    ``confirm`` is asked only under :attr:`ConsentPolicy.ASK` (no callback means "no").
    ``key_type`` is used when a per-site DID has to be created. ``clock`` defaults to the
    system clock.
    """
    client = http if http is not None else httpx.Client(timeout=30.0, follow_redirects=False)
    try:
        flow = _Flow(wallet, node, client, clock or SystemClock(), progress, policy)
        return flow.run(
            target,
            site=site,
            consent=consent,
            confirm=confirm,
            key_type=key_type,
            site_proof=site_proof,
            anchor_timeout=anchor_timeout,
        )
    finally:
        if http is None:
            client.close()


# -- the flow ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Plan:
    query: CredentialQuery
    vct: CredentialType
    holder_did: str
    claims: tuple[str, ...]  # names released: always-visible + requested


class _Flow:
    def __init__(
        self,
        wallet: Wallet,
        node: RegistryClient,
        http: httpx.Client,
        clock: Clock,
        progress: Callable[[str], None],
        policy: AlgorithmPolicy,
    ) -> None:
        self.wallet = wallet
        self.node = node
        self.clock = clock
        self.progress = progress
        self.rp = RpChannel(http, node, clock=clock, policy=policy, progress=progress)
        self.registrations = RegistrationCheck(http, node, clock=clock, policy=policy)

    def run(
        self,
        target: str,
        *,
        site: str | None,
        consent: ConsentPolicy,
        confirm: Callable[[ConsentSummary], bool] | None,
        key_type: str,
        site_proof: SiteProofSource,
        anchor_timeout: float,
    ) -> LoginResult:
        request = self.rp.fetch_request(self.rp.authorization_url(target, site))
        rp_did = request.client_did
        self.progress(f"verified login request from {rp_did}")
        registration: Registration | None = None
        try:
            real_name = self.real_name_entry()
            registration = self.registrations.check(request, _issuer(real_name))
            plans = [
                self.plan(q, registration, real_name, key_type)
                for q in request.dcql_query.credentials
            ]
        except LoginFlowError as e:
            error = "access_denied" if e.code == "no-credential" else "invalid_request"
            self.rp.tell_rp(request, error, e.message)
            self.log_queries(request, registration, FAILED_PREFIX + e.code)
            raise
        releases = tuple(Release(p.query.id, p.vct, p.holder_did, p.claims) for p in plans)
        summary = ConsentSummary(registration.rp_name, rp_did, registration.purpose, releases)
        if not _agreed(consent, confirm, summary):
            self.rp.tell_rp(request, "access_denied", "the person declined to share")
            self.log(registration, plans, REFUSED)
            return LoginResult(registration.rp_name, rp_did, releases, released=False)
        try:
            presentations = {
                p.query.id: [self.presentation(request, p, real_name, site_proof, anchor_timeout)]
                for p in plans
            }
            redirect = self.rp.post(request, response_form(presentations, request.state))
        except (LoginFlowError, NodeClientError) as e:
            self.log(registration, plans, FAILED_PREFIX + e.code)
            raise
        self.log(registration, plans, RELEASED)
        return LoginResult(registration.rp_name, rp_did, releases, True, redirect)

    # -- 3: the wallet's own credential --------------------------------------------------------------
    def real_name_entry(self) -> StoredCredential:
        """The newest RealName credential of an active root DID of this wallet."""
        active = {r.did for r in self.wallet.dids if not r.deactivated and not r.site}
        for stored in reversed(self.wallet.credentials):
            if stored.type == ENTRY_TYPES[CredentialType.REAL_NAME] and stored.did in active:
                return stored
        raise LoginFlowError(
            "no-credential",
            "this wallet holds no real-name credential: enroll first ('realdid wallet enroll')",
        )

    # -- 5: entitlement and the credential per query ---------------------------------------------------
    def plan(
        self,
        query: CredentialQuery,
        registration: Registration,
        real_name: StoredCredential,
        key_type: str,
    ) -> _Plan:
        offered = [v for v in _PREFERENCE if v in query.vct_values]
        if not offered:
            raise LoginFlowError(
                "no-credential",
                f"the site asks for a credential type this wallet cannot present ({query.id})",
            )
        wanted = set(query.claims)
        entitled = [v for v in offered if wanted <= registration.permitted.get(v, frozenset())]
        if not entitled:
            extra = sorted(wanted - registration.permitted.get(offered[0], frozenset()))
            raise LoginFlowError(
                "not-entitled",
                f"the site asks for claims it is not registered for: {', '.join(extra)}",
            )
        vct = entitled[0]
        if vct == CredentialType.SITE_PROOF:
            holder = self.wallet.site_did(registration.rp_did, key_type)
        else:
            holder = real_name.did
        claims = tuple(sorted(wanted | set(ALWAYS_RELEASED[vct])))
        return _Plan(query, vct, holder, claims)

    # -- 7: credentials and presentations ------------------------------------------------------------
    def presentation(
        self,
        request: AuthorizationRequest,
        plan: _Plan,
        real_name: StoredCredential,
        site_proof: SiteProofSource,
        anchor_timeout: float,
    ) -> str:
        if plan.vct == CredentialType.SITE_PROOF:
            credential = site_proof_for(
                self.wallet,
                self.node,
                rp_did=request.client_did,
                holder_did=plan.holder_did,
                real_name=real_name,
                source=site_proof,
                anchor_timeout=anchor_timeout,
                clock=self.clock,
                progress=self.progress,
            )
        else:
            credential = real_name.credential
        try:
            return present(
                credential,
                disclose=set(plan.query.claims) & _disclosable(credential),
                holder_signer=self.wallet.signing_key(plan.holder_did),
                audience=request.client_id,
                nonce=request.nonce,
                issued_at=self.clock.now(),
            )
        except CredentialError as e:  # e.g. bound to a key the DID has since rotated away
            raise LoginFlowError(
                "no-credential", f"the wallet's {ENTRY_TYPES[plan.vct]} credential is unusable: {e}"
            ) from e

    # -- the disclosure log ---------------------------------------------------------------------------
    def log(self, registration: Registration, plans: list[_Plan], outcome: str) -> None:
        at = self.clock.now()
        self.wallet.add_disclosures(
            *(
                Disclosure(
                    at,
                    registration.rp_did,
                    registration.rp_name,
                    registration.purpose,
                    p.holder_did,
                    p.vct,
                    p.claims,
                    outcome,
                )
                for p in plans
            )
        )

    def log_queries(
        self, request: AuthorizationRequest, registration: Registration | None, outcome: str
    ) -> None:
        """Log a refusal before any credential was chosen: what was asked, of whom."""
        at = self.clock.now()
        self.wallet.add_disclosures(
            *(
                Disclosure(
                    at,
                    request.client_did,
                    registration.rp_name if registration else "",
                    registration.purpose if registration else "",
                    "",
                    q.vct_values[0],
                    q.claims,
                    outcome,
                )
                for q in request.dcql_query.credentials
            )
        )


# -- consent and the wallet's own credentials ------------------------------------------------------
def _agreed(
    consent: ConsentPolicy,
    confirm: Callable[[ConsentSummary], bool] | None,
    summary: ConsentSummary,
) -> bool:
    if consent is ConsentPolicy.ALLOW:
        return True
    if consent is ConsentPolicy.DENY or confirm is None:
        return False
    return bool(confirm(summary))


def _issuer(real_name: StoredCredential) -> str | None:
    """The issuer the RealName credential names: the one authority the wallet trusts."""
    try:
        return real_name.peek().issuer
    except MalformedSdJwtError as e:
        raise LoginFlowError("no-credential", "a stored credential is unreadable") from e


def _disclosable(sd_jwt: str) -> set[str]:
    """Names of the top-level claims a stored credential can disclose (none if unreadable)."""
    try:
        return set(peek_sd_jwt_unverified(sd_jwt).disclosable)
    except MalformedSdJwtError:
        return set()
