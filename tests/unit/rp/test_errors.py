"""Every refusal of RelyingParty, each with its own stable code, and what it records."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest

from realdid.clock import FixedClock
from realdid.credentials import CredentialQuery, DcqlQuery, response_form
from realdid.crypto import AlgorithmPolicy, KeyType, LocalSigner
from realdid.rp import LOGIN_ERRORS, LoginError, ResolverUnavailableError

from .conftest import (
    REAL_NAME,
    SITE_PROOF,
    Credential,
    DictResolver,
    RpEnv,
    StatusServer,
    Wallet,
    build_rp,
)


def refused(env: RpEnv, form: dict[str, str], code: str) -> LoginError:
    with pytest.raises(LoginError) as caught:
        env.rp.verify_response(form)
    assert caught.value.code == code, caught.value.diagnostics()
    assert caught.value.http_status == LOGIN_ERRORS[code][0]
    return caught.value


def failed_with(env: RpEnv, wallet: Wallet, code: str) -> None:
    outcome = env.rp.outcome(wallet.pending.transaction)
    assert (outcome.state, outcome.error, outcome.login) == ("failed", code, None)


def login(env: RpEnv) -> tuple[Wallet, Credential]:
    return Wallet(env, env.request()), env.issue(env.site_holder())


# -- creating requests ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vct", "claims"),
    [
        ("urn:realdid:Business", ("company_name",)),  # a type the registration does not name
        (SITE_PROOF, ("age_over_18", "family_name")),  # a claim beyond the permitted ones
        (REAL_NAME, ("birth_date",)),
    ],
)
def test_request_beyond_the_registration_is_not_entitled(
    env: RpEnv, vct: str, claims: tuple[str, ...]
) -> None:
    with pytest.raises(LoginError) as caught:
        env.request(vct, claims)
    assert (caught.value.code, caught.value.http_status) == ("not-entitled", 400)
    assert env.store.count() == 0


def test_request_with_two_credential_queries_is_refused(env: RpEnv) -> None:
    query = DcqlQuery(
        (
            CredentialQuery("a", (SITE_PROOF,), ("age_over_18",)),
            CredentialQuery("b", (SITE_PROOF,), ("province",)),
        )
    )
    with pytest.raises(LoginError, match="exactly one") as caught:
        env.rp.create_request(query)
    assert caught.value.code == "invalid-query"


def test_malformed_query_is_refused(env: RpEnv) -> None:
    with pytest.raises(LoginError) as caught:
        env.rp.create_request(DcqlQuery((CredentialQuery("bad id!", (SITE_PROOF,), ()),)))
    assert caught.value.code == "invalid-query"


def test_registration_must_be_the_rps_own(env: RpEnv) -> None:
    from dataclasses import replace

    from realdid.rp import RelyingParty

    other = env.resolver.create(KeyType.P256)
    business = env.issue(env.rp_holder, vct="urn:realdid:Business", claims={"x": 1}, sd=set())

    def registration(claims: dict[str, object]) -> str:
        vct = "urn:realdid:RpRegistration"
        return env.issue(env.rp_holder, vct=vct, claims=claims, sd=set()).sd_jwt

    cases = [
        (
            replace(env.rp.config, registration=registration({"rp_name": "X", "purpose": "Y"})),
            "must carry",
        ),
        (
            replace(
                env.rp.config,
                registration=registration(
                    {"rp_name": "X", "purpose": "Y", "permitted": {SITE_PROOF: "age_over_18"}}
                ),
            ),
            "lists of claim names",
        ),
        (replace(env.rp.config, client_did=other.did, key_id=other.key_id), "another DID"),
        (replace(env.rp.config, registration="garbage~"), "SD-JWT"),
        (replace(env.rp.config, registration="a.b.c~"), "SD-JWT"),
        (replace(env.rp.config, registration=business.sd_jwt), "RpRegistration"),
    ]
    for config, message in cases:
        with pytest.raises(ValueError, match=message):
            RelyingParty(
                config,
                signer=env.rp_holder.signer,
                store=env.store,
                resolver=env.resolver,
                status_lists=env.status_cache,
                clock=env.clock,
            )


# -- the request object and codes -------------------------------------------------------------
def test_request_object_of_unknown_and_expired_requests(env: RpEnv) -> None:
    with pytest.raises(LoginError) as caught:
        env.rp.request_object("no-such-request")
    assert (caught.value.code, caught.value.http_status) == ("unknown-request", 404)
    with pytest.raises(LoginError) as caught:
        env.rp.request_object("x" * 10_000)
    assert caught.value.code == "unknown-request"
    pending = env.request()
    env.clock.advance(300)
    with pytest.raises(LoginError) as caught:
        env.rp.request_object(pending.request_id)
    assert (caught.value.code, caught.value.http_status) == ("expired-request", 410)
    assert env.rp.outcome(pending.transaction).state == "expired"


def test_request_object_of_an_answered_request(env: RpEnv) -> None:
    wallet, credential = login(env)
    env.rp.verify_response(wallet.answer(credential))
    with pytest.raises(LoginError) as caught:
        env.rp.request_object(wallet.pending.request_id)
    assert (caught.value.code, caught.value.http_status) == ("request-answered", 410)


# -- the response ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "form",
    [
        {},
        {"vp_token": "{}"},
        {"state": "s", "vp_token": "not json"},
        {"state": "s", "vp_token": '{"login": "not an array"}'},
        {"state": "s", "error": "Not An OAuth Code"},
        {"state": "x" * 1000, "vp_token": "{}"},
    ],
)
def test_malformed_responses_are_invalid(env: RpEnv, form: dict[str, str]) -> None:
    pending = env.request()
    refused(env, form, "invalid-response")
    assert env.rp.outcome(pending.transaction).state == "pending"


def test_wrong_state_names_no_request(env: RpEnv) -> None:
    wallet, credential = login(env)
    form = wallet.answer(credential)
    form["state"] = "not-the-state"
    refused(env, form, "unknown-request")
    assert env.rp.outcome(wallet.pending.transaction).state == "pending"
    env.rp.verify_response(wallet.answer(credential))


def test_vp_token_must_answer_the_query_ids(env: RpEnv) -> None:
    wallet, credential = login(env)
    form = wallet.form(wallet.presentation(credential), query_id="other")
    refused(env, form, "invalid-response")
    failed_with(env, wallet, "invalid-response")


def test_expired_request(env: RpEnv) -> None:
    wallet, credential = login(env)
    form = wallet.answer(credential)
    env.clock.advance(300)
    refused(env, form, "expired-request")
    failed_with(env, wallet, "expired-request")


def test_replayed_response_keeps_the_first_outcome(env: RpEnv) -> None:
    wallet, credential = login(env)
    form = wallet.answer(credential)
    first = env.rp.verify_response(form)
    refused(env, form, "replayed-response")
    outcome = env.rp.outcome(wallet.pending.transaction)
    assert outcome.state == "done"
    assert outcome.login == first


def test_presentation_with_a_used_nonce_on_a_new_request(env: RpEnv) -> None:
    """A presentation captured from one login cannot be replayed into another one."""
    wallet, credential = login(env)
    captured = wallet.presentation(credential)
    env.rp.verify_response(wallet.form(captured))
    second = Wallet(env, env.request())
    refused(env, second.form(captured), "wrong-nonce")
    failed_with(env, second, "wrong-nonce")


def test_wrong_nonce(env: RpEnv) -> None:
    wallet, credential = login(env)
    refused(env, wallet.answer(credential, nonce="another-nonce"), "wrong-nonce")


def test_wrong_audience(env: RpEnv) -> None:
    wallet, credential = login(env)
    # The bare DID, without the client identifier prefix, is another audience.
    form = wallet.answer(credential, audience=env.rp_holder.did)
    refused(env, form, "wrong-audience")
    failed_with(env, wallet, "wrong-audience")


def test_stale_presentation(env: RpEnv) -> None:
    wallet, credential = login(env)
    env.clock.advance(200)
    form = wallet.answer(credential, issued_at=env.clock.now() - 301)
    refused(env, form, "stale-presentation")


def test_access_denied(env: RpEnv) -> None:
    wallet, _ = login(env)
    error = refused(env, wallet.refuse(), "access-denied")
    assert "said no" not in str(error)
    failed_with(env, wallet, "access_denied")


def test_other_wallet_errors(env: RpEnv) -> None:
    wallet, _ = login(env)
    form = wallet.refuse() | {"error": "invalid_request"}
    refused(env, form, "wallet-error")
    failed_with(env, wallet, "invalid_request")


def test_untrusted_issuer(env: RpEnv) -> None:
    rogue = env.resolver.create(KeyType.P256, ("assertionMethod",))
    wallet, _ = login(env)
    credential = env.issue(env.site_holder(), issuer=rogue)
    refused(env, wallet.answer(credential), "untrusted-issuer")
    failed_with(env, wallet, "untrusted-issuer")


def test_trusted_issuer_name_with_a_key_from_another_document(env: RpEnv) -> None:
    rogue = env.resolver.create(KeyType.P256, ("assertionMethod",))
    impostor = type(rogue)(env.issuer.did, rogue.signer)  # claims the issuer's DID
    wallet, _ = login(env)
    credential = env.issue(env.site_holder(), issuer=impostor)
    refused(env, wallet.answer(credential), "tampered-presentation")


def test_expired_credential(env: RpEnv) -> None:
    credential = env.issue(env.site_holder(), expires_in=60)
    env.clock.advance(60)
    wallet = Wallet(env, env.request())
    refused(env, wallet.answer(credential), "expired-credential")


def test_credential_not_yet_valid(env: RpEnv) -> None:
    credential = env.issue(env.site_holder(), issued_at=env.clock.now() + 3600)
    wallet = Wallet(env, env.request())
    refused(env, wallet.answer(credential), "credential-not-yet-valid")


def test_algorithm_outside_the_policy(clock: FixedClock) -> None:
    resolver = DictResolver()
    issuer = resolver.create(KeyType.P256, ("assertionMethod",))
    env = build_rp(
        clock,
        resolver,
        issuer,
        StatusServer(issuer, clock),
        policy=AlgorithmPolicy(frozenset({"ES256"})),
    )
    wallet = Wallet(env, env.request())
    credential = env.issue(env.site_holder())  # Ed25519 holder: an EdDSA KB-JWT
    refused(env, wallet.answer(credential), "algorithm-not-allowed")
    env.rp.close()


def _b64(value: object) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_tampered_disclosure(env: RpEnv) -> None:
    wallet, credential = login(env)
    presentation = wallet.presentation(credential, disclose=set())
    jwt, _, kb = presentation.partition("~")
    forged = _b64(["c2FsdHNhbHRzYWx0c2FsdA", "age_over_18", True])
    refused(env, wallet.form(f"{jwt}~{forged}~{kb}"), "tampered-presentation")
    failed_with(env, wallet, "tampered-presentation")


def test_tampered_value_in_a_disclosure(env: RpEnv) -> None:
    holder = env.site_holder()
    credential = env.issue(holder, claims={"verified_person": True, "age_over_18": False})
    wallet = Wallet(env, env.request())
    presentation = wallet.presentation(credential)
    jwt, disclosure, rest = presentation.split("~", 2)
    salt, name, _ = json.loads(base64.urlsafe_b64decode(disclosure + "=="))
    tampered = f"{jwt}~{_b64([salt, name, True])}~{rest}"
    refused(env, wallet.form(tampered), "tampered-presentation")


def test_tampered_issuer_signature(env: RpEnv) -> None:
    wallet, credential = login(env)
    presentation = wallet.presentation(credential)
    _header, _payload, signature = presentation.split("~", 1)[0].split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    tampered = presentation.replace(signature, flipped, 1)
    refused(env, wallet.form(tampered), "tampered-presentation")


def test_tampered_payload(env: RpEnv) -> None:
    wallet, credential = login(env)
    presentation = wallet.presentation(credential)
    _header, payload, _ = presentation.split("~", 1)[0].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["assurance_level"] = "highest"
    tampered = presentation.replace(payload, _b64(claims), 1)
    refused(env, wallet.form(tampered), "tampered-presentation")


def test_key_binding_by_another_key(env: RpEnv) -> None:
    wallet, credential = login(env)
    jwt_part = wallet.presentation(credential).rsplit("~", 1)[0] + "~"
    other = LocalSigner.generate()
    from realdid.credentials import present

    # present() refuses a signer that does not hold cnf; forge the KB-JWT with another key.
    with pytest.raises(Exception, match="cnf"):
        present(
            jwt_part,
            disclose=set(),
            holder_signer=other,
            audience="a",
            nonce="n",
            issued_at=0,
        )
    refused(env, wallet.form(jwt_part), "tampered-presentation")  # no KB-JWT at all


def test_wrong_credential_type(env: RpEnv) -> None:
    wallet = Wallet(env, env.request(SITE_PROOF, ("age_over_18",)))
    credential = env.issue(env.site_holder(), vct=REAL_NAME)
    refused(env, wallet.answer(credential), "wrong-credential-type")


def test_missing_claims(env: RpEnv) -> None:
    wallet, credential = login(env)
    refused(env, wallet.answer(credential, disclose=set()), "missing-claims")
    failed_with(env, wallet, "missing-claims")


def test_extra_disclosures_are_dropped_not_kept(env: RpEnv) -> None:
    wallet, credential = login(env)
    form = wallet.answer(credential, disclose={"age_over_18", "province", "age_over_60"})
    result = env.rp.verify_response(form)
    assert set(result.claims) == {"age_over_18", "verified_person", "assurance_level"}
    stored = env.rp.outcome(wallet.pending.transaction).login
    assert stored is not None
    assert "province" not in stored.claims


def test_credential_without_status_reference(env: RpEnv) -> None:
    wallet = Wallet(env, env.request())
    credential = env.issue(env.site_holder(), status=False)
    refused(env, wallet.answer(credential), "invalid-status-reference")


def test_status_index_outside_the_list(env: RpEnv) -> None:
    wallet = Wallet(env, env.request())
    credential = env.issue(env.site_holder(), status_index=50_000)
    refused(env, wallet.answer(credential), "invalid-status-reference")


def test_revoked_is_seen_once_the_cached_list_expires(env: RpEnv) -> None:
    holder = env.site_holder()
    credential = env.issue(holder)
    env.rp.verify_response(Wallet(env, env.request()).answer(credential))
    assert len(env.status.fetches) == 1

    env.status.revoke(credential.status_index)
    env.clock.advance(env.status.ttl - 1)  # the cached list is still fresh: still accepted
    env.rp.verify_response(Wallet(env, env.request()).answer(credential))
    assert len(env.status.fetches) == 1

    env.clock.advance(1)  # ttl reached: fetched again, revocation seen
    wallet = Wallet(env, env.request())
    refused(env, wallet.answer(credential), "revoked")
    failed_with(env, wallet, "revoked")
    assert len(env.status.fetches) == 2


def test_status_unavailable_without_a_fresh_copy(env: RpEnv) -> None:
    credential = env.issue(env.site_holder())
    env.status.down = True
    wallet = Wallet(env, env.request())
    error = refused(env, wallet.answer(credential), "status-unavailable")
    assert error.http_status == 503
    failed_with(env, wallet, "status-unavailable")


def test_missing_subject(env: RpEnv) -> None:
    wallet = Wallet(env, env.request())
    credential = env.issue(env.site_holder(), subject=None)
    refused(env, wallet.answer(credential), "missing-subject")


def test_subject_that_is_not_a_did(env: RpEnv) -> None:
    wallet = Wallet(env, env.request())
    credential = env.issue(env.site_holder(), subject="alice")
    refused(env, wallet.answer(credential), "missing-subject")


def test_unknown_holder(env: RpEnv) -> None:
    holder = env.site_holder()
    del env.resolver.documents[holder.did]
    wallet = Wallet(env, env.request())
    refused(env, wallet.answer(env.issue(holder)), "unknown-holder")


def test_deactivated_holder(env: RpEnv) -> None:
    holder = env.site_holder()
    credential = env.issue(holder)
    env.resolver.deactivated.add(holder.did)
    wallet = Wallet(env, env.request())
    refused(env, wallet.answer(credential), "holder-deactivated")
    failed_with(env, wallet, "holder-deactivated")


def test_holder_key_mismatch(env: RpEnv) -> None:
    """A credential bound to one key but naming a DID whose document lists another."""
    holder, other = env.site_holder(), env.site_holder()
    credential = env.issue(holder, subject=other.did)
    wallet = Wallet(env, env.request())
    refused(env, wallet.answer(credential), "holder-key-mismatch")


def test_holder_key_listed_only_for_assertion_is_a_mismatch(env: RpEnv) -> None:
    holder = env.resolver.create(KeyType.ED25519, ("assertionMethod",))
    wallet = Wallet(env, env.request())
    refused(env, wallet.answer(env.issue(holder)), "holder-key-mismatch")


def test_registry_unavailable(env: RpEnv) -> None:
    credential = env.issue(env.site_holder())
    wallet = Wallet(env, env.request())
    env.resolver.fail = ResolverUnavailableError("down")
    error = refused(env, wallet.answer(credential), "registry-unavailable")
    assert error.http_status == 503


def test_unexpected_errors_are_recorded_and_propagate(env: RpEnv) -> None:
    credential = env.issue(env.site_holder())
    wallet = Wallet(env, env.request())
    env.resolver.fail = RuntimeError("bug")
    with pytest.raises(RuntimeError):
        env.rp.verify_response(wallet.answer(credential))
    failed_with(env, wallet, "internal")


def test_messages_carry_no_personal_data(env: RpEnv) -> None:
    wallet = Wallet(env, env.request(SITE_PROOF, ("age_over_18", "province")))
    credential = env.issue(env.site_holder(), vct=REAL_NAME)
    error = refused(
        env, wallet.answer(credential, disclose={"family_name"}), "wrong-credential-type"
    )
    assert "王" not in error.diagnostics()


# -- concurrency -------------------------------------------------------------------------------
@pytest.mark.parametrize("on_disk", [False, True])
def test_concurrent_posts_of_one_response_succeed_once(
    clock: FixedClock, tmp_path: Path, on_disk: bool
) -> None:
    resolver = DictResolver()
    issuer = resolver.create(KeyType.P256, ("assertionMethod",))
    path = str(tmp_path / "logins.db") if on_disk else ":memory:"
    env = build_rp(clock, resolver, issuer, StatusServer(issuer, clock), store_path=path)
    wallet = Wallet(env, env.request())
    form = wallet.answer(env.issue(env.site_holder()))
    results: list[str] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        try:
            env.rp.verify_response(form)
            results.append("ok")
        except LoginError as e:
            results.append(e.code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["replayed-response"] * 7
    assert env.rp.outcome(wallet.pending.transaction).state == "done"
    env.rp.close()


def test_response_form_helper_shape() -> None:
    assert response_form({"q": ["vp"]}, "s") == {"vp_token": '{"q":["vp"]}', "state": "s"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"request_ttl": 0}, "request_ttl"),
        ({"request_ttl": 3601}, "request_ttl"),
        ({"base_url": "http://127.0.0.1:8090/"}, "trailing"),
        ({"prefix": "oid4vp"}, "trailing"),
        ({"key_id": "did:realdid:someone-else#key-1"}, "key_id"),
    ],
)
def test_config_is_checked_at_start(env: RpEnv, change: dict[str, object], message: str) -> None:
    from dataclasses import replace

    from realdid.rp import RelyingParty

    with pytest.raises(ValueError, match=message):
        RelyingParty(
            replace(env.rp.config, **change),  # type: ignore[arg-type]
            signer=env.rp_holder.signer,
            store=env.store,
            resolver=env.resolver,
            status_lists=env.status_cache,
            clock=env.clock,
        )
