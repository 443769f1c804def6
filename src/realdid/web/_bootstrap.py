"""The demo bootstrap: relying parties that are real enterprises registered with the authority.

Each relying party of the demo (:data:`~realdid.web._settings.DEMO_RPS`) goes through exactly
the steps a real one would (ADR 0012), in a background thread once the node and the authority
are up:

1. three synthetic enterprises (fixed seed) are in the authority's business register;
2. per RP (forum, hotel, bridge): a wallet under ``<data-dir>/demo/<rp>/wallet`` and a P-256
   DID, anchored; a Business credential through the authority's HTTP API
   (:func:`realdid.wallet.enroll_business`);
3. an RpRegistration credential: an in-process operator with role ``rp-registrar`` asks
   :meth:`Authority.register_relying_party` for the RP's purpose and permitted claims, and the
   RP's wallet redeems the offer over OpenID4VCI (:func:`realdid.wallet.redeem_offer`);
4. the :class:`~realdid.rp.RelyingParty` (login requests in the demo directory, DID documents
   and status lists from the node and authority, trusting only this authority).

Every step checks what is already there first, so a restart resumes or reuses (same DIDs,
same credentials, same member accounts) instead of registering again. Until the bootstrap is
done the demo ports answer 503 with a "starting" page. Secrets (the wallets' passphrase, the
session key, the OIDC client secret) are files of mode 0600 in the demo directory.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import random
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realdid import ijson
from realdid.authority import (
    RP_REGISTRATION,
    Authority,
    AuthorityRuntime,
    EnrollmentError,
    Enterprise,
    Operator,
    Role,
    generate_enterprises,
    write_business_csv,
)
from realdid.clock import Clock, SystemClock
from realdid.controller import ensure_anchored
from realdid.crypto import DEFAULT_POLICY
from realdid.http import NO_RATE_LIMITS, RateLimiter
from realdid.randomness import Randomness
from realdid.registry import NodeClient, NodeClientError, RegistryClient
from realdid.rp import (
    HttpDidResolver,
    LoginRequestStore,
    RelyingParty,
    RelyingPartyConfig,
    StatusListCache,
)
from realdid.rp.bridge import BridgeClient, create_bridge_app, load_or_create_bridge_keys
from realdid.storage import DatabaseUnavailableError, file_lock, write_private_file
from realdid.wallet import (
    AuthorityClient,
    Wallet,
    enroll_business,
    redeem_offer,
)

from ._deferred import DeferredApp
from ._forum import create_forum_app
from ._hotel import create_hotel_app
from ._oidc_site import create_oidc_site_app
from ._pages import derive_secret
from ._settings import (
    BRIDGE_OFFSET,
    DEMO_RPS,
    ENTERPRISE_SEED,
    OIDC_CLIENT_ID,
    OIDC_SITE_OFFSET,
    RETRY_SECONDS,
    RP_KEY_TYPE,
    SITE_NAMES,
    DemoRp,
    DemoSettings,
    available_sites,
)

log = logging.getLogger(__name__)


# -- files ---------------------------------------------------------------------------------
def secret_file(path: Path, make: Callable[[], str]) -> str:
    """The content of a mode-0600 secret file, created with ``make()`` on first use.

    Created exclusively: should another process create it first, its secret stands, so
    everyone reads the same one.
    """
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            write_private_file(path, make().encode("ascii"), exclusive=True)
    return path.read_text(encoding="ascii").strip()


def demo_enterprises() -> list[Enterprise]:
    """The demo's three synthetic enterprises (deterministic: :data:`ENTERPRISE_SEED`)."""
    return list(generate_enterprises(len(DEMO_RPS), random.Random(ENTERPRISE_SEED)))  # noqa: S311 - synthetic data


# -- the runtime -----------------------------------------------------------------------------
@dataclass
class DemoRelyingParty:
    """A bootstrapped relying party: its wallet DID and the SDK object serving it."""

    spec: DemoRp
    did: str
    rp: RelyingParty


