"""The identity authority's HTTP API (``create_authority_app``) over an in-process authority.

Every error is an RFC 9457 problem (``application/problem+json``) whose ``type`` is
``urn:realdid:problem:<code>``; OpenID4VCI errors also carry OAuth ``error`` members.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from realdid.authority import Role, create_authority_app
from realdid.credentials import (
    ENROLLMENT_TYP,
    SITE_PROOF_TYP,
    CredentialOffer,
    CredentialRequest,
    make_proof_jwt,
)
from realdid.http import Rate, RateLimiter

from .conftest import ISSUER_URL, Env, Holder

with warnings.catch_warnings():
    # starlette's TestClient warns at import under some httpx versions; warnings are errors.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PROBLEM = "application/problem+json"


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_authority_app(lambda: env.authority)) as test_client:
        yield test_client


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:realdid:problem:{code}", body
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def apply(client: TestClient, env: Env, holder: Holder, claims: dict[str, Any], **kw: Any) -> Any:
    nonce = client.post("/1.0/challenges").json()["nonce"]
    jws = env.application(holder, claims, nonce=nonce, **kw)
    path = {ENROLLMENT_TYP: "/1.0/enrollments", SITE_PROOF_TYP: "/1.0/site-proofs"}.get(
        kw.get("typ", ENROLLMENT_TYP), "/1.0/business-enrollments"
    )
    return client.post(path, json={"application": jws})


def redeem(client: TestClient, env: Env, offer: dict[str, Any], holder: Holder) -> Any:
    parsed = CredentialOffer.from_dict(offer)
    metadata = client.get("/.well-known/openid-credential-issuer").json()
    server = client.get("/.well-known/oauth-authorization-server").json()
    assert server["token_endpoint"].startswith(ISSUER_URL)
    token = client.post(
        "/oid4vci/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": parsed.pre_authorized_code,
        },
    )
    assert token.status_code == 200, token.text
    assert token.headers["cache-control"] == "no-store"
    access_token = token.json()["access_token"]
    c_nonce = client.post("/oid4vci/nonce").json()["c_nonce"]
    proof = make_proof_jwt(
        holder.signer,
        key_id=holder.key_id,
        audience=metadata["credential_issuer"],
        nonce=c_nonce,
        issued_at=env.clock.now(),
    )
    return client.post(
        "/oid4vci/credential",
        json=CredentialRequest(parsed.configuration_ids[0], (proof,)).to_dict(),
        headers={"Authorization": f"Bearer {access_token}"},
    ), access_token


# -- discovery -------------------------------------------------------------------------------------
def test_metadata(client: TestClient, env: Env) -> None:
    metadata = client.get("/.well-known/openid-credential-issuer").json()
    assert metadata["credential_issuer"] == ISSUER_URL
    assert metadata["credential_endpoint"] == f"{ISSUER_URL}/oid4vci/credential"
    assert metadata["nonce_endpoint"] == f"{ISSUER_URL}/oid4vci/nonce"
    configurations = metadata["credential_configurations_supported"]
    assert set(configurations) == {"RealName", "SiteProof", "Business", "RpRegistration"}
    assert configurations["RealName"]["format"] == "dc+sd-jwt"
    assert configurations["RealName"]["vct"] == "urn:realdid:RealName"
    server = client.get("/.well-known/oauth-authorization-server").json()
    assert server["token_endpoint"] == f"{ISSUER_URL}/oid4vci/token"
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "issuer": env.issuer.did, "keyId": env.issuer.key_id}


def test_starting_authority_answers_503() -> None:
    with TestClient(create_authority_app(lambda: None)) as client:
        problem(client.get("/.well-known/openid-credential-issuer"), 503, "authority-starting")
        problem(client.post("/1.0/challenges"), 503, "authority-starting")
        problem(client.post("/oid4vci/nonce"), 503, "authority-starting")
        assert client.get("/healthz").status_code == 503


# -- the full flow over HTTP -------------------------------------------------------------------
def test_enrollment_and_issuance_over_http(client: TestClient, env: Env) -> None:
    holder, resident = env.resolver.create(), env.residents[0]
    challenge = client.post("/1.0/challenges")
    assert challenge.status_code == 201
    assert challenge.json()["expires_at"] == env.clock.now() + 300
    answer = apply(client, env, holder, env.enrollment_claims(resident))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["credential_offer_uri"].startswith("openid-credential-offer://")
    response, access_token = redeem(client, env, body["credential_offer"], holder)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    sd_jwt = response.json()["credentials"][0]["credential"]
    assert env.verify(sd_jwt, holder).claims["id_number"] == resident.id_number
    # The access token is spent.
    again = client.post(
        "/oid4vci/credential",
        json=CredentialRequest("RealName", (env.proof(holder),)).to_dict(),
        headers={"Authorization": f"Bearer {access_token}"},
    )
    body = problem(again, 401, "invalid_token")
    assert body["error"] == "invalid_token"
    assert again.headers["www-authenticate"].startswith("Bearer")

    # Site proof and status list over HTTP.
    site = env.resolver.create()
    offer = apply(client, env, holder, {"site_did": site.did}, typ=SITE_PROOF_TYP)
    assert offer.status_code == 201, offer.text
    site_response, _ = redeem(client, env, offer.json()["credential_offer"], site)
    assert site_response.status_code == 200, site_response.text
    status = client.get("/status-lists/1")
    assert status.status_code == 200
    assert status.headers["content-type"] == "application/statuslist+jwt"
    assert status.headers["cache-control"] == "max-age=300"
    assert status.text == env.authority.status_list_jwt(1)
    problem(client.get("/status-lists/2"), 404, "no-such-resource")
    problem(client.get("/status-lists/0"), 404, "no-such-resource")
    problem(client.get("/status-lists/abc"), 400, "invalid-request")


def test_business_enrollment_over_http(client: TestClient, env: Env) -> None:
    from realdid.credentials import BUSINESS_TYP

    holder = env.resolver.create()
    answer = apply(client, env, holder, env.business_claims(env.enterprises[0]), typ=BUSINESS_TYP)
    assert answer.status_code == 201, answer.text
    assert CredentialOffer.from_dict(answer.json()["credential_offer"]).configuration_ids == (
        "Business",
    )
    bad = {**env.business_claims(env.enterprises[0]), "uscc": "123"}
    problem(apply(client, env, env.resolver.create(), bad, typ=BUSINESS_TYP), 400, "uscc-format")


# -- refusals --------------------------------------------------------------------------------------
def test_enrollment_refusals_map_to_problems(client: TestClient, env: Env) -> None:
    resident, other = env.residents[0], env.residents[1]
    holder = env.resolver.create()
    claims = env.enrollment_claims
    cases: list[tuple[dict[str, Any], dict[str, Any], int, str]] = [
        (claims(resident, name="错名字"), {}, 422, "identity-mismatch"),
        (claims(resident, capture=env.captures[other.id_number]), {}, 422, "face-mismatch"),
        (claims(resident, id_number="123"), {}, 400, "id-number-format"),
        (claims(resident, name="王\n伟"), {}, 400, "invalid-name"),
        (claims(resident), {"audience": "https://other.test"}, 400, "invalid-application"),
        (claims(resident), {"issued_at": env.clock.now() - 1000}, 400, "stale-application"),
        (claims(resident), {"key_id": f"{holder.did}#key-9"}, 422, "key-not-found"),
    ]
    for body, kw, status, code in cases:
        problem(apply(client, env, holder, body, **kw), status, code)
    stranger = env.resolver.create()
    del env.resolver.documents[stranger.did]
    problem(apply(client, env, stranger, claims(resident)), 422, "did-not-found")
    jws = env.application(holder, claims(resident), nonce="never-issued")
    problem(client.post("/1.0/enrollments", json={"application": jws}), 400, "invalid-nonce")
    assert env.counts()["enrollments"] == 0
    # One identity: locked out after five failures (429), with correct data as well.
    for _ in range(3):
        apply(client, env, env.resolver.create(), claims(resident, name="错名字"))
    problem(apply(client, env, holder, claims(resident)), 429, "too-many-attempts")
    # Site proof refusals.
    problem(
        apply(client, env, holder, {"site_did": env.resolver.create().did}, typ=SITE_PROOF_TYP),
        403,
        "not-enrolled",
    )
    # A DID enrolled for someone else: 409.
    mine = env.resolver.create()
    assert apply(client, env, mine, claims(other)).status_code == 201
    problem(apply(client, env, mine, claims(env.residents[2])), 409, "did-already-enrolled")


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        pytest.param({"content": b"{}"}, 415, "unsupported-media-type", id="no-content-type"),
        pytest.param(
            {"content": b"x", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported-media-type",
            id="text",
        ),
        pytest.param(
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
            "malformed-json",
            id="malformed",
        ),
        pytest.param(
            {
                "content": b'{"application":"a","application":"b"}',
                "headers": {"content-type": "application/json"},
            },
            400,
            "malformed-json",
            id="duplicate-member",
        ),
        pytest.param({"json": []}, 400, "invalid-request", id="array"),
        pytest.param({"json": {"application": 1}}, 400, "invalid-request", id="not-string"),
        pytest.param(
            {"json": {"application": "a", "extra": 1}}, 400, "invalid-request", id="extra"
        ),
        pytest.param({"json": {"application": "x" * 33_000}}, 413, "payload-too-large", id="big"),
        pytest.param({"json": {"application": "a.b.c"}}, 400, "invalid-application", id="jws"),
    ],
)
def test_application_body_problems(
    client: TestClient, env: Env, kwargs: dict[str, Any], status: int, code: str
) -> None:
    for path in ("/1.0/enrollments", "/1.0/site-proofs", "/1.0/business-enrollments"):
        problem(client.post(path, **kwargs), status, code)
    assert env.counts()["enrollments"] == 0


def test_challenges_and_applications_are_rate_limited_per_client(env: Env) -> None:
    now = [0.0]
    limits = RateLimiter(
        {"challenges": Rate(per_second=1, burst=2), "enrollments": Rate(per_second=0.5, burst=1)},
        clock=lambda: now[0],
    )
    with TestClient(create_authority_app(lambda: env.authority, rate_limits=limits)) as client:
        nonces = [client.post("/1.0/challenges").json()["nonce"] for _ in range(2)]
        refused = client.post("/1.0/challenges")
        problem(refused, 429, "rate-limited")
        assert refused.headers["retry-after"] == "1"
        jws = env.application(
            env.resolver.create(), env.enrollment_claims(env.residents[0]), nonce=nonces[0]
        )
        assert client.post("/1.0/enrollments", json={"application": jws}).status_code == 201
        before = env.counts()
        # The next application is refused before its body is read, whatever it holds:
        # enrollments, site proofs and business enrollments share the one allowance.
        for path in ("/1.0/enrollments", "/1.0/site-proofs", "/1.0/business-enrollments"):
            response = problem(
                client.post(path, json={"application": "a.b.c"}), 429, "rate-limited"
            )
            assert "enrollments" in response["detail"]
        assert client.post("/1.0/enrollments", json={}).headers["retry-after"] == "2"
        assert env.counts() == before
        now[0] += 2.0  # both allowances refilled
        assert client.post("/1.0/challenges").status_code == 201
        problem(
            client.post("/1.0/enrollments", json={"application": "a.b.c"}),
            400,
            "invalid-application",
        )


def test_unknown_routes_and_methods(client: TestClient) -> None:
    problem(client.get("/no/such/route"), 404, "no-such-resource")
    problem(client.get("/1.0/enrollments"), 405, "method-not-allowed")


def test_token_endpoint(client: TestClient, env: Env) -> None:
    grant = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    body = problem(
        client.post("/oid4vci/token", json={"grant_type": grant}), 400, "invalid_request"
    )
    assert body["error"] == "invalid_request"
    assert "error_description" in body
    form = {"content-type": "application/x-www-form-urlencoded"}
    repeated = f"grant_type={grant}&pre-authorized_code=a&pre-authorized_code=b"
    body = problem(
        client.post("/oid4vci/token", content=repeated, headers=form), 400, "invalid_request"
    )
    assert "repeated" in body["error_description"]
    problem(
        client.post("/oid4vci/token", content="grant_type=\xff".encode("latin-1"), headers=form),
        400,
        "invalid_request",
    )
    unknown = f"grant_type={grant}&pre-authorized_code=unknown"
    problem(client.post("/oid4vci/token", content=unknown, headers=form), 400, "invalid_grant")
    problem(
        client.post("/oid4vci/token", content="grant_type=password", headers=form),
        400,
        "unsupported_grant_type",
    )
    problem(
        client.post("/oid4vci/token", content=b"a=" + b"x" * 33_000, headers=form),
        413,
        "payload-too-large",
    )


def test_credential_endpoint_errors(client: TestClient, env: Env) -> None:
    holder, other = env.resolver.create(), env.resolver.create()
    offer = apply(client, env, holder, env.enrollment_claims(env.residents[0])).json()
    code = CredentialOffer.from_dict(offer["credential_offer"]).pre_authorized_code
    token = env.authority.token(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": code,
        }
    )["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    missing = client.post(
        "/oid4vci/credential", json=CredentialRequest("RealName", ("x",)).to_dict()
    )
    problem(missing, 401, "invalid_token")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    problem(
        client.post("/oid4vci/credential", json={}, headers={"Authorization": "Basic abc"}),
        401,
        "invalid_token",
    )
    body = problem(
        client.post(
            "/oid4vci/credential",
            json=CredentialRequest("SiteProof", (env.proof(holder),)).to_dict(),
            headers=auth,
        ),
        400,
        "invalid_credential_request",
    )
    assert body["error"] == "invalid_credential_request"
    problem(
        client.post(
            "/oid4vci/credential",
            json=CredentialRequest("RealName", (env.proof(other),)).to_dict(),
            headers=auth,
        ),
        400,
        "invalid_proof",
    )
    problem(
        client.post(
            "/oid4vci/credential",
            json=CredentialRequest("RealName", (env.proof(holder, nonce="unknown"),)).to_dict(),
            headers=auth,
        ),
        400,
        "invalid_nonce",
    )
    problem(
        client.post("/oid4vci/credential", content=b"x", headers=auth),
        415,
        "unsupported-media-type",
    )
    assert env.rows("SELECT state FROM credentials") == [("offered",)]


# -- operators ---------------------------------------------------------------------------------------
def test_admin_routes_require_the_right_role(client: TestClient, env: Env) -> None:
    holder, resident = env.resolver.create(), env.residents[0]
    assert apply(client, env, holder, env.enrollment_claims(resident)).status_code == 201
    _, revoker = env.operator(Role.REVOCATION_OFFICER)
    _, auditor = env.operator(Role.AUDITOR)
    _, enroller = env.operator(Role.ENROLLMENT_OFFICER)
    body = {"did": holder.did, "reason": "fraud"}

    unauthenticated = client.post("/admin/revocations", json=body)
    problem(unauthenticated, 401, "unauthenticated")
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
    bad_token = {"Authorization": "Bearer rdop_not-a-real-token"}
    problem(client.post("/admin/revocations", json=body, headers=bad_token), 401, "unauthenticated")
    as_auditor = {"Authorization": f"Bearer {auditor}"}
    problem(client.post("/admin/revocations", json=body, headers=as_auditor), 403, "forbidden")
    assert env.rows("SELECT state FROM enrollments") == [("active",)]

    as_revoker = {"Authorization": f"Bearer {revoker}"}
    problem(
        client.post(
            "/admin/revocations", json={"did": holder.did, "reason": "bored"}, headers=as_revoker
        ),
        400,
        "invalid-reason",
    )
    problem(
        client.post("/admin/revocations", json={"did": 1, "reason": "fraud"}, headers=as_revoker),
        400,
        "invalid-request",
    )
    problem(
        client.post("/admin/revocations", json={"who": "x"}, headers=as_revoker),
        400,
        "invalid-request",
    )
    done = client.post("/admin/revocations", json=body, headers=as_revoker)
    assert done.status_code == 200, done.text
    assert done.json() == {"revoked": 1}
    problem(
        client.post("/admin/revocations", json=body, headers=as_revoker),
        404,
        "enrollment-not-found",
    )

    problem(client.get("/admin/audit"), 401, "unauthenticated")
    problem(client.get("/admin/audit", headers=as_revoker), 403, "forbidden")
    audit = client.get("/admin/audit", headers=as_auditor)
    assert audit.status_code == 200
    entries = audit.json()["entries"]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert entries[-1]["action"] == "revocation"
    assert entries[-1]["detail"] == {"reason": "fraud", "count": 1}
    later = client.get("/admin/audit?after=1&limit=1", headers=as_auditor).json()["entries"]
    assert [e["seq"] for e in later] == [2]
    for query in ("after=-5&limit=0", f"after={2**70}"):
        page = client.get(f"/admin/audit?{query}", headers=as_auditor)
        assert page.status_code == 200, page.text
    assert (
        client.get("/admin/audit?after=-5&limit=0", headers=as_auditor).json()["entries"][0]["seq"]
        == 1
    )
    assert client.get(f"/admin/audit?after={2**70}", headers=as_auditor).json() == {"entries": []}
    problem(client.get("/admin/audit?limit=abc", headers=as_auditor), 400, "invalid-request")

    as_enroller = {"Authorization": f"Bearer {enroller}"}
    clear = {"id_number": resident.id_number}
    problem(client.post("/admin/lockouts/clear", json=clear, headers=as_revoker), 403, "forbidden")
    cleared = client.post("/admin/lockouts/clear", json=clear, headers=as_enroller)
    assert cleared.status_code == 200
    assert cleared.json() == {"cleared": False}
    problem(
        client.post("/admin/lockouts/clear", json={"id_number": 1}, headers=as_enroller),
        400,
        "invalid-request",
    )
    problem(
        client.post("/admin/lockouts/clear", json={"id_number": "1"}, headers=as_enroller),
        400,
        "id-number-format",
    )


def test_issuer_key_rotation_over_http(client: TestClient, env: Env) -> None:
    _, security = env.operator(Role.SECURITY_OFFICER)
    _, auditor = env.operator(Role.AUDITOR)
    problem(
        client.post("/admin/issuer-key/rotations", headers={"Authorization": f"Bearer {auditor}"}),
        403,
        "forbidden",
    )
    rotated = client.post(
        "/admin/issuer-key/rotations", headers={"Authorization": f"Bearer {security}"}
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json() == {"keyId": f"{env.issuer.did}#key-2"}
    assert client.get("/healthz").json()["keyId"] == f"{env.issuer.did}#key-2"
