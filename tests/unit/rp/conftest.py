"""An in-process relying party, its issuer, holders and a minimal wallet: no network.

DIDs are real ``did:realdid`` identifiers from create operations, their documents live in
:class:`DictResolver`; the issuer is a static P-256 key; status lists are signed for real
and served by a dict that counts fetches; the clock is fixed. :class:`Wallet` answers a
request the way a wallet does: fetch the request object, verify it, present, post.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from realdid.clock import FixedClock
from realdid.credentials import (
    CredentialQuery,
    DcqlQuery,
    StatusList,
    StatusValue,
    error_response_form,
    issue,
    present,
    response_form,
    sign_status_list,
    status_reference,
    verify_request_object,
)
from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner, PublicKey
from realdid.did import CreateOperation, DocumentContent, PublicKeyEntry, commitment_of
from realdid.did import verification_key as did_verification_key
from realdid.randomness import Randomness
from realdid.rp import (
    LoginRequestStore,
    PendingLogin,
    RelyingParty,
    RelyingPartyConfig,
    ResolvedDid,
    StatusListCache,
)

T0 = 1_780_000_000
BASE_URL = "http://127.0.0.1:8090"
STATUS_URI = "https://authority.test/status-lists/1"
SITE_PROOF = "urn:realdid:SiteProof"
REAL_NAME = "urn:realdid:RealName"
PERMITTED = {
    SITE_PROOF: ["age_over_18", "age_over_60", "province", "verified_person"],
    REAL_NAME: ["family_name", "given_name", "id_number", "verified_person"],
}
SITE_CLAIMS: dict[str, Any] = {
    "verified_person": True,
    "assurance_level": "high",
    "age_over_18": True,
    "age_over_60": False,
    "province": "11",
}
SITE_SD = {"age_over_18", "age_over_60", "province"}
REAL_CLAIMS: dict[str, Any] = {
    "verified_person": True,
    "assurance_level": "high",
    "family_name": "王",
    "given_name": "小明",
    "id_number": "110105199001011234",
    "birth_date": "1990-01-01",
    "sex": "M",
    "region": "110105",
    "age_over_18": True,
    "age_over_60": False,
}
REAL_SD = set(REAL_CLAIMS) - {"verified_person", "assurance_level"}


@dataclass(frozen=True, slots=True)
class Holder:
    did: str
    signer: LocalSigner

    @property
    def key_id(self) -> str:
        return f"{self.did}#key-1"


class DictResolver:
    """A :class:`realdid.rp.DidDocumentResolver` over in-memory documents; counts lookups."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.deactivated: set[str] = set()
        self.lookups: list[str] = []
        self.fail: Exception | None = None

    def create(self, key_type: KeyType = KeyType.ED25519, purposes: tuple[str, ...] = ()) -> Holder:
        signer = LocalSigner.generate(key_type)
        content = DocumentContent(
            (
                PublicKeyEntry(
                    "key-1", signer.public_key, purposes or ("authentication", "assertionMethod")
                ),
            ),
            (),
        )
        recovery = LocalSigner.generate()
        did = str(
            CreateOperation(
                content, commitment_of(signer.public_key), commitment_of(recovery.public_key)
            ).did
        )
        self.documents[did] = content.render(did)
        return Holder(did, signer)

    def document(self, did: str) -> ResolvedDid:
        self.lookups.append(did)
        if self.fail is not None:
            raise self.fail
        document = self.documents.get(did)
        if document is None:
            raise LookupError("not anchored")
        if did in self.deactivated:
            return ResolvedDid({"id": did}, deactivated=True)
        return ResolvedDid(document, deactivated=False)

    def key(self, kid: str, purpose: str = "authentication") -> PublicKey:
        document = self.documents[kid.partition("#")[0]]
        key = did_verification_key(document, kid, purpose=purpose) or did_verification_key(
            document, kid, purpose="assertionMethod"
        )
        if key is None:
            raise LookupError(kid)
        return key


class StatusServer:
    """The issuer's status list endpoint: signs the current list on every fetch."""

    def __init__(self, issuer: Holder, clock: FixedClock, ttl: int = 120) -> None:
        self.issuer = issuer
        self.clock = clock
        self.ttl = ttl
        self.entries = StatusList(size=1024)
        self.fetches: list[str] = []
        self.down = False
        self.next_index = 0

    def allocate(self) -> int:
        self.next_index += 1
        return self.next_index

    def revoke(self, index: int) -> None:
        self.entries.set(index, StatusValue.INVALID)

    def token(self, signer: LocalSigner | None = None) -> str:
        now = self.clock.now()
        return sign_status_list(
            self.entries,
            uri=STATUS_URI,
            issuer=self.issuer.did,
            signer=signer or self.issuer.signer,
            key_id=self.issuer.key_id,
            issued_at=now,
            expires_at=now + 86_400,
            ttl=self.ttl,
        )

    def __call__(self, uri: str) -> str:
        self.fetches.append(uri)
        if self.down:
            raise ConnectionError("status server down")
        if uri != STATUS_URI:
            raise ConnectionError("no such list")
        return self.token()


@dataclass
class Credential:
    """An issued SD-JWT and its holder."""

    sd_jwt: str
    holder: Holder
    status_index: int


