"""An in-process identity authority for the service and API tests: no network, no node.

The registry is replaced by :class:`FakeResolver`, a dict of DID documents rendered from
real ``realdid.did`` objects (so DIDs and key ids are syntactically real ``did:realdid``);
the issuer is a static P-256 key whose DID document is in the same resolver, so issued
credentials and status lists verify through it. The population and business registers
are the real database implementations loaded from synthetic records, and the clock is fixed.

The ``env`` fixture keeps the authority's store and the registers where ``store_at``
says: SQLite files by default, PostgreSQL with ``REALDID_TEST_ENGINE=postgresql`` (or in
a test that asks for ``both_engines``).
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import ric

from realdid.authority import (
    Authority,
    AuthorityConfig,
    AuthorityDatabase,
    DidKeyError,
    DocumentKeyResolver,
    Enterprise,
    Offer,
    Operator,
    Resident,
    Role,
    ServiceSecrets,
    SimulatedFaceMatcher,
    SqliteBusinessRegister,
    SqliteRegister,
    X25519EscrowKey,
    encode_face,
    generate_enterprises,
    generate_residents,
    write_business_csv,
    write_csv,
)
from realdid.clock import FixedClock
from realdid.credentials import (
    BUSINESS_TYP,
    ENROLLMENT_TYP,
    SITE_PROOF_TYP,
    CredentialOffer,
    CredentialRequest,
    CredentialResponse,
    NonceResponse,
    TokenRequest,
    TokenResponse,
    VerifiedCredential,
    make_proof_jwt,
    present,
    sign_application,
    verify,
)
from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner, PublicKey, Signer
from realdid.did import (
    CreateOperation,
    DocumentContent,
    PublicKeyEntry,
    commitment_of,
)
from realdid.storage import StoreLocation

ISSUER_URL = "https://authority.test"
# 2026-06-15T00:00:00Z: every synthetic resident (born 1930-2008) is born before it.
T0 = int(datetime.datetime(2026, 6, 15, tzinfo=datetime.UTC).timestamp())
TODAY = datetime.date(2026, 6, 15)
CLIENT = "198.51.100.7"
VERIFIER = "did:realdid:verifier"


@dataclass(frozen=True, slots=True)
class Holder:
    """A DID controller: its signing key and the DID URL of that key."""

    did: str
    signer: LocalSigner

    @property
    def key_id(self) -> str:
        return f"{self.did}#key-1"


class FakeResolver(DocumentKeyResolver):
    """A :class:`~realdid.authority.DidKeyResolver` over an in-memory set of DID documents."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.deactivated: set[str] = set()
        self.contents: dict[str, DocumentContent] = {}

    def create(self, key_type: KeyType = KeyType.ED25519) -> Holder:
        signer = LocalSigner.generate(key_type)
        content = DocumentContent(
            (PublicKeyEntry("key-1", signer.public_key, ("authentication", "assertionMethod")),),
            (),
        )
        recovery = LocalSigner.generate()
        did = str(
            CreateOperation(
                content, commitment_of(signer.public_key), commitment_of(recovery.public_key)
            ).did
        )
        self.publish(did, content)
        return Holder(did, signer)

    def publish(self, did: str, content: DocumentContent) -> None:
        self.contents[did] = content
        self.documents[did] = content.render(did)

    def document(self, did: str) -> dict[str, Any]:
        if did in self.deactivated:
            raise DidKeyError("did-deactivated", "the DID is deactivated")
        document = self.documents.get(did)
        if document is None:
            raise DidKeyError("did-not-found", "the DID is not (yet) anchored in the registry")
        return document

    def issuer_keys(self, iss: str, kid: str) -> PublicKey:
        """For ``verify`` / ``verify_status_list``: the issuer's assertion key, else LookupError."""
        if kid.split("#", 1)[0] != iss:
            raise LookupError("kid is not a key of iss")
        try:
            return self.key(kid, purpose="assertionMethod")
        except DidKeyError as e:
            raise LookupError(str(e)) from e


class StaticIssuer:
    """An :class:`~realdid.authority.IssuerIdentity` whose key rotates by adding ``key-N``."""

    def __init__(self, resolver: FakeResolver) -> None:
        self._resolver = resolver
        holder = resolver.create(KeyType.P256)
        self._did = holder.did
        self._signers = [holder.signer]

    @property
    def did(self) -> str:
        return self._did

    @property
    def key_id(self) -> str:
        return f"{self._did}#key-{len(self._signers)}"

    @property
    def signer(self) -> Signer:
        return self._signers[-1]

    def rotate(self) -> str:
        """Publish a new key (the old one stays in the document), then sign with it."""
        fresh = LocalSigner.generate(KeyType.P256)
        number = len(self._signers) + 1
        content = self._resolver.contents[self._did].add_public_keys(
            [PublicKeyEntry(f"key-{number}", fresh.public_key, ("assertionMethod",))]
        )
        self._resolver.publish(self._did, content)
        self._signers.append(fresh)
        return self.key_id


