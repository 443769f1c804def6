"""The wallet's side of the identity authority: signed applications, then OpenID4VCI.

Each flow is: get a challenge, sign an application with a key of the applying DID, receive
a credential offer, and redeem it over OpenID4VCI 1.0 (token endpoint with the
pre-authorized code, nonce endpoint, credential endpoint with a proof JWT signed by the key
of the DID the credential is for). The credential is stored in the encrypted wallet.

An offer made elsewhere (an RP registration, offered to an enterprise DID at an operator's
request) is redeemed and stored by :func:`redeem_offer`.

Every step can be repeated after a failure: the authority answers a repeated application
for the same DID and person with the same offered credential, never a second one.

The client takes a :class:`~realdid.clock.Clock` (the ``iat`` of applications and key proofs,
and ``received_at``), the system clock unless a test pins it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from realdid import ijson
from realdid.clock import Clock, SystemClock
from realdid.credentials import (
    BUSINESS_TYP,
    ENROLLMENT_TYP,
    SITE_PROOF_TYP,
    CredentialError,
    CredentialOffer,
    CredentialRequest,
    CredentialResponse,
    NonceResponse,
    TokenRequest,
    TokenResponse,
    make_proof_jwt,
    sign_application,
)
from realdid.http import MAX_RESPONSE_BYTES, ResponseTooLargeError, download, parse_problem
from realdid.registry import NodeClientError

from ._errors import WalletError
from ._stored import StoredCredential
from ._wallet import Wallet


class AuthorityClientError(WalletError, NodeClientError):
    """The authority refused (``code`` from its problem ``type``) or could not be reached.

    A :class:`WalletError` (the wallet's one root) and, like the node client's errors, a
    :class:`~realdid.registry.NodeClientError`: both are a remote service's answer.
    """


class AuthorityClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise AuthorityClientError(
                "invalid-authority-url",
                f"authority URL must start with http:// or https://, got '{base_url}'",
            )
        self.base_url = base_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, url: str, expect: int, **kwargs: Any) -> Any:
        try:
            response = download(self._http, method, url, max_length=MAX_RESPONSE_BYTES, **kwargs)
        except ResponseTooLargeError as e:
            raise AuthorityClientError(e.code, f"the authority at {self.base_url}: {e}") from e
        except httpx.HTTPError as e:
            raise AuthorityClientError(
                "authority-unreachable",
                f"cannot reach the authority at {self.base_url}: {type(e).__name__}",
            ) from e
        if response.status_code != expect:
            raise _refusal(response)
        try:
            return ijson.loads(response.content)
        except ValueError:
            return None

    def metadata(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Credential issuer metadata and OAuth authorization server metadata."""
        issuer = self._call("GET", f"{self.base_url}/.well-known/openid-credential-issuer", 200)
        server = self._call("GET", f"{self.base_url}/.well-known/oauth-authorization-server", 200)
        return issuer, server

    def challenge(self) -> str:
        body = self._call("POST", f"{self.base_url}/1.0/challenges", 201)
        return str(body["nonce"])

    def apply(self, path: str, application: str) -> dict[str, Any]:
        body = self._call("POST", f"{self.base_url}{path}", 201, json={"application": application})
        offer: dict[str, Any] = body["credential_offer"]
        return offer

    def redeem(self, offer: CredentialOffer, wallet: Wallet, did: str) -> str:
        """Collect an offered credential, proving possession of ``did``'s signing key."""
        issuer_metadata, server_metadata = self.metadata()
        token_body = self._call(
            "POST",
            str(server_metadata["token_endpoint"]),
            200,
            data=TokenRequest(offer.pre_authorized_code).to_form(),
        )
        access_token = TokenResponse.from_dict(token_body).access_token
        nonce = NonceResponse.from_dict(
            self._call("POST", str(issuer_metadata["nonce_endpoint"]), 200)
        )
        proof = make_proof_jwt(
            wallet.signing_key(did),
            key_id=wallet.key_id(did),
            audience=offer.issuer,
            nonce=nonce.c_nonce,
            issued_at=self.clock.now(),
        )
        answer = self._call(
            "POST",
            str(issuer_metadata["credential_endpoint"]),
            200,
            json=CredentialRequest(offer.configuration_ids[0], (proof,)).to_dict(),
            headers={"Authorization": f"Bearer {access_token}"},
        )
        return CredentialResponse.from_dict(answer).credentials[0]


def _refusal(response: httpx.Response) -> AuthorityClientError:
    """The authority's refusal, by its problem code (RFC 9457), else by the HTTP status."""
    problem = parse_problem(response.status_code, response.content)
    if problem.type is None:
        return AuthorityClientError(
            problem.code, f"the authority answered HTTP {response.status_code}"
        )
    return AuthorityClientError(
        problem.code, f"{problem.code}: {problem.detail or ''}".rstrip(": ")
    )


def redeem_offer(
    wallet: Wallet,
    client: AuthorityClient,
    offer: Mapping[str, Any],
    did: str,
    credential_type: str,
) -> StoredCredential:
    """Redeem a credential offer from ``client``'s authority for ``did``; store the credential.

    The offer must come from that authority and be for ``credential_type``; the proof of
    possession is signed with ``did``'s current signing key.
    """
    wallet.record(did)
    try:
        parsed = CredentialOffer.from_dict(offer)
    except CredentialError as e:
        raise AuthorityClientError("invalid-offer", f"not a usable credential offer: {e}") from e
    if parsed.issuer.rstrip("/") != client.base_url:
        raise AuthorityClientError(
            "offer-from-another-issuer",
            f"the offer is from {parsed.issuer}, not from the authority at {client.base_url}",
        )
    if parsed.configuration_ids[0] != credential_type:
        raise AuthorityClientError(
            "unexpected-credential-type",
            f"the offer is for a {parsed.configuration_ids[0]} credential, not {credential_type}",
        )
    try:
        credential = client.redeem(parsed, wallet, did)
    except CredentialError as e:
        raise AuthorityClientError(
            "invalid-issuer-response", f"the authority's answer is unusable: {e}"
        ) from e
    stored = StoredCredential(
        type=credential_type,
        did=did,
        issuer=client.base_url,
        credential=credential,
        received_at=client.clock.now(),
    )
    wallet.add_credential(stored)
    return stored


def _apply_and_collect(
    wallet: Wallet,
    client: AuthorityClient,
    *,
    path: str,
    typ: str,
    signing_did: str,
    holder_did: str,
    credential_type: str,
    claims: dict[str, Any],
) -> StoredCredential:
    application = sign_application(
        wallet.signing_key(signing_did),
        key_id=wallet.key_id(signing_did),
        typ=typ,
        audience=client.base_url,
        nonce=client.challenge(),
        issued_at=client.clock.now(),
        claims=claims,
    )
    offer = client.apply(path, application)
    return redeem_offer(wallet, client, offer, holder_did, credential_type)


def enroll(
    wallet: Wallet, client: AuthorityClient, did: str, *, id_number: str, name: str, face: str
) -> StoredCredential:
    """Enroll root DID ``did`` with the authority; store and return the RealName credential."""
    wallet.record(did)
    return _apply_and_collect(
        wallet,
        client,
        path="/1.0/enrollments",
        typ=ENROLLMENT_TYP,
        signing_did=did,
        holder_did=did,
        credential_type="RealName",
        claims={"id_number": id_number, "name": name, "face": face},
    )


def request_site_proof(
    wallet: Wallet, client: AuthorityClient, root_did: str, site_did: str
) -> StoredCredential:
    """A site proof for ``site_did``, vouched for by the enrolled ``root_did``."""
    wallet.record(root_did)
    wallet.record(site_did)
    return _apply_and_collect(
        wallet,
        client,
        path="/1.0/site-proofs",
        typ=SITE_PROOF_TYP,
        signing_did=root_did,
        holder_did=site_did,
        credential_type="SiteProof",
        claims={"site_did": site_did},
    )


def enroll_business(
    wallet: Wallet,
    client: AuthorityClient,
    did: str,
    *,
    uscc: str,
    company_name: str,
    legal_representative: str,
) -> StoredCredential:
    """Enroll an enterprise DID with its unified social credit code; store the Business credential."""
    wallet.record(did)
    return _apply_and_collect(
        wallet,
        client,
        path="/1.0/business-enrollments",
        typ=BUSINESS_TYP,
        signing_did=did,
        holder_did=did,
        credential_type="Business",
        claims={
            "uscc": uscc,
            "company_name": company_name,
            "legal_representative": legal_representative,
        },
    )
