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
obtaining a site proof is injectable too (default: the authority over OpenID4VCI).
"""

from __future__ import annotations

import base64
import contextlib
import enum
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from realdid.credentials import (
    REQUEST_OBJECT_MEDIA_TYPE,
    AuthorizationRequest,
    CredentialError,
    CredentialQuery,
    CredentialType,
    Oid4vpError,
    VerifiedCredential,
    error_response_form,
    parse_authorization_url,
    parse_status_reference,
    present,
    response_form,
    verify,
    verify_request_object,
    verify_status_list,
)
from realdid.crypto import DEFAULT_POLICY, AlgorithmPolicy, CryptoError, KeyType, PublicKey
from realdid.did import verification_key
from realdid.http import MAX_RESPONSE_BYTES, ResponseTooLargeError, download
from realdid.registry import NodeClient, NodeClientError

from ._authority import AuthorityClient, request_site_proof
from ._history import FAILED_PREFIX, REFUSED, RELEASED, Disclosure
from ._wallet import Wallet, WalletError

SITE_PROOF_VCT: str = CredentialType.SITE_PROOF
REAL_NAME_VCT: str = CredentialType.REAL_NAME
RP_REGISTRATION_VCT: str = CredentialType.RP_REGISTRATION
#: The wallet's credential entry ``type`` for each ``vct`` it can present.
ENTRY_TYPES = {SITE_PROOF_VCT: "SiteProof", REAL_NAME_VCT: "RealName"}
#: Preference when a query accepts several types: the pseudonymous one first.
_PREFERENCE = (SITE_PROOF_VCT, REAL_NAME_VCT)
#: Claims every presentation of that type shows (not selectively disclosable).
ALWAYS_RELEASED = {
    SITE_PROOF_VCT: ("assurance_level", "verified_person"),
    REAL_NAME_VCT: ("assurance_level", "verified_person"),
}
CODE_PATH = "/oid4vp/codes/"
#: A site proof expiring sooner than this is renewed before use.
SITE_PROOF_MARGIN = 300
_REGISTERED = frozenset(
    {"iss", "sub", "iat", "nbf", "exp", "cnf", "vct", "status", "_sd", "_sd_alg"}
)
_CODE_CHARS = re.compile(r"[0-9A-Z]{8}")
_PROBLEM_CODE = re.compile(r"[a-z0-9-]{1,64}")

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


class LoginFlowError(WalletError):
    """The login cannot go on; ``code`` is one of :data:`LOGIN_FLOW_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def diagnostics(self) -> str:
        return f"{self.code}: {self.message}"


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
        return self.credential_type == REAL_NAME_VCT


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


@dataclass(frozen=True, slots=True)
class Registration:
    """A verified RP registration credential."""

    rp_did: str
    rp_name: str
    purpose: str
    permitted: Mapping[str, frozenset[str]]


#: Obtains a site proof for ``site_did`` from the authority at ``authority_url``, vouched
#: for by ``root_did``, stores it in the wallet and returns the stored entry.
SiteProofSource = Callable[[Wallet, str, str, str], dict[str, Any]]


def authority_site_proof(
    wallet: Wallet, authority_url: str, root_did: str, site_did: str
) -> dict[str, Any]:
    """The default :data:`SiteProofSource`: the authority over OpenID4VCI."""
    client = AuthorityClient(authority_url)
    try:
        return request_site_proof(wallet, client, root_did, site_did)
    finally:
        client.close()


def login(
    wallet: Wallet,
    node: NodeClient,
    target: str,
    *,
    site: str | None = None,
    consent: ConsentPolicy = ConsentPolicy.ASK,
    confirm: Callable[[ConsentSummary], bool] | None = None,
    key_type: str = KeyType.ED25519.value,
    http: httpx.Client | None = None,
    site_proof: SiteProofSource = authority_site_proof,
    clock: Callable[[], int] = lambda: int(time.time()),
    progress: Callable[[str], None] = lambda _message: None,
    policy: AlgorithmPolicy = DEFAULT_POLICY,
    anchor_timeout: float = 60.0,
) -> LoginResult:
    """Answer the login request ``target`` names (see the module docstring for the steps).

    ``confirm`` is asked only under :attr:`ConsentPolicy.ASK` (no callback means "no").
    ``key_type`` is used when a per-site DID has to be created.
    """
    client = http if http is not None else httpx.Client(timeout=30.0, follow_redirects=False)
    try:
        flow = _Flow(wallet, node, client, clock, progress, policy)
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


# -- the login target -------------------------------------------------------------------------
def normalise_code(text: str) -> str | None:
    """``abcd efgh`` / ``ABCD-EFGH`` -> ``ABCD-EFGH``; None if it is not 8 letters/digits."""
    if len(text) > 32:
        return None
    compact = "".join(text.split()).replace("-", "").upper()
    if not _CODE_CHARS.fullmatch(compact):
        return None
    return f"{compact[:4]}-{compact[4:]}"


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def code_url(target: str, site: str | None) -> str | None:
    """The RP URL to resolve ``target`` at, or None when it is already an ``openid4vp://`` URL."""
    text = target.strip()
    if text.startswith("openid4vp://"):
        return None
    if text.startswith(("http://", "https://")):
        if not _http_url(text) or CODE_PATH not in urlsplit(text).path:
            raise LoginFlowError(
                "invalid-login-target",
                f"a login URL must be openid4vp://… or an RP code URL …{CODE_PATH}CODE",
            )
        return text
    code = normalise_code(text)
    if code is None:
        raise LoginFlowError(
            "invalid-login-target",
            "give an openid4vp:// URL, the site's code URL, or its 8-character code XXXX-XXXX",
        )
    if site is None:
        raise LoginFlowError(
            "invalid-login-target", "a login code needs the site's address: add --site URL"
        )
    if not _http_url(site):
        raise LoginFlowError("invalid-login-target", "--site must be an http(s) URL")
    return site.rstrip("/") + CODE_PATH + quote(code)


# -- the flow ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Plan:
    query: CredentialQuery
    vct: str
    holder_did: str
    claims: tuple[str, ...]  # names released: always-visible + requested


class _Flow:
    def __init__(
        self,
        wallet: Wallet,
        node: NodeClient,
        http: httpx.Client,
        clock: Callable[[], int],
        progress: Callable[[str], None],
        policy: AlgorithmPolicy,
    ) -> None:
        self.wallet = wallet
        self.node = node
        self.http = http
        self.clock = clock
        self.progress = progress
        self.policy = policy

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
        url = self.authorization_url(target, site)
        request = self.fetch_request(url)
        rp_did = request.client_did
        self.progress(f"verified login request from {rp_did}")
        registration: Registration | None = None
        try:
            real_name = self.real_name_entry()
            registration = self.check_registration(request, _payload(real_name["credential"]))
            plans = [
                self.plan(q, registration, real_name, key_type)
                for q in request.dcql_query.credentials
            ]
        except LoginFlowError as e:
            error = "access_denied" if e.code == "no-credential" else "invalid_request"
            self.tell_rp(request, error, e.message)
            self.log_queries(request, registration, FAILED_PREFIX + e.code)
            raise
        releases = tuple(Release(p.query.id, p.vct, p.holder_did, p.claims) for p in plans)
        summary = ConsentSummary(registration.rp_name, rp_did, registration.purpose, releases)
        if not _agreed(consent, confirm, summary):
            self.tell_rp(request, "access_denied", "the person declined to share")
            self.log(registration, plans, REFUSED)
            return LoginResult(registration.rp_name, rp_did, releases, released=False)
        try:
            presentations = {
                p.query.id: [self.presentation(request, p, real_name, site_proof, anchor_timeout)]
                for p in plans
            }
            redirect = self.post(request, response_form(presentations, request.state))
        except (LoginFlowError, NodeClientError) as e:
            self.log(registration, plans, FAILED_PREFIX + e.code)
            raise
        self.log(registration, plans, RELEASED)
        return LoginResult(registration.rp_name, rp_did, releases, True, redirect)

    # -- 1, 2: target and request object ----------------------------------------------------------
    def authorization_url(self, target: str, site: str | None) -> str:
        url = code_url(target, site)
        if url is None:
            return target.strip()
        self.progress(f"resolving the login code at {url}")
        response = self.get(url, accept="application/json")
        if response.status_code != 200:
            raise LoginFlowError(
                "invalid-login-target",
                f"the site does not know this login code ({_problem_code(response)}): "
                "it may have expired or been mistyped",
            )
        body = _json(response)
        found = body.get("authorization_url") if isinstance(body, dict) else None
        if not isinstance(found, str) or not found.startswith("openid4vp://"):
            raise LoginFlowError(
                "invalid-login-target", "the site's code answer holds no openid4vp:// URL"
            )
        return found

    def fetch_request(self, url: str) -> AuthorizationRequest:
        try:
            client_id, request_uri = parse_authorization_url(url)
        except Oid4vpError as e:
            raise LoginFlowError("invalid-login-target", e.description) from e
        response = self.get(request_uri, accept=REQUEST_OBJECT_MEDIA_TYPE)
        if response.status_code != 200:
            code = _problem_code(response)
            raise LoginFlowError(
                f"rp-refused:{code}", f"the site refused to send its request ({code})"
            )
        try:
            return verify_request_object(
                response.text.strip(),
                resolve_key=self.rp_key,
                now=self.clock(),
                policy=self.policy,
                expected_client_id=client_id,
            )
        except Oid4vpError as e:
            raise LoginFlowError("invalid-request-object", e.description) from e

    def rp_key(self, kid: str) -> PublicKey:
        """The RP's request-signing key: ``authentication`` or ``assertionMethod``."""
        document = self.document(kid.partition("#")[0])
        key = verification_key(document, kid, purpose="authentication") or verification_key(
            document, kid, purpose="assertionMethod"
        )
        if key is None:
            raise LookupError(f"the RP's DID document lists no key {kid}")
        return key

    def document(self, did: str) -> Mapping[str, Any]:
        """An active DID's document; :class:`LookupError` if not anchored or deactivated."""
        try:
            result = self.node.resolve(did)
        except NodeClientError as e:
            if e.code in ("did-not-found", "invalid-did", "invalidDid"):
                raise LookupError(f"{did} is not anchored in the registry") from e
            raise
        if result.deactivated or result.did_document is None:
            raise LookupError(f"{did} is deactivated")
        return result.did_document

    # -- 3: the wallet's own credential --------------------------------------------------------------
    def real_name_entry(self) -> dict[str, Any]:
        """The newest RealName credential of an active root DID of this wallet."""
        active = {r.did for r in self.wallet.dids if not r.deactivated and not r.site}
        for entry in reversed(self.wallet.credentials):
            if entry.get("type") == ENTRY_TYPES[REAL_NAME_VCT] and entry.get("did") in active:
                return dict(entry)
        raise LoginFlowError(
            "no-credential",
            "this wallet holds no real-name credential: enroll first ('realdid wallet enroll')",
        )

    # -- 4: the RP's registration ------------------------------------------------------------------
    def check_registration(
        self, request: AuthorizationRequest, own: Mapping[str, Any]
    ) -> Registration:
        registration = request.registration()
        if registration is None:
            raise LoginFlowError("registration-missing", "the site sent no registration credential")
        trusted = own.get("iss")
        if not isinstance(trusted, str):
            raise LoginFlowError(
                "no-credential", "the wallet's real-name credential names no issuer"
            )
        keys = self.issuer_keys(trusted)
        now = self.clock()
        try:
            verified = verify(
                registration,
                issuer_keys=keys,
                expected_audience=request.client_id,
                expected_nonce=request.nonce,
                now=now,
                max_kb_age=300,
                policy=self.policy,
                require_key_binding=False,
            )
        except CredentialError as e:
            raise LoginFlowError(
                "registration-invalid", f"the site's registration does not verify: {e}"
            ) from e
        parsed = _registration(verified, request.client_did)
        self.check_status(verified, keys, now)
        return parsed

    def issuer_keys(self, trusted: str) -> Callable[[str, str], PublicKey]:
        def keys(iss: str, kid: str) -> PublicKey:
            if iss != trusted or kid.partition("#")[0] != iss:
                raise LookupError("not the authority this wallet enrolled with")
            key = verification_key(self.document(iss), kid, purpose="assertionMethod")
            if key is None:
                raise LookupError(f"the authority's DID document lists no key {kid}")
            return key

        return keys

    def check_status(
        self, verified: VerifiedCredential, keys: Callable[[str, str], PublicKey], now: int
    ) -> None:
        try:
            uri, index = parse_status_reference(verified.status)
        except CredentialError as e:
            raise LoginFlowError(
                "registration-invalid", "the site's registration has no usable status reference"
            ) from e
        if not _http_url(uri):
            raise LoginFlowError(
                "registration-invalid", "the registration's status URI is not http(s)"
            )
        try:
            response = download(
                self.http,
                "GET",
                uri,
                max_length=MAX_RESPONSE_BYTES,
                headers={"Accept": "application/statuslist+jwt"},
            )
        except ResponseTooLargeError as e:
            raise LoginFlowError(
                "registration-unverifiable", "the registration's status list is too large"
            ) from e
        except httpx.HTTPError as e:
            raise LoginFlowError(
                "registration-unverifiable",
                f"cannot fetch the registration's status list: {type(e).__name__}",
            ) from e
        if response.status_code != 200:
            raise LoginFlowError(
                "registration-unverifiable",
                f"the registration's status list answered HTTP {response.status_code}",
            )
        try:
            listed = verify_status_list(
                response.text, expected_uri=uri, issuer_keys=keys, now=now, policy=self.policy
            )
            value = listed.status_list.get(index)
        except (CredentialError, IndexError) as e:
            raise LoginFlowError(
                "registration-unverifiable", f"the registration's status list does not verify: {e}"
            ) from e
        if value != 0:
            raise LoginFlowError("registration-invalid", "the site's registration is revoked")

    # -- 5: entitlement and the credential per query ---------------------------------------------------
    def plan(
        self,
        query: CredentialQuery,
        registration: Registration,
        real_name: Mapping[str, Any],
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
        if vct == SITE_PROOF_VCT:
            holder = self.wallet.site_did(registration.rp_did, key_type)
        else:
            holder = str(real_name["did"])
        claims = tuple(sorted(wanted | set(ALWAYS_RELEASED[vct])))
        return _Plan(query, vct, holder, claims)

    # -- 7: credentials and presentations ------------------------------------------------------------
    def presentation(
        self,
        request: AuthorizationRequest,
        plan: _Plan,
        real_name: Mapping[str, Any],
        site_proof: SiteProofSource,
        anchor_timeout: float,
    ) -> str:
        if plan.vct == SITE_PROOF_VCT:
            credential = self.site_proof(
                request.client_did, plan, real_name, site_proof, anchor_timeout
            )
        else:
            credential = str(real_name["credential"])
        try:
            return present(
                credential,
                disclose=set(plan.query.claims) & _disclosable(credential),
                holder_signer=self.wallet.signing_key(plan.holder_did),
                audience=request.client_id,
                nonce=request.nonce,
                issued_at=self.clock(),
            )
        except CredentialError as e:  # e.g. bound to a key the DID has since rotated away
            raise LoginFlowError(
                "no-credential", f"the wallet's {ENTRY_TYPES[plan.vct]} credential is unusable: {e}"
            ) from e

    def site_proof(
        self,
        rp_did: str,
        plan: _Plan,
        real_name: Mapping[str, Any],
        source: SiteProofSource,
        anchor_timeout: float,
    ) -> str:
        record = self.wallet.site_record(rp_did)
        if record is None:
            self.progress(f"creating your DID for this site ({plan.holder_did})")
            self.wallet.create_site_did(
                self.node, rp_did, self.wallet_key_type(plan.holder_did, rp_did)
            )
            record = self.wallet.site_record(rp_did)
        if record is None or record.did != plan.holder_did:  # pragma: no cover - defensive
            raise LoginFlowError("no-credential", "the site DID could not be set up")
        if record.deactivated:
            raise LoginFlowError(
                "site-did-deactivated",
                f"your DID for this site ({record.did}) is deactivated; the account is closed",
            )
        if record.last_operation:
            self.progress("waiting for the registry to anchor your site DID")
            self.node.wait_anchored(record.last_operation, timeout=anchor_timeout)
        key = self.wallet.signing_key(record.did).public_key
        # A site proof older than the RealName credential predates a re-enrollment, which
        # revoked it: ask for a new one instead of presenting a revoked credential.
        enrolled_at = _issued_at(str(real_name.get("credential", "")))
        for entry in reversed(self.wallet.credentials):
            credential = str(entry.get("credential", ""))
            if (
                entry.get("type") == ENTRY_TYPES[SITE_PROOF_VCT]
                and entry.get("did") == record.did
                and _usable(credential, key, self.clock())
                and _issued_at(credential) >= enrolled_at
            ):
                return str(entry["credential"])
        self.progress("asking the authority for a site proof (it learns nothing about the site)")
        entry = source(self.wallet, str(real_name["issuer"]), str(real_name["did"]), record.did)
        return str(entry["credential"])

    def wallet_key_type(self, holder_did: str, rp_did: str) -> str:
        """The key type whose site DID for ``rp_did`` is ``holder_did`` (as planned)."""
        for kind in KeyType:
            if self.wallet.site_did(rp_did, kind.value) == holder_did:
                return kind.value
        return KeyType.ED25519.value  # pragma: no cover - plan() computed it from one of them

    # -- 8: the response --------------------------------------------------------------------------
    def post(self, request: AuthorizationRequest, form: dict[str, str]) -> str | None:
        try:
            response = download(
                self.http, "POST", request.response_uri, max_length=MAX_RESPONSE_BYTES, data=form
            )
        except ResponseTooLargeError as e:
            raise LoginFlowError("rp-unreachable", "the site's answer is too large") from e
        except httpx.HTTPError as e:
            raise LoginFlowError(
                "rp-unreachable", f"cannot reach the site to answer: {type(e).__name__}"
            ) from e
        if response.status_code != 200:
            code = _problem_code(response)
            raise LoginFlowError(f"rp-refused:{code}", f"the site refused the login ({code})")
        body = _json(response)
        redirect = body.get("redirect_uri") if isinstance(body, dict) else None
        return redirect if isinstance(redirect, str) else None

    def tell_rp(self, request: AuthorizationRequest, error: str, description: str) -> None:
        """Best effort: let the site's login page stop waiting; a failure changes nothing."""
        with contextlib.suppress(LoginFlowError):
            self.post(request, error_response_form(error, description[:200], request.state))

    # -- the disclosure log ---------------------------------------------------------------------------
    def log(self, registration: Registration, plans: list[_Plan], outcome: str) -> None:
        at = self.clock()
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
        at = self.clock()
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

    # -- HTTP ---------------------------------------------------------------------------------------
    def get(self, url: str, *, accept: str) -> httpx.Response:
        try:
            return download(
                self.http, "GET", url, max_length=MAX_RESPONSE_BYTES, headers={"Accept": accept}
            )
        except ResponseTooLargeError as e:
            raise LoginFlowError("rp-unreachable", "the site's answer is too large") from e
        except httpx.HTTPError as e:
            raise LoginFlowError(
                "rp-unreachable", f"cannot reach the site at {_origin(url)}: {type(e).__name__}"
            ) from e


# -- helpers ------------------------------------------------------------------------------------
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


def _registration(verified: VerifiedCredential, rp_did: str) -> Registration:
    if verified.vct != RP_REGISTRATION_VCT:
        raise LoginFlowError(
            "registration-invalid", "the site's verifier_info is not an RP registration"
        )
    if verified.subject != rp_did:
        raise LoginFlowError(
            "registration-invalid", "the registration belongs to another DID than the site's"
        )
    claims = verified.claims
    name, purpose, permitted = claims.get("rp_name"), claims.get("purpose"), claims.get("permitted")
    if not isinstance(name, str) or not isinstance(purpose, str) or not isinstance(permitted, dict):
        raise LoginFlowError(
            "registration-invalid", "the registration lacks rp_name, purpose or permitted"
        )
    allowed: dict[str, frozenset[str]] = {}
    for vct, names in permitted.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise LoginFlowError("registration-invalid", "registration permitted is malformed")
        allowed[str(vct)] = frozenset(names)
    return Registration(rp_did, name, purpose, allowed)


def _payload(sd_jwt: str) -> dict[str, Any]:
    """The issuer-signed payload of a credential this wallet stored (it verified it then)."""
    try:
        segment = sd_jwt.split("~", 1)[0].split(".")[1]
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError) as e:
        raise LoginFlowError("no-credential", "a stored credential is unreadable") from e
    if not isinstance(value, dict):
        raise LoginFlowError("no-credential", "a stored credential is unreadable")
    return value


def _disclosable(sd_jwt: str) -> set[str]:
    """Names of the top-level claims a stored credential can disclose."""
    names: set[str] = set()
    for part in sd_jwt.split("~")[1:]:
        if not part:
            continue
        try:
            decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except ValueError:
            continue
        if isinstance(decoded, list) and len(decoded) == 3 and isinstance(decoded[1], str):
            names.add(decoded[1])
    return names


def _issued_at(sd_jwt: str) -> int:
    try:
        iat = _payload(sd_jwt).get("iat")
    except LoginFlowError:
        return 0
    return iat if isinstance(iat, int) else 0


def _usable(sd_jwt: str, key: PublicKey, now: int) -> bool:
    """Unexpired for a while yet, and bound to the DID's current signing key."""
    try:
        payload = _payload(sd_jwt)
    except LoginFlowError:
        return False
    exp, cnf = payload.get("exp"), payload.get("cnf")
    if not isinstance(exp, int) or exp <= now + SITE_PROOF_MARGIN or not isinstance(cnf, dict):
        return False
    jwk = cnf.get("jwk")
    if not isinstance(jwk, dict):
        return False
    try:
        return PublicKey.from_jwk(jwk) == key
    except (CryptoError, TypeError, ValueError):
        return False


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _problem_code(response: httpx.Response) -> str:
    body = _json(response)
    kind = body.get("type") if isinstance(body, dict) else None
    if isinstance(kind, str):
        code = kind.rsplit(":", 1)[-1]
        if _PROBLEM_CODE.fullmatch(code):
            return code
    return f"http-{response.status_code}"


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "?"
    return f"{parts.scheme}://{parts.netloc}"
