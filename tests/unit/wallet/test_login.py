"""The wallet's login flow (realdid.wallet._login) against a fake RP and a real registry node.

The registry is a real in-process node (DIDs of the authority, the RP and the per-site DIDs
are really anchored and resolved); the RP, its short codes and the authority's status list
are served by an ``httpx.MockTransport``; the authority's site-proof issuance is replaced by
a function that issues a real SD-JWT with the authority's key. The fake RP verifies what the
wallet sends with ``realdid.credentials.verify``, as a real RP would.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from realdid.clock import FixedClock
from realdid.controller import Keystore
from realdid.credentials import (
    AuthorizationRequest,
    AuthorizationResponse,
    CredentialQuery,
    DcqlQuery,
    VerifiedCredential,
    authorization_url,
    client_id_for,
    issue,
    sign_request_object,
    sign_status_list,
    status_reference,
    verify,
)
from realdid.credentials import StatusList as _StatusList
from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner
from realdid.http import MAX_RESPONSE_BYTES
from realdid.registry import NodeClient
from realdid.wallet import (
    ConsentPolicy,
    ConsentSummary,
    LoginFlowError,
    LoginResult,
    StoredCredential,
    Wallet,
    login,
)

from .test_wallet import PASSPHRASE, Registry, new_wallet, running

AUTHORITY = "https://authority.test"
STATUS_URI = f"{AUTHORITY}/status-lists/1"
RP = "https://rp.test"
CODE = "ABCD-EFGH"
SITE = "urn:realdid:SiteProof"
REAL = "urn:realdid:RealName"
SITE_CLAIMS = ["age_over_18", "age_over_60", "assurance_level", "province", "verified_person"]
REAL_CLAIMS = [
    "age_over_18",
    "assurance_level",
    "birth_date",
    "family_name",
    "given_name",
    "id_number",
    "verified_person",
]
NAME, ID_NUMBER = "王小明", "11010519491231002X"


def now() -> int:
    return int(time.time())


@dataclass
class Issuer:
    """The authority's DID (P-256, anchored) and what it signs."""

    did: str
    signer: LocalSigner
    revoked: set[int] = field(default_factory=set)

    @property
    def key_id(self) -> str:
        return f"{self.did}#key-1"

    def credential(
        self,
        vct: str,
        claims: dict[str, Any],
        sd: set[str],
        holder: LocalSigner,
        subject: str,
        *,
        index: int = 0,
        expires_in: int = 3600,
        issuer: str | None = None,
        issued_at: int | None = None,
    ) -> str:
        return issue(
            claims,
            selectively_disclosable=sd,
            issuer=issuer or self.did,
            signer=self.signer,
            key_id=self.key_id,
            holder_jwk=holder.public_key.to_jwk(),
            vct=vct,
            issued_at=now() - 10 if issued_at is None else issued_at,
            expires_at=now() + expires_in,
            salt=lambda: secrets.token_bytes(16),
            status=status_reference(STATUS_URI, index),
            subject=subject,
        )

    def status_list(self) -> str:
        entries = _StatusList(size=64)
        for index in self.revoked:
            entries.set(index, 1)
        return sign_status_list(
            entries,
            uri=STATUS_URI,
            issuer=self.did,
            signer=self.signer,
            key_id=self.key_id,
            issued_at=now() - 5,
            expires_at=now() + 600,
            ttl=60,
        )