def id_number_for(birth: datetime.date, *, region: str = "110105", sequence: int = 1) -> str:
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + str(ric.calc_check_digit(body + "0"))


def years_before(day: datetime.date, years: int) -> datetime.date:
    return day.replace(year=day.year - years)


@dataclass
class Env:
    """The authority under test and everything needed to talk to it and inspect it."""

    authority: Authority
    clock: FixedClock
    resolver: FakeResolver
    issuer: StaticIssuer
    escrow_key: X25519EscrowKey
    secrets: ServiceSecrets
    residents: list[Resident]
    captures: dict[str, bytes]
    enterprises: list[Enterprise]
    #: Where the authority's store is: a SQLite file, or a PostgreSQL URL.
    db_path: StoreLocation
    registers: tuple[SqliteRegister, SqliteBusinessRegister]
    operators: dict[Role, tuple[Operator, str]] = field(default_factory=dict)

    def close(self) -> None:
        self.authority.db.close()
        for register in self.registers:
            register.close()

    # -- applying ------------------------------------------------------------------------------
    def application(
        self,
        holder: Holder,
        claims: dict[str, Any],
        *,
        typ: str = ENROLLMENT_TYP,
        nonce: str | None = None,
        issued_at: int | None = None,
        audience: str = ISSUER_URL,
        key_id: str | None = None,
        signer: Signer | None = None,
    ) -> str:
        return sign_application(
            signer or holder.signer,
            key_id=key_id or holder.key_id,
            typ=typ,
            audience=audience,
            nonce=nonce if nonce is not None else self.authority.challenge()[0],
            issued_at=self.clock.now() if issued_at is None else issued_at,
            claims=claims,
        )

    def enrollment_claims(
        self,
        resident: Resident,
        *,
        name: str | None = None,
        capture: bytes | None = None,
        id_number: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id_number": resident.id_number if id_number is None else id_number,
            "name": resident.family_name + resident.given_name if name is None else name,
            "face": encode_face(self.captures[resident.id_number] if capture is None else capture),
        }

    def enroll(self, holder: Holder, resident: Resident, *, client: str = CLIENT) -> Offer:
        return self.authority.enroll(
            self.application(holder, self.enrollment_claims(resident)), client=client
        )

    def site_proof(self, root: Holder, site_did: str, *, client: str = CLIENT) -> Offer:
        jws = self.application(root, {"site_did": site_did}, typ=SITE_PROOF_TYP)
        return self.authority.request_site_proof(jws, client=client)

    def business_claims(self, enterprise: Enterprise) -> dict[str, Any]:
        return {
            "uscc": enterprise.uscc,
            "company_name": enterprise.name,
            "legal_representative": enterprise.legal_representative,
        }

    def enroll_business(self, holder: Holder, enterprise: Enterprise) -> Offer:
        jws = self.application(holder, self.business_claims(enterprise), typ=BUSINESS_TYP)
        return self.authority.enroll_business(jws, client=CLIENT)

    # -- OpenID4VCI ----------------------------------------------------------------------------
    def access_token(self, offer: Offer) -> str:
        code = CredentialOffer.from_dict(offer.offer).pre_authorized_code
        answer = self.authority.token(TokenRequest(code).to_form())
        return TokenResponse.from_dict(answer).access_token

    def proof(
        self, holder: Holder, *, nonce: str | None = None, signer: Signer | None = None
    ) -> str:
        c_nonce = (
            nonce if nonce is not None else NonceResponse.from_dict(self.authority.nonce()).c_nonce
        )
        return make_proof_jwt(
            signer or holder.signer,
            key_id=holder.key_id,
            audience=ISSUER_URL,
            nonce=c_nonce,
            issued_at=self.clock.now(),
        )

    def collect(self, offer: Offer, holder: Holder, *, access_token: str | None = None) -> str:
        token = access_token or self.access_token(offer)
        configuration = CredentialOffer.from_dict(offer.offer).configuration_ids[0]
        answer = self.authority.credential(
            token, CredentialRequest(configuration, (self.proof(holder),)).to_dict()
        )
        return CredentialResponse.from_dict(answer).credentials[0]

    def verify(
        self, sd_jwt: str, holder: Holder, disclose: set[str] | None = None
    ) -> VerifiedCredential:
        """Present (all disclosures unless told) and verify as a relying party would."""
        names = disclose if disclose is not None else _disclosable(sd_jwt)
        vp = present(
            sd_jwt,
            disclose=names,
            holder_signer=holder.signer,
            audience=VERIFIER,
            nonce="rp-nonce",
            issued_at=self.clock.now(),
        )
        return verify(
            vp,
            issuer_keys=self.resolver.issuer_keys,
            expected_audience=VERIFIER,
            expected_nonce="rp-nonce",
            now=self.clock.now(),
            max_kb_age=300,
            policy=DEFAULT_POLICY,
        )

    # -- inspecting ----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        tables = ("enrollments", "credentials", "escrow", "grants", "status_lists")
        with self.authority.db.reading() as tx:
            return {t: tx.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.authority.db.reading() as tx:
            return [tuple(row) for row in tx.execute(sql, args).fetchall()]

    def operator(self, role: Role) -> tuple[Operator, str]:
        if role not in self.operators:
            with self.authority.db.transaction() as tx:
                self.operators[role] = self.authority.operators.add(tx, f"{role.value} one", role)
        return self.operators[role]

    def audit_actions(self) -> list[tuple[str, str, dict[str, Any]]]:
        entries = self.authority.audit.entries(limit=1000)
        return [(e.actor, e.action, dict(e.detail)) for e in entries]


def _disclosable(sd_jwt: str) -> set[str]:
    import base64
    import json

    names: set[str] = set()
    for part in sd_jwt.split("~")[1:]:
        if part:
            decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            names.add(decoded[1])
    return names


def _boundary_residents(template: Resident) -> list[Resident]:
    """Residents whose ages sit exactly on the 18 and 60 boundaries on :data:`TODAY`."""
    tomorrow = TODAY + datetime.timedelta(days=1)
    births = [
        (years_before(TODAY, 18), "十八", 1),  # 18 today
        (years_before(tomorrow, 18), "十七", 3),  # 18 tomorrow: still 17
        (years_before(TODAY, 60), "六十", 5),  # 60 today
        (years_before(tomorrow, 60), "五九", 7),  # 60 tomorrow
    ]
    return [
        dataclasses.replace(
            template,
            id_number=id_number_for(birth, sequence=seq),
            family_name="边",
            given_name=given,
            sex="M",
            birth_date=birth,
            region_code="110105",
        )
        for birth, given, seq in births
    ]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def _files_in(folder: Path) -> Callable[[str], StoreLocation]:
    return lambda name: folder / f"{name}.db"


def build_env(
    tmp_path: Path,
    clock: FixedClock,
    *,
    store_at: Callable[[str], StoreLocation] | None = None,
    **config: Any,
) -> Env:
    """An authority over stores placed by ``store_at`` (default: SQLite files in ``tmp_path``)."""
    locate = store_at or _files_in(tmp_path)
    pairs = list(generate_residents(6, random.Random(4)))
    residents = [r for r, _ in pairs]
    captures = {r.id_number: c for r, c in pairs}
    # Boundary residents share resident 0's face (their own capture is resident 0's).
    for extra in _boundary_residents(residents[0]):
        residents.append(extra)
        captures[extra.id_number] = captures[residents[0].id_number]
    write_csv(residents, tmp_path / "residents.csv")
    register = SqliteRegister(locate("register"), clock=clock)
    register.import_csv(tmp_path / "residents.csv")
    enterprises = list(generate_enterprises(3, random.Random(5)))
    write_business_csv(enterprises, tmp_path / "business.csv")
    business = SqliteBusinessRegister(locate("business"), clock=clock)
    business.import_csv(tmp_path / "business.csv")
    resolver = FakeResolver()
    issuer = StaticIssuer(resolver)
    escrow_key = X25519EscrowKey.generate()
    secrets = ServiceSecrets.generate()
    db_path = locate("authority")
    authority = Authority(
        config=AuthorityConfig(**{"issuer_url": ISSUER_URL, "status_list_size": 1024, **config}),
        db=AuthorityDatabase(db_path),
        secrets=secrets,
        escrow=escrow_key.public(),
        register=register,
        business_register=business,
        faces=SimulatedFaceMatcher(),
        resolver=resolver,
        issuer=issuer,
        clock=clock,
    )
    return Env(
        authority=authority,
        clock=clock,
        resolver=resolver,
        issuer=issuer,
        escrow_key=escrow_key,
        secrets=secrets,
        residents=residents,
        captures=captures,
        enterprises=enterprises,
        db_path=db_path,
        registers=(register, business),
    )


@pytest.fixture
def env(
    tmp_path: Path, clock: FixedClock, store_at: Callable[[str], StoreLocation]
) -> Iterator[Env]:
    built = build_env(tmp_path, clock, store_at=store_at)
    yield built
    built.close()
