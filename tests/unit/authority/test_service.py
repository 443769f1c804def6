"""The identity authority service (``realdid.authority.Authority``), driven in process.

Every refusal is checked for its precise ``code`` and for changing nothing (no enrollment,
credential, escrow record or grant appears); every success is checked end to end by
verifying the issued SD-JWT VC as a relying party would, and against the IETF reference
implementation (``sd_jwt``).
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import ric

from realdid.authority import (
    BUSINESS,
    REAL_NAME,
    SITE_PROOF,
    VCT,
    AuthorityError,
    EnrollmentError,
    EscrowOpenError,
    Resident,
    Role,
    encode_face,
    open_record,
)
from realdid.clock import FixedClock
from realdid.credentials import (
    BUSINESS_TYP,
    SITE_PROOF_TYP,
    CredentialError,
    CredentialOffer,
    CredentialRequest,
    Oid4vciError,
    TokenRequest,
    parse_status_reference,
    verify_status_list,
)
from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner

from .conftest import (
    CLIENT,
    ISSUER_URL,
    T0,
    TODAY,
    Env,
    FakeResolver,
    Holder,
    build_env,
    id_number_for,
)

IDENTITY_MISMATCH = "identity-mismatch"


# -- helpers -------------------------------------------------------------------------------------
def refusal(code: str, call: Callable[[], object]) -> Exception:
    """Run ``call``; it must raise an authority or credential error with ``code``."""
    with pytest.raises((AuthorityError, CredentialError)) as info:
        call()
    error = info.value
    actual = error.error if isinstance(error, Oid4vciError) else getattr(error, "code", None)
    assert actual == code, (code, type(error).__name__, str(error))
    return error


def oid4vci_refusal(error: str, call: Callable[[], object]) -> Oid4vciError:
    with pytest.raises(Oid4vciError) as info:
        call()
    assert info.value.error == error, info.value.description
    return info.value


def status_of(env: Env, sd_jwt: str, holder: Holder) -> int:
    """The credential's current bit in its published, signed status list."""
    vc = env.verify(sd_jwt, holder, disclose=set())
    uri, index = parse_status_reference(vc.status)
    list_id = int(uri.rsplit("/", 1)[1])
    assert uri == env.authority.status_list_uri(list_id)
    jwt = env.authority.status_list_jwt(list_id)
    assert jwt is not None
    verified = verify_status_list(
        jwt,
        expected_uri=uri,
        issuer_keys=env.resolver.issuer_keys,
        now=env.clock.now(),
        policy=DEFAULT_POLICY,
    )
    assert verified.issuer == env.issuer.did
    return verified.status_list.get(index)


