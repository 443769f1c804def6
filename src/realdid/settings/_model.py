"""The settings of one RealDID installation: five sections, each field typed and explained.

A field's ``description`` is its documentation: ``docs/configuration.md`` is generated from
these models (``tests/unit/settings/test_reference.py`` fails when the page is stale), and
``json_schema_extra["flags"]`` names the command-line options that set the field. The
defaults are those of the command-line flags, so a run with no file and no environment
behaves exactly as the flags alone always did.

Every section forbids unknown keys (``extra="forbid"``): a misspelt key in a TOML file
(``[node] prot = 8080``) would otherwise be ignored silently and the node would start on
the default port, the opposite of what the operator asked for.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from realdid.authority import (
    AuthorityConfig,
    AuthoritySettings,
    FaceMatcher,
    SimulatedFaceMatcher,
)
from realdid.credentials import MAX_STATUS_LIST_ENTRIES
from realdid.crypto import AlgorithmPolicy

from ._errors import SettingsError

if TYPE_CHECKING:
    from realdid.node import NodeConfig
    from realdid.rp.bridge import Lifetimes
    from realdid.web import DemoSettings

ENV_PREFIX = "REALDID_"
ENV_NESTED_DELIMITER = "__"
_DAY = 86400
_DEFAULTS = AuthorityConfig(issuer_url="http://defaults.invalid")
Algorithm = Literal["EdDSA", "ES256", "ES256K"]  # what realdid.crypto verifies (DEFAULT_POLICY)

FACE_MATCHERS: dict[str, Callable[[float], FaceMatcher]] = {
    "simulated": SimulatedFaceMatcher,
}
"""The face matchers an installation can choose by name (``authority.face_matcher``).

Only the simulated one exists (ARCHITECTURE.md §7: a deployment plugs a certified
biometric matcher in); a real adapter is one more entry here, built from the threshold.
"""


class LedgerKind(enum.StrEnum):
    """Where the node anchors its batches."""

    SOLO = "solo"
    EVM = "evm"


def _setting_error(template: str, **context: Any) -> PydanticCustomError:
    """An error whose message is a sentence about the setting: ``{setting}`` is filled in
    with where the value came from (``--node``, an environment variable, a file key)."""
    return PydanticCustomError("realdid_setting", template, {"setting": "{setting}", **context})


def _http_url(value: str) -> str:
    url = value.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise _setting_error("{setting} must be an http(s) URL, got '{url}'", url=url)
    return url


def _flags(*flags: str) -> dict[str, Any]:
    return {"flags": list(flags)}


def _positive_seconds(default: int, description: str) -> Any:
    return Field(default=default, gt=0, description=f"{description} (seconds).")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(_Section):
    """``[node]``: the registry node of ``realdid serve`` and its ledger."""

    data_dir: Path | None = Field(
        default=None,
        description="Where the node keeps its database, batch files and ledger"
        " (required by realdid serve).",
        json_schema_extra=_flags("serve --data-dir"),
    )
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Interface to listen on.",
        json_schema_extra=_flags("serve --host"),
    )
    port: int = Field(
        default=8080,
        ge=1,
        le=65535,
        description="TCP port.",
        json_schema_extra=_flags("serve --port"),
    )
    batch_interval: float = Field(
        default=0.5,
        ge=0.01,
        le=3600,
        description="Seconds between batch cuts.",
        json_schema_extra=_flags("serve --batch-interval"),
    )
    max_batch_operations: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description="Operations per batch at most.",
        json_schema_extra=_flags("serve --max-batch"),
    )
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="Largest request body the node reads (bytes)."
    )
    max_operations_per_request: int = Field(
        default=1_000, gt=0, description="Operations one submission may carry at most."
    )
    claim_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds after which an operation whose anchor is not applied"
        " is anchored again.",
    )
    peers: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Base URLs of consortium nodes to fetch batch files from (a list; on the"
        " command line and in the environment, comma-separated).",
        json_schema_extra=_flags("serve --peers"),
    )
    ledger: LedgerKind = Field(
        default=LedgerKind.SOLO,
        description="solo: embedded signed block log; evm: anchor contract on an EVM chain.",
        json_schema_extra=_flags("serve --ledger"),
    )
    evm_url: str | None = Field(
        default=None,
        description="JSON-RPC URL of the EVM chain (ledger evm).",
        json_schema_extra=_flags("serve --evm-url"),
    )
    anchor_contract: str | None = Field(
        default=None,
        description="Address of the RealDIDAnchor contract (ledger evm).",
        json_schema_extra=_flags("serve --anchor-contract"),
    )
    anchorer_key_file: Path | None = Field(
        default=None,
        description="secp256k1 key (hex) of a permitted anchorer; without it the node only"
        " follows (ledger evm).",
        json_schema_extra=_flags("serve --anchorer-key-file"),
    )
    confirmations: int = Field(
        default=2,
        ge=0,
        le=1000,
        description="Blocks an anchor must be buried under before it is applied (ledger evm).",
        json_schema_extra=_flags("serve --confirmations"),
    )

    @field_validator("peers", mode="before")
    @classmethod
    def _split_peers(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("peers")
    @classmethod
    def _peer_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise _setting_error("{setting}: '{url}' is not an http(s) URL", url=url)
        return value

    @property
    def url(self) -> str:
        """The node's base URL as the processes beside it reach it."""
        return f"http://{self.host}:{self.port}"


