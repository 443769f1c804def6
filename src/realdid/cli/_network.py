"""The one seam between the commands and the network: which httpx transport they use.

:func:`realdid.cli.create_app` puts a :class:`Network` on the root Typer context; every
command that talks HTTP (to a registry node, the authority or a website) builds its
client through it. By default the transport is None, i.e. httpx's real network
transport. Tests give ``create_app`` an ``httpx.MockTransport`` or the transport of an
in-process app instead, so a command's own code (URLs, headers, error lines) runs
unchanged with no network and no patching of module internals (HOUSE_STYLE §8).

Example::

    >>> transport = httpx.MockTransport(lambda request: httpx.Response(503))
    >>> CliRunner().invoke(create_app(transport), ["resolve", did, "--node", "http://n.test"])
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import typer

from realdid.registry import NodeClient
from realdid.wallet import AuthorityClient, StoredCredential, Wallet, request_site_proof


@dataclass(frozen=True, slots=True)
class Network:
    """Builds the commands' HTTP clients over one transport (None: the real network)."""

    transport: httpx.BaseTransport | None = None

    def node(self, url: str) -> NodeClient:
        return NodeClient(url, transport=self.transport)

    def authority(self, url: str) -> AuthorityClient:
        return AuthorityClient(url, transport=self.transport)

    def http(self, *, timeout: float) -> httpx.Client:
        """A plain client (the authority's admin API, websites); redirects are not followed."""
        return httpx.Client(timeout=timeout, follow_redirects=False, transport=self.transport)

    def site_proof(
        self, wallet: Wallet, authority_url: str, root_did: str, site_did: str
    ) -> StoredCredential:
        """The login flow's ``SiteProofSource``: the authority reached over this transport."""
        client = self.authority(authority_url)
        try:
            return request_site_proof(wallet, client, root_did, site_did)
        finally:
            client.close()


def network(ctx: typer.Context) -> Network:
    """The running command's :class:`Network`; the real network if no app factory set one."""
    return ctx.ensure_object(Network)