@dataclass
class FakeRp:
    """A relying party: serves its code, its signed request, takes the answer, checks it."""

    did: str
    signer: LocalSigner
    issuer: Issuer
    registration: str | None
    queries: tuple[CredentialQuery, ...] = (CredentialQuery("site", (SITE,), ("age_over_18",)),)
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    refuse_with: str | None = None
    status_list_status: int = 200
    request_signer: LocalSigner | None = None
    posts: list[dict[str, str]] = field(default_factory=list)
    verified: dict[str, VerifiedCredential] = field(default_factory=dict)
    unreachable: bool = False
    flood: Flood | None = None  # streamed instead of the request object and the status list

    @property
    def client_id(self) -> str:
        return client_id_for(self.did)

    @property
    def url(self) -> str:
        return authorization_url(self.client_id, f"{RP}/oid4vp/requests/1")

    def request_object(self) -> str:
        info = ({"format": "dc+sd-jwt", "data": self.registration},) if self.registration else ()
        request = AuthorizationRequest(
            client_id=self.client_id,
            response_uri=f"{RP}/oid4vp/responses",
            nonce=self.nonce,
            state=self.state,
            dcql_query=DcqlQuery(self.queries),
            verifier_info=info,
            client_name="Forum",
            issued_at=now() - 1,
            expires_at=now() + 300,
        )
        return sign_request_object(
            request, signer=self.request_signer or self.signer, key_id=f"{self.did}#key-1"
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if self.unreachable and url.startswith(RP):
            raise httpx.ConnectError("refused", request=request)
        if self.flood is not None and url in (
            STATUS_URI,
            f"{RP}/oid4vp/requests/{self.flood.path}",
        ):
            return httpx.Response(200, stream=self.flood)
        if url == STATUS_URI:
            return httpx.Response(self.status_list_status, text=self.issuer.status_list())
        if url == f"{RP}/oid4vp/codes/{CODE}":
            return httpx.Response(200, json={"authorization_url": self.url})
        if url.startswith(f"{RP}/oid4vp/codes/"):
            return problem(404, "unknown-code")
        if url == f"{RP}/oid4vp/requests/1":
            assert request.headers["accept"] == "application/oauth-authz-req+jwt"
            return httpx.Response(200, text=self.request_object())
        if url == f"{RP}/oid4vp/responses" and request.method == "POST":
            form = dict(urllib.parse.parse_qsl(request.content.decode()))
            self.posts.append(form)
            if self.refuse_with:
                return problem(400, self.refuse_with)
            answer = AuthorizationResponse.from_form(form)
            assert answer.state == self.state
            if answer.error is None:
                for query_id, (vp,) in answer.vp_token.items():
                    self.verified[query_id] = verify(
                        vp,
                        issuer_keys=lambda iss, kid: self.issuer.signer.public_key,
                        expected_audience=self.client_id,
                        expected_nonce=self.nonce,
                        now=now(),
                        max_kb_age=60,
                        policy=DEFAULT_POLICY,
                    )
            return httpx.Response(200, json={"redirect_uri": f"{RP}/welcome"})
        return httpx.Response(404)


class Flood(httpx.SyncByteStream):
    """A body that never ends (no Content-Length); counts the bytes the client pulled."""

    chunk = 64 * 1024

    def __init__(self, path: str = "1") -> None:
        self.path = path
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.sent += self.chunk
            yield b"x" * self.chunk


def problem(status: int, code: str) -> httpx.Response:
    return httpx.Response(
        status, json={"type": f"urn:realdid:problem:{code}", "title": code, "status": status}
    )


@dataclass
class World:
    registry: Registry
    issuer: Issuer
    rp: FakeRp
    wallet: Wallet
    wallet_dir: Path
    root: str
    proofs_issued: list[str]
    rp_wallet: Wallet
    proof_lifetime: int = 3600

    @property
    def node(self) -> NodeClient:
        return self.registry.client

    def registration(self, **overrides: Any) -> str:
        claims = {
            "rp_name": "Example Forum Co., Ltd.",
            "purpose": "Adults-only discussion board",
            "permitted": {SITE: ["age_over_18", "verified_person"], REAL: ["family_name"]},
        }
        subject = overrides.pop("subject", self.rp.did)
        claims.update(overrides.pop("claims", {}))
        return self.issuer.credential(
            "urn:realdid:RpRegistration",
            claims,
            set(),
            self.rp_wallet.signing_key(self.rp.did),
            subject,
            **overrides,
        )

    def site_proof(
        self, wallet: Wallet, authority: str, root: str, site_did: str
    ) -> StoredCredential:
        assert authority == AUTHORITY
        assert root == self.root
        self.proofs_issued.append(site_did)
        credential = self.issuer.credential(
            SITE,
            {
                "verified_person": True,
                "assurance_level": "high",
                "age_over_18": True,
                "age_over_60": False,
                "province": "11",
            },
            {"age_over_18", "age_over_60", "province"},
            wallet.signing_key(site_did),
            site_did,
            index=3,
            expires_in=self.proof_lifetime,
        )
        entry = {
            "type": "SiteProof",
            "did": site_did,
            "issuer": authority,
            "credential": credential,
            "received_at": now(),
        }
        stored = StoredCredential.from_dict(entry)
        wallet.add_credential(stored)
        return stored

    def login(self, target: str | None = None, **kwargs: Any) -> LoginResult:
        kwargs.setdefault("consent", ConsentPolicy.ALLOW)
        with httpx.Client(transport=httpx.MockTransport(self.rp.handle)) as http:
            return login(
                self.wallet,
                self.node,
                target if target is not None else self.rp.url,
                http=http,
                site_proof=self.site_proof,
                anchor_timeout=10.0,
                **kwargs,
            )

    def refused(self, code: str, target: str | None = None, **kwargs: Any) -> LoginFlowError:
        with pytest.raises(LoginFlowError) as caught:
            self.login(target, **kwargs)
        assert caught.value.code == code, caught.value.diagnostics()
        return caught.value


def anchored_did(registry: Registry, wallet: Wallet, key_type: str) -> str:
    submitted = wallet.create(registry.client, key_type)
    registry.anchored(submitted)
    return submitted.did


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running(tmp_path / "node", batch_interval=0.02) as registry:
        authority_wallet, _ = new_wallet(tmp_path / "authority")
        issuer_did = anchored_did(registry, authority_wallet, KeyType.P256.value)
        issuer = Issuer(issuer_did, authority_wallet.signing_key(issuer_did))
        rp_wallet, _ = new_wallet(tmp_path / "rp")
        rp_did = anchored_did(registry, rp_wallet, KeyType.ED25519.value)
        wallet, _ = new_wallet(tmp_path / "resident")
        root = anchored_did(registry, wallet, KeyType.ED25519.value)
        real_name = issuer.credential(
            REAL,
            {
                "family_name": NAME[0],
                "given_name": NAME[1:],
                "id_number": ID_NUMBER,
                "birth_date": "1949-12-31",
                "age_over_18": True,
                "verified_person": True,
                "assurance_level": "high",
            },
            {"family_name", "given_name", "id_number", "birth_date", "age_over_18"},
            wallet.signing_key(root),
            root,
            index=1,
        )
        wallet.add_credential(
            StoredCredential.from_dict(
                {
                    "type": "RealName",
                    "did": root,
                    "issuer": AUTHORITY,
                    "credential": real_name,
                    "received_at": now(),
                }
            )
        )
        rp = FakeRp(rp_did, rp_wallet.signing_key(rp_did), issuer, None)
        built = World(registry, issuer, rp, wallet, tmp_path / "resident", root, [], rp_wallet)
        rp.registration = built.registration(index=2)
        yield built


# -- the happy paths ------------------------------------------------------------------------------
def test_site_proof_login(world: World) -> None:
    result = world.login()
    site_did = world.wallet.site_did(world.rp.did)
    assert result.released
    assert (result.rp_name, result.rp_did, result.holder_did) == (
        "Example Forum Co., Ltd.",
        world.rp.did,
        site_did,
    )
    assert result.redirect_uri == f"{RP}/welcome"
    # The site DID is anchored, new, and not the root DID; the authority was asked once.
    assert site_did != world.root
    assert world.registry.resolve(site_did)[0] == 200
    assert world.proofs_issued == [site_did]
    # What the RP verified: the site proof of the site DID, only age_over_18 disclosed.
    seen = world.rp.verified["site"]
    assert (seen.vct, seen.subject, seen.key_bound) == (SITE, site_did, True)
    assert seen.disclosed == frozenset({"age_over_18"})
    assert seen.claims == {"age_over_18": True, "verified_person": True, "assurance_level": "high"}
    # The disclosure log: names only.
    (entry,) = world.wallet.disclosures
    assert (entry.rp_did, entry.rp_name, entry.site_did, entry.credential_type, entry.outcome) == (
        world.rp.did,
        "Example Forum Co., Ltd.",
        site_did,
        SITE,
        "released",
    )
    assert entry.purpose == "Adults-only discussion board"
    assert entry.claims == ("age_over_18", "assurance_level", "verified_person")
    assert abs(entry.at - now()) < 30


def test_second_login_reuses_site_did_and_proof(world: World) -> None:
    first = world.login()
    world.rp.nonce = "second-nonce"
    second = world.login()
    assert first.holder_did == second.holder_did
    assert world.proofs_issued == [first.holder_did]
    assert [d.outcome for d in world.wallet.disclosures] == ["released", "released"]
    assert len([r for r in world.wallet.dids if r.site]) == 1


def test_two_sites_get_two_dids(world: World, tmp_path: Path) -> None:
    first = world.login()
    other_wallet, _ = new_wallet(tmp_path / "rp2")
    other = anchored_did(world.registry, other_wallet, KeyType.P256.value)
    world.rp = FakeRp(other, other_wallet.signing_key(other), world.issuer, None)
    world.rp_wallet = other_wallet
    world.rp.registration = world.registration()
    second = world.login()
    assert first.holder_did != second.holder_did
    assert world.rp.verified["site"].subject == second.holder_did


@pytest.mark.parametrize("how", ["code-and-site", "code-url", "lowercase-code"])
def test_code_targets(world: World, how: str) -> None:
    target, site = {
        "code-and-site": (CODE, RP),
        "code-url": (f"{RP}/oid4vp/codes/{CODE}", None),
        "lowercase-code": ("abcd efgh", RP + "/"),
    }[how]
    assert world.login(target, site=site).released


def test_real_name_login_warns_and_reveals_only_asked_claims(world: World) -> None:
    world.rp.queries = (CredentialQuery("id", (REAL,), ("family_name",)),)
    asked: list[ConsentSummary] = []
    result = world.login(consent=ConsentPolicy.ASK, confirm=lambda s: asked.append(s) or True)
    (summary,) = asked
    assert summary.warning is not None
    assert "who you are" in summary.warning
    assert summary.rp_name == "Example Forum Co., Ltd."
    assert summary.purpose == "Adults-only discussion board"
    (release,) = summary.releases
    assert (release.credential_type, release.holder_did) == (REAL, world.root)
    assert release.claims == ("assurance_level", "family_name", "verified_person")
    assert result.holder_did == world.root
    seen = world.rp.verified["id"]
    assert seen.subject == world.root
    assert seen.disclosed == frozenset({"family_name"})  # not the ID number, not the birth date
    assert world.proofs_issued == []
    assert not any(r.site for r in world.wallet.dids)  # no site DID for a real-name login


def test_site_proof_query_summary_has_no_warning(world: World) -> None:
    asked: list[ConsentSummary] = []
    world.login(consent=ConsentPolicy.ASK, confirm=lambda s: asked.append(s) or True)
    assert asked[0].warning is None
    assert asked[0].releases[0].holder_did == world.wallet.site_did(world.rp.did)
    assert any("Adults-only" in line for line in asked[0].lines())


def test_expired_site_proof_is_renewed(world: World) -> None:
    world.proof_lifetime = 60  # inside the renewal margin: renewed at the next login
    first = world.login()
    world.proof_lifetime = 3600
    world.rp.nonce = "again"
    world.login()
    world.rp.nonce = "third"
    world.login()
    assert world.proofs_issued == [first.holder_did, first.holder_did]


def test_site_proof_from_before_a_re_enrollment_is_replaced(world: World) -> None:
    first = world.login()
    # Re-enrollment: a newer RealName credential; the authority revoked the old site proof.
    real_name = world.issuer.credential(
        REAL,
        {"family_name": NAME[0], "verified_person": True, "assurance_level": "high"},
        {"family_name"},
        world.wallet.signing_key(world.root),
        world.root,
        index=4,
        issued_at=now() + 5,
    )
    world.wallet.add_credential(StoredCredential.from_dict(
        {"type": "RealName", "did": world.root, "issuer": AUTHORITY, "credential": real_name,
         "received_at": now()}
    ))  # fmt: skip
    world.rp.nonce = "after-re-enrollment"
    world.login()
    assert world.proofs_issued == [first.holder_did, first.holder_did]


def test_the_injected_clock_dates_the_presentation_and_the_log(world: World) -> None:
    at = now() + 20  # inside every lifetime and skew allowance, but not the system time
    world.login(clock=FixedClock(at))
    (entry,) = world.wallet.disclosures
    assert entry.at == at
    (vp,) = json.loads(world.rp.posts[-1]["vp_token"])["site"]
    kb_payload = vp.rsplit("~", 1)[-1].split(".")[1]
    assert (
        json.loads(base64.urlsafe_b64decode(kb_payload + "=" * (-len(kb_payload) % 4)))["iat"] == at
    )


# -- consent --------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["deny", "ask-no", "ask-without-callback"])
def test_refused_consent_tells_rp_and_logs(world: World, how: str) -> None:
    kwargs: dict[str, Any] = {
        "deny": {"consent": ConsentPolicy.DENY},
        "ask-no": {"consent": ConsentPolicy.ASK, "confirm": lambda s: False},
        "ask-without-callback": {"consent": ConsentPolicy.ASK},
    }[how]
    result = world.login(**kwargs)
    assert not result.released
    (form,) = world.rp.posts
    assert form["error"] == "access_denied"
    assert form["state"] == world.rp.state
    assert "vp_token" not in form
    # Nothing was created or asked of the authority; the refusal is logged.
    assert world.proofs_issued == []
    assert world.wallet.site_record(world.rp.did) is None
    (entry,) = world.wallet.disclosures
    assert entry.outcome == "refused"
    assert entry.site_did == world.wallet.site_did(world.rp.did)


# -- refusals by the wallet --------------------------------------------------------------------------
def assert_nothing_released(world: World, error: str | None = "invalid_request") -> None:
    assert world.proofs_issued == []
    assert all("vp_token" not in form for form in world.rp.posts)
    if error is None:
        assert world.rp.posts == []
    else:
        assert [form["error"] for form in world.rp.posts] == [error]


def test_not_entitled(world: World) -> None:
    world.rp.queries = (CredentialQuery("site", (SITE,), ("age_over_18", "province")),)
    error = world.refused("not-entitled")
    assert "province" in str(error)
    assert_nothing_released(world)
    (entry,) = world.wallet.disclosures
    assert entry.outcome == "failed:not-entitled"
    assert entry.claims == ("age_over_18", "province")
    assert entry.rp_name == "Example Forum Co., Ltd."


def test_not_entitled_to_real_name_claims(world: World) -> None:
    world.rp.queries = (CredentialQuery("id", (REAL,), ("id_number",)),)
    world.refused("not-entitled")
    assert_nothing_released(world)


def test_registration_missing(world: World) -> None:
    world.rp.registration = None
    world.refused("registration-missing")
    assert_nothing_released(world)
    (entry,) = world.wallet.disclosures
    assert (entry.outcome, entry.rp_name) == ("failed:registration-missing", "")


@pytest.mark.parametrize(
    "case", ["other-subject", "expired", "untrusted-issuer", "wrong-type", "malformed"]
)
def test_registration_invalid(world: World, tmp_path: Path, case: str) -> None:
    if case == "other-subject":
        world.rp.registration = world.registration(subject=world.root)
    elif case == "expired":
        world.rp.registration = world.registration(expires_in=-1)
    elif case == "untrusted-issuer":
        rogue_wallet, _ = new_wallet(tmp_path / "rogue")
        rogue_did = anchored_did(world.registry, rogue_wallet, KeyType.P256.value)
        world.issuer = Issuer(rogue_did, rogue_wallet.signing_key(rogue_did))
        world.rp.registration = world.registration()
    elif case == "wrong-type":
        world.rp.registration = world.issuer.credential(
            SITE,
            {"verified_person": True},
            set(),
            world.rp_wallet.signing_key(world.rp.did),
            world.rp.did,
        )
    else:
        world.rp.registration = world.registration(claims={"permitted": ["age_over_18"]})
    world.refused("registration-invalid")
    assert_nothing_released(world)


def test_revoked_registration(world: World) -> None:
    world.issuer.revoked.add(2)
    error = world.refused("registration-invalid")
    assert "revoked" in str(error)
    assert_nothing_released(world)


def test_registration_status_unreachable(world: World) -> None:
    world.rp.status_list_status = 503
    world.refused("registration-unverifiable")
    assert_nothing_released(world)


def test_no_real_name_credential(world: World, tmp_path: Path) -> None:
    world.wallet, _ = new_wallet(tmp_path / "fresh")
    error = world.refused("no-credential")
    assert "enroll" in str(error)
    assert_nothing_released(world, "access_denied")


def test_unsupported_credential_type(world: World) -> None:
    world.rp.queries = (CredentialQuery("biz", ("urn:realdid:Business",), ()),)
    world.refused("no-credential")
    assert_nothing_released(world, "access_denied")


# -- refusals before the request is trusted ----------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "site"),
    [
        ("hello", None),
        (CODE, None),  # a code needs --site
        (CODE, "ftp://rp.test"),
        (f"{RP}/somewhere/else", None),
        ("openid4vp://?client_id=x", None),  # no request_uri
        ("openid4vp://?request=eyJ&client_id=x", None),  # by value
        ("ZZZZ-ZZZZ", RP),  # the RP does not know the code
        ("A" * 5000, None),
    ],
)
def test_invalid_login_target(world: World, target: str, site: str | None) -> None:
    world.refused("invalid-login-target", target, site=site)
    assert world.rp.posts == []
    assert world.wallet.disclosures == []


