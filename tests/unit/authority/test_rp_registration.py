"""Relying-party registration (ADR 0012): the RpRegistration credential, its admin route, the
``sub`` claim on every credential the authority issues, and the wallet's ``redeem_offer``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from realdid.authority import (
    BUSINESS,
    REAL_NAME,
    RP_REGISTRATION,
    SITE_PROOF,
    VCT,
    EnrollmentError,
    Enterprise,
    Role,
    create_authority_app,
)
from realdid.clock import FixedClock
from realdid.credentials import (
    CredentialOffer,
    CredentialRequest,
)
from realdid.wallet import AuthorityClient, AuthorityClientError, StoredCredential, redeem_offer

from .conftest import ISSUER_URL, T0, Env, Holder
from .test_service import refusal, status_of

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SITE, REAL = VCT[SITE_PROOF], VCT[REAL_NAME]
PURPOSE = "登录本店会员账户 / sign in to your member account"
PERMITTED = {
    SITE: ["verified_person", "age_over_18", "age_over_18"],
    REAL: ["given_name", "family_name"],
}
EXPECTED = {REAL: ["family_name", "given_name"], SITE: ["age_over_18", "verified_person"]}


def enterprise_rp(env: Env, index: int = 0) -> tuple[Holder, Enterprise]:
    holder, enterprise = env.resolver.create(), env.enterprises[index]
    env.collect(env.enroll_business(holder, enterprise), holder)
    return holder, enterprise


def register(env: Env, did: str, **kw: Any) -> Any:
    registrar, _ = env.operator(Role.RP_REGISTRAR)
    args: dict[str, Any] = {"purpose": PURPOSE, "permitted": PERMITTED, **kw}
    return env.authority.register_relying_party(registrar, did, args["purpose"], args["permitted"])


# -- the service ---------------------------------------------------------------------------------
def test_registration_issues_a_verifiable_rp_registration_credential(env: Env) -> None:
    rp, enterprise = enterprise_rp(env)
    offer = register(env, rp.did)
    parsed = CredentialOffer.from_dict(offer.offer)
    assert (parsed.issuer, parsed.configuration_ids) == (ISSUER_URL, (RP_REGISTRATION,))
    assert offer.uri.startswith("openid-credential-offer://?credential_offer=")

    sd_jwt = env.collect(offer, rp)
    assert sd_jwt.count("~") == 1  # no disclosures: every claim is always visible
    vc = env.verify(sd_jwt, rp)
    assert vc.vct == "urn:realdid:RpRegistration"
    assert vc.subject == rp.did
    assert vc.issuer == env.issuer.did
    assert vc.claims == {"rp_name": enterprise.name, "purpose": PURPOSE, "permitted": EXPECTED}
    assert vc.disclosed == frozenset()
    assert vc.expires_at == T0 + 365 * 86400 == T0 + env.authority.config.rp_registration_lifetime
    assert status_of(env, sd_jwt, rp) == 0
    assert env.rows("SELECT state, pending FROM credentials WHERE type = ?", RP_REGISTRATION) == [
        ("issued", None)
    ]


def test_registration_is_audited_without_personal_data(env: Env) -> None:
    rp, enterprise = enterprise_rp(env)
    register(env, rp.did)
    registrar, _ = env.operator(Role.RP_REGISTRAR)
    entry = env.authority.audit.entries(limit=1000)[-1]
    assert env.authority.audit.verify() == entry.seq
    assert (entry.actor, entry.action, entry.target) == (registrar.id, "rp.registered", rp.did)
    assert entry.detail == {
        REAL: "family_name,given_name",
        SITE: "age_over_18,verified_person",
    }
    text = str(entry.to_json())
    assert enterprise.name not in text
    assert enterprise.uscc not in text
    assert enterprise.legal_representative not in text


def test_only_an_enrolled_enterprise_can_register(env: Env) -> None:
    root = env.resolver.create()
    env.collect(env.enroll(root, env.residents[0]), root)
    offered_only = env.resolver.create()
    env.enroll_business(offered_only, env.enterprises[1])  # enrolled, Business not yet collected
    revoked, _ = enterprise_rp(env, 2)
    officer, _ = env.operator(Role.REVOCATION_OFFICER)
    env.authority.revoke(officer, did=revoked.did, reason="fraud")
    before = (env.counts(), env.audit_actions())
    for did in (root.did, env.resolver.create().did, revoked.did, "did:realdid:QmNobody"):
        error = refusal("not-an-enterprise", lambda did=did: register(env, did))
        assert isinstance(error, EnrollmentError)
        assert error.http_status == 409
        assert did not in str(error)
    assert (env.counts(), env.audit_actions()) == before
    register(env, offered_only.did)  # the enrollment, not the collected credential, counts


@pytest.mark.parametrize(
    "permitted",
    [
        pytest.param({}, id="empty"),
        pytest.param({SITE: []}, id="no-claims"),
        pytest.param({"urn:realdid:Business": ["company_name"]}, id="business-vct"),
        pytest.param({"urn:realdid:Other": ["age_over_18"]}, id="unknown-vct"),
        pytest.param({"SiteProof": ["age_over_18"]}, id="short-name-is-not-a-vct"),
        pytest.param({SITE: ["age_over_18", "id_number"]}, id="real-name-claim-on-site-proof"),
        pytest.param({REAL: ["shoe_size"]}, id="unknown-claim"),
        pytest.param({REAL: ["sub"]}, id="registered-claim"),
        pytest.param({SITE: "age_over_18"}, id="string-not-list"),
        pytest.param({SITE: [1]}, id="non-string-claim"),
        pytest.param(["age_over_18"], id="not-a-mapping"),
        pytest.param({SITE: ["age_over_18"], 5: ["age_over_18"]}, id="non-string-vct"),
    ],
)
def test_permitted_claims_are_checked(env: Env, permitted: Any) -> None:
    rp, _ = enterprise_rp(env)
    before = (env.counts(), env.audit_actions())
    error = refusal("invalid-permitted-claims", lambda: register(env, rp.did, permitted=permitted))
    assert getattr(error, "http_status", None) == 400
    assert (env.counts(), env.audit_actions()) == before


@pytest.mark.parametrize(
    "purpose",
    ["", "x" * 201, "line one\nline two", "tab\there", "bell\x07", "rtl\u202eoverride", None],
)
def test_purpose_is_checked(env: Env, purpose: Any) -> None:
    rp, _ = enterprise_rp(env)
    before = env.counts()
    refusal("invalid-purpose", lambda: register(env, rp.did, purpose=purpose))
    assert env.counts() == before
    register(env, rp.did, purpose="x" * 200)


def test_registering_again_supersedes_the_previous_registration(env: Env) -> None:
    rp, enterprise = enterprise_rp(env)
    first = env.collect(register(env, rp.did), rp)
    uncollected = register(env, rp.did, permitted={SITE: ["verified_person"]})
    token = env.access_token(uncollected)
    assert status_of(env, first, rp) == 1  # issued: revoked, published in the status list
    third = register(env, rp.did, permitted={REAL: ["family_name"]})
    # The second (offered, never collected) is revoked too: its access token is dead.
    request = CredentialRequest(RP_REGISTRATION, (env.proof(rp),)).to_dict()
    refusal("invalid_token", lambda: env.authority.credential(token, request))
    latest = env.collect(third, rp)
    assert env.verify(latest, rp).claims["permitted"] == {REAL: ["family_name"]}
    assert status_of(env, latest, rp) == 0
    assert env.rows(
        "SELECT state, revocation_reason FROM credentials WHERE type = ? ORDER BY created_at,"
        " state",
        RP_REGISTRATION,
    ) == [("issued", None), ("revoked", "superseded"), ("revoked", "superseded")]
    # The enterprise's own Business credential is untouched.
    assert env.rows("SELECT state FROM credentials WHERE type = ?", BUSINESS) == [("issued",)]
    # Another enterprise's registration is independent.
    other, _ = enterprise_rp(env, 1)
    env.collect(register(env, other.did), other)
    assert status_of(env, latest, rp) == 0
    assert enterprise.name not in str(env.audit_actions())


def test_ending_the_business_enrollment_revokes_the_registration(env: Env) -> None:
    rp, _ = enterprise_rp(env)
    registration = env.collect(register(env, rp.did), rp)
    officer, _ = env.operator(Role.REVOCATION_OFFICER)
    assert env.authority.revoke(officer, did=rp.did, reason="court-order") == 2
    assert status_of(env, registration, rp) == 1


def test_rp_name_comes_from_the_business_register(env: Env) -> None:
    rp, enterprise = enterprise_rp(env)

    class Renamed:
        def lookup(self, uscc: str) -> Enterprise | None:
            assert uscc == enterprise.uscc
            return Enterprise(uscc, "新名称有限公司", "某人", enterprise.registered_on, "110105")

        def count(self) -> int:
            return 1

    env.authority.business_register = Renamed()
    vc = env.verify(env.collect(register(env, rp.did), rp), rp)
    assert vc.claims["rp_name"] == "新名称有限公司"

    class Empty(Renamed):
        def lookup(self, uscc: str) -> Enterprise | None:
            return None

    env.authority.business_register = Empty()
    before = env.counts()
    refusal("enterprise-not-found", lambda: register(env, rp.did))
    assert env.counts() == before


def test_an_enrollment_without_a_profile_must_enroll_again(env: Env) -> None:
    """Enterprises enrolled before the profile was kept re-enroll (same DID) to register."""
    rp, enterprise = enterprise_rp(env)
    with env.authority.db.transaction() as db:
        db.execute("UPDATE enrollments SET profile = NULL")
    refusal("re-enrollment-required", lambda: register(env, rp.did))
    env.collect(env.enroll_business(rp, enterprise), rp)
    env.collect(register(env, rp.did), rp)


def test_every_credential_names_its_holder(env: Env) -> None:
    root, site = env.resolver.create(), env.resolver.create()
    real_name = env.verify(env.collect(env.enroll(root, env.residents[0]), root), root, set())
    site_proof = env.verify(env.collect(env.site_proof(root, site.did), site), site, set())
    company = env.resolver.create()
    business_offer = env.enroll_business(company, env.enterprises[1])
    business = env.verify(env.collect(business_offer, company), company, set())
    registration = env.verify(env.collect(register(env, company.did), company), company)
    assert (real_name.vct, real_name.subject) == (VCT[REAL_NAME], root.did)
    assert (site_proof.vct, site_proof.subject) == (VCT[SITE_PROOF], site.did)
    assert (business.vct, business.subject) == (VCT[BUSINESS], company.did)
    assert (registration.vct, registration.subject) == (VCT[RP_REGISTRATION], company.did)
    for vc in (real_name, site_proof, business, registration):
        assert "sub" not in vc.claims


def test_issuer_metadata_lists_rp_registration(env: Env) -> None:
    supported = env.authority.issuer_metadata()["credential_configurations_supported"]
    assert set(supported) == {REAL_NAME, SITE_PROOF, BUSINESS, RP_REGISTRATION}
    entry = supported[RP_REGISTRATION]
    assert entry["vct"] == "urn:realdid:RpRegistration"
    assert entry["format"] == "dc+sd-jwt"
    assert entry["credential_metadata"]["claims"] == [
        {"path": ["rp_name"]},
        {"path": ["purpose"]},
        {"path": ["permitted"]},
    ]


# -- over HTTP -----------------------------------------------------------------------------------
@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_authority_app(lambda: env.authority)) as test_client:
        yield test_client


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:realdid:problem:{code}", body
    assert body["status"] == status
    return body


def test_registration_over_http(client: TestClient, env: Env) -> None:
    rp, enterprise = enterprise_rp(env)
    _, registrar = env.operator(Role.RP_REGISTRAR)
    body = {"did": rp.did, "purpose": PURPOSE, "permitted": PERMITTED}
    answer = client.post(
        "/admin/rp-registrations", json=body, headers={"Authorization": f"Bearer {registrar}"}
    )
    assert answer.status_code == 201, answer.text
    offer = answer.json()
    assert set(offer) == {"credential_offer", "credential_offer_uri"}
    assert offer["credential_offer_uri"].startswith("openid-credential-offer://")
    parsed = CredentialOffer.parse(offer["credential_offer_uri"])
    assert parsed == CredentialOffer.from_dict(offer["credential_offer"])
    assert parsed.configuration_ids == (RP_REGISTRATION,)
    # Redeemed over the ordinary OpenID4VCI endpoints with a proof by the RP DID's key.
    token = client.post(
        "/oid4vci/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": parsed.pre_authorized_code,
        },
    ).json()["access_token"]
    issued = client.post(
        "/oid4vci/credential",
        json=CredentialRequest(RP_REGISTRATION, (env.proof(rp),)).to_dict(),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert issued.status_code == 200, issued.text
    vc = env.verify(issued.json()["credentials"][0]["credential"], rp)
    assert vc.subject == rp.did
    assert vc.claims["rp_name"] == enterprise.name
    metadata = client.get("/.well-known/openid-credential-issuer").json()
    assert RP_REGISTRATION in metadata["credential_configurations_supported"]


def test_registration_route_refusals(client: TestClient, env: Env) -> None:
    rp, _ = enterprise_rp(env)
    root = env.resolver.create()
    env.enroll(root, env.residents[0])
    _, registrar = env.operator(Role.RP_REGISTRAR)
    _, enroller = env.operator(Role.ENROLLMENT_OFFICER)
    _, auditor = env.operator(Role.AUDITOR)
    body = {"did": rp.did, "purpose": PURPOSE, "permitted": PERMITTED}
    path = "/admin/rp-registrations"
    before = env.counts()

    unauthenticated = client.post(path, json=body)
    problem(unauthenticated, 401, "unauthenticated")
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
    for token in (enroller, auditor):
        problem(
            client.post(path, json=body, headers={"Authorization": f"Bearer {token}"}),
            403,
            "forbidden",
        )

    auth = {"Authorization": f"Bearer {registrar}"}
    for bad in (
        [],
        {"did": rp.did, "purpose": PURPOSE},
        {**body, "extra": 1},
        {**body, "did": 5},
        {**body, "purpose": None},
        {**body, "permitted": [SITE]},
        {**body, "permitted": {SITE: "age_over_18"}},
        {**body, "permitted": {SITE: [1]}},
    ):
        problem(client.post(path, json=bad, headers=auth), 400, "invalid-request")
    problem(
        client.post(path, content=b"{", headers={**auth, "content-type": "application/json"}),
        400,
        "malformed-json",
    )
    problem(
        client.post(path, json={**body, "permitted": {SITE: ["id_number"]}}, headers=auth),
        400,
        "invalid-permitted-claims",
    )
    problem(
        client.post(path, json={**body, "permitted": {}}, headers=auth),
        400,
        "invalid-permitted-claims",
    )
    problem(
        client.post(path, json={**body, "purpose": "a\u0000b"}, headers=auth),
        400,
        "invalid-purpose",
    )
    problem(
        client.post(path, json={**body, "did": root.did}, headers=auth), 409, "not-an-enterprise"
    )
    assert env.counts() == before


# -- the wallet ----------------------------------------------------------------------------------
class StubWallet:
    """The part of :class:`realdid.wallet.Wallet` that ``redeem_offer`` uses, over one holder."""

    def __init__(self, holder: Holder) -> None:
        self.holder = holder
        self.credentials: list[dict[str, Any]] = []

    def record(self, did: str) -> object:
        assert did == self.holder.did
        return object()

    def signing_key(self, did: str) -> Any:
        return self.holder.signer

    def key_id(self, did: str) -> str:
        return self.holder.key_id

    def add_credential(self, credential: StoredCredential) -> None:
        self.credentials.append(credential.to_dict())


@pytest.fixture
def authority_client(client: TestClient) -> Iterator[Any]:
    authority = AuthorityClient(ISSUER_URL, transport=client._transport, clock=FixedClock(T0))
    yield authority
    authority.close()


def test_wallet_redeems_and_stores_an_offer(env: Env, authority_client: Any) -> None:
    rp, _ = enterprise_rp(env)
    offer = register(env, rp.did).offer
    wallet = StubWallet(rp)
    entry = redeem_offer(wallet, authority_client, offer, rp.did, RP_REGISTRATION).to_dict()  # type: ignore[arg-type]
    assert wallet.credentials == [entry]
    assert {k: v for k, v in entry.items() if k != "credential"} == {
        "type": RP_REGISTRATION,
        "did": rp.did,
        "issuer": ISSUER_URL,
        "received_at": T0,
    }
    assert env.verify(entry["credential"], rp).subject == rp.did


def test_wallet_refuses_unusable_offers(env: Env, authority_client: Any) -> None:
    rp, _ = enterprise_rp(env)
    offer = register(env, rp.did).offer
    wallet = StubWallet(rp)
    cases = [
        ("invalid-offer", {"credential_issuer": ISSUER_URL}, RP_REGISTRATION),
        (
            "offer-from-another-issuer",
            {**offer, "credential_issuer": "https://evil.test"},
            RP_REGISTRATION,
        ),
        ("unexpected-credential-type", offer, BUSINESS),
    ]
    for code, bad, credential_type in cases:
        with pytest.raises(AuthorityClientError) as info:
            redeem_offer(wallet, authority_client, bad, rp.did, credential_type)  # type: ignore[arg-type]
        assert info.value.code == code
    assert wallet.credentials == []
    redeem_offer(wallet, authority_client, offer, rp.did, RP_REGISTRATION)  # type: ignore[arg-type]
    assert len(wallet.credentials) == 1
