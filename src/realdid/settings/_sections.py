"""The six sections of the settings, each field typed, bounded and explained.

A field's ``description`` is its documentation: ``docs/configuration.md`` is generated from
these models (``tests/unit/settings/test_reference.py`` fails when the page is stale), and
``json_schema_extra["flags"]`` names the command-line options that set the field. The
defaults are those of the command-line flags, so a run with no file and no environment
behaves exactly as the flags alone always did.

Every section forbids unknown keys (``extra="forbid"``): a misspelt key in a TOML file
(``[node] prot = 8080``) or variable (``REALDID_NODE__PROT``) would otherwise be ignored
silently and the node would start on the default port, not the one the operator asked for.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import NoDecode

from realdid.authority import AuthorityConfig, FaceMatcher, SimulatedFaceMatcher
from realdid.credentials import MAX_STATUS_LIST_ENTRIES
from realdid.http import Rate, RateLimiter
from realdid.serving import HttpLimits
from realdid.storage import is_postgres_url


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]
"""A list: a TOML array, or one comma-separated string (an environment variable is not
decoded as JSON: ``NoDecode``)."""

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


def _database_url(value: str | None) -> str | None:
    """A PostgreSQL URL, checked by its scheme only: the message never repeats the value,
    which may hold a password."""
    if value is not None and not is_postgres_url(value):
        raise _setting_error(
            "{setting} must be a postgresql:// URL (leave it unset to keep SQLite files in"
            " the data directory)"
        )
    return value


def _flags(*flags: str) -> dict[str, Any]:
    return {"flags": list(flags)}


def _listen_host(description: str, *flags: str) -> Any:
    """An interface to listen on: the loopback one unless the operator opens it up."""
    return Field(
        default="127.0.0.1", min_length=1, description=description, json_schema_extra=_flags(*flags)
    )


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
        json_schema_extra=_flags("serve --data-dir", "node serve --data-dir"),
    )
    host: str = _listen_host("Interface to listen on.", "serve --host", "node serve --host")
    port: int = Field(
        default=8080,
        ge=1,
        le=65535,
        description="TCP port.",
        json_schema_extra=_flags("serve --port", "node serve --port"),
    )
    batch_interval: float = Field(
        default=0.5,
        ge=0.01,
        le=3600,
        description="Seconds between batch cuts.",
        json_schema_extra=_flags("serve --batch-interval", "node serve --batch-interval"),
    )
    max_batch_operations: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description="Operations per batch at most.",
        json_schema_extra=_flags("serve --max-batch", "node serve --max-batch"),
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
    rebuild_processes: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Processes that apply a large ledger backlog (a fresh node's rebuild),"
        " sharded by DID. Unset: one per core; 1: the writer alone.",
    )
    peers: CommaList = Field(
        default=(),
        description="Base URLs of consortium nodes to fetch batch files from (a list; on the"
        " command line and in the environment, comma-separated).",
        json_schema_extra=_flags("serve --peers", "node serve --peers"),
    )
    ledger: LedgerKind = Field(
        default=LedgerKind.SOLO,
        description="solo: embedded signed block log; evm: anchor contract on an EVM chain.",
        json_schema_extra=_flags("serve --ledger", "node serve --ledger"),
    )
    evm_url: str | None = Field(
        default=None,
        description="JSON-RPC URL of the EVM chain (ledger evm).",
        json_schema_extra=_flags("serve --evm-url", "node serve --evm-url"),
    )
    anchor_contract: str | None = Field(
        default=None,
        description="Address of the RealDIDAnchor contract (ledger evm).",
        json_schema_extra=_flags("serve --anchor-contract", "node serve --anchor-contract"),
    )
    anchorer_key_file: Path | None = Field(
        default=None,
        description="secp256k1 key (hex) of a permitted anchorer; without it the node only"
        " follows (ledger evm).",
        json_schema_extra=_flags("serve --anchorer-key-file", "node serve --anchorer-key-file"),
    )
    confirmations: int = Field(
        default=2,
        ge=0,
        le=1000,
        description="Blocks an anchor must be buried under before it is applied (ledger evm).",
        json_schema_extra=_flags("serve --confirmations", "node serve --confirmations"),
    )

    database: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:password@host/db) of the node's stores;"
        " unset: SQLite files in the data directory. realdid serve's authority and demo"
        " sites use it too unless authority.database is set.",
        json_schema_extra=_flags("serve --database", "node serve --database"),
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Processes serving HTTP (the node, and the authority and demo sites of"
        " realdid serve); one of them is elected to cut batches. Unset: one per core.",
        json_schema_extra=_flags("serve --workers", "node serve --workers"),
    )
    read_only: bool = Field(
        default=False,
        description="A resolver replica: serve resolution and the explorer from the store"
        " the writer keeps (node.database, or the data directory on this machine), write"
        " nothing; realdid serve then starts no authority and no demo sites.",
        json_schema_extra=_flags("serve --read-only", "node serve --read-only"),
    )

    @field_validator("database")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        return _database_url(value)

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

    host: str = _listen_host(
        "Interface the authority listens on.", "serve --host", "authority serve --host"
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
    database: str | None = Field(
        default=None,
        description="PostgreSQL URL of the authority's stores (default for realdid serve:"
        " node.database); unset: SQLite files in its data directory.",
        json_schema_extra=_flags("authority serve --database"),
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Processes serving realdid authority serve. Unset: one per core.",
        json_schema_extra=_flags("authority serve --workers"),
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

    @field_validator("database")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        return _database_url(value)

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

    host: str = _listen_host(
        "Interface the demo sites listen on; also their public host.", "serve --host"
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
    """``[bridge]``: the OpenID Connect bridge — its lifetimes (RFC 6749 §4.1.2: codes
    short), and where ``realdid bridge serve`` runs it alone, as its own relying party."""

    host: str = _listen_host("Interface realdid bridge serve listens on.", "bridge serve --host")
    port: int = Field(
        default=8084,
        ge=1,
        le=65535,
        description="TCP port of realdid bridge serve.",
        json_schema_extra=_flags("bridge serve --port"),
    )
    issuer_url: str | None = Field(
        default=None,
        description="The bridge's public base URL: its OpenID Provider issuer identifier"
        " and the address wallets post to; default http://HOST:PORT.",
        json_schema_extra=_flags("bridge serve --issuer-url"),
    )
    data_dir: Path | None = Field(
        default=None,
        description="Where realdid bridge serve keeps its signing key, pairwise secret,"
        " session secret and (without a database) its SQLite stores.",
        json_schema_extra=_flags("bridge serve --data-dir"),
    )
    database: str | None = Field(
        default=None,
        description="PostgreSQL URL of the bridge's stores; unset: SQLite files in its data"
        " directory.",
        json_schema_extra=_flags("bridge serve --database"),
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Processes serving realdid bridge serve. Unset: one per core.",
        json_schema_extra=_flags("bridge serve --workers"),
    )
    node_url: str | None = Field(
        default=None,
        description="Registry node base URL the bridge resolves DIDs and status lists"
        " through (required by realdid bridge serve).",
        json_schema_extra=_flags("bridge serve --node"),
    )
    wallet_dir: Path | None = Field(
        default=None,
        description="The bridge's own wallet: its enterprise DID with a redeemed"
        " RpRegistration credential (passphrase from REALDID_PASSPHRASE or a prompt).",
        json_schema_extra=_flags("bridge serve --wallet-dir"),
    )
    did: str | None = Field(
        default=None,
        description="The wallet's DID the bridge signs login requests with; default: the"
        " one DID of the wallet that holds an RpRegistration.",
        json_schema_extra=_flags("bridge serve --did"),
    )
    clients_file: Path | None = Field(
        default=None,
        description="TOML file of the OpenID Connect clients the bridge serves, with their"
        " secrets: readable by its owner only (docs/configuration.md).",
        json_schema_extra=_flags("bridge serve --clients"),
    )
    code_lifetime: int = _positive_seconds(120, "How long an authorization code is valid")
    access_token_lifetime: int = _positive_seconds(3600, "How long an access token is valid")
    id_token_lifetime: int = _positive_seconds(600, "How long an ID token is valid")
    used_code_memory: int = _positive_seconds(
        3600, "How long a redeemed code is remembered to refuse its replay"
    )

    @field_validator("node_url", "issuer_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("database")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        return _database_url(value)


def _ip_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise _setting_error(
            "{setting} must list IP addresses or networks (e.g. 10.0.0.5, 10.0.0.0/24),"
            " got '{value}'",
            value=value[:64],
        ) from None


def _ip_networks(value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_ip_network(item) for item in value)


IpNetworks = Annotated[CommaList, AfterValidator(_ip_networks)]
"""IP addresses or networks, normalised (``10.0.0.5`` → ``10.0.0.5/32``)."""


class HttpSection(_Section):
    """``[http]``: what every HTTP server of the process accepts from one client
    (``realdid.serving.HttpLimits``); each worker process applies them on its own."""

    max_request_line: int = Field(
        default=8 * 1024, ge=256, le=1024 * 1024, description="Longest request target (bytes)."
    )
    max_head_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request line plus headers (bytes); beyond it 431.",
    )
    max_headers: int = Field(
        default=100, ge=8, le=10_000, description="Most header fields in one request."
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's head, from its connection or"
        " its first byte; then 408.",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds a request body may pause between bytes; then 408.",
    )
    keep_alive_timeout: float = Field(
        default=5.0, gt=0, le=3600, description="Seconds an idle keep-alive connection is kept."
    )
    max_connections: int = Field(
        default=2048,
        ge=1,
        le=1_000_000,
        description="Connections one worker process holds at most; beyond it 503.",
    )
    trusted_proxies: IpNetworks = Field(
        default=(),
        description="Addresses or networks of reverse proxies whose X-Forwarded-For and"
        " X-Forwarded-Proto are believed (comma-separated in the environment). Empty: the"
        " client is the peer of the connection, whatever it claims.",
    )

    def limits(self) -> HttpLimits:
        """The :class:`~realdid.serving.HttpLimits` of these settings."""
        return HttpLimits(
            max_request_line=self.max_request_line,
            max_head_bytes=self.max_head_bytes,
            max_headers=self.max_headers,
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            keep_alive_timeout=self.keep_alive_timeout,
            max_connections=self.max_connections,
        )


def _per_second(what: str, default: float) -> Any:
    return Field(
        default=default,
        ge=0,
        le=1_000_000,
        description=f"{what} one client may make per second, sustained (0: no limit).",
    )


def _burst(default: int) -> Any:
    return Field(
        default=default,
        ge=1,
        le=1_000_000,
        description="How many of them one client may make at once before the rate applies.",
    )


class RateLimitSection(_Section):
    """``[rate_limits]``: per-client token buckets (``realdid.http.RateLimiter``) on the
    work an outsider can make a service repeat cheaply. A client is an IPv4 address or an
    IPv6 /64 (behind listed ``[http] trusted_proxies``, the address they forward). The
    workers of one machine share the counts; each machine counts on its own."""

    operations_per_second: float = _per_second("DID operations (node intake)", 100.0)
    operations_burst: int = _burst(1_000)
    challenges_per_second: float = _per_second("Enrollment challenges", 5.0)
    challenges_burst: int = _burst(30)
    enrollments_per_second: float = _per_second(
        "Applications (enrollments, site proofs, business enrollments)", 1.0
    )
    enrollments_burst: int = _burst(20)
    login_requests_per_second: float = _per_second(
        "Logins started (a site's /login, the bridge's /authorize)", 10.0
    )
    login_requests_burst: int = _burst(60)
    exempt: IpNetworks = Field(
        default=(),
        description="Addresses or networks never limited, e.g. an operator's own batch"
        " clients (comma-separated in the environment).",
    )
    buckets: int = Field(
        default=65_536,
        ge=64,
        le=16_777_216,
        description="Clients tracked at once per machine (24 bytes each); beyond it the"
        " least recently seen start again with a full bucket.",
    )

    def limiter(self) -> RateLimiter:
        """A :class:`~realdid.http.RateLimiter` of these settings. Make it before worker
        processes fork: they share its memory."""
        rules = {
            "operations": (self.operations_per_second, self.operations_burst),
            "challenges": (self.challenges_per_second, self.challenges_burst),
            "enrollments": (self.enrollments_per_second, self.enrollments_burst),
            "login-requests": (self.login_requests_per_second, self.login_requests_burst),
        }
        rates = {rule: Rate(rate, burst) for rule, (rate, burst) in rules.items() if rate > 0}
        return RateLimiter(rates, exempt=self.exempt, buckets=self.buckets)


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record. Written here: the standard library has no JSON
    formatter, and the fields are few and fixed."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class LogSection(_Section):
    """``[log]``: what the servers log."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe log level written."
    )
    format: Literal["text", "json"] = Field(
        default="text",
        description="text: one readable line per record; json: one JSON object per line"
        " (time, level, logger, pid, message, exception) for a log collector.",
    )

    def configure(self) -> None:
        """Set up the root logger of a serving process (httpx's per-request lines off).

        Every record — uvicorn's too, which the servers hand to the root logger — goes to
        standard error in the chosen format, with the process id: a service runs as
        several worker processes. Like :func:`logging.basicConfig`, it leaves a root
        logger that already has a handler as it is (a command run twice in one process).
        """
        root = logging.getLogger()
        root.setLevel(self.level)
        if root.handlers:
            return
        handler = logging.StreamHandler()
        handler.setFormatter(
            JsonLineFormatter()
            if self.format == "json"
            else logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
        )
        root.addHandler(handler)
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(self.level)))