def test_request_signed_by_another_key(world: World) -> None:
    world.rp.request_signer = LocalSigner.generate()
    world.refused("invalid-request-object")
    assert world.rp.posts == []
    assert world.wallet.disclosures == []


def test_client_id_of_url_differs_from_signed_one(world: World, tmp_path: Path) -> None:
    impostor_wallet, _ = new_wallet(tmp_path / "impostor")
    impostor = anchored_did(world.registry, impostor_wallet, KeyType.ED25519.value)
    url = authorization_url(client_id_for(impostor), f"{RP}/oid4vp/requests/1")
    world.refused("invalid-request-object", url)


def test_rp_unreachable(world: World) -> None:
    world.rp.unreachable = True
    world.refused("rp-unreachable")


@pytest.mark.parametrize("host", ["xn--", "a\ufffd.example"])
def test_a_request_uri_whose_host_no_client_can_encode_is_refused(world: World, host: str) -> None:
    # Found by fuzzing: httpx raised InvalidURL / idna.IDNAError out of the wallet.
    url = authorization_url(world.rp.client_id, f"https://{host}/oid4vp/requests/1")
    error = world.refused("rp-unreachable", url)
    assert "host is invalid" in str(error)
    assert world.rp.posts == []
    assert world.wallet.disclosures == []


