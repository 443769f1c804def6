"""The OpenID Connect bridge on its own (``realdid bridge serve``), as its own relying party.

The demo bootstraps its bridge inside the authority's process (:mod:`._bootstrap`); a real
deployment runs the bridge on machines of its own, under an identity of its own, made with
the same commands any relying party uses (README, "The OIDC bridge alone"):

1. ``realdid wallet init`` and ``realdid wallet did create``: the bridge's enterprise DID;
2. ``realdid wallet business-enroll``: its Business credential;
3. ``realdid authority rp register --permit SiteProof:verified_person[,age_over_18]`` by
   the authority's rp-registrar, then ``realdid wallet redeem``: its RpRegistration.

:class:`BridgeService` opens that wallet, takes the DID's newest RpRegistration, trusts the
authority that issued it, and serves :func:`~realdid.rp.bridge.create_bridge_app` for the
clients of a TOML file. Its keys and secrets are files of mode 0600 in its data directory,
made on first start; its stores are SQLite files there, or one PostgreSQL database.
"""

from __future__ import annotations

import base64
import stat
import tomllib
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from realdid.authority import RP_REGISTRATION
from realdid.clock import Clock, SystemClock
from realdid.credentials import MalformedSdJwtError, peek_sd_jwt_unverified
from realdid.crypto import DEFAULT_POLICY
from realdid.http import NO_RATE_LIMITS, RateLimiter
from realdid.randomness import Randomness
from realdid.rp import (
    HttpDidResolver,
    LoginRequestStore,
    RelyingParty,
    RelyingPartyConfig,
    StatusListCache,
)
from realdid.rp.bridge import (
    BridgeClient,
    BridgeKeyError,
    BridgeSetupError,
    Lifetimes,
    create_bridge_app,
    load_or_create_bridge_keys,
)
from realdid.wallet import Wallet

from ._bootstrap import secret_file

#: The most clients one file may list: the file is read into memory at every start.
MAX_CLIENTS = 10_000
#: How long a DID document or status list the bridge fetched is reused (seconds).
RESOLVER_TTL = 60


@dataclass(frozen=True, slots=True)
class BridgeServiceSettings:
    """Where the bridge lives, whom it answers to, and where its identity is."""

    data_dir: Path  # keys, secrets and (without a database) SQLite stores
    issuer_url: str  # public base URL, no trailing slash
    node_url: str  # the registry node it resolves through
    wallet_dir: Path  # the bridge's own wallet
    clients_file: Path  # the OIDC clients it serves (TOML)
    did: str | None = None  # the wallet's DID; None: the one with an RpRegistration
    database: str | None = None  # postgresql:// URL of its stores
    lifetimes: Lifetimes = field(default_factory=Lifetimes)


