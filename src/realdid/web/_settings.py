"""The demo's configuration: which relying parties it runs, on which ports, under which names.

``realdid serve --demo-port N`` serves the forum on N, the OIDC demo site on N+1, the hotel
on N+2 and the OIDC bridge on N+3 (:data:`SITE_OFFSETS`); :class:`DemoSettings` says where
the demo keeps its state and how it reaches this process's node and authority, and each
:class:`DemoRp` what a relying party registers for (ADR 0012).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from realdid.credentials import CredentialType
from realdid.crypto import KeyType
from realdid.rp.bridge import Lifetimes

ENTERPRISE_SEED = 20260615  # fixed: the same three synthetic enterprises on every machine
RP_KEY_TYPE = KeyType.P256
OIDC_CLIENT_ID = "example-news"
RETRY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class DemoRp:
    """One relying party of the demo: where it is served and what it is registered for."""

    key: str  # "forum", "hotel", "bridge": its directory under demo/
    offset: int  # port offset from --demo-port
    purpose: str
    permitted: Mapping[str, tuple[str, ...]]


DEMO_RPS: tuple[DemoRp, ...] = (
    DemoRp(
        "forum",
        0,
        "Community forum: members must be verified adults",
        {CredentialType.SITE_PROOF: ("age_over_18", "verified_person")},
    ),
    DemoRp(
        "hotel",
        2,
        "Hotel guest registration required by law",
        {CredentialType.REAL_NAME: ("family_name", "given_name", "id_number")},
    ),
    DemoRp(
        "bridge",
        3,
        "Sign in with RealDID for OpenID Connect websites",
        {CredentialType.SITE_PROOF: ("age_over_18", "verified_person")},
    ),
)
OIDC_SITE_OFFSET = 1
BRIDGE_OFFSET = 3
SITE_OFFSETS = {"forum": 0, "oidc": OIDC_SITE_OFFSET, "hotel": 2, "bridge": BRIDGE_OFFSET}


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """Where the demo lives and how it reaches the node and authority of this process."""

    data_dir: Path  # the serve data dir; the demo keeps its state in data_dir / "demo"
    host: str  # the interface served on; also the demo sites' public host
    port: int  # --demo-port
    node_url: str
    authority_url: str
    bridge_lifetimes: Lifetimes = field(default_factory=Lifetimes)  # the OIDC bridge's
    #: A ``postgresql://`` URL for the demo's stores; ``None``: SQLite files in demo_dir.
    database: str | None = None

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"

    def url(self, offset: int) -> str:
        """The public base URL of the demo site at ``port + offset`` (no trailing slash)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port + offset}"


SITE_NAMES = {
    "forum": "RealDID Community Forum",
    "oidc": "Example News",
    "hotel": "Harbour Hotel",
    "bridge": "RealDID OpenID Connect bridge",
}


def available_sites() -> list[tuple[str, int]]:
    """``(name, port offset)`` of the demo sites, by port."""
    return sorted(SITE_OFFSETS.items(), key=lambda site: site[1])
