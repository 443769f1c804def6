"""Step 7 of private login, for a SiteProof query: the per-site DID and its site proof.

A SiteProof credential is presented from the wallet's DID for this one relying party
(ADR 0012 "Per-site DIDs"), so that two sites cannot link the resident's logins. On first
use the DID is created and anchored; its site proof is asked of the authority, which
vouches for "a verified person" without learning which site it is for. A stored proof is
reused while it is well inside its lifetime, still bound to the DID's current key and
newer than the RealName credential (a re-enrollment revokes older site proofs).
"""

from __future__ import annotations

from collections.abc import Callable

from realdid.clock import Clock
from realdid.credentials import MalformedSdJwtError, UnverifiedSdJwt
from realdid.crypto import CryptoError, KeyType, PublicKey
from realdid.registry import RegistryClient

from ._authority import AuthorityClient, request_site_proof
from ._errors import LoginFlowError
from ._stored import StoredCredential
from ._wallet import Wallet

#: A site proof expiring sooner than this (seconds) is renewed before use.
SITE_PROOF_MARGIN = 300
#: The stored ``type`` of a site proof (its OpenID4VCI configuration id).
SITE_PROOF_ENTRY = "SiteProof"

#: Obtains a site proof for ``site_did`` from the authority at ``authority_url``, vouched
#: for by ``root_did``, stores it in the wallet and returns what was stored.
SiteProofSource = Callable[[Wallet, str, str, str], StoredCredential]


def authority_site_proof(
    wallet: Wallet, authority_url: str, root_did: str, site_did: str
) -> StoredCredential:
    """The default :data:`SiteProofSource`: the authority over OpenID4VCI."""
    client = AuthorityClient(authority_url)
    try:
        return request_site_proof(wallet, client, root_did, site_did)
    finally:
        client.close()


def site_proof_for(
    wallet: Wallet,
    node: RegistryClient,
    *,
    rp_did: str,
    holder_did: str,
    real_name: StoredCredential,
    source: SiteProofSource,
    anchor_timeout: float,
    clock: Clock,
    progress: Callable[[str], None],
) -> str:
    """The site proof to present to ``rp_did`` from ``holder_did``; sets the DID up if new."""
    record = wallet.site_record(rp_did)
    if record is None:
        progress(f"creating your DID for this site ({holder_did})")
        wallet.create_site_did(node, rp_did, _key_type(wallet, holder_did, rp_did))
        record = wallet.site_record(rp_did)
    if record is None or record.did != holder_did:  # pragma: no cover - defensive
        raise LoginFlowError("no-credential", "the site DID could not be set up")
    if record.deactivated:
        raise LoginFlowError(
            "site-did-deactivated",
            f"your DID for this site ({record.did}) is deactivated; the account is closed",
        )
    if record.last_operation:
        progress("waiting for the registry to anchor your site DID")
        node.wait_anchored(record.last_operation, timeout=anchor_timeout)
    key = wallet.signing_key(record.did).public_key
    # A site proof older than the RealName credential predates a re-enrollment, which
    # revoked it: ask for a new one instead of presenting a revoked credential.
    enrolled_at = _issued_at(real_name)
    for stored in reversed(wallet.credentials):
        if stored.type != SITE_PROOF_ENTRY or stored.did != record.did:
            continue
        peeked = _peek(stored)
        if (
            peeked is not None
            and _usable(peeked, key, clock.now())
            and (peeked.issued_at or 0) >= enrolled_at
        ):
            return stored.credential
    progress("asking the authority for a site proof (it learns nothing about the site)")
    return source(wallet, real_name.issuer, real_name.did, record.did).credential


def _key_type(wallet: Wallet, holder_did: str, rp_did: str) -> str:
    """The key type whose site DID for ``rp_did`` is ``holder_did`` (as planned)."""
    for kind in KeyType:
        if wallet.site_did(rp_did, kind.value) == holder_did:
            return kind.value
    return KeyType.ED25519.value  # pragma: no cover - the plan computed it from one of them


def _peek(stored: StoredCredential) -> UnverifiedSdJwt | None:
    try:
        return stored.peek()
    except MalformedSdJwtError:
        return None


def _issued_at(stored: StoredCredential) -> int:
    peeked = _peek(stored)
    return (peeked.issued_at or 0) if peeked is not None else 0


def _usable(peeked: UnverifiedSdJwt, key: PublicKey, now: int) -> bool:
    """Unexpired for a while yet, and bound to the DID's current signing key."""
    exp, jwk = peeked.expires_at, peeked.holder_jwk
    if exp is None or exp <= now + SITE_PROOF_MARGIN or jwk is None:
        return False
    try:
        return PublicKey.from_jwk(jwk) == key
    except (CryptoError, TypeError, ValueError):
        return False