def test_an_endless_request_object_is_cut_off_at_the_cap(world: World) -> None:
    world.rp.flood = Flood()
    error = world.refused("rp-unreachable")
    assert "too large" in str(error)
    assert world.rp.flood.sent <= MAX_RESPONSE_BYTES + Flood.chunk
    assert world.rp.posts == []


def test_an_endless_status_list_is_cut_off_at_the_cap(world: World) -> None:
    world.rp.flood = Flood(path="none")  # the request object is served; its status list floods
    world.refused("registration-unverifiable")
    assert world.rp.flood.sent <= MAX_RESPONSE_BYTES + Flood.chunk
    assert_nothing_released(world)


def test_rp_refuses_the_presentation(world: World) -> None:
    world.rp.refuse_with = "wrong-nonce"
    error = world.refused("rp-refused:wrong-nonce")
    assert error.diagnostics().startswith("rp-refused:wrong-nonce: ")
    (entry,) = world.wallet.disclosures
    assert entry.outcome == "failed:rp-refused:wrong-nonce"


def test_deactivated_site_did(world: World) -> None:
    first = world.login()
    world.registry.anchored(world.wallet.deactivate(world.node, first.holder_did))
    world.rp.nonce = "after"
    world.refused("site-did-deactivated")


# -- the log is encrypted and holds no values -----------------------------------------------------------
def test_log_holds_names_not_values(world: World) -> None:
    world.rp.queries = (CredentialQuery("id", (REAL,), ("family_name",)),)
    world.login()
    stored = Keystore.open(world.wallet_dir, PASSPHRASE).payload["disclosures"]
    text = json.dumps(stored, ensure_ascii=False)
    assert "family_name" in text
    assert NAME[0] not in text
    assert ID_NUMBER not in text
    raw = (world.wallet_dir / "wallet.json").read_text(encoding="utf-8")
    assert "family_name" not in raw
    assert world.rp.did not in raw
    reopened = Wallet.open(world.wallet_dir, PASSPHRASE)
    assert [d.to_dict() for d in reopened.disclosures] == stored


def test_wallet_refuses_before_calling_confirm_when_not_entitled(world: World) -> None:
    world.rp.queries = (CredentialQuery("site", (SITE,), ("province",)),)
    called: list[ConsentSummary] = []
    world.refused("not-entitled", consent=ConsentPolicy.ASK, confirm=called.append)
    assert called == []
