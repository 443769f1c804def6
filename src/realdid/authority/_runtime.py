"""Wiring an :class:`Authority` from a data directory (the embedded, single-machine layout).

``<data-dir>/`` holds:

* ``authority.db`` — the operational database; ``register.db``, ``business.db`` — registers
  (or, with ``database`` set, the schemas ``authority``, ``register`` and ``business`` of
  that PostgreSQL database; the files below stay in the data directory);
* ``service-secrets`` — data key + pepper (mode 0600, see ``_secrets.py``);
* ``issuer-wallet/`` — the authority's DID keys; passphrase from ``REALDID_AUTHORITY_PASSPHRASE``
  or, in development, ``issuer-passphrase`` (mode 0600, created on first start);
* ``escrow-public.jwk`` — the escrow trustees' public key. If it is missing on first start a
  development key pair is made and the private half written to ``trustees/escrow-private.jwk``,
  with a warning: in production the trustees generate it offline and hand over the public key.

The authority's DID is created (or resumed) through the registry node in a background thread,
so the HTTP API can start at once and answer ``authority-starting`` (503) until it is anchored.
It reaches the node through a :class:`~realdid.registry.RegistryClient`: over HTTP, or
directly when this process runs the node as well (``realdid serve``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from realdid.clock import Clock, SystemClock
from realdid.controller import KeystoreError, WeakPassphraseError, check_passphrase_strength
from realdid.randomness import Randomness
from realdid.registry import NodeClient, NodeClientError, RegistryClient
from realdid.storage import file_lock, write_private_file

from ._business import SqliteBusinessRegister
from ._config import AuthorityConfig
from ._escrow import X25519EscrowKey, X25519EscrowPublicKey
from ._face import FaceMatcher
from ._identity import WalletIssuer
from ._register import SqliteRegister
from ._resolver import RegistryKeyResolver
from ._secrets import ServiceSecrets
from ._service import Authority
from ._store import AuthorityDatabase

log = logging.getLogger(__name__)

PASSPHRASE_ENV = "REALDID_AUTHORITY_PASSPHRASE"  # noqa: S105 - a variable name


@dataclass(frozen=True, slots=True)
class AuthoritySettings:
    data_dir: Path
    issuer_url: str
    node_url: str
    #: A ``postgresql://`` URL for the authority's stores; ``None``: SQLite files in data_dir.
    database: str | None = None


def _check_passphrase_env() -> None:
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase:
        try:
            check_passphrase_strength(passphrase)
        except WeakPassphraseError as e:
            raise WeakPassphraseError(f"{PASSPHRASE_ENV}: {e}") from None


def issuer_passphrase(data_dir: Path, randomness: Randomness | None = None) -> str:
    """The issuer wallet's passphrase: from the environment, or (development) a file of 32
    random bytes made on first start, never replaced once it exists (it opens the wallet)."""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    path = data_dir / "issuer-passphrase"
    if not path.exists():
        passphrase = (randomness or Randomness()).token(32)
        write_private_file(path, passphrase.encode("ascii"), exclusive=True)
    return path.read_text().strip()


def escrow_sealer(data_dir: Path) -> X25519EscrowPublicKey:
    public_path = data_dir / "escrow-public.jwk"
    if not public_path.exists():
        trustees = data_dir / "trustees"
        trustees.mkdir(mode=0o700, exist_ok=True)
        key = X25519EscrowKey.generate()
        key.save(trustees / "escrow-private.jwk")
        key.public().save(public_path)
        log.warning(
            "development mode: generated an escrow key pair; the private key is in %s."
            " In production the escrow trustees hold it and it never touches this machine.",
            trustees,
        )
    return X25519EscrowPublicKey.load(public_path)


class AuthorityRuntime:
    """Owns the authority's resources; :meth:`get` is None until the authority's DID is ready.

    ``config`` and ``faces`` are built by the caller (``realdid.settings``), so a deployment
    chooses every tunable and its face matcher without this class knowing the choices.
    """

    def __init__(
        self,
        settings: AuthoritySettings,
        *,
        config: AuthorityConfig,
        faces: FaceMatcher,
        clock: Clock | None = None,
        registry: RegistryClient | None = None,
    ) -> None:
        """``registry``: the node's client when this process runs the node too (the caller
        closes it); None: a :class:`NodeClient` for ``settings.node_url``."""
        data_dir = settings.data_dir
        _check_passphrase_env()  # before anything starts: one error line, not a dead thread
        data_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self._config = config
        self._faces = faces
        self._clock = clock or SystemClock()
        self._authority: Authority | None = None
        self._stop = threading.Event()
        shared = settings.database  # PostgreSQL; None: one SQLite file per store
        self.db = AuthorityDatabase(shared or data_dir / "authority.db")
        # The processes of one machine create the authority's keys one after the other.
        with file_lock(data_dir / "bootstrap.lock"):
            self.secrets = ServiceSecrets.load_or_create(data_dir / "service-secrets")
            self.escrow = escrow_sealer(data_dir)
        self.register = SqliteRegister(shared or data_dir / "register.db", clock=self._clock)
        self.business = SqliteBusinessRegister(
            shared or data_dir / "business.db", clock=self._clock
        )
        self._own_client = registry is None
        self.client = registry or NodeClient(settings.node_url)
        self.issuer: WalletIssuer | None = None
        self._thread = threading.Thread(
            target=self._bootstrap, name="authority-bootstrap", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def get(self) -> Authority | None:
        return self._authority

    def _bootstrap(self) -> None:
        data_dir = self.settings.data_dir
        while not self._stop.is_set():
            try:
                # One process at a time: the first makes the issuer's DID, the others load it.
                with file_lock(data_dir / "bootstrap.lock"):
                    passphrase = issuer_passphrase(data_dir)
                    issuer = WalletIssuer.bootstrap(
                        data_dir / "issuer-wallet", passphrase, self.client
                    )
                break
            except NodeClientError as e:
                log.warning("authority waiting for the registry node: %s", e.diagnostics())
                time.sleep(1.0)
            except KeystoreError as e:  # e.g. a passphrase that does not open the wallet
                log.error(
                    "the identity authority cannot open its issuer wallet (%s); it answers"
                    " 503 until restarted with the wallet's passphrase in %s",
                    e,
                    PASSPHRASE_ENV,
                )
                return
        else:
            return
        self.issuer = issuer
        self._authority = Authority(
            config=self._config,
            db=self.db,
            secrets=self.secrets,
            escrow=self.escrow,
            register=self.register,
            business_register=self.business,
            faces=self._faces,
            resolver=RegistryKeyResolver(self.client),
            issuer=issuer,
            clock=self._clock,
        )
        log.info("identity authority ready at %s (issuer %s)", self.settings.issuer_url, issuer.did)

    def wait_ready(self, timeout: float) -> Authority:
        self._thread.join(timeout)
        if self._authority is None:
            raise TimeoutError("the authority did not become ready in time")
        return self._authority

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=5)
        if self._own_client:
            self.client.close()
        self.register.close()
        self.business.close()
        self.db.close()