class AuthoritySection(_Section):
    """``[authority]``: the identity authority (beside the node, or alone)."""

    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Interface the authority listens on.",
        json_schema_extra=_flags("serve --host", "authority serve --host"),
    )
    port: int = Field(
        default=8081,
        ge=0,
        le=65535,
        description="TCP port of the identity authority (0: realdid serve runs the registry"
        " node only).",
        json_schema_extra=_flags("serve --authority-port", "authority serve --port"),
    )
    data_dir: Path | None = Field(
        default=None,
        description="Authority data directory (default for realdid serve: the node's data"
        " directory + /authority).",
        json_schema_extra=_flags("authority serve --data-dir"),
    )
    node_url: str | None = Field(
        default=None,
        description="Registry node base URL the authority resolves through (default for"
        " realdid serve: the node beside it).",
        json_schema_extra=_flags("authority serve --node"),
    )
    issuer_url: str | None = Field(
        default=None,
        description="Public base URL (credential issuer identifier); default http://HOST:PORT.",
        json_schema_extra=_flags("authority serve --issuer-url"),
    )
    face_matcher: str = Field(
        default="simulated",
        description="The face matcher enrollment compares captures with: one of "
        + ", ".join(sorted(FACE_MATCHERS))
        + " (simulated is for development only).",
    )
    face_threshold: float = Field(
        default=0.9,
        ge=-1.0,
        le=1.0,
        description="Similarity a capture must reach to match its register template.",
    )
    real_name_lifetime: int = _positive_seconds(
        _DEFAULTS.real_name_lifetime, "How long a RealName credential is valid"
    )
    site_proof_lifetime: int = _positive_seconds(
        _DEFAULTS.site_proof_lifetime, "How long a SiteProof credential is valid"
    )
    business_lifetime: int = _positive_seconds(
        _DEFAULTS.business_lifetime, "How long a business credential is valid"
    )
    rp_registration_lifetime: int = _positive_seconds(
        _DEFAULTS.rp_registration_lifetime, "How long an RpRegistration credential is valid"
    )
    challenge_ttl: int = _positive_seconds(
        _DEFAULTS.challenge_ttl, "How long an enrollment challenge can be answered"
    )
    offer_ttl: int = _positive_seconds(
        _DEFAULTS.offer_ttl, "How long a credential offer can be redeemed"
    )
    token_ttl: int = _positive_seconds(
        _DEFAULTS.token_ttl, "How long an OpenID4VCI access token is valid"
    )
    application_max_age: int = _positive_seconds(
        _DEFAULTS.application_max_age, "Oldest signed application accepted"
    )
    status_list_size: int = Field(
        default=_DEFAULTS.status_list_size,
        ge=1,
        le=MAX_STATUS_LIST_ENTRIES,
        description="Entries per status list (more entries: larger herd privacy).",
    )
    status_list_ttl: int = _positive_seconds(
        _DEFAULTS.status_list_ttl, "How long verifiers may cache a status list token"
    )
    status_list_validity: int = _positive_seconds(
        _DEFAULTS.status_list_validity, "How long a status list token is valid"
    )
    max_failures_per_subject: int = Field(
        default=_DEFAULTS.max_failures_per_subject,
        gt=0,
        description="Failed face matches of one resident before the lockout.",
    )
    max_failures_per_client: int = Field(
        default=_DEFAULTS.max_failures_per_client,
        gt=0,
        description="Failed attempts from one client address before the lockout.",
    )
    failure_window: int = _positive_seconds(
        _DEFAULTS.failure_window, "Window the failure counts are kept for"
    )
    allowed_algorithms: tuple[Algorithm, ...] = Field(
        default=("EdDSA", "ES256", "ES256K"),
        min_length=1,
        description="JOSE algorithms the authority accepts in wallets' proofs and applications.",
    )

    @field_validator("node_url", "issuer_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("face_matcher")
    @classmethod
    def _known_matcher(cls, value: str) -> str:
        if value not in FACE_MATCHERS:
            raise _setting_error(
                "{setting}: unknown face matcher '{name}'; known: {known}",
                name=value,
                known=", ".join(sorted(FACE_MATCHERS)),
            )
        return value


class DemoSection(_Section):
    """``[demo]``: the demo relying parties beside the authority (ADR 0012)."""

    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Interface the demo sites listen on; also their public host.",
        json_schema_extra=_flags("serve --host"),
    )
    port: int = Field(
        default=0,
        ge=0,
        le=65532,
        description="Serve the demo sites: forum on this port, OIDC demo site +1, hotel +2,"
        " OIDC bridge +3 (0: no demo; needs the authority).",
        json_schema_extra=_flags("serve --demo-port"),
    )