def disclosed_values(sd_jwt: str) -> list[Any]:
    values: list[Any] = []
    for part in sd_jwt.split("~")[1:]:
        if part:
            values.extend(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
    return values


def issuer_payload(sd_jwt: str) -> dict[str, Any]:
    body = sd_jwt.split("~", 1)[0].split(".")[1]
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return payload


def full_name(resident: Resident) -> str:
    return resident.family_name + resident.given_name


# -- the happy path --------------------------------------------------------------------------------
def test_enrollment_issues_a_verifiable_real_name_credential(env: Env) -> None:
    holder = env.resolver.create(KeyType.P256)
    resident = env.residents[0]
    offer = env.enroll(holder, resident)

    parsed = CredentialOffer.from_dict(offer.offer)
    assert parsed.issuer == ISSUER_URL
    assert parsed.configuration_ids == (REAL_NAME,)
    assert offer.uri.startswith("openid-credential-offer://")
    assert env.rows("SELECT state FROM credentials") == [("offered",)]

    sd_jwt = env.collect(offer, holder)
    vc = env.verify(sd_jwt, holder)
    age = (
        TODAY.year
        - resident.birth_date.year
        - ((TODAY.month, TODAY.day) < (resident.birth_date.month, resident.birth_date.day))
    )
    assert vc.claims == {
        "family_name": resident.family_name,
        "given_name": resident.given_name,
        "id_number": resident.id_number,
        "birth_date": resident.birth_date.isoformat(),
        "sex": resident.sex,
        "region": resident.region_code,
        "age_over_18": age >= 18,
        "age_over_60": age >= 60,
        "verified_person": True,
        "assurance_level": "high",
    }
    assert vc.issuer == env.issuer.did
    assert vc.key_id == env.issuer.key_id
    assert vc.vct == VCT[REAL_NAME]
    assert vc.holder_jwk == holder.signer.public_key.to_jwk()
    assert vc.issued_at == T0
    assert vc.expires_at == T0 + env.authority.config.real_name_lifetime
    assert status_of(env, sd_jwt, holder) == 0
    # Everything personal is selectively disclosable; the flags are always visible.
    minimal = env.verify(sd_jwt, holder, disclose={"age_over_18"})
    assert minimal.claims == {
        "age_over_18": age >= 18,
        "verified_person": True,
        "assurance_level": "high",
    }
    payload = issuer_payload(sd_jwt)
    assert resident.id_number not in json.dumps(payload)
    # The database keeps no claims once the credential is issued.
    assert env.rows("SELECT state, pending IS NULL, issued_at FROM credentials") == [
        ("issued", 1, T0)
    ]


def test_real_name_credential_verifies_with_the_reference_library(env: Env) -> None:
    from jwcrypto.jwk import JWK
    from sd_jwt.verifier import SDJWTVerifier

    from realdid.credentials import present

    holder = env.resolver.create(KeyType.P256)
    resident = env.residents[1]
    sd_jwt = env.collect(env.enroll(holder, resident), holder)
    vp = present(
        sd_jwt,
        disclose={"family_name", "age_over_18"},
        holder_signer=holder.signer,
        audience="did:realdid:shop",
        nonce="n-42",
        issued_at=env.clock.now(),
    )

    def issuer_key(iss: str, header: dict[str, Any]) -> JWK:
        assert iss == env.issuer.did
        public = env.resolver.issuer_keys(iss, header["kid"])
        return JWK.from_json(json.dumps(public.to_jwk()))

    verifier = SDJWTVerifier(vp, issuer_key, expected_aud="did:realdid:shop", expected_nonce="n-42")
    payload = verifier.get_verified_payload()
    assert payload["family_name"] == resident.family_name
    assert payload["verified_person"] is True
    assert "given_name" not in payload
    assert "id_number" not in payload
    assert payload["vct"] == VCT[REAL_NAME]
    assert payload["cnf"]["jwk"] == holder.signer.public_key.to_jwk()


@pytest.mark.parametrize(
    ("index", "over_18", "over_60"),
    [(6, True, False), (7, False, False), (8, True, True), (9, True, False)],
    ids=["18-today", "18-tomorrow", "60-today", "60-tomorrow"],
)
def test_age_flags_are_derived_on_the_clock_date(
    env: Env, index: int, over_18: bool, over_60: bool
) -> None:
    holder = env.resolver.create()
    resident = env.residents[index]
    vc = env.verify(env.collect(env.enroll(holder, resident), holder), holder)
    assert (vc.claims["age_over_18"], vc.claims["age_over_60"]) == (over_18, over_60)
    assert vc.claims["birth_date"] == resident.birth_date.isoformat()


def test_name_compares_after_normalisation(env: Env) -> None:
    holder = env.resolver.create()
    resident = env.residents[2]
    spaced = f" {resident.family_name} {resident.given_name} "
    jws = env.application(holder, env.enrollment_claims(resident, name=spaced))
    env.authority.enroll(jws, client=CLIENT)
    assert env.counts()["enrollments"] == 1


def test_status_indices_do_not_follow_issuance_order(env: Env) -> None:
    indices = []
    for resident in env.residents[:6]:
        holder = env.resolver.create()
        vc = env.verify(env.collect(env.enroll(holder, resident), holder), holder, set())
        indices.append(parse_status_reference(vc.status)[1])
    assert len(set(indices)) == 6
    assert indices != sorted(indices) or indices[-1] - indices[0] != 5


# -- enrollment refusals ---------------------------------------------------------------------------
def _swap_typ(env: Env, holder: Holder, resident: Resident) -> str:
    return env.application(holder, env.enrollment_claims(resident), typ=SITE_PROOF_TYP)


def _wrong_audience(env: Env, holder: Holder, resident: Resident) -> str:
    return env.application(holder, env.enrollment_claims(resident), audience="https://other.test")


def _stale(env: Env, holder: Holder, resident: Resident) -> str:
    return env.application(holder, env.enrollment_claims(resident), issued_at=env.clock.now() - 301)


def _future(env: Env, holder: Holder, resident: Resident) -> str:
    return env.application(holder, env.enrollment_claims(resident), issued_at=env.clock.now() + 61)


def _foreign_key(env: Env, holder: Holder, resident: Resident) -> str:
    return env.application(holder, env.enrollment_claims(resident), signer=LocalSigner.generate())


def _unlisted_key(env: Env, holder: Holder, resident: Resident) -> str:
    return env.application(holder, env.enrollment_claims(resident), key_id=f"{holder.did}#key-2")


def _unknown_did(env: Env, holder: Holder, resident: Resident) -> str:
    stranger = env.resolver.create()
    del env.resolver.documents[stranger.did]
    return env.application(stranger, env.enrollment_claims(resident))


def _deactivated_did(env: Env, holder: Holder, resident: Resident) -> str:
    env.resolver.deactivated.add(holder.did)
    return env.application(holder, env.enrollment_claims(resident))


def _unknown_nonce(env: Env, holder: Holder, resident: Resident) -> str:
    return env.application(holder, env.enrollment_claims(resident), nonce="never-issued")


def _expired_nonce(env: Env, holder: Holder, resident: Resident) -> str:
    nonce, expires_at = env.authority.challenge()
    env.clock.advance(expires_at - env.clock.now() + 1)
    return env.application(holder, env.enrollment_claims(resident), nonce=nonce)


def _claims(**override: Any) -> Callable[[Env, Holder, Resident], str]:
    def build(env: Env, holder: Holder, resident: Resident) -> str:
        claims = env.enrollment_claims(resident)
        for name, value in override.items():
            if value is None:
                del claims[name]
            else:
                claims[name] = value(resident) if callable(value) else value
        return env.application(holder, claims)

    return build


def _with_check(body: str) -> str:
    return body + str(ric.calc_check_digit(body + "0"))


def _bad_check_character(resident: Resident) -> str:
    last = resident.id_number[-1]
    return resident.id_number[:-1] + ("0" if last != "0" else "1")


APPLICATION_REFUSALS: list[tuple[str, Callable[[Env, Holder, Resident], str], str, int]] = [
    ("malformed-jws", lambda env, h, r: "not-a-jws", "invalid-application", 400),
    ("three-garbage-parts", lambda env, h, r: "a.b.c", "invalid-application", 400),
    ("wrong-typ", _swap_typ, "invalid-application", 400),
    ("wrong-aud", _wrong_audience, "invalid-application", 400),
    ("stale-iat", _stale, "stale-application", 400),
    ("future-iat", _future, "stale-application", 400),
    ("foreign-key", _foreign_key, "invalid-application-signature", 400),
    ("unlisted-key", _unlisted_key, "key-not-found", 422),
    ("unknown-did", _unknown_did, "did-not-found", 422),
    ("deactivated-did", _deactivated_did, "did-deactivated", 422),
    ("unknown-nonce", _unknown_nonce, "invalid-nonce", 400),
    ("expired-nonce", _expired_nonce, "invalid-nonce", 400),
    ("id-missing", _claims(id_number=None), "invalid-id-number", 400),
    ("id-not-string", _claims(id_number=110105), "invalid-id-number", 400),
    ("id-format", _claims(id_number="11010519491231"), "id-number-format", 400),
    ("id-letters", _claims(id_number="11010519491231A02X"), "id-number-format", 400),
    ("id-checksum", _claims(id_number=_bad_check_character), "id-number-checksum", 400),
    (
        "id-birth-date",
        _claims(id_number=lambda r: _with_check("11010519901301001")),
        "id-number-birth-date",
        400,
    ),
    (
        "id-birth-future",
        _claims(id_number=lambda r: id_number_for(TODAY + datetime.timedelta(days=1))),
        "id-number-birth-date",
        400,
    ),
    (
        "id-region",
        _claims(id_number=lambda r: id_number_for(datetime.date(1990, 1, 1), region="990000")),
        "id-number-region",
        400,
    ),
    ("name-missing", _claims(name=None), "invalid-name", 400),
    ("name-empty", _claims(name=""), "invalid-name", 400),
    (
        "name-newline",
        _claims(name=lambda r: r.family_name + "\n" + r.given_name),
        "invalid-name",
        400,
    ),
    ("name-nul", _claims(name=lambda r: full_name(r) + "\x00"), "invalid-name", 400),
    ("name-zero-width", _claims(name=lambda r: full_name(r) + "\u200b"), "invalid-name", 400),
    ("name-too-long", _claims(name="王" * 129), "invalid-name", 400),
    ("face-missing", _claims(face=None), "invalid-face", 400),
    ("face-not-base64", _claims(face="not base64!"), "face-capture-invalid", 400),
    ("face-short", _claims(face=encode_face(b"\x01" * 16)), "face-capture-invalid", 400),
    ("face-zero", _claims(face=encode_face(bytes(256))), "face-capture-invalid", 400),
    (
        "face-nan",
        _claims(face=encode_face(b"\x00\x00\xc0\x7f" * 64)),
        "face-capture-invalid",
        400,
    ),
    (
        "unknown-id",
        _claims(id_number=lambda r: id_number_for(datetime.date(1990, 1, 1), sequence=999)),
        IDENTITY_MISMATCH,
        422,
    ),
    ("wrong-name", _claims(name="欧阳不存在"), IDENTITY_MISMATCH, 422),
    ("face-mismatch", _claims(face=lambda r: None), "face-mismatch", 422),
]


@pytest.mark.parametrize(
    ("make", "code", "status"),
    [pytest.param(m, c, s, id=i) for i, m, c, s in APPLICATION_REFUSALS],
)
def test_enrollment_refusals_are_precise_and_change_nothing(
    env: Env, make: Callable[[Env, Holder, Resident], str], code: str, status: int
) -> None:
    holder = env.resolver.create()
    resident = env.residents[0]
    if code == "face-mismatch":  # another resident's capture
        claims = env.enrollment_claims(resident, capture=env.captures[env.residents[1].id_number])
        jws = env.application(holder, claims)
    else:
        jws = make(env, holder, resident)
    before = env.counts()
    error = refusal(code, lambda: env.authority.enroll(jws, client=CLIENT))
    if isinstance(error, EnrollmentError):
        assert error.http_status == status
    assert env.counts() == before
    assert env.rows("SELECT count(*) FROM enrollments") == [(0,)]
    # The refusal is not a dead end: the same DID can still enroll correctly afterwards.
    env.resolver.deactivated.discard(holder.did)
    env.enroll(holder, resident)
    assert env.rows("SELECT did, state FROM enrollments") == [(holder.did, "active")]


def test_a_challenge_is_single_use(env: Env) -> None:
    holder, other = env.resolver.create(), env.resolver.create()
    nonce, _ = env.authority.challenge()
    first = env.application(holder, env.enrollment_claims(env.residents[0]), nonce=nonce)
    env.authority.enroll(first, client=CLIENT)
    before = env.counts()
    replay = env.application(other, env.enrollment_claims(env.residents[1]), nonce=nonce)
    refusal("invalid-nonce", lambda: env.authority.enroll(replay, client=CLIENT))
    # Replaying the very same application is refused as well.
    refusal("invalid-nonce", lambda: env.authority.enroll(first, client=CLIENT))
    assert env.counts() == before


def test_unknown_id_and_wrong_name_are_indistinguishable(env: Env) -> None:
    resident = env.residents[0]
    unknown = id_number_for(datetime.date(1990, 1, 1), sequence=999)
    assert env.authority.register.lookup(unknown) is None
    errors = []
    for claims in (
        env.enrollment_claims(resident, id_number=unknown),
        env.enrollment_claims(resident, name="欧阳不存在"),
    ):
        jws = env.application(env.resolver.create(), claims)
        error = refusal(IDENTITY_MISMATCH, partial(env.authority.enroll, jws, client=CLIENT))
        assert isinstance(error, EnrollmentError)
        errors.append(error)
    assert (errors[0].code, errors[0].http_status, str(errors[0])) == (
        errors[1].code,
        errors[1].http_status,
        str(errors[1]),
    )
    reasons = [
        d["reason"] for _, action, d in env.audit_actions() if action == "enrollment.refused"
    ]
    assert reasons == ["unknown-id-number", "name-mismatch"]


def test_did_enrolled_for_one_resident_cannot_enroll_another(env: Env) -> None:
    holder = env.resolver.create()
    env.collect(env.enroll(holder, env.residents[0]), holder)
    before = env.counts()
    jws = env.application(holder, env.enrollment_claims(env.residents[1]))
    error = refusal("did-already-enrolled", lambda: env.authority.enroll(jws, client=CLIENT))
    assert isinstance(error, EnrollmentError)
    assert error.http_status == 409
    assert env.counts() == before
    # Resident B can still enroll with a DID of their own.
    env.enroll(env.resolver.create(), env.residents[1])


# -- rate limiting ---------------------------------------------------------------------------------
@pytest.fixture
def strict(tmp_path: Path) -> Any:
    built = build_env(
        tmp_path, FixedClock(T0), max_failures_per_subject=3, max_failures_per_client=5
    )
    yield built
    built.close()


def _fail_name(env: Env, resident: Resident, client: str) -> None:
    jws = env.application(env.resolver.create(), env.enrollment_claims(resident, name="错名字"))
    refusal(IDENTITY_MISMATCH, lambda: env.authority.enroll(jws, client=client))


def test_subject_locks_after_max_failures_even_with_correct_data(strict: Env) -> None:
    env, resident = strict, strict.residents[0]
    for n in range(3):
        _fail_name(env, resident, f"10.0.0.{n}")
    holder = env.resolver.create()
    before = env.counts()
    locked = refusal("too-many-attempts", lambda: env.enroll(holder, resident, client="10.0.1.1"))
    assert isinstance(locked, EnrollmentError)
    assert locked.http_status == 429
    assert env.counts() == before
    # Other residents are unaffected.
    env.enroll(env.resolver.create(), env.residents[1], client="10.0.1.1")
    # The window expires.
    env.clock.advance(env.authority.config.failure_window)
    env.enroll(holder, resident, client="10.0.1.2")
    assert env.rows("SELECT did FROM enrollments WHERE did = ?", holder.did) == [(holder.did,)]


def test_an_unknown_id_locks_the_same_way(strict: Env) -> None:
    env, resident = strict, strict.residents[0]
    unknown = id_number_for(datetime.date(1990, 1, 1), sequence=999)
    answers = []
    wrong_name = env.enrollment_claims(resident, name="错名字")
    unknown_id = env.enrollment_claims(resident, id_number=unknown)
    for target, claims in ((resident.id_number, wrong_name), (unknown, unknown_id)):
        for n in range(3):
            jws = env.application(env.resolver.create(), claims)
            client = f"{target[-4:]}.{n}"
            refusal(IDENTITY_MISMATCH, partial(env.authority.enroll, jws, client=client))
        jws = env.application(env.resolver.create(), claims)
        error = refusal("too-many-attempts", partial(env.authority.enroll, jws, client="x"))
        assert isinstance(error, EnrollmentError)
        answers.append((error.code, error.http_status, str(error)))
    assert answers[0] == answers[1]


def test_client_locks_after_max_failures(strict: Env) -> None:
    env = strict
    bad_ids = ["123", "11010519491231002A", _bad_check_character(env.residents[0])]
    for n in range(5):
        claims = env.enrollment_claims(env.residents[n % 3], id_number=bad_ids[n % 3])
        jws = env.application(env.resolver.create(), claims)
        with pytest.raises(AuthorityError):
            env.authority.enroll(jws, client="203.0.113.99")
    holder = env.resolver.create()
    refusal(
        "too-many-attempts", lambda: env.enroll(holder, env.residents[0], client="203.0.113.99")
    )
    # The lock is per client: another address succeeds with the same data.
    env.enroll(holder, env.residents[0], client="203.0.113.100")
    env.clock.advance(env.authority.config.failure_window)
    env.enroll(env.resolver.create(), env.residents[1], client="203.0.113.99")


def test_operator_clears_a_lockout(strict: Env) -> None:
    env, resident = strict, strict.residents[0]
    for n in range(3):
        _fail_name(env, resident, f"10.0.0.{n}")
    holder = env.resolver.create()
    refusal("too-many-attempts", lambda: env.enroll(holder, resident, client="10.0.2.1"))
    officer, _ = env.operator(Role.ENROLLMENT_OFFICER)
    assert env.authority.clear_lockout(officer, resident.id_number) is True
    env.enroll(holder, resident, client="10.0.2.1")
    assert env.authority.clear_lockout(officer, resident.id_number) is False
    cleared = [(a, d) for a, action, d in env.audit_actions() if action == "lockout.cleared"]
    assert cleared == [(officer.id, {"cleared": True}), (officer.id, {"cleared": False})]
    refusal(
        "id-number-checksum",
        lambda: env.authority.clear_lockout(officer, _bad_check_character(resident)),
    )


# -- re-enrollment and retries ------------------------------------------------------------------
def test_reenrollment_with_a_new_did_revokes_the_old_credentials(env: Env) -> None:
    resident = env.residents[0]
    old, new, site = env.resolver.create(), env.resolver.create(), env.resolver.create()
    old_credential = env.collect(env.enroll(old, resident), old)
    site_credential = env.collect(env.site_proof(old, site.did), site)
    assert status_of(env, old_credential, old) == 0  # also primes the status-list cache
    new_credential = env.collect(env.enroll(new, resident), new)

    assert status_of(env, old_credential, old) == 1
    assert status_of(env, site_credential, site) == 1
    assert status_of(env, new_credential, new) == 0
    enrollments = {
        did: (state, reason)
        for did, state, reason in env.rows("SELECT did, state, end_reason FROM enrollments")
    }
    assert enrollments == {old.did: ("superseded", "re-enrollment"), new.did: ("active", None)}
    reasons = env.rows("SELECT state, revocation_reason FROM credentials ORDER BY created_at, type")
    assert sorted(reasons, key=str) == sorted(
        [("revoked", "re-enrollment"), ("revoked", "re-enrollment"), ("issued", None)], key=str
    )
    assert env.rows("SELECT count(*) FROM enrollments WHERE state = 'active'") == [(1,)]
    # The old root DID can no longer vouch for site DIDs.
    refusal("not-enrolled", lambda: env.site_proof(old, env.resolver.create().did))


def test_retry_after_a_lost_answer_offers_the_same_credential(env: Env) -> None:
    holder, resident = env.resolver.create(), env.residents[0]
    first = env.enroll(holder, resident)
    stale_token = env.access_token(first)  # the wallet got this far, then crashed
    second = env.enroll(holder, resident)
    assert second.credential_id == first.credential_id
    assert env.counts()["credentials"] == 1
    assert env.counts()["escrow"] == 1
    assert env.counts()["enrollments"] == 1
    first_code = CredentialOffer.from_dict(first.offer).pre_authorized_code
    oid4vci_refusal(
        "invalid_grant", lambda: env.authority.token(TokenRequest(first_code).to_form())
    )
    request = CredentialRequest(REAL_NAME, (env.proof(holder),)).to_dict()
    oid4vci_refusal("invalid_token", lambda: env.authority.credential(stale_token, request))

    token = env.access_token(second)
    env.collect(second, holder, access_token=token)
    assert env.rows("SELECT id, state FROM credentials") == [(first.credential_id, "issued")]
    again = CredentialRequest(REAL_NAME, (env.proof(holder),)).to_dict()
    oid4vci_refusal("invalid_token", lambda: env.authority.credential(token, again))
    assert env.counts()["credentials"] == 1


def test_enrolling_the_same_did_again_after_issuance_replaces_the_credential(env: Env) -> None:
    holder, resident = env.resolver.create(), env.residents[0]
    first = env.collect(env.enroll(holder, resident), holder)
    second = env.collect(env.enroll(holder, resident), holder)
    assert status_of(env, first, holder) == 1
    assert status_of(env, second, holder) == 0
    assert env.rows("SELECT state, count(*) FROM credentials GROUP BY state ORDER BY state") == [
        ("issued", 1),
        ("revoked", 1),
    ]
    assert env.rows("SELECT count(*) FROM enrollments") == [(1,)]


# -- OpenID4VCI ------------------------------------------------------------------------------------
def test_pre_authorized_code_is_single_use_and_expires(env: Env) -> None:
    holder = env.resolver.create()
    offer = env.enroll(holder, env.residents[0])
    code = CredentialOffer.from_dict(offer.offer).pre_authorized_code
    env.authority.token(TokenRequest(code).to_form())
    oid4vci_refusal("invalid_grant", lambda: env.authority.token(TokenRequest(code).to_form()))
    oid4vci_refusal("invalid_grant", lambda: env.authority.token(TokenRequest("nope").to_form()))
    late = env.enroll(env.resolver.create(), env.residents[1])
    env.clock.advance(env.authority.config.offer_ttl + 1)
    late_code = CredentialOffer.from_dict(late.offer).pre_authorized_code
    oid4vci_refusal("invalid_grant", lambda: env.authority.token(TokenRequest(late_code).to_form()))
    oid4vci_refusal(
        "unsupported_grant_type",
        lambda: env.authority.token({"grant_type": "authorization_code", "code": "x"}),
    )


def test_credential_request_errors(env: Env) -> None:
    holder, other = env.resolver.create(), env.resolver.create()
    offer = env.enroll(holder, env.residents[0])
    token = env.access_token(offer)
    credential = env.authority.credential

    wrong_type = CredentialRequest(SITE_PROOF, (env.proof(holder),)).to_dict()
    oid4vci_refusal("invalid_credential_request", lambda: credential(token, wrong_type))
    # A proof by another DID's key: a credential cannot be issued to a DID whose holder did
    # not sign.
    by_other = CredentialRequest(REAL_NAME, (env.proof(other),)).to_dict()
    oid4vci_refusal("invalid_proof", lambda: credential(token, by_other))
    forged = CredentialRequest(REAL_NAME, (env.proof(holder, signer=other.signer),)).to_dict()
    oid4vci_refusal("invalid_proof", lambda: credential(token, forged))
    oid4vci_refusal(
        "invalid_nonce",
        lambda: credential(
            token,
            CredentialRequest(REAL_NAME, (env.proof(holder, nonce="never-issued"),)).to_dict(),
        ),
    )
    oid4vci_refusal(
        "invalid_token",
        lambda: credential(None, CredentialRequest(REAL_NAME, (env.proof(holder),)).to_dict()),
    )
    oid4vci_refusal("invalid_token", lambda: credential("", {}))
    oid4vci_refusal("invalid_token", lambda: credential("x" * 257, {}))
    oid4vci_refusal("invalid_credential_request", lambda: credential(token, []))
    assert env.rows("SELECT state FROM credentials") == [("offered",)]

    # None of that spent the offer: the right proof still collects the credential.
    nonce_holder = env.proof(holder)
    env.authority.credential(token, CredentialRequest(REAL_NAME, (nonce_holder,)).to_dict())
    assert env.rows("SELECT state FROM credentials") == [("issued",)]
    # The c_nonce inside that proof is spent: reusing it for another credential fails.
    holder2 = env.resolver.create()
    token2 = env.access_token(env.enroll(holder2, env.residents[1]))
    used_nonce = json.loads(base64.urlsafe_b64decode(nonce_holder.split(".")[1] + "=="))["nonce"]
    replay = CredentialRequest(REAL_NAME, (env.proof(holder2, nonce=used_nonce),)).to_dict()
    oid4vci_refusal("invalid_nonce", lambda: credential(token2, replay))


def test_expired_access_token_and_nonce(env: Env) -> None:
    holder = env.resolver.create()
    token = env.access_token(env.enroll(holder, env.residents[0]))
    old_nonce = env.proof(holder)  # its c_nonce expires with the token below
    env.clock.advance(env.authority.config.token_ttl + 1)
    request = CredentialRequest(REAL_NAME, (env.proof(holder),)).to_dict()
    error = oid4vci_refusal("invalid_token", lambda: env.authority.credential(token, request))
    assert error.http_status == 401
    # A fresh offer (enrollment retried), but a c_nonce past its lifetime.
    token = env.access_token(env.enroll(holder, env.residents[0]))
    env.clock.advance(env.authority.config.challenge_ttl - env.authority.config.token_ttl)
    stale = json.loads(base64.urlsafe_b64decode(old_nonce.split(".")[1] + "=="))["nonce"]
    late = CredentialRequest(REAL_NAME, (env.proof(holder, nonce=stale),)).to_dict()
    oid4vci_refusal("invalid_nonce", lambda: env.authority.credential(token, late))


def test_holder_did_deactivated_before_collecting(env: Env) -> None:
    holder = env.resolver.create()
    token = env.access_token(env.enroll(holder, env.residents[0]))
    env.resolver.deactivated.add(holder.did)
    request = CredentialRequest(REAL_NAME, (env.proof(holder),)).to_dict()
    oid4vci_refusal("invalid_proof", lambda: env.authority.credential(token, request))
    assert env.rows("SELECT state FROM credentials") == [("offered",)]


# -- site proofs ----------------------------------------------------------------------------------
def test_site_proof_carries_only_coarse_claims(env: Env) -> None:
    root, site = env.resolver.create(), env.resolver.create(KeyType.P256)
    resident = env.residents[3]
    env.collect(env.enroll(root, resident), root)
    offer = env.site_proof(root, site.did)
    assert CredentialOffer.from_dict(offer.offer).configuration_ids == (SITE_PROOF,)
    # The root DID cannot collect it: only the site DID's holder can.
    token = env.access_token(offer)
    by_root = CredentialRequest(SITE_PROOF, (env.proof(root),)).to_dict()
    oid4vci_refusal("invalid_proof", lambda: env.authority.credential(token, by_root))
    sd_jwt = env.collect(offer, site, access_token=token)

    vc = env.verify(sd_jwt, site)
    age = (
        TODAY.year
        - resident.birth_date.year
        - ((TODAY.month, TODAY.day) < (resident.birth_date.month, resident.birth_date.day))
    )
    assert vc.claims == {
        "verified_person": True,
        "assurance_level": "high",
        "age_over_18": age >= 18,
        "age_over_60": age >= 60,
        "province": resident.region_code[:2] + "0000",
    }
    assert vc.vct == VCT[SITE_PROOF]
    assert vc.holder_jwk == site.signer.public_key.to_jwk()
    assert vc.expires_at == T0 + env.authority.config.site_proof_lifetime
    text = json.dumps([issuer_payload(sd_jwt), disclosed_values(sd_jwt)], ensure_ascii=False)
    for secret in (
        resident.id_number,
        resident.family_name,
        resident.given_name,
        resident.birth_date.isoformat(),
        resident.region_code,
        root.did,
        "id_number",
        "family_name",
    ):
        assert secret not in text
    assert status_of(env, sd_jwt, site) == 0


def test_site_proof_link_is_in_escrow(env: Env) -> None:
    root, site = env.resolver.create(), env.resolver.create()
    env.enroll(root, env.residents[0])
    env.site_proof(root, site.did)
    records = [
        open_record(env.escrow_key, sealed, associated_data=escrow_id.encode())
        for escrow_id, sealed in env.rows("SELECT id, sealed FROM escrow")
    ]
    site_records = [r for r in records if r.get("kind") == "site"]
    assert len(site_records) == 1
    assert site_records[0]["site_did"] == site.did
    assert site_records[0]["root_did"] == root.did
    (enrollment_id,) = env.rows("SELECT id FROM enrollments")[0]
    assert site_records[0]["enrollment"] == enrollment_id


def test_site_proof_refusals(env: Env) -> None:
    root, stranger, site = env.resolver.create(), env.resolver.create(), env.resolver.create()
    other_root = env.resolver.create()
    env.enroll(root, env.residents[0])
    env.enroll(other_root, env.residents[1])
    gone = env.resolver.create()
    env.resolver.deactivated.add(gone.did)
    before = env.counts()
    not_enrolled = refusal("not-enrolled", lambda: env.site_proof(stranger, site.did))
    assert isinstance(not_enrolled, EnrollmentError)
    assert not_enrolled.http_status == 403
    refusal("invalid-application", lambda: env.site_proof(root, root.did))
    refusal("invalid-application", lambda: env.site_proof(root, other_root.did))
    refusal("did-not-found", lambda: env.site_proof(root, "did:realdid:QmNotAnchored"))
    refusal("did-deactivated", lambda: env.site_proof(root, gone.did))
    refusal("invalid-site-did", lambda: env.site_proof(root, ""))
    # A RealName application is not a site-proof application (explicit typing).
    jws = env.application(root, {"site_did": site.did})
    refusal("invalid-application", lambda: env.authority.request_site_proof(jws, client=CLIENT))
    assert env.counts() == before


def test_site_proof_retry_reuses_the_offer(env: Env) -> None:
    root, site = env.resolver.create(), env.resolver.create()
    env.enroll(root, env.residents[0])
    first = env.site_proof(root, site.did)
    second = env.site_proof(root, site.did)
    assert first.credential_id == second.credential_id
    assert env.rows("SELECT count(*) FROM credentials WHERE type = 'SiteProof'") == [(1,)]


def test_another_resident_cannot_revoke_my_site_proof(env: Env) -> None:
    """Naming someone else's (public) site DID must not revoke their credential."""
    mine, theirs, site = env.resolver.create(), env.resolver.create(), env.resolver.create()
    env.enroll(mine, env.residents[0])
    my_site_proof = env.collect(env.site_proof(mine, site.did), site)
    env.enroll(theirs, env.residents[1])
    env.site_proof(theirs, site.did)  # offered, but they cannot collect it without site's key
    assert status_of(env, my_site_proof, site) == 0


# -- business --------------------------------------------------------------------------------------
def test_business_enrollment_issues_a_business_credential(env: Env) -> None:
    holder, enterprise = env.resolver.create(), env.enterprises[0]
    offer = env.enroll_business(holder, enterprise)
    assert CredentialOffer.from_dict(offer.offer).configuration_ids == (BUSINESS,)
    sd_jwt = env.collect(offer, holder)
    vc = env.verify(sd_jwt, holder)
    assert vc.vct == VCT[BUSINESS]
    assert vc.claims == {
        "company_name": enterprise.name,
        "unified_social_credit_code": enterprise.uscc,
        "legal_representative": enterprise.legal_representative,
        "region": enterprise.region_code,
    }
    assert "legal_representative" not in env.verify(sd_jwt, holder, disclose=set()).claims
    (escrow_id, sealed) = env.rows("SELECT id, sealed FROM escrow")[0]
    record = open_record(env.escrow_key, sealed, associated_data=escrow_id.encode())
    assert (record["did"], record["kind"], record["uscc"]) == (
        holder.did,
        "enterprise",
        enterprise.uscc,
    )
    # An enterprise DID is not a resident root: it cannot vouch for site DIDs.
    refusal("not-enrolled", lambda: env.site_proof(holder, env.resolver.create().did))
    # ... and it cannot also enroll as a resident.
    jws = env.application(holder, env.enrollment_claims(env.residents[0]))
    refusal("did-already-enrolled", lambda: env.authority.enroll(jws, client=CLIENT))


def _bad_uscc_check(uscc: str) -> str:
    return uscc[:-1] + ("1" if uscc[-1] != "1" else "2")


@pytest.mark.parametrize(
    ("change", "code", "status"),
    [
        pytest.param({"uscc": "123"}, "uscc-format", 400, id="uscc-format"),
        pytest.param({"uscc": "９１"}, "uscc-format", 400, id="uscc-non-ascii"),
        pytest.param({"uscc": _bad_uscc_check}, "uscc-checksum", 400, id="uscc-checksum"),
        pytest.param({"company_name": "不存在有限公司"}, "enterprise-mismatch", 422, id="name"),
        pytest.param({"legal_representative": "某人"}, "enterprise-mismatch", 422, id="rep"),
        pytest.param({"uscc": None}, "invalid-uscc", 400, id="uscc-missing"),
    ],
)
def test_business_refusals(env: Env, change: dict[str, Any], code: str, status: int) -> None:
    holder, enterprise = env.resolver.create(), env.enterprises[1]
    claims = env.business_claims(enterprise)
    for name, value in change.items():
        if value is None:
            del claims[name]
        else:
            claims[name] = value(claims[name]) if callable(value) else value
    jws = env.application(holder, claims, typ=BUSINESS_TYP)
    before = env.counts()
    error = refusal(code, lambda: env.authority.enroll_business(jws, client=CLIENT))
    assert getattr(error, "http_status", 400) == status
    assert env.counts() == before


def test_unknown_enterprise_is_a_mismatch(env: Env) -> None:
    holder, enterprise = env.resolver.create(), env.enterprises[2]
    other_code = env.enterprises[0].uscc
    claims = {**env.business_claims(enterprise), "uscc": other_code}
    jws = env.application(holder, claims, typ=BUSINESS_TYP)
    refusal("enterprise-mismatch", lambda: env.authority.enroll_business(jws, client=CLIENT))


# -- revocation by operators -------------------------------------------------------------------------
def test_operator_revokes_by_did(env: Env) -> None:
    root, site = env.resolver.create(), env.resolver.create()
    real_name = env.collect(env.enroll(root, env.residents[0]), root)
    site_proof = env.collect(env.site_proof(root, site.did), site)
    officer, _ = env.operator(Role.REVOCATION_OFFICER)
    assert env.authority.revoke(officer, did=root.did, reason="fraud") == 2
    assert status_of(env, real_name, root) == 1
    assert status_of(env, site_proof, site) == 1
    assert env.rows("SELECT state, end_reason FROM enrollments") == [("revoked", "fraud")]
    assert env.rows("SELECT DISTINCT revocation_reason FROM credentials") == [("fraud",)]
    actions = env.audit_actions()
    assert ("authority", "credentials.revoked", {"reason": "fraud", "count": 2}) in actions
    assert actions[-1] == (officer.id, "revocation", {"reason": "fraud", "count": 2})
    assert env.authority.audit.verify() == len(actions)
    refusal(
        "enrollment-not-found", lambda: env.authority.revoke(officer, did=root.did, reason="fraud")
    )


def test_operator_revokes_by_id_number_including_uncollected_offers(env: Env) -> None:
    holder, resident = env.resolver.create(), env.residents[1]
    offer = env.enroll(holder, resident)
    token = env.access_token(offer)
    officer, _ = env.operator(Role.REVOCATION_OFFICER)
    assert env.authority.revoke(officer, id_number=resident.id_number, reason="death") == 1
    request = CredentialRequest(REAL_NAME, (env.proof(holder),)).to_dict()
    oid4vci_refusal("invalid_token", lambda: env.authority.credential(token, request))
    assert env.rows("SELECT state, pending FROM credentials") == [("revoked", None)]


def test_revocation_refusals(env: Env) -> None:
    holder = env.resolver.create()
    env.enroll(holder, env.residents[0])
    officer, _ = env.operator(Role.REVOCATION_OFFICER)
    before = (env.counts(), env.audit_actions())
    for reason in ("re-enrollment", "superseded", "bored", ""):
        refusal(
            "invalid-reason",
            partial(env.authority.revoke, officer, did=holder.did, reason=reason),
        )
    refusal("invalid-request", lambda: env.authority.revoke(officer, reason="fraud"))
    refusal(
        "invalid-request",
        lambda: env.authority.revoke(
            officer, did=holder.did, id_number=env.residents[0].id_number, reason="fraud"
        ),
    )
    missing = refusal(
        "enrollment-not-found",
        lambda: env.authority.revoke(officer, did="did:realdid:QmNobody", reason="fraud"),
    )
    assert isinstance(missing, EnrollmentError)
    assert missing.http_status == 404
    refusal(
        "enrollment-not-found",
        lambda: env.authority.revoke(officer, id_number=env.residents[2].id_number, reason="fraud"),
    )
    refusal(
        "id-number-format", lambda: env.authority.revoke(officer, id_number="1", reason="fraud")
    )
    assert (env.counts(), env.audit_actions()) == before
    assert env.rows("SELECT state FROM credentials") == [("offered",)]


def test_status_list_unknown_and_cached(env: Env) -> None:
    assert env.authority.status_list_jwt(1) is None
    holder = env.resolver.create()
    env.enroll(holder, env.residents[0])
    first = env.authority.status_list_jwt(1)
    assert first is not None
    assert env.authority.status_list_jwt(1) == first  # served from the cache
    assert env.authority.status_list_jwt(2) is None
    env.clock.advance(env.authority.config.status_list_ttl)
    assert env.authority.status_list_jwt(1) != first  # re-signed after half the TTL


def test_full_status_lists_roll_over(tmp_path: Path) -> None:
    env = build_env(tmp_path, FixedClock(T0), status_list_size=16)
    try:
        lists = set()
        for resident in env.residents[:10]:
            offer = env.enroll(env.resolver.create(), resident)
            (list_id,) = env.rows(
                "SELECT status_list FROM credentials WHERE id = ?", offer.credential_id
            )[0]
            lists.add(list_id)
        assert lists == {1, 2}
        assert env.rows("SELECT id, allocated FROM status_lists ORDER BY id") == [(1, 8), (2, 2)]
    finally:
        env.close()


# -- issuer key rotation ---------------------------------------------------------------------------
def test_credentials_signed_before_a_rotation_keep_verifying(env: Env) -> None:
    before_holder, after_holder = env.resolver.create(), env.resolver.create()
    before = env.collect(env.enroll(before_holder, env.residents[0]), before_holder)
    old_list = env.authority.status_list_jwt(1)
    officer, _ = env.operator(Role.SECURITY_OFFICER)
    key_id = env.authority.rotate_issuer_key(officer, env.issuer.rotate)
    assert key_id == f"{env.issuer.did}#key-2"
    after = env.collect(env.enroll(after_holder, env.residents[1]), after_holder)

    assert env.verify(before, before_holder).key_id == f"{env.issuer.did}#key-1"
    assert env.verify(after, after_holder).key_id == key_id
    new_list = env.authority.status_list_jwt(1)
    assert new_list is not None
    assert new_list != old_list  # the cache was dropped: lists are signed with the new key
    header = json.loads(base64.urlsafe_b64decode(new_list.split(".")[0] + "=="))
    assert header["kid"] == key_id
    assert status_of(env, before, before_holder) == 0
    assert (officer.id, "issuer-key.rotated", {}) in env.audit_actions()


# -- escrow ------------------------------------------------------------------------------------------
def test_enrollment_escrow_record_opens_only_for_the_trustees(env: Env) -> None:
    holder, resident = env.resolver.create(), env.residents[0]
    env.enroll(holder, resident)
    ((enrollment_id, escrow_id),) = env.rows("SELECT id, escrow_id FROM enrollments")
    ((key_id, sealed),) = env.rows("SELECT key_id, sealed FROM escrow WHERE id = ?", escrow_id)
    assert key_id == env.escrow_key.key_id
    record = open_record(env.escrow_key, sealed, associated_data=escrow_id.encode())
    assert record == {
        "did": holder.did,
        "kind": "resident",
        "id_number": resident.id_number,
        "family_name": resident.family_name,
        "given_name": resident.given_name,
        "enrollment": enrollment_id,
        "at": str(T0),
    }
    with pytest.raises(EscrowOpenError):
        open_record(env.escrow_key, sealed, associated_data=b"another-record")
    with pytest.raises(EscrowOpenError):
        open_record(
            env.escrow_key,
            sealed[:-1] + bytes([sealed[-1] ^ 1]),
            associated_data=escrow_id.encode(),
        )


# -- no personal data at rest or in logs -------------------------------------------------------
def test_no_personal_data_in_the_database_or_logs(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    enrolled = env.residents[:3]
    roots = []
    for resident in enrolled:
        root = env.resolver.create()
        env.collect(env.enroll(root, resident), root)
        roots.append(root)
    site = env.resolver.create()
    env.collect(env.site_proof(roots[0], site.did), site)
    env.enroll(env.resolver.create(), enrolled[1])  # re-enrollment, left uncollected
    company = env.resolver.create()
    env.collect(env.enroll_business(company, env.enterprises[0]), company)
    for claims in (
        env.enrollment_claims(enrolled[2], name="错名字"),
        env.enrollment_claims(enrolled[2], capture=env.captures[enrolled[0].id_number]),
    ):
        jws = env.application(env.resolver.create(), claims)
        with pytest.raises(EnrollmentError):
            env.authority.enroll(jws, client=CLIENT)
    officer, _ = env.operator(Role.REVOCATION_OFFICER)
    env.authority.revoke(officer, id_number=enrolled[2].id_number, reason="lost-document")

    def secrets_of(resident: Resident) -> list[bytes]:
        texts = [
            resident.id_number,
            resident.id_number[6:14],
            resident.birth_date.isoformat(),
            full_name(resident),
            encode_face(env.captures[resident.id_number]),
            encode_face(resident.face_template),
        ]
        names = [n for n in (resident.family_name, resident.given_name) if len(n) >= 2]
        return [t.encode() for t in texts + names] + [
            env.captures[resident.id_number],
            resident.face_template,
        ]

    def scan(paths: list[Path]) -> None:
        for path in paths:
            if not path.exists():
                continue
            raw = path.read_bytes()
            for resident in enrolled:
                for secret in secrets_of(resident):
                    assert secret not in raw, (path.name, resident.id_number)

    if not isinstance(env.db_path, Path):
        pytest.skip("scans the SQLite file's bytes; a PostgreSQL store is not one file")
    files = [env.db_path, env.db_path.with_name("authority.db-wal")]
    assert files[0].stat().st_size > 0
    scan(files)
    env.close()  # checkpoints the WAL into the main file
    scan(files)
    for resident in enrolled:
        assert resident.id_number not in caplog.text
        assert full_name(resident) not in caplog.text
    assert "enrollment accepted" in caplog.text  # the logs were captured at all


def test_default_sized_status_list_publishes_revocations(tmp_path: Path) -> None:
    env = build_env(tmp_path, FixedClock(T0), status_list_size=1 << 20)
    try:
        holder = env.resolver.create()
        credential = env.collect(env.enroll(holder, env.residents[0]), holder)
        assert status_of(env, credential, holder) == 0
        officer, _ = env.operator(Role.REVOCATION_OFFICER)
        env.authority.revoke(officer, did=holder.did, reason="lost-document")
        assert status_of(env, credential, holder) == 1
    finally:
        env.close()


def test_death_blocks_online_reenrollment_but_lost_document_does_not(env: Env) -> None:
    officer, _ = env.operator(Role.REVOCATION_OFFICER)
    dead, lost = env.residents[0], env.residents[1]
    env.collect(env.enroll(first := env.resolver.create(), dead), first)
    env.collect(env.enroll(second := env.resolver.create(), lost), second)
    env.authority.revoke(officer, id_number=dead.id_number, reason="death")
    env.authority.revoke(officer, id_number=lost.id_number, reason="lost-document")
    before = env.counts()
    blocked = refusal("enrollment-blocked", lambda: env.enroll(env.resolver.create(), dead))
    assert isinstance(blocked, EnrollmentError)
    assert blocked.http_status == 403
    assert env.counts() == before
    again = env.resolver.create()
    env.collect(env.enroll(again, lost), again)
    assert env.rows("SELECT count(*) FROM enrollments WHERE state = 'active'") == [(1,)]


def test_a_collaborator_replaced_on_a_live_authority_reaches_its_concerns(env: Env) -> None:
    # The concerns are built once; assigning a field rebuilds them, so none keeps the old one.
    _, expires_at = env.authority.challenge()
    assert expires_at == T0 + env.authority.config.challenge_ttl
    env.authority.clock = FixedClock(T0 + 1000)
    _, expires_at = env.authority.challenge()
    assert expires_at == T0 + 1000 + env.authority.config.challenge_ttl
    stranger = env.resolver.create()
    env.authority.resolver = FakeResolver()  # knows no DID
    refusal("did-not-found", lambda: env.enroll(stranger, env.residents[0]))
