"""What simulated residents do over HTTP, built from the library's wallet-side functions.

Each operation is the sequence a real wallet sends, with RealDID's own message code:

* **enroll** — a root DID's create operation (:func:`pool.create_operation`) to the node's
  ``POST /1.0/operations``, polling ``GET /1.0/operations/{hash}`` until it is anchored (the
  authority resolves the key); then at the authority ``POST /1.0/challenges``,
  :func:`realdid.credentials.sign_application` to ``POST /1.0/enrollments``, and the
  OpenID4VCI redemption: ``/oid4vci/token``, ``/oid4vci/nonce``,
  :func:`realdid.credentials.make_proof_jwt`, ``/oid4vci/credential``;
* **login** — what a phone wallet does on a site: ``GET {site}/login`` (the site creates
  the login request and shows its page: the ``openid4vp://`` link and a session cookie),
  ``GET request_uri`` and :func:`realdid.credentials.verify_request_object` against the
  RP's DID key, :func:`realdid.credentials.present` of the stored site proof with the
  per-site DID's key, ``direct_post`` of :func:`realdid.credentials.response_form` to the
  ``response_uri`` (where the RP verifies the presentation), then — as the browser does
  when the page's poll says done — ``GET {site}/login/complete`` with the session cookie;
* **resolve** — ``GET /1.0/identifiers/{did}`` of a pooled DID;
* **update** — an ``update`` operation on a pooled root DID, signed with its current
  update key and committing to the next (:func:`realdid.did.sign`), that adds or removes
  a service endpoint, to ``POST /1.0/operations``. Updates of one DID are chained on the
  previous one (the node accepts an operation onto a queued one) and never run two at a
  time; whether the chain was applied is checked after the run.

The library's own clients (:class:`realdid.wallet.AuthorityClient`,
:func:`realdid.wallet.login`, :class:`realdid.registry.NodeClient`) are synchronous and
keep an encrypted wallet file per resident, so these steps call the same message
functions over :class:`httpx.AsyncClient` instead. A failed step raises
:class:`StepError` with the RFC 9457 problem ``type`` the service answered, or a
``transport:`` / ``client:`` type for what never got an answer or did not check out.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from realdid.credentials import (
    ENROLLMENT_TYP,
    REQUEST_OBJECT_MEDIA_TYPE,
    SITE_PROOF_TYP,
    AuthorizationRequest,
    CredentialError,
    CredentialOffer,
    CredentialRequest,
    CredentialResponse,
    CredentialType,
    NonceResponse,
    TokenRequest,
    TokenResponse,
    make_proof_jwt,
    parse_authorization_url,
    peek_sd_jwt_unverified,
    present,
    response_form,
    sign_application,
    verify_request_object,
)
from realdid.crypto import DEFAULT_POLICY, CryptoError, LocalSigner, PublicKey, b64url_decode
from realdid.did import (
    Did,
    Patch,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
    verification_key,
)
from realdid.http import parse_problem

from .acklog import AckLog
from .pool import (
    Applicant,
    PooledResident,
    SiteAccount,
    SiteInfo,
    create_operation,
    derive,
    new_seed,
    root_base,
    site_base,
)

#: The service the update operations add and remove on a root DID.
SERVICE_ID = "loadgen"
SERVICE = ServiceEntry(SERVICE_ID, "LinkedDomains", "https://load-generator.invalid/")
#: The demo sites' login page (``realdid.web``) and where their page goes when done.
LOGIN_PATH = "/login"
COMPLETE_PATH = "/login/complete"
#: The page's same-device link (and QR code) is the ``openid4vp://`` authorization URL.
_LOGIN_LINK = re.compile(r'href="(openid4vp://[^"]+)"')
_JSON = {"content-type": "application/json"}
#: How many update keys past the stored one a resync tries.
RESYNC_AHEAD = 4096


class StepError(Exception):
    """A step of an operation failed. ``type`` is the problem ``type`` the service answered
    (``urn:realdid:problem:<code>``), ``http-<status>`` for an answer without one,
    ``transport:<error>`` when no answer came, ``client:<what>`` when the answer did not
    check out. ``detail`` is the service's ``detail`` (never personal data, by contract)."""

    def __init__(self, type_: str, step: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(f"{type_} at {step}")
        self.type = type_
        self.step = step
        self.status = status
        self.detail = detail


def short_type(type_: str) -> str:
    """``urn:realdid:problem:rate-limited`` -> ``rate-limited`` (for tables)."""
    return type_.removeprefix("urn:realdid:problem:")


def refusal(step: str, response: httpx.Response) -> StepError:
    problem = parse_problem(response.status_code, response.content)
    type_ = problem.type or f"http-{response.status_code}"
    return StepError(type_, step, response.status_code, problem.detail or "")


def json_of(response: httpx.Response, step: str) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise StepError("client:invalid-json", step, response.status_code) from None


class Timer:
    """The laps of one operation: each step's time goes to ``sink(step, seconds)``."""

    def __init__(self, sink: Callable[[str, float], None] | None = None) -> None:
        self._sink = sink
        self._last = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        if self._sink is not None:
            self._sink(step, now - self._last)
        self._last = now


@dataclass(slots=True)
class UpdateTarget:
    """A pooled root DID that this process updates: one update in flight at a time."""

    resident: PooledResident
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    needs_sync: bool = True
    submitted: int = 0
    last_hash: str = ""
    disabled: str = ""


class Deployment:
    """The node and the authority of the deployment under test, over one async client."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        node: str,
        authority: str,
        *,
        poll_interval: float = 0.1,
        anchor_timeout: float = 60.0,
        acknowledged: AckLog | None = None,
    ) -> None:
        self.client = client
        #: Where what the deployment acknowledged is logged (``--acknowledged``).
        self.acknowledged = acknowledged or AckLog(None)
        self.node = node.rstrip("/")
        self.authority = authority.rstrip("/")
        self.poll_interval = poll_interval
        self.anchor_timeout = anchor_timeout
        self.audience = ""
        self.token_endpoint = ""
        self.nonce_endpoint = ""
        self.credential_endpoint = ""
        self.rp_keys: dict[str, PublicKey] = {}
        self._disclosable: dict[str, frozenset[str]] = {}

    # -- plumbing ---------------------------------------------------------------------------
    async def call(
        self, method: str, url: str, step: str, expect: tuple[int, ...], **kwargs: Any
    ) -> httpx.Response:
        """One request; :class:`StepError` unless its status is in ``expect``."""
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as e:
            raise StepError(f"transport:{type(e).__name__}", step) from None
        if response.status_code not in expect:
            raise refusal(step, response)
        return response

    async def setup_authority(self) -> None:
        """Read the authority's OpenID4VCI metadata (endpoints, its issuer identifier)."""
        issuer = json_of(
            await self.call(
                "GET", f"{self.authority}/.well-known/openid-credential-issuer", "metadata", (200,)
            ),
            "metadata",
        )
        server = json_of(
            await self.call(
                "GET",
                f"{self.authority}/.well-known/oauth-authorization-server",
                "metadata",
                (200,),
            ),
            "metadata",
        )
        self.audience = str(issuer["credential_issuer"])
        self.nonce_endpoint = str(issuer["nonce_endpoint"])
        self.credential_endpoint = str(issuer["credential_endpoint"])
        self.token_endpoint = str(server["token_endpoint"])

    # -- the node -----------------------------------------------------------------------------
    async def submit(self, operations: list[dict[str, Any]], step: str) -> list[str]:
        """Submit operations (one request; an array when several); their hashes."""
        body = operations[0] if len(operations) == 1 else operations
        response = await self.call(
            "POST",
            f"{self.node}/1.0/operations",
            step,
            (202,),
            content=orjson.dumps(body),
            headers=_JSON,
        )
        receipts = json_of(response, step)
        if isinstance(receipts, dict):
            receipts = [receipts]
        for operation, r in zip(operations, receipts, strict=False):
            self.acknowledged.record(
                "did-operation",
                operation=str(r["operationHash"]),
                did=str(r.get("did", "")),
                type=str(operation.get("type", "")),
                step=step,
            )
        return [str(r["operationHash"]) for r in receipts]

    async def operation_status(self, operation_hash: str, step: str) -> str:
        """``pending``, ``anchored`` or ``rejected`` (``unknown`` if the node has no such op)."""
        response = await self.call(
            "GET", f"{self.node}/1.0/operations/{operation_hash}", step, (200, 404)
        )
        if response.status_code == 404:
            return "unknown"
        return str(json_of(response, step).get("status"))

    async def wait_anchored(self, hashes: list[str], step: str) -> None:
        """Poll every ``poll_interval`` until all are anchored (as the CLI's ``--wait``)."""
        deadline = time.monotonic() + self.anchor_timeout
        for operation_hash in hashes:
            while True:
                status = await self.operation_status(operation_hash, step)
                if status == "anchored":
                    break
                if status == "rejected":
                    raise StepError("client:operation-rejected", step)
                if status != "pending":
                    raise StepError(f"client:operation-{status}", step)
                if time.monotonic() > deadline:
                    raise StepError("client:anchor-timeout", step)
                await asyncio.sleep(self.poll_interval)

    async def resolution(self, did: str, step: str) -> dict[str, Any]:
        response = await self.call("GET", f"{self.node}/1.0/identifiers/{did}", step, (200,))
        body = json_of(response, step)
        if not isinstance(body, dict) or not isinstance(body.get("didDocument"), dict):
            raise StepError("client:not-a-resolution-result", step)
        return body

    async def rp_key(self, kid: str) -> PublicKey:
        """The RP's request-signing key ``kid`` from its DID document (cached per process)."""
        key = self.rp_keys.get(kid)
        if key is None:
            document = (await self.resolution(kid.partition("#")[0], "rp-did"))["didDocument"]
            key = verification_key(document, kid, purpose="authentication") or verification_key(
                document, kid, purpose="assertionMethod"
            )
            if key is None:
                raise StepError("client:rp-key-not-found", "rp-did")
            self.rp_keys[kid] = key
        return key

    # -- the authority: apply, then OpenID4VCI ---------------------------------------------------
    async def collect(
        self,
        path: str,
        typ: str,
        applicant: LocalSigner,
        applicant_kid: str,
        claims: dict[str, Any],
        holder: LocalSigner,
        holder_kid: str,
        timer: Timer,
    ) -> str:
        """Challenge, signed application to ``path``, then redeem the offer for ``holder``
        (what ``realdid.wallet``'s ``_apply_and_collect`` does); the credential."""
        body = json_of(
            await self.call("POST", f"{self.authority}/1.0/challenges", "challenge", (201,)),
            "challenge",
        )
        timer.lap("challenge")
        application = sign_application(
            applicant,
            key_id=applicant_kid,
            typ=typ,
            audience=self.audience,
            nonce=str(body["nonce"]),
            issued_at=int(time.time()),
            claims=claims,
        )
        answer = json_of(
            await self.call(
                "POST",
                f"{self.authority}{path}",
                "application",
                (201,),
                json={"application": application},
            ),
            "application",
        )
        try:
            offer = CredentialOffer.from_dict(answer["credential_offer"])
        except (CredentialError, KeyError, TypeError):
            raise StepError("client:invalid-offer", "application") from None
        timer.lap("application")
        token = json_of(
            await self.call(
                "POST",
                self.token_endpoint,
                "token",
                (200,),
                data=TokenRequest(offer.pre_authorized_code).to_form(),
            ),
            "token",
        )
        nonce = json_of(await self.call("POST", self.nonce_endpoint, "token", (200,)), "token")
        try:
            access_token = TokenResponse.from_dict(token).access_token
            c_nonce = NonceResponse.from_dict(nonce).c_nonce
        except CredentialError:
            raise StepError("client:invalid-token-response", "token") from None
        timer.lap("token")
        proof = make_proof_jwt(
            holder,
            key_id=holder_kid,
            audience=offer.issuer,
            nonce=c_nonce,
            issued_at=int(time.time()),
        )
        issued = json_of(
            await self.call(
                "POST",
                self.credential_endpoint,
                "credential",
                (200,),
                json=CredentialRequest(offer.configuration_ids[0], (proof,)).to_dict(),
                headers={"Authorization": f"Bearer {access_token}"},
            ),
            "credential",
        )
        try:
            credential = CredentialResponse.from_dict(issued).credentials[0]
        except (CredentialError, IndexError):
            raise StepError("client:invalid-credential-response", "credential") from None
        timer.lap("credential")
        return credential

    async def enroll_root(self, applicant: Applicant, seed: bytes, did: str, timer: Timer) -> None:
        """Enroll the anchored root DID ``did`` (key-1 from ``seed``) as ``applicant``."""
        signer = derive(seed, root_base(), "signing")
        credential = await self.collect(
            "/1.0/enrollments",
            ENROLLMENT_TYP,
            signer,
            f"{did}#key-1",
            {"id_number": applicant.id_number, "name": applicant.name, "face": applicant.face},
            signer,
            f"{did}#key-1",
            timer,
        )
        # The RealName credential holds the resident's name and ID number: not kept (the
        # acknowledgement log takes only its status list entry).
        self.acknowledged.credential("enrollment", credential, did=did, row=applicant.row)

    async def site_proof(
        self, seed: bytes, root_did: str, site: SiteInfo, timer: Timer
    ) -> SiteAccount:
        """A site proof for the resident's (anchored) DID for ``site``, vouched for by the
        enrolled root DID (``realdid.wallet.request_site_proof``)."""
        site_did = str(create_operation(seed, site_base(site.rp_did)).did)
        proof = await self.collect(
            "/1.0/site-proofs",
            SITE_PROOF_TYP,
            derive(seed, root_base(), "signing"),
            f"{root_did}#key-1",
            {"site_did": site_did},
            derive(seed, site_base(site.rp_did), "signing"),
            f"{site_did}#key-1",
            timer,
        )
        try:
            expires_at = peek_sd_jwt_unverified(proof).expires_at or 0
        except CredentialError:
            raise StepError("client:invalid-site-proof", "credential") from None
        self.acknowledged.credential(
            "site-proof", proof, did=site_did, root_did=root_did, site=site.url
        )
        return SiteAccount(site_did, proof, expires_at)

    # -- operations of a run ----------------------------------------------------------------------
    async def enroll(self, applicant: Applicant, timer: Timer) -> str:
        """A new resident from nothing to a RealName credential; the root DID."""
        seed = new_seed()
        create = create_operation(seed, root_base())
        hashes = await self.submit([to_dict(create)], "did-submit")
        timer.lap("did-submit")
        await self.wait_anchored(hashes, "did-anchor")
        timer.lap("did-anchor")
        did = str(create.did)
        await self.enroll_root(applicant, seed, did, timer)
        return did

    async def login(
        self,
        site: SiteInfo,
        account: SiteAccount,
        signer: LocalSigner,
        timer: Timer,
        *,
        complete: bool = True,
    ) -> None:
        """One login at ``site`` with the resident's site DID (see the module docstring)."""
        page = await self.call(
            "GET", site.url + LOGIN_PATH, "login-page", (200,), headers={"Accept": "text/html"}
        )
        timer.lap("login-page")
        request, cookie = await self._fetch_request(page)
        timer.lap("request-object")
        query = request.dcql_query.credentials[0]
        if CredentialType.SITE_PROOF not in query.vct_values:
            raise StepError("client:site-asks-no-site-proof", "request-object")
        try:
            presentation = present(
                account.proof,
                disclose=set(query.claims) & self._claims_of(account.proof),
                holder_signer=signer,
                audience=request.client_id,
                nonce=request.nonce,
                issued_at=int(time.time()),
            )
        except CredentialError:
            raise StepError("client:presentation-failed", "response") from None
        await self.call(
            "POST",
            request.response_uri,
            "response",
            (200,),
            data=response_form({query.id: [presentation]}, request.state),
        )
        self.acknowledged.record("login", site=site.url, did=account.did, state=request.state)
        timer.lap("response")
        if complete:
            await self.call(
                "GET",
                site.url + COMPLETE_PATH,
                "complete",
                (200, 302, 303),
                headers={"Cookie": cookie, "Accept": "text/html"},
            )
            timer.lap("complete")

    async def _fetch_request(self, page: httpx.Response) -> tuple[AuthorizationRequest, str]:
        """The verified request object behind a login page, and the page's session cookie."""
        match = _LOGIN_LINK.search(page.text)
        if match is None:
            raise StepError("client:no-login-link", "login-page", page.status_code)
        cookie = "; ".join(
            value.split(";", 1)[0].strip() for value in page.headers.get_list("set-cookie")
        )
        try:
            client_id, request_uri = parse_authorization_url(html.unescape(match.group(1)))
        except CredentialError:
            raise StepError("client:invalid-login-link", "login-page") from None
        response = await self.call(
            "GET",
            request_uri,
            "request-object",
            (200,),
            headers={"Accept": REQUEST_OBJECT_MEDIA_TYPE},
        )
        jws = response.text.strip()
        kid = _jws_kid(jws)
        if kid is not None:
            await self.rp_key(kid)
        try:
            request = verify_request_object(
                jws,
                resolve_key=self.rp_keys.__getitem__,
                now=int(time.time()),
                policy=DEFAULT_POLICY,
                expected_client_id=client_id,
            )
        except CredentialError:
            raise StepError("client:invalid-request-object", "request-object") from None
        return request, cookie

    async def discover(self, url: str) -> SiteInfo:
        """What the site at ``url`` asks wallets for, from one login request it makes."""
        page = await self.call(
            "GET", url + LOGIN_PATH, "login-page", (200,), headers={"Accept": "text/html"}
        )
        request, _ = await self._fetch_request(page)
        query = request.dcql_query.credentials[0]
        registration = request.registration()
        name = request.client_name or ""
        if not name and registration is not None:
            try:
                name = str(peek_sd_jwt_unverified(registration).claims.get("rp_name", ""))
            except CredentialError:
                name = ""
        return SiteInfo(
            url,
            request.client_did,
            name,
            CredentialType.SITE_PROOF
            if CredentialType.SITE_PROOF in query.vct_values
            else query.vct_values[0],
            tuple(query.claims),
        )

    def _claims_of(self, sd_jwt: str) -> frozenset[str]:
        known = self._disclosable.get(sd_jwt)
        if known is None:
            known = peek_sd_jwt_unverified(sd_jwt).disclosable
            self._disclosable[sd_jwt] = known
        return known

    async def resolve(self, did: str, timer: Timer) -> None:
        response = await self.call("GET", f"{self.node}/1.0/identifiers/{did}", "resolve", (200,))
        if did.encode() not in response.content:
            raise StepError("client:wrong-resolution", "resolve", response.status_code)
        timer.lap("resolve")

    async def update(self, target: UpdateTarget, timer: Timer) -> None:
        """Add the load generator's service to the DID, or remove it: one update operation."""
        async with target.lock:
            if target.disabled:
                raise StepError(f"client:{target.disabled}", "resync")
            if target.needs_sync:
                await self.resync(target)
                timer.lap("resync")
            resident = target.resident
            seed, base = resident.seed_bytes, root_base()
            key = derive(seed, base, "update", resident.update_counter)
            following = derive(seed, base, "update", resident.update_counter + 1)
            patch = (
                Patch("remove-services", ids=(SERVICE_ID,))
                if resident.has_service
                else Patch("add-services", services=(SERVICE,))
            )
            operation = sign(
                UpdateOperation(
                    Did.parse(resident.root_did),
                    resident.previous,
                    key.public_key,
                    (patch,),
                    commitment_of(following.public_key),
                ),
                key,
            )
            try:
                (operation_hash,) = await self.submit([to_dict(operation)], "submit")
            except StepError as e:
                if e.status is not None and 400 <= e.status < 500 and e.status != 429:
                    target.needs_sync = True  # refused: learn the DID's state again first
                raise
            resident.previous = operation_hash
            resident.update_counter += 1
            resident.has_service = not resident.has_service
            target.submitted += 1
            target.last_hash = operation_hash
            timer.lap("submit")

    async def resync(self, target: UpdateTarget) -> None:
        """Learn a root DID's anchored state: its version, which update key its commitment
        is to, and whether it has the service (after a refusal, or at the start of a run)."""
        resident = target.resident
        if resident.previous:
            deadline = time.monotonic() + self.anchor_timeout
            while await self.operation_status(resident.previous, "resync") == "pending":
                if time.monotonic() > deadline:
                    raise StepError("client:anchor-timeout", "resync")
                await asyncio.sleep(self.poll_interval)
        try:
            body = await self.resolution(resident.root_did, "resync")
        except StepError as e:
            if e.status == 410:
                target.disabled = "did-deactivated"
            raise
        metadata = body.get("didDocumentMetadata", {})
        commitment = metadata.get("method", {}).get("updateCommitment")
        seed, base = resident.seed_bytes, root_base()
        # Usually the stored counter; higher after a run that died before saving the state,
        # lower after a run whose updates were not all applied.
        stored = resident.update_counter
        candidates = [*range(stored, stored + RESYNC_AHEAD), *range(stored - 1, -1, -1)]
        for counter in candidates:
            if commitment_of(derive(seed, base, "update", counter).public_key) == commitment:
                break
        else:
            target.disabled = "update-key-unknown"
            raise StepError("client:update-key-unknown", "resync")
        services = body["didDocument"].get("service", [])
        resident.previous = str(metadata["versionId"])
        resident.update_counter = counter
        resident.has_service = any(
            str(s.get("id", "")).endswith("#" + SERVICE_ID) for s in services
        )
        target.needs_sync = False


def _jws_kid(jws: str) -> str | None:
    """The ``kid`` of a compact JWS header, unverified (to fetch the key it names)."""
    try:
        header = orjson.loads(b64url_decode(jws.split(".", 1)[0]))
    except (CryptoError, ValueError):  # orjson.JSONDecodeError is a ValueError
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None