@dataclass
class DemoRuntime:
    """Owns the demo apps (served at once, 503 until ready) and their bootstrap thread.

    ``clock`` and ``randomness`` reach every relying party and site it builds, and the
    secrets it creates on first start (defaults: the system clock, :mod:`secrets`);
    ``rate_limits`` every site's and the bridge's login starts.
    """

    settings: DemoSettings
    authority: AuthorityRuntime
    retry: float = RETRY_SECONDS
    clock: Clock = field(default_factory=SystemClock)
    randomness: Randomness = field(default_factory=Randomness)
    rate_limits: RateLimiter = NO_RATE_LIMITS
    apps: dict[str, DeferredApp] = field(init=False)
    relying_parties: dict[str, DemoRelyingParty] = field(init=False, default_factory=dict)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _thread: threading.Thread = field(init=False)
    _closers: list[Callable[[], None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.apps = {name: DeferredApp(SITE_NAMES[name]) for name, _ in available_sites()}
        self._thread = threading.Thread(target=self._run, name="demo-bootstrap", daemon=True)

    def served(self) -> list[tuple[str, int, DeferredApp]]:
        """``(name, port, app)`` for every demo site, by port."""
        return [
            (name, self.settings.port + offset, self.apps[name])
            for name, offset in available_sites()
        ]

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float) -> None:
        self._thread.join(timeout)
        if not all(app.ready for app in self.apps.values()):
            raise TimeoutError("the demo sites did not become ready in time")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for close in reversed(self._closers):
            try:
                close()
            except Exception:  # closing one must not keep the others open
                log.warning("demo: error while closing", exc_info=True)

    # -- bootstrap ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._bootstrap()
            except (NodeClientError, EnrollmentError, TimeoutError, DatabaseUnavailableError) as e:
                # DatabaseUnavailableError: a database restart while the sites set up; the
                # sites wait for it like for the node, instead of staying down for good.
                log.warning("demo sites waiting: %s; retrying", _diagnostics(e))
                self._stop.wait(self.retry)
                continue
            except Exception:
                log.exception("demo bootstrap failed; the demo sites stay unavailable")
                for app in self.apps.values():
                    app.fail()
            return

    def _bootstrap(self) -> None:
        authority = self._authority()
        if authority is None:
            return
        demo_dir = self.settings.demo_dir
        demo_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The worker processes of one machine set the demo up one after the other: the
        # first enrolls and registers, the others find it done and load it.
        with file_lock(demo_dir / "bootstrap.lock"):
            self._bootstrap_in(authority, demo_dir)

    def _bootstrap_in(self, authority: Authority, demo_dir: Path) -> None:
        enterprises = self._ensure_enterprises(demo_dir)
        passphrase = secret_file(demo_dir / "wallet-passphrase", lambda: self.randomness.token(32))
        node = NodeClient(self.settings.node_url)
        issuer_client = AuthorityClient(self.settings.authority_url)
        try:
            for spec, enterprise in zip(DEMO_RPS, enterprises, strict=True):
                if spec.key not in self.relying_parties:
                    self.relying_parties[spec.key] = self._relying_party(
                        authority, spec, enterprise, passphrase, node, issuer_client
                    )
        finally:
            node.close()
            issuer_client.close()
        self._build_apps(demo_dir)
        log.info(
            "demo sites ready: %s",
            ", ".join(
                f"{name} {self.settings.url(port - self.settings.port)}"
                for name, port, _ in self.served()
            ),
        )

    def _authority(self) -> Authority | None:
        while not self._stop.is_set():
            authority = self.authority.get()
            if authority is not None:
                return authority
            self._stop.wait(0.2)
        return None

    def _ensure_enterprises(self, demo_dir: Path) -> list[Enterprise]:
        """Add the demo enterprises the business register lacks (one atomic CSV import)."""
        enterprises = demo_enterprises()
        register = self.authority.business
        missing = [e for e in enterprises if register.lookup(e.uscc) is None]
        if missing:
            path = demo_dir / "enterprises.csv"
            write_business_csv(missing, path)
            register.import_csv(path)
            log.info("demo: added %d synthetic enterprises to the business register", len(missing))
        return enterprises

    def _relying_party(
        self,
        authority: Authority,
        spec: DemoRp,
        enterprise: Enterprise,
        passphrase: str,
        node: RegistryClient,
        issuer_client: AuthorityClient,
    ) -> DemoRelyingParty:
        rp_dir = self.settings.demo_dir / spec.key
        rp_dir.mkdir(mode=0o700, exist_ok=True)
        wallet = Wallet.open_or_init(rp_dir / "wallet", passphrase)
        # The RP's DID (P-256), resumable after a crash like the authority's own DID.
        did = ensure_anchored(wallet, node, key_type=RP_KEY_TYPE, timeout=60.0).did
        if _credential(wallet, did, "Business") is None:
            enroll_business(
                wallet,
                issuer_client,
                did,
                uscc=enterprise.uscc,
                company_name=enterprise.name,
                legal_representative=enterprise.legal_representative,
            )
            log.info("demo: %s enrolled as a business", spec.key)
        registration = _current_registration(wallet, did, spec, self.clock)
        if registration is None:
            offer = authority.register_relying_party(
                self._operator(authority),
                did,
                spec.purpose,
                {vct: list(claims) for vct, claims in spec.permitted.items()},
            )
            entry = redeem_offer(wallet, issuer_client, offer.offer, did, RP_REGISTRATION)
            registration = entry.credential
            log.info("demo: %s registered as a relying party", spec.key)
        issuer = self.authority.issuer
        if issuer is None:  # cannot happen once the authority is ready
            raise TimeoutError("the authority has no issuer identity yet")
        trusted = frozenset({issuer.did})
        resolver = HttpDidResolver(self.settings.node_url, ttl=60, clock=self.clock)
        status_lists = StatusListCache(
            resolver=resolver, trusted_issuers=trusted, clock=self.clock, policy=DEFAULT_POLICY
        )
        rp = RelyingParty(
            RelyingPartyConfig(
                base_url=self.settings.url(spec.offset),
                client_did=did,
                key_id=wallet.key_id(did),
                registration=registration,
                trusted_issuers=trusted,
            ),
            signer=wallet.signing_key(did),
            store=LoginRequestStore(
                self.settings.database or rp_dir / "logins.db", name=f"{spec.key}_logins"
            ),
            resolver=resolver,
            status_lists=status_lists,
            clock=self.clock,
            randomness=self.randomness,
        )
        self._closers += [resolver.close, rp.close]
        return DemoRelyingParty(spec, did, rp)

    def _operator(self, authority: Authority) -> Operator:
        """The demo's rp-registrar operator, created once (its id is kept in the demo dir)."""
        id_file = self.settings.demo_dir / "rp-registrar-operator"
        if id_file.exists():
            operator = authority.operators.get(id_file.read_text(encoding="ascii").strip())
            if operator is not None and operator.active and operator.role is Role.RP_REGISTRAR:
                return operator
        with authority.db.transaction() as tx:
            operator, _ = authority.operators.add(tx, "demo rp registrar", Role.RP_REGISTRAR)
        id_file.write_text(operator.id + "\n", encoding="ascii")
        return operator

    def _build_apps(self, demo_dir: Path) -> None:
        session_secret = base64.b64decode(
            secret_file(
                demo_dir / "session-secret",
                lambda: base64.b64encode(self.randomness.token_bytes(32)).decode(),
            )
        )
        forum = create_forum_app(
            self.relying_parties["forum"].rp,
            session_secret=session_secret,
            db_path=self.settings.database or demo_dir / "forum" / "forum.db",
            clock=self.clock,
            randomness=self.randomness,
            rate_limits=self.rate_limits,
        )
        self._closers.append(forum.state.db.close)
        self.apps["forum"].set(forum)
        self.apps["hotel"].set(
            create_hotel_app(
                self.relying_parties["hotel"].rp,
                session_secret=session_secret,
                clock=self.clock,
                randomness=self.randomness,
                rate_limits=self.rate_limits,
            )
        )
        self._build_oidc(demo_dir, session_secret)

    def _build_oidc(self, demo_dir: Path, session_secret: bytes) -> None:
        """The OIDC bridge on port+3 and the OIDC demo site (its one client) on port+1."""
        bridge_dir = demo_dir / "bridge"
        bridge_url = self.settings.url(BRIDGE_OFFSET)
        site_url = self.settings.url(OIDC_SITE_OFFSET)
        client_secret = secret_file(
            bridge_dir / "oidc-client-secret", lambda: self.randomness.token(32)
        )
        client = BridgeClient(
            client_id=OIDC_CLIENT_ID,
            client_secret=client_secret,
            redirect_uris=(f"{site_url}/auth/callback",),
            allowed_scopes=frozenset({"openid", "realdid_verified", "age_over_18"}),
            sector_identifier=urllib.parse.urlsplit(site_url).netloc,
            name=SITE_NAMES["oidc"],
        )
        keys = load_or_create_bridge_keys(bridge_dir / "keys", randomness=self.randomness)
        bridge = create_bridge_app(
            issuer=bridge_url,
            rp=self.relying_parties["bridge"].rp,
            clients=[client],
            signing_key=keys.signing_key,
            pairwise_secret=keys.pairwise_secret,
            db_path=self.settings.database or bridge_dir / "bridge.db",
            session_secret=derive_secret(session_secret, "bridge"),
            lifetimes=self.settings.bridge_lifetimes,
            clock=self.clock,
            randomness=self.randomness,
            rate_limits=self.rate_limits,
        )
        self._closers.append(bridge.state.store.close)
        self.apps["bridge"].set(bridge)
        self.apps["oidc"].set(
            create_oidc_site_app(
                bridge_issuer=bridge_url,
                client_id=OIDC_CLIENT_ID,
                client_secret=client_secret,
                base_url=site_url,
                session_secret=derive_secret(session_secret, "oidc-site"),
                randomness=self.randomness,
            )
        )


# -- steps -------------------------------------------------------------------------------------
def _credential(wallet: Wallet, did: str, credential_type: str) -> str | None:
    """The newest stored credential of ``credential_type`` for ``did``, if any."""
    for entry in reversed(wallet.credentials):
        if entry.type == credential_type and entry.did == did:
            return entry.credential
    return None


def _current_registration(
    wallet: Wallet, did: str, spec: DemoRp, clock: Clock | None = None
) -> str | None:
    """The stored RpRegistration if it says what ``spec`` asks for and is valid for at least
    another day on ``clock`` (the system clock by default)."""
    credential = _credential(wallet, did, RP_REGISTRATION)
    if credential is None:
        return None
    payload = _jwt_payload(credential.split("~", 1)[0])
    wanted = {vct: sorted(claims) for vct, claims in spec.permitted.items()}
    if (
        payload.get("purpose") != spec.purpose
        or payload.get("permitted") != wanted
        or payload.get("sub") != did
        or int(payload.get("exp", 0)) < (clock or SystemClock()).now() + 86400
    ):
        return None
    return credential


def _jwt_payload(jws: str) -> dict[str, Any]:
    """The payload of a JWS we hold ourselves (already verified by the wallet on receipt)."""
    try:
        part = jws.split(".")[1]
        value = ijson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _diagnostics(error: Exception) -> str:
    diagnostics = getattr(error, "diagnostics", None)
    return str(diagnostics()) if callable(diagnostics) else str(error)
