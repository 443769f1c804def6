""":class:`RealDIDSettings`: the six sections together, and the configs built from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from realdid.authority import AuthorityConfig, AuthoritySettings, FaceMatcher
from realdid.crypto import AlgorithmPolicy

from ._errors import SettingsError
from ._sections import (
    FACE_MATCHERS,
    AuthoritySection,
    BridgeSection,
    DemoSection,
    HttpSection,
    LedgerKind,
    LogSection,
    NodeSection,
    RateLimitSection,
)

if TYPE_CHECKING:
    from realdid.node import NodeConfig
    from realdid.rp.bridge import Lifetimes
    from realdid.web import BridgeServiceSettings, DemoSettings

_T = TypeVar("_T")
ENV_PREFIX = "REALDID_"
ENV_NESTED_DELIMITER = "__"


class _SectionsOnlyEnv(EnvSettingsSource):
    """The environment, read only field by field (``REALDID_NODE__PORT``).

    A whole section as one JSON variable is not read: ``REALDID_NODE`` already means the
    registry node URL of the wallet commands, and must not be parsed as the ``[node]``
    section of ``realdid serve``.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
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
    http: HttpSection = Field(
        default_factory=HttpSection, description="Limits every HTTP server applies to clients."
    )
    rate_limits: RateLimitSection = Field(
        default_factory=RateLimitSection, description="Per-client rate limits."
    )

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
            database=node.database,
            read_only=node.read_only,
            rebuild_processes=node.rebuild_processes,
        )

    # -- the identity authority -------------------------------------------------------------
    def issuer_url(self) -> str:
        """The authority's public base URL, without a trailing slash."""
        authority = self.authority
        return authority.issuer_url or f"http://{authority.host}:{authority.port}"

    def authority_settings(self) -> AuthoritySettings:
        """Where the authority keeps its data and which node it resolves through.

        Unset, all three default to the node of this installation: ``realdid serve`` runs
        the authority beside it in ``<node data dir>/authority``, on the node's database.
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
            database=authority.database or self.node.database,
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
            database=self.node.database,
        )

    def bridge_service_settings(self) -> BridgeServiceSettings:
        """What ``realdid bridge serve`` runs with: the ``[bridge]`` section, every place
        it needs given."""
        from realdid.web import BridgeServiceSettings  # noqa: PLC0415 - only for the bridge

        b = self.bridge
        return BridgeServiceSettings(
            data_dir=_required(b.data_dir, "bridge.data_dir", "--data-dir"),
            issuer_url=self.bridge_url(),
            node_url=_required(b.node_url, "bridge.node_url", "--node"),
            wallet_dir=_required(b.wallet_dir, "bridge.wallet_dir", "--wallet-dir"),
            clients_file=_required(b.clients_file, "bridge.clients_file", "--clients"),
            did=b.did,
            database=b.database,
            lifetimes=self.bridge_lifetimes(),
        )

    def bridge_url(self) -> str:
        """The standalone bridge's public base URL, without a trailing slash."""
        b = self.bridge
        host = f"[{b.host}]" if ":" in b.host else b.host
        return b.issuer_url or f"http://{host}:{b.port}"

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


def _required(value: _T | None, setting: str, flag: str) -> _T:
    if value is None:
        raise SettingsError(f"{setting} is not set: give {flag}")
    return value
