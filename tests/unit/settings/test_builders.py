"""The settings build the services' own configuration objects, every field carried over.

Each ``*_config`` test sets every field to a value that is not its default, so a field the
builder forgets (or a new field of the target class without a setting) fails here.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from realdid.authority import AuthorityConfig, SimulatedFaceMatcher
from realdid.crypto import DEFAULT_POLICY, AlgorithmPolicy
from realdid.node import NodeConfig
from realdid.rp.bridge import Lifetimes
from realdid.settings import FACE_MATCHERS, Flag, SettingsError, load_settings

from .conftest import write_toml

AUTHORITY_TOML = """
[authority]
host = "10.0.0.2"
port = 9443
issuer_url = "https://id.example/"
real_name_lifetime = 11
site_proof_lifetime = 12
business_lifetime = 13
rp_registration_lifetime = 14
challenge_ttl = 15
offer_ttl = 16
token_ttl = 17
application_max_age = 18
status_list_size = 19
status_list_ttl = 20
status_list_validity = 21
max_failures_per_subject = 22
max_failures_per_client = 23
failure_window = 24
allowed_algorithms = ["ES256"]
"""


def test_authority_config_carries_every_field(tmp_path: Path) -> None:
    config = load_settings(config_file=write_toml(tmp_path, AUTHORITY_TOML)).authority_config()
    defaults = AuthorityConfig(issuer_url="http://unused.test")
    for field in dataclasses.fields(AuthorityConfig):
        assert getattr(config, field.name) != getattr(defaults, field.name), field.name
    assert config.issuer_url == "https://id.example"
    assert config.real_name_lifetime == 11
    assert config.failure_window == 24
    assert config.policy == AlgorithmPolicy(frozenset({"ES256"}))


def test_default_authority_config_is_the_one_it_replaces() -> None:
    config = load_settings().authority_config()
    assert config == AuthorityConfig(issuer_url="http://127.0.0.1:8081")
    assert config.policy == DEFAULT_POLICY


def test_an_unknown_algorithm_is_refused(tmp_path: Path) -> None:
    config = write_toml(tmp_path, '[authority]\nallowed_algorithms = ["HS256"]\n')
    with pytest.raises(
        SettingsError, match=r"^authority\.allowed_algorithms in .*: Input should be"
    ):
        load_settings(config_file=config)


def _unit(x: float, y: float) -> bytes:
    return struct.pack("<64f", x, y, *([0.0] * 62))


def test_the_face_matcher_is_chosen_by_name_with_its_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    matcher = load_settings().face_matcher()
    assert isinstance(matcher, SimulatedFaceMatcher)
    assert matcher.threshold == 0.9
    # cos(template, capture) ~ 0.8 (float32): below the default threshold, above 0.75.
    template, capture = _unit(1.0, 0.0), _unit(0.8, 0.6)
    assert not matcher.compare(template, capture).matched
    monkeypatch.setenv("REALDID_AUTHORITY__FACE_THRESHOLD", "0.75")
    assert load_settings().face_matcher().compare(template, capture).matched
    assert load_settings().simulated_faces


def test_an_unknown_face_matcher_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALDID_AUTHORITY__FACE_MATCHER", "acme")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.diagnostics() == (
        "environment variable REALDID_AUTHORITY__FACE_MATCHER: unknown face matcher 'acme';"
        f" known: {', '.join(sorted(FACE_MATCHERS))}"
    )


def test_the_face_threshold_is_a_cosine_similarity() -> None:
    flags = {"authority.face_threshold": Flag("--x", 1.5)}
    with pytest.raises(SettingsError, match="less than or equal to 1"):
        load_settings(flags)


NODE_TOML = """
[node]
data_dir = "{data_dir}"
batch_interval = 1.5
max_batch_operations = 7
max_request_bytes = 1000
max_operations_per_request = 3
peers = ["http://peer.test"]
claim_timeout = 9.0
ledger = "evm"
database = "postgresql://node@db.test/registry"
read_only = true
rebuild_processes = 3
"""


def test_node_config_carries_every_field(tmp_path: Path) -> None:
    text = NODE_TOML.format(data_dir=tmp_path / "node")
    config = load_settings(config_file=write_toml(tmp_path, text)).node_config()
    defaults = NodeConfig(data_dir=Path("unused"))
    for field in dataclasses.fields(NodeConfig):
        assert getattr(config, field.name) != getattr(defaults, field.name), field.name
    assert config.data_dir == tmp_path / "node"
    assert config.peers == ("http://peer.test",)
    # On a chain without an anchorer key the node only follows.
    assert config.accepts_operations is False
    key = {"node.anchorer_key_file": Flag("--anchorer-key-file", tmp_path / "key")}
    assert load_settings(key, write_toml(tmp_path, text)).node_config().accepts_operations


def test_a_node_needs_its_data_directory() -> None:
    with pytest.raises(SettingsError, match=r"^node\.data_dir is not set"):
        load_settings().node_config()


def test_the_authority_beside_the_node_defaults_to_the_node(tmp_path: Path) -> None:
    flags = {
        "node.data_dir": Flag("--data-dir", tmp_path),
        "node.port": Flag("--port", 9080),
        "authority.port": Flag("--authority-port", 9081),
    }
    runtime = load_settings(flags).authority_settings()
    assert runtime.data_dir == tmp_path / "authority"
    assert runtime.node_url == "http://127.0.0.1:9080"
    assert runtime.issuer_url == "http://127.0.0.1:9081"
    assert runtime.database is None


def test_the_authority_and_demo_share_the_node_database_unless_given_their_own(
    tmp_path: Path,
) -> None:
    shared = "postgresql://realdid@db.test/realdid"
    flags = {
        "node.data_dir": Flag("--data-dir", tmp_path),
        "node.database": Flag("--database", shared),
    }
    settings = load_settings(flags)
    assert settings.node_config().database == shared
    assert settings.authority_settings().database == shared
    assert settings.demo_settings().database == shared
    own = "postgresql://authority@db.test/authority"
    flags["authority.database"] = Flag("--authority-database", own)
    settings = load_settings(flags)
    assert settings.authority_settings().database == own
    assert settings.node_config().database == shared


def test_the_authority_alone_has_its_own_directory_and_node(tmp_path: Path) -> None:
    flags = {
        "authority.data_dir": Flag("--data-dir", tmp_path / "a"),
        "authority.node_url": Flag("--node", "http://node.test/"),
    }
    runtime = load_settings(flags).authority_settings()
    assert (runtime.data_dir, runtime.node_url) == (tmp_path / "a", "http://node.test")


def test_demo_settings_reach_this_installation(tmp_path: Path) -> None:
    text = "[demo]\nport = 9300\n[bridge]\ncode_lifetime = 60\nid_token_lifetime = 61\n"
    flags = {"node.data_dir": Flag("--data-dir", tmp_path)}
    demo = load_settings(flags, write_toml(tmp_path, text)).demo_settings()
    assert demo.demo_dir == tmp_path / "demo"
    assert (demo.port, demo.node_url, demo.authority_url) == (
        9300,
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8081",
    )
    assert demo.bridge_lifetimes == Lifetimes(
        code=60, access_token=3600, id_token=61, used_code_memory=3600
    )


def test_bridge_lifetimes_default_to_the_bridges_own() -> None:
    assert load_settings().bridge_lifetimes() == Lifetimes()


BRIDGE_TOML = """
[bridge]
host = "::1"
port = 9555
data_dir = "{root}/bridge"
database = "postgresql://bridge@db.test/realdid"
node_url = "https://node.example"
wallet_dir = "{root}/wallet"
did = "did:realdid:QmBridge"
clients_file = "{root}/clients.toml"
code_lifetime = 30
"""


def test_bridge_service_settings_carry_every_field(tmp_path: Path) -> None:
    from realdid.web import BridgeServiceSettings

    settings = load_settings(config_file=write_toml(tmp_path, BRIDGE_TOML.format(root=tmp_path)))
    service = settings.bridge_service_settings()
    assert service == BridgeServiceSettings(
        data_dir=tmp_path / "bridge",
        issuer_url="http://[::1]:9555",
        node_url="https://node.example",
        wallet_dir=tmp_path / "wallet",
        clients_file=tmp_path / "clients.toml",
        did="did:realdid:QmBridge",
        database="postgresql://bridge@db.test/realdid",
        lifetimes=Lifetimes(code=30),
    )
    public = {"bridge.issuer_url": Flag("--issuer-url", "https://login.example")}
    assert load_settings(public).bridge_url() == "https://login.example"


@pytest.mark.parametrize(
    ("missing", "flag"),
    [
        ("data_dir", "--data-dir"),
        ("node_url", "--node"),
        ("wallet_dir", "--wallet-dir"),
        ("clients_file", "--clients"),
    ],
)
def test_the_bridge_service_names_the_setting_it_lacks(
    tmp_path: Path, missing: str, flag: str
) -> None:
    text = "\n".join(
        line
        for line in BRIDGE_TOML.format(root=tmp_path).splitlines()
        if not line.startswith(missing)
    )
    settings = load_settings(config_file=write_toml(tmp_path, text))
    with pytest.raises(SettingsError) as caught:
        settings.bridge_service_settings()
    assert str(caught.value) == f"bridge.{missing} is not set: give {flag}"


@pytest.mark.parametrize(
    ("setting", "value"),
    [("node_url", "ftp://node.test"), ("issuer_url", "node.test"), ("database", "mysql://x")],
)
def test_the_bridge_refuses_a_bad_address(tmp_path: Path, setting: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^bridge\.{setting} in "):
        load_settings(config_file=write_toml(tmp_path, f'[bridge]\n{setting} = "{value}"\n'))