class BridgeSection(_Section):
    """``[bridge]``: the OpenID Connect bridge's lifetimes (RFC 6749 §4.1.2: codes short)."""

    code_lifetime: int = _positive_seconds(120, "How long an authorization code is valid")
    access_token_lifetime: int = _positive_seconds(3600, "How long an access token is valid")
    id_token_lifetime: int = _positive_seconds(600, "How long an ID token is valid")
    used_code_memory: int = _positive_seconds(
        3600, "How long a redeemed code is remembered to refuse its replay"
    )


class LogSection(_Section):
    """``[log]``: what the servers log."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe log level written."
    )

    def configure(self) -> None:
        """Set up the root logger of a serving process (httpx's per-request lines off)."""
        logging.basicConfig(
            level=self.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(self.level)))


class _SectionsOnlyEnv(EnvSettingsSource):
    """The environment, read only field by field (``REALDID_NODE__PORT``).

    A whole section as one JSON variable is not read: ``REALDID_NODE`` already means the
    registry node URL of the wallet commands, and must not be parsed as the ``[node]``
    section of ``realdid serve``.
    """

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        _, key, is_complex = super().get_field_value(field, field_name)
        return None, key, is_complex


class RealDIDSettings(BaseSettings):
    """Everything ``realdid serve`` and ``realdid authority serve`` are configured with.

    Build it with :func:`~realdid.settings.load_settings` (flags > environment > TOML
    file > defaults); constructed directly it reads keyword arguments and the environment.
    The ``*_config`` / ``*_settings`` methods build the objects each service takes.
    Example::

        >>> settings = RealDIDSettings(node={"data_dir": "/srv/realdid"})
        >>> settings.node_config().batch_interval
        0.5
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    node: NodeSection = Field(default_factory=NodeSection, description="The registry node.")
    authority: AuthoritySection = Field(
        default_factory=AuthoritySection, description="The identity authority."
    )
    demo: DemoSection = Field(default_factory=DemoSection, description="The demo sites.")
    bridge: BridgeSection = Field(
        default_factory=BridgeSection, description="The OpenID Connect bridge."
    )
    log: LogSection = Field(default_factory=LogSection, description="Logging.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _SectionsOnlyEnv(settings_cls)

    # -- the registry node ------------------------------------------------------------------
    def node_config(self) -> NodeConfig:
        """The registry node's :class:`~realdid.node.NodeConfig`.

        A node on an EVM chain without an anchorer key only follows the chain, so it
        refuses operations (``accepts_operations``).
        """
        from realdid.node import NodeConfig  # noqa: PLC0415 - every CLI command loads this module

        node = self.node
        if node.data_dir is None:
            raise SettingsError("node.data_dir is not set: give --data-dir")
        return NodeConfig(
            data_dir=node.data_dir,
            batch_interval=node.batch_interval,
            max_batch_operations=node.max_batch_operations,
            max_request_bytes=node.max_request_bytes,
            max_operations_per_request=node.max_operations_per_request,
            peers=node.peers,
            claim_timeout=node.claim_timeout,
            accepts_operations=node.ledger is LedgerKind.SOLO or node.anchorer_key_file is not None,
        )

    # -- the identity authority -------------------------------------------------------------
    def issuer_url(self) -> str:
        """The authority's public base URL, without a trailing slash."""
        authority = self.authority
        return authority.issuer_url or f"http://{authority.host}:{authority.port}"

    def authority_settings(self) -> AuthoritySettings:
        """Where the authority keeps its data and which node it resolves through.

        Unset, both default to the node of this installation: ``realdid serve`` runs the
        authority beside it in ``<node data dir>/authority``.
        """
        authority = self.authority
        data_dir = authority.data_dir
        if data_dir is None:
            if self.node.data_dir is None:
                raise SettingsError("authority.data_dir is not set: give --data-dir")
            data_dir = self.node.data_dir / "authority"
        return AuthoritySettings(
            data_dir=data_dir,
            issuer_url=self.issuer_url(),
            node_url=authority.node_url or self.node.url,
        )

    def authority_config(self) -> AuthorityConfig:
        """The authority's :class:`~realdid.authority.AuthorityConfig`, every field set."""
        a = self.authority
        return AuthorityConfig(
            issuer_url=self.issuer_url(),
            real_name_lifetime=a.real_name_lifetime,
            site_proof_lifetime=a.site_proof_lifetime,
            business_lifetime=a.business_lifetime,
            rp_registration_lifetime=a.rp_registration_lifetime,
            challenge_ttl=a.challenge_ttl,
            offer_ttl=a.offer_ttl,
            token_ttl=a.token_ttl,
            application_max_age=a.application_max_age,
            status_list_size=a.status_list_size,
            status_list_ttl=a.status_list_ttl,
            status_list_validity=a.status_list_validity,
            max_failures_per_subject=a.max_failures_per_subject,
            max_failures_per_client=a.max_failures_per_client,
            failure_window=a.failure_window,
            policy=AlgorithmPolicy(frozenset(a.allowed_algorithms)),
        )

    def face_matcher(self) -> FaceMatcher:
        """The chosen face matcher (``authority.face_matcher``) at its threshold."""
        return FACE_MATCHERS[self.authority.face_matcher](self.authority.face_threshold)

    @property
    def simulated_faces(self) -> bool:
        """True when enrollment's face matching is the development simulation."""
        return self.authority.face_matcher == "simulated"

    # -- the demo sites and the bridge ------------------------------------------------------
    def demo_settings(self) -> DemoSettings:
        """The demo's :class:`~realdid.web.DemoSettings`: it reaches this installation's
        node and authority, and keeps its state under the node's data directory."""
        from realdid.web import DemoSettings  # noqa: PLC0415 - the web layer loads only for the demo

        if self.node.data_dir is None:
            raise SettingsError("node.data_dir is not set: give --data-dir")
        return DemoSettings(
            data_dir=self.node.data_dir,
            host=self.demo.host,
            port=self.demo.port,
            node_url=self.node.url,
            authority_url=self.issuer_url(),
            bridge_lifetimes=self.bridge_lifetimes(),
        )

    def bridge_lifetimes(self) -> Lifetimes:
        """The OpenID Connect bridge's :class:`~realdid.rp.bridge.Lifetimes`."""
        from realdid.rp.bridge import Lifetimes  # noqa: PLC0415 - only with the demo

        b = self.bridge
        return Lifetimes(
            code=b.code_lifetime,
            access_token=b.access_token_lifetime,
            id_token=b.id_token_lifetime,
            used_code_memory=b.used_code_memory,
        )
