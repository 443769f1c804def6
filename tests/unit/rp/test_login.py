"""RelyingParty end to end in-process: request, wallet answer, verification, outcome."""

from __future__ import annotations

from realdid.credentials import AuthorizationRequest, verify
from realdid.crypto import DEFAULT_POLICY

from .conftest import BASE_URL, REAL_NAME, RpEnv, Wallet


def test_site_proof_login_with_age_over_18(env: RpEnv) -> None:
    holder = env.site_holder()
    credential = env.issue(holder)
    pending = env.request()
    wallet = Wallet(env, pending)

    login = env.rp.verify_response(wallet.answer(credential))

    assert login.subject == holder.did
    assert login.credential_type == "urn:realdid:SiteProof"
    assert dict(login.claims) == {
        "age_over_18": True,
        "verified_person": True,
        "assurance_level": "high",
    }
    assert login.issuer == env.issuer.did
    assert login.verified_at == env.clock.now()
    outcome = env.rp.outcome(pending.transaction)
    assert outcome.state == "done"
    assert outcome.login == login
    assert outcome.error is None


def test_real_name_login_releases_exactly_the_requested_identity(env: RpEnv) -> None:
    holder = env.site_holder()
    credential = env.issue(holder, vct=REAL_NAME)
    pending = env.request(REAL_NAME, ("family_name", "given_name", "id_number"))
    wallet = Wallet(env, pending)

    login = env.rp.verify_response(wallet.answer(credential))

    assert dict(login.claims) == {
        "family_name": "王",
        "given_name": "小明",
        "id_number": "110105199001011234",
        "verified_person": True,
        "assurance_level": "high",
    }


def test_pending_login_urls_and_qr(env: RpEnv) -> None:
    pending = env.request()
    assert pending.request_uri == f"{BASE_URL}/oid4vp/requests/{pending.request_id}"
    assert pending.code_url == f"{BASE_URL}/oid4vp/codes/{pending.code}"
    assert pending.authorization_url.startswith("openid4vp://?client_id=decentralized_identifier")
    assert pending.expires_at == env.clock.now() + 300
    svg = pending.qr_svg()
    assert svg.startswith("<svg")
    assert "<?xml" not in svg
    assert env.rp.outcome(pending.transaction).state == "pending"


def test_request_object_verifies_and_carries_the_registration(env: RpEnv) -> None:
    pending = env.request()
    wallet = Wallet(env, pending)
    request: AuthorizationRequest = wallet.request
    assert request.client_did == env.rp_holder.did
    assert request.response_uri == f"{BASE_URL}/oid4vp/responses"
    assert request.client_name == "Example Forum Ltd"
    assert request.registration() == env.registration
    registration = verify(
        env.registration,
        issuer_keys=lambda iss, kid: env.resolver.key(kid, "assertionMethod"),
        expected_audience="",
        expected_nonce="",
        now=env.clock.now(),
        max_kb_age=0,
        policy=DEFAULT_POLICY,
        require_key_binding=False,
    )
    assert registration.subject == env.rp_holder.did
    assert env.rp.name == "Example Forum Ltd"
    assert env.rp.permitted["urn:realdid:SiteProof"] >= {"age_over_18"}
