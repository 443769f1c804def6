"""The authority's runtime reaches the node through the registry client it is given.

``realdid serve`` gives it the node of the same process (:class:`LocalRegistryClient`), so
the authority must bootstrap its DID and resolve applicants with no HTTP at all; the node
URL below points where nothing listens, so any HTTP request would fail the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from realdid.authority import (
    AuthorityConfig,
    AuthorityRuntime,
    AuthoritySettings,
    DidKeyError,
    RegistryKeyResolver,
    SimulatedFaceMatcher,
)
from realdid.did import Did
from realdid.node import LocalRegistryClient, NodeConfig, RegistryNode

from ..node.test_api import Controller

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers HTTP there
ISSUER_URL = "https://authority.test"


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALDID_AUTHORITY_PASSPHRASE", "correct horse battery staple 42")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RegistryNode]:
    registry = RegistryNode(NodeConfig(data_dir=tmp_path / "node", batch_interval=0.02))
    registry.start()
    yield registry
    registry.stop()


def runtime(tmp_path: Path, registry: LocalRegistryClient | None) -> AuthorityRuntime:
    return AuthorityRuntime(
        AuthoritySettings(tmp_path / "authority", ISSUER_URL, NOWHERE),
        config=AuthorityConfig(issuer_url=ISSUER_URL),
        faces=SimulatedFaceMatcher(),
        registry=registry,
    )


def test_the_authority_bootstraps_and_resolves_through_a_node_in_process(
    tmp_path: Path, node: RegistryNode
) -> None:
    local = LocalRegistryClient(node)
    authority = runtime(tmp_path, local)
    authority.start()
    try:
        authority.wait_ready(timeout=60)
        issuer = authority.issuer
        assert issuer is not None
        assert node.store.state(Did.parse(issuer.did).suffix) is not None  # anchored here
        assert authority.client is local
        resolver = RegistryKeyResolver(authority.client)  # what the authority resolves with
        assert resolver.key(issuer.key_id, purpose="assertionMethod") is not None
        unknown = Controller()
        with pytest.raises(DidKeyError) as caught:
            resolver.key(f"{unknown.did}#key-1", purpose="authentication")
        assert caught.value.code == "did-not-found"
    finally:
        authority.close()


def test_without_a_registry_client_the_authority_asks_the_node_url(tmp_path: Path) -> None:
    authority = runtime(tmp_path, None)
    authority.start()
    try:
        with pytest.raises(TimeoutError):  # it keeps waiting for the node at NOWHERE
            authority.wait_ready(timeout=1.5)
        assert authority.get() is None
    finally:
        authority.close()