# -- the clients file ----------------------------------------------------------------------
class _ClientEntry(BaseModel):
    """One ``[[clients]]`` table of the clients file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str
    client_secret: str = Field(min_length=32)
    redirect_uris: list[str] = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1)
    sector_identifier: str | None = None
    name: str = Field(default="", max_length=200)


class _ClientsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: list[_ClientEntry] = Field(min_length=1, max_length=MAX_CLIENTS)


def load_bridge_clients(path: Path) -> list[BridgeClient]:
    """The clients of the TOML file ``path``, or :class:`BridgeSetupError` naming the
    first thing wrong. The file holds client secrets, so one that its group or others can
    read is refused, as ssh refuses such a key. Example::

        [[clients]]
        client_id = "example-news"
        client_secret = "…at least 32 characters…"
        redirect_uris = ["https://news.example/auth/callback"]
        scopes = ["openid", "realdid_verified", "age_over_18"]
        sector_identifier = "news.example"  # default: the one host of the redirect URIs
        name = "Example News"
    """
    where = f"clients file {path}"
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BridgeSetupError(
                f"{where} can be read by others and holds client secrets: chmod 600 it"
            )
        parsed = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise BridgeSetupError(f"{where}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise BridgeSetupError(f"{where} is not valid TOML: {e}") from None
    try:
        entries = _ClientsFile.model_validate(parsed).clients
    except ValidationError as e:
        first = e.errors()[0]
        at = ".".join(str(part) for part in first["loc"])
        raise BridgeSetupError(f"{where}: {at}: {first['msg']}") from None
    clients: list[BridgeClient] = []
    for number, entry in enumerate(entries):
        try:
            clients.append(_client(entry))
        except ValueError as e:
            raise BridgeSetupError(f"{where}: clients.{number}: {e}") from None
    ids = [client.client_id for client in clients]
    if len(set(ids)) != len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise BridgeSetupError(f"{where}: client_id '{twice}' is listed twice")
    return clients


def _client(entry: _ClientEntry) -> BridgeClient:
    sector = entry.sector_identifier
    if sector is None:
        hosts = {urllib.parse.urlsplit(uri).netloc for uri in entry.redirect_uris}
        if len(hosts) != 1:
            raise ValueError(
                "the redirect URIs are on several hosts: give sector_identifier (OpenID"
                " Connect Core 8.1)"
            )
        (sector,) = hosts
    return BridgeClient(
        client_id=entry.client_id,
        client_secret=entry.client_secret,
        redirect_uris=entry.redirect_uris,
        allowed_scopes=frozenset(entry.scopes),
        sector_identifier=sector,
        name=entry.name,
    )


# -- the bridge's identity -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Registration:
    did: str
    credential: str  # the RpRegistration SD-JWT VC as the authority issued it
    issuer: str  # the authority's DID: the one issuer the bridge trusts


def find_registration(wallet: Wallet, did: str | None, now: int) -> _Registration:
    """The newest unexpired RpRegistration the wallet holds for ``did`` (None: for the one
    DID that holds any), or :class:`BridgeSetupError` saying how to get one."""
    held = [entry for entry in wallet.credentials if entry.type == RP_REGISTRATION]
    if did is None:
        dids = sorted({entry.did for entry in held})
        if len(dids) > 1:
            raise BridgeSetupError(
                f"the wallet holds RpRegistrations for {len(dids)} DIDs: choose one with --did"
            )
        did = dids[0] if dids else None
    mine = [entry for entry in held if entry.did == did]
    if did is None or not mine:
        raise BridgeSetupError(
            f"the wallet holds no RpRegistration{'' if did is None else ' for ' + did}: ask"
            " the authority's rp-registrar ('realdid authority rp register --permit"
            " SiteProof:verified_person,age_over_18') and redeem the offer with 'realdid"
            " wallet redeem'"
        )
    credential = max(mine, key=lambda entry: entry.received_at).credential
    try:
        peeked = peek_sd_jwt_unverified(credential)
    except MalformedSdJwtError as e:
        raise BridgeSetupError(f"the wallet's RpRegistration is unreadable: {e}") from None
    if peeked.issuer is None:
        raise BridgeSetupError("the wallet's RpRegistration names no issuer")
    if peeked.expires_at is not None and peeked.expires_at <= now:
        raise BridgeSetupError(
            f"the RpRegistration of {did} has expired: ask the authority's rp-registrar for"
            " a new one and redeem it with 'realdid wallet redeem'"
        )
    return _Registration(did, credential, peeked.issuer)


# -- the service -------------------------------------------------------------------------------
class BridgeService:
    """The bridge's ASGI app (:attr:`app`) and what it holds open; :meth:`close` it.

    ``passphrase`` unlocks the bridge's wallet; ``rate_limits`` charges each client for the
    wallet logins ``/authorize`` starts. Every way the set-up can be wrong (no clients, no
    registration, a wrong passphrase: the wallet's own error) is one exception with one line.
    """

    def __init__(
        self,
        settings: BridgeServiceSettings,
        passphrase: str,
        *,
        rate_limits: RateLimiter = NO_RATE_LIMITS,
        clock: Clock | None = None,
        randomness: Randomness | None = None,
    ) -> None:
        clock = clock or SystemClock()
        randomness = randomness or Randomness()
        clients = load_bridge_clients(settings.clients_file)
        wallet = Wallet.open(settings.wallet_dir, passphrase)
        registration = find_registration(wallet, settings.did, clock.now())
        data_dir = settings.data_dir
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            keys = load_or_create_bridge_keys(data_dir / "keys", randomness=randomness)
        except BridgeKeyError as e:
            raise BridgeSetupError(str(e)) from None
        session_secret = base64.b64decode(
            secret_file(
                data_dir / "session-secret",
                lambda: base64.b64encode(randomness.token_bytes(32)).decode(),
            )
        )
        self._closers: list[Callable[[], Any]] = []
        try:
            rp = self._relying_party(settings, wallet, registration, clock, randomness)
            self.app: FastAPI = create_bridge_app(
                issuer=settings.issuer_url,
                rp=rp,
                clients=clients,
                signing_key=keys.signing_key,
                pairwise_secret=keys.pairwise_secret,
                db_path=settings.database or data_dir / "bridge.db",
                session_secret=session_secret,
                lifetimes=settings.lifetimes,
                clock=clock,
                randomness=randomness,
                rate_limits=rate_limits,
            )
        except ValueError as e:  # the registration does not fit the bridge, or a client
            self.close()
            raise BridgeSetupError(f"the bridge cannot serve with its registration: {e}") from None
        except BaseException:
            self.close()
            raise
        self._closers.append(self.app.state.store.close)
        self.did = registration.did
        self.trusted_issuer = registration.issuer

    def _relying_party(
        self,
        settings: BridgeServiceSettings,
        wallet: Wallet,
        registration: _Registration,
        clock: Clock,
        randomness: Randomness,
    ) -> RelyingParty:
        trusted = frozenset({registration.issuer})
        resolver = HttpDidResolver(settings.node_url, ttl=RESOLVER_TTL, clock=clock)
        self._closers.append(resolver.close)
        store = LoginRequestStore(
            settings.database or settings.data_dir / "logins.db", name="bridge_logins"
        )
        try:
            rp = RelyingParty(
                RelyingPartyConfig(
                    base_url=settings.issuer_url,
                    client_did=registration.did,
                    key_id=wallet.key_id(registration.did),
                    registration=registration.credential,
                    trusted_issuers=trusted,
                ),
                signer=wallet.signing_key(registration.did),
                store=store,
                resolver=resolver,
                status_lists=StatusListCache(
                    resolver=resolver, trusted_issuers=trusted, clock=clock, policy=DEFAULT_POLICY
                ),
                clock=clock,
                randomness=randomness,
            )
        except BaseException:
            store.close()
            raise
        self._closers.append(rp.close)  # its store and status lists with it
        return rp

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()