@dataclass
class RpEnv:
    clock: FixedClock
    resolver: DictResolver
    issuer: Holder
    rp_holder: Holder
    status: StatusServer
    store: LoginRequestStore
    status_cache: StatusListCache
    rp: RelyingParty
    registration: str
    closers: list[Any] = field(default_factory=list)

    def issue(
        self,
        holder: Holder,
        *,
        vct: str = SITE_PROOF,
        claims: Mapping[str, Any] | None = None,
        sd: set[str] | None = None,
        issuer: Holder | None = None,
        subject: str | None = "",
        expires_in: int = 86_400,
        status: bool = True,
        issued_at: int | None = None,
        status_index: int | None = None,
    ) -> Credential:
        signer_of = issuer or self.issuer
        body = dict(
            claims if claims is not None else (SITE_CLAIMS if vct == SITE_PROOF else REAL_CLAIMS)
        )
        disclosable = sd if sd is not None else (SITE_SD if vct == SITE_PROOF else REAL_SD)
        index = self.status.allocate() if status_index is None else status_index
        start = self.clock.now() if issued_at is None else issued_at
        sd_jwt = issue(
            body,
            selectively_disclosable=disclosable & set(body),
            issuer=signer_of.did,
            signer=signer_of.signer,
            key_id=signer_of.key_id,
            holder_jwk=holder.signer.public_key.to_jwk(),
            vct=vct,
            issued_at=start,
            expires_at=start + expires_in,
            salt=_salt,
            status=status_reference(STATUS_URI, index) if status else None,
            subject=holder.did if subject == "" else subject,
        )
        return Credential(sd_jwt, holder, index)

    def site_holder(self) -> Holder:
        return self.resolver.create(KeyType.ED25519, ("authentication",))

    def request(
        self, vct: str = SITE_PROOF, claims: tuple[str, ...] = ("age_over_18",)
    ) -> PendingLogin:
        return self.rp.create_request(DcqlQuery((CredentialQuery("login", (vct,), claims),)))


def _salt() -> bytes:
    import secrets

    return secrets.token_bytes(16)


class Wallet:
    """The wallet side of one login, step by step so tests can tamper with each step."""

    def __init__(self, env: RpEnv, pending: PendingLogin) -> None:
        self.env = env
        self.pending = pending
        jws = env.rp.request_object(pending.request_id)
        self.request = verify_request_object(
            jws,
            resolve_key=env.resolver.key,
            now=env.clock.now(),
            policy=DEFAULT_POLICY,
            expected_client_id=env.rp.config.client_id,
        )

    @property
    def query(self) -> CredentialQuery:
        return self.request.dcql_query.credentials[0]

    def presentation(
        self,
        credential: Credential,
        *,
        disclose: set[str] | None = None,
        audience: str | None = None,
        nonce: str | None = None,
        issued_at: int | None = None,
        signer: LocalSigner | None = None,
    ) -> str:
        names = set(self.query.claims) if disclose is None else disclose
        available = _disclosable(credential.sd_jwt)
        return present(
            credential.sd_jwt,
            disclose=names & available,
            holder_signer=signer or credential.holder.signer,
            audience=audience or self.request.client_id,
            nonce=nonce or self.request.nonce,
            issued_at=self.env.clock.now() if issued_at is None else issued_at,
        )

    def form(self, presentation: str, *, query_id: str | None = None) -> dict[str, str]:
        return response_form({query_id or self.query.id: [presentation]}, self.request.state)

    def answer(self, credential: Credential, **kwargs: Any) -> dict[str, str]:
        return self.form(self.presentation(credential, **kwargs))

    def refuse(self) -> dict[str, str]:
        return error_response_form("access_denied", "the person said no", self.request.state)


def _disclosable(sd_jwt: str) -> set[str]:
    import base64
    import json

    names: set[str] = set()
    for part in sd_jwt.split("~")[1:]:
        if part:
            decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            names.add(decoded[1])
    return names


def registration_for(
    resolver: DictResolver,
    issuer: Holder,
    rp_did: str,
    clock: FixedClock,
    *,
    permitted: Mapping[str, list[str]] | None = None,
) -> str:
    rp_key = resolver.key(f"{rp_did}#key-1")
    return issue(
        {
            "rp_name": "Example Forum Ltd",
            "purpose": "Adults-only discussion forum",
            "permitted": dict(permitted or PERMITTED),
        },
        selectively_disclosable=set(),
        issuer=issuer.did,
        signer=issuer.signer,
        key_id=issuer.key_id,
        holder_jwk=rp_key.to_jwk(),
        vct="urn:realdid:RpRegistration",
        issued_at=clock.now(),
        expires_at=clock.now() + 365 * 86_400,
        salt=_salt,
        status=status_reference(STATUS_URI, 0),
        subject=rp_did,
    )


def build_rp(
    clock: FixedClock,
    resolver: DictResolver,
    issuer: Holder,
    status: StatusServer,
    *,
    store_path: str = ":memory:",
    randomness: Randomness | None = None,
    **config: Any,
) -> RpEnv:
    rp_holder = resolver.create(KeyType.P256)
    registration = registration_for(resolver, issuer, rp_holder.did, clock)
    cache = StatusListCache(
        status,
        resolver=resolver,
        trusted_issuers=frozenset({issuer.did}),
        clock=clock,
        policy=DEFAULT_POLICY,
        max_ttl=300,
    )
    store = LoginRequestStore(store_path)
    rp = RelyingParty(
        RelyingPartyConfig(
            base_url=BASE_URL,
            client_did=rp_holder.did,
            key_id=rp_holder.key_id,
            registration=registration,
            trusted_issuers=frozenset({issuer.did}),
            **config,
        ),
        signer=rp_holder.signer,
        store=store,
        resolver=resolver,
        status_lists=cache,
        clock=clock,
        randomness=randomness,
    )
    return RpEnv(clock, resolver, issuer, rp_holder, status, store, cache, rp, registration)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def env(clock: FixedClock) -> Iterator[RpEnv]:
    resolver = DictResolver()
    issuer = resolver.create(KeyType.P256, ("assertionMethod",))
    status = StatusServer(issuer, clock)
    built = build_rp(clock, resolver, issuer, status)
    yield built
    built.rp.close()
