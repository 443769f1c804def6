"""The RP against credentials from the real in-process authority (tests/unit/authority).

What the authority issues (site proofs and RealName credentials with ``sub``, the RP's
registration, status lists) is what the RP accepts, and a revocation by the authority
reaches the RP once its cached status list expires.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from realdid.authority import DidKeyError, Role
from realdid.clock import FixedClock
from realdid.credentials import (
    CredentialQuery,
    DcqlQuery,
    present,
    response_form,
    verify_request_object,
)
from realdid.crypto import DEFAULT_POLICY, KeyType, PublicKey
from realdid.did import verification_key
from realdid.rp import (
    LoginError,
    LoginRequestStore,
    RelyingParty,
    RelyingPartyConfig,
    ResolvedDid,
    StatusListCache,
    VerifiedLogin,
)

from ..authority.conftest import T0, Env, FakeResolver, Holder, build_env

SITE_PROOF = "urn:realdid:SiteProof"
REAL_NAME = "urn:realdid:RealName"


class AuthorityDocuments:
    """The authority tests' :class:`FakeResolver` as a :class:`realdid.rp.DidDocumentResolver`."""

    def __init__(self, fake: FakeResolver) -> None:
        self.fake = fake

    def document(self, did: str) -> ResolvedDid:
        try:
            return ResolvedDid(self.fake.document(did), deactivated=False)
        except DidKeyError as e:
            if e.code == "did-deactivated":
                return ResolvedDid({"id": did}, deactivated=True)
            raise LookupError(e.code) from e


@dataclass
class Setup:
    env: Env
    rp: RelyingParty
    enterprise: Holder
    root: Holder
    site: Holder
    real_name: str
    site_proof: str


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    env = build_env(tmp_path, FixedClock(T0))
    root = env.resolver.create(KeyType.ED25519)
    real_name = env.collect(env.enroll(root, env.residents[0]), root)
    site = env.resolver.create(KeyType.ED25519)
    site_proof = env.collect(env.site_proof(root, site.did), site)
    enterprise = env.resolver.create(KeyType.P256)
    env.collect(env.enroll_business(enterprise, env.enterprises[0]), enterprise)
    registrar, _ = env.operator(Role.RP_REGISTRAR)
    offer = env.authority.register_relying_party(
        registrar,
        enterprise.did,
        "Adults-only forum",
        {SITE_PROOF: ["age_over_18"], REAL_NAME: ["family_name", "given_name", "id_number"]},
    )
    registration = env.collect(offer, enterprise)

    def fetch(uri: str) -> str:
        token = env.authority.status_list_jwt(int(uri.rsplit("/", 1)[1]))
        if token is None:
            raise ConnectionError("no such list")
        return token

    documents = AuthorityDocuments(env.resolver)
    trusted = frozenset({env.issuer.did})
    rp = RelyingParty(
        RelyingPartyConfig(
            base_url="http://127.0.0.1:8090",
            client_did=enterprise.did,
            key_id=enterprise.key_id,
            registration=registration,
            trusted_issuers=trusted,
        ),
        signer=enterprise.signer,
        store=LoginRequestStore(":memory:"),
        resolver=documents,
        status_lists=StatusListCache(
            fetch,
            resolver=documents,
            trusted_issuers=trusted,
            clock=env.clock,
            policy=DEFAULT_POLICY,
        ),
        clock=env.clock,
    )
    yield Setup(env, rp, enterprise, root, site, real_name, site_proof)
    rp.close()
    env.close()


def log_in(
    s: Setup, vct: str, claims: tuple[str, ...], sd_jwt: str, holder: Holder
) -> VerifiedLogin:
    pending = s.rp.create_request(DcqlQuery((CredentialQuery("q", (vct,), claims),)))
    request = verify_request_object(
        s.rp.request_object(pending.request_id),
        resolve_key=lambda kid: _key(s.env.resolver, kid),
        now=s.env.clock.now(),
        policy=DEFAULT_POLICY,
        expected_client_id=s.rp.config.client_id,
    )
    vp = present(
        sd_jwt,
        disclose=set(claims),
        holder_signer=holder.signer,
        audience=request.client_id,
        nonce=request.nonce,
        issued_at=s.env.clock.now(),
    )
    return s.rp.verify_response(response_form({"q": [vp]}, request.state))


def _key(resolver: FakeResolver, kid: str) -> PublicKey:
    key = verification_key(
        resolver.document(kid.split("#", maxsplit=1)[0]), kid, purpose="authentication"
    )
    assert key is not None
    return key


def test_registration_from_the_authority(setup: Setup) -> None:
    assert setup.rp.name == setup.env.enterprises[0].name
    assert setup.rp.permitted == {
        SITE_PROOF: frozenset({"age_over_18"}),
        REAL_NAME: frozenset({"family_name", "given_name", "id_number"}),
    }


def test_site_proof_login(setup: Setup) -> None:
    login = log_in(setup, SITE_PROOF, ("age_over_18",), setup.site_proof, setup.site)
    assert login.subject == setup.site.did
    assert login.issuer == setup.env.issuer.did
    assert set(login.claims) >= {"age_over_18", "verified_person"}
    assert "province" not in login.claims


def test_real_name_login(setup: Setup) -> None:
    resident = setup.env.residents[0]
    login = log_in(
        setup,
        REAL_NAME,
        ("family_name", "given_name", "id_number"),
        setup.real_name,
        setup.root,
    )
    assert login.subject == setup.root.did
    assert login.claims["id_number"] == resident.id_number
    assert login.claims["family_name"] == resident.family_name
    assert "birth_date" not in login.claims


def test_revocation_by_the_authority_reaches_the_rp(setup: Setup) -> None:
    log_in(setup, SITE_PROOF, ("age_over_18",), setup.site_proof, setup.site)
    officer, _ = setup.env.operator(Role.REVOCATION_OFFICER)
    assert setup.env.authority.revoke(officer, reason="fraud", did=setup.root.did) >= 1
    log_in(setup, SITE_PROOF, ("age_over_18",), setup.site_proof, setup.site)  # cached list
    setup.env.clock.advance(setup.env.authority.config.status_list_ttl)
    with pytest.raises(LoginError) as caught:
        log_in(setup, SITE_PROOF, ("age_over_18",), setup.site_proof, setup.site)
    assert caught.value.code == "revoked"


def test_deactivated_site_did(setup: Setup) -> None:
    setup.env.resolver.deactivated.add(setup.site.did)
    with pytest.raises(LoginError) as caught:
        log_in(setup, SITE_PROOF, ("age_over_18",), setup.site_proof, setup.site)
    assert caught.value.code == "holder-deactivated"
