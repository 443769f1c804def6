"""Step 4 of private login: is this site registered, and for what?

A relying party proves its registration with the RpRegistration credential it puts in
``verifier_info`` (ADR 0012 "Registration"). The wallet accepts it only if it was issued
by the one authority the wallet itself enrolled with (the issuer of its RealName
credential), to the very DID that signed the request, bound to this request's audience
and nonce, unexpired, and not revoked on the authority's Token Status List. When the
status list cannot be fetched or verified the wallet refuses rather than guess: a revoked
site must not be able to get a login by making its status list unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from realdid.clock import Clock
from realdid.credentials import (
    AuthorizationRequest,
    CredentialError,
    CredentialType,
    MalformedRpRegistrationError,
    RpRegistration,
    VerifiedCredential,
    parse_status_reference,
    verify,
    verify_status_list,
)
from realdid.crypto import AlgorithmPolicy, PublicKey
from realdid.did import verification_key
from realdid.http import MAX_RESPONSE_BYTES, ResponseTooLargeError, download
from realdid.registry import RegistryClient

from ._errors import LoginFlowError
from ._login_request import active_document, is_http_url

#: Oldest key-binding JWT accepted on the registration presentation (seconds).
MAX_REGISTRATION_KB_AGE = 300


@dataclass(frozen=True, slots=True)
class Registration:
    """A verified RP registration credential."""

    rp_did: str
    rp_name: str
    purpose: str
    permitted: Mapping[str, frozenset[str]]


class RegistrationCheck:
    """Verifies the registration an RP sends, against the authority the wallet trusts."""

    def __init__(
        self, http: httpx.Client, node: RegistryClient, *, clock: Clock, policy: AlgorithmPolicy
    ) -> None:
        self.http = http
        self.node = node
        self.clock = clock
        self.policy = policy

    def check(self, request: AuthorizationRequest, trusted_issuer: str | None) -> Registration:
        """The request's registration, verified; ``trusted_issuer`` is the RealName issuer."""
        registration = request.registration()
        if registration is None:
            raise LoginFlowError("registration-missing", "the site sent no registration credential")
        if trusted_issuer is None:
            raise LoginFlowError(
                "no-credential", "the wallet's real-name credential names no issuer"
            )
        keys = self.issuer_keys(trusted_issuer)
        now = self.clock.now()
        try:
            verified = verify(
                registration,
                issuer_keys=keys,
                expected_audience=request.client_id,
                expected_nonce=request.nonce,
                now=now,
                max_kb_age=MAX_REGISTRATION_KB_AGE,
                policy=self.policy,
                require_key_binding=False,
            )
        except CredentialError as e:
            raise LoginFlowError(
                "registration-invalid", f"the site's registration does not verify: {e}"
            ) from e
        parsed = registration_of(verified, request.client_did)
        self.check_status(verified, keys, now)
        return parsed

    def issuer_keys(self, trusted: str) -> Callable[[str, str], PublicKey]:
        def keys(iss: str, kid: str) -> PublicKey:
            if iss != trusted or kid.partition("#")[0] != iss:
                raise LookupError("not the authority this wallet enrolled with")
            key = verification_key(active_document(self.node, iss), kid, purpose="assertionMethod")
            if key is None:
                raise LookupError(f"the authority's DID document lists no key {kid}")
            return key

        return keys

    def check_status(
        self, verified: VerifiedCredential, keys: Callable[[str, str], PublicKey], now: int
    ) -> None:
        """Refuse unless the registration's status list entry says valid (0)."""
        try:
            uri, index = parse_status_reference(verified.status)
        except CredentialError as e:
            raise LoginFlowError(
                "registration-invalid", "the site's registration has no usable status reference"
            ) from e
        if not is_http_url(uri):
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


def registration_of(verified: VerifiedCredential, rp_did: str) -> Registration:
    """The registration a verified credential states, if it is one and is ``rp_did``'s."""
    if verified.vct != CredentialType.RP_REGISTRATION:
        raise LoginFlowError(
            "registration-invalid", "the site's verifier_info is not an RP registration"
        )
    if verified.subject != rp_did:
        raise LoginFlowError(
            "registration-invalid", "the registration belongs to another DID than the site's"
        )
    try:
        parsed = RpRegistration.from_dict(verified.claims)
    except MalformedRpRegistrationError as e:
        raise LoginFlowError("registration-invalid", f"the registration is malformed: {e}") from e
    permitted = {vct: parsed.permitted_claims(vct) for vct in parsed.permitted}
    return Registration(rp_did, parsed.rp_name, parsed.purpose, permitted)
