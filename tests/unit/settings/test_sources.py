"""Flags > environment > TOML file > defaults, field by field, and the one-line errors.

Each layer is merged key by key: a flag the user did not pass (``Flag(..., None)``) or a
key the file leaves out keeps the lower layer's value. A refused value is one line that
names the setting and where it came from, so the operator knows what to fix where.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from realdid.settings import CONFIG_ENV, Flag, SettingsError, env_name, load_settings

from .conftest import write_toml

# (section, field, TOML literal, environment value, flag value, default, the parsed values)
PRECEDENCE = [
    ("node", "port", "7001", "7002", 7003, 8080, (7001, 7002, 7003)),
    ("authority", "face_threshold", "0.5", "0.6", 0.7, 0.9, (0.5, 0.6, 0.7)),
    ("demo", "port", "9000", "9100", 9200, 0, (9000, 9100, 9200)),
    ("bridge", "code_lifetime", "30", "40", 50, 120, (30, 40, 50)),
    ("log", "level", '"DEBUG"', "WARNING", "ERROR", "INFO", ("DEBUG", "WARNING", "ERROR")),
]


def _value(section: str, field: str, **kwargs: object) -> object:
    return getattr(getattr(load_settings(**kwargs), section), field)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("section", "field", "toml", "env", "flag", "default", "parsed"), PRECEDENCE
)
def test_flag_beats_environment_beats_file_beats_default(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    section: str,
    field: str,
    toml: str,
    env: str,
    flag: object,
    default: object,
    parsed: tuple[object, object, object],
) -> None:
    from_file, from_env, from_flag = parsed
    config = write_toml(tmp_path, f"[{section}]\n{field} = {toml}\n")
    flags = {f"{section}.{field}": Flag("--x", flag)}
    assert _value(section, field) == default
    assert _value(section, field, config_file=config) == from_file
    monkeypatch.setenv(env_name(section, field), env)
    assert _value(section, field, config_file=config) == from_env
    assert _value(section, field, config_file=config, flags=flags) == from_flag


def test_a_flag_not_passed_leaves_the_lower_layers_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_toml(tmp_path, "[node]\nport = 7001\nhost = '0.0.0.0'\n")
    monkeypatch.setenv("REALDID_NODE__BATCH_INTERVAL", "2.5")
    unset = {
        "node.port": Flag("--port", None),
        "node.host": Flag("--host", None),
        "node.batch_interval": Flag("--batch-interval", None),
    }
    node = load_settings(unset, config).node
    assert (node.port, node.host, node.batch_interval) == (7001, "0.0.0.0", 2.5)  # noqa: S104


def test_nested_environment_names() -> None:
    assert env_name("node", "port") == "REALDID_NODE__PORT"
    assert env_name("authority", "face_threshold") == "REALDID_AUTHORITY__FACE_THRESHOLD"


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("realdid_node__port", "8181")
    assert load_settings().node.port == 8181


def test_the_wallet_commands_node_url_is_not_the_node_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # REALDID_NODE is the registry node URL of `realdid wallet ...`; it must not be parsed
    # as a JSON [node] section (and fail) when the same shell runs `realdid serve`.
    monkeypatch.setenv("REALDID_NODE", "http://127.0.0.1:8080")
    monkeypatch.setenv("REALDID_NODE__PORT", "8282")
    assert load_settings().node.port == 8282


def test_peers_are_a_list_in_the_file_and_comma_separated_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_toml(tmp_path, '[node]\npeers = ["http://a.test", "https://b.test"]\n')
    assert load_settings(config_file=config).node.peers == ("http://a.test", "https://b.test")
    monkeypatch.setenv("REALDID_NODE__PEERS", "http://c.test, http://d.test")
    assert load_settings(config_file=config).node.peers == ("http://c.test", "http://d.test")
    flags = {"node.peers": Flag("--peers", "")}
    assert load_settings(flags, config).node.peers == ()


def test_the_file_can_be_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(write_toml(tmp_path, "[node]\nport = 7010\n")))
    assert load_settings().node.port == 7010


def _error(**kwargs: object) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**kwargs)  # type: ignore[arg-type]
    message = caught.value.diagnostics()
    assert "\n" not in message
    return message


def test_an_unknown_key_in_the_file_is_refused(tmp_path: Path) -> None:
    # extra="forbid": a misspelt key would otherwise be ignored and its default used.
    config = write_toml(tmp_path, "[node]\nprot = 8080\n")
    message = _error(config_file=config)
    assert message.startswith(f"node.prot in {config}: not a setting; [node] has data_dir, host")
    config = write_toml(tmp_path, "[nodes]\nport = 8080\n")
    assert _error(config_file=config) == (
        f"nodes in {config}: not a setting; the sections are node, authority, demo, bridge, log, http, rate_limits"
    )


def test_a_range_error_names_the_setting_and_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_toml(tmp_path, "[node]\nport = 70000\n")
    assert _error(config_file=config) == (
        f"node.port in {config}: Input should be less than or equal to 65535, got 70000"
    )
    monkeypatch.setenv("REALDID_NODE__PORT", "0")
    assert _error(config_file=config) == (
        "environment variable REALDID_NODE__PORT: Input should be greater than or equal to 1,"
        " got '0'"
    )
    flags = {"node.batch_interval": Flag("--batch-interval", 0.0)}
    monkeypatch.delenv("REALDID_NODE__PORT")
    config = write_toml(tmp_path, "")
    assert _error(flags=flags, config_file=config) == (
        "--batch-interval: Input should be greater than or equal to 0.01, got 0.0"
    )


def test_a_type_error_names_the_setting_and_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALDID_AUTHORITY__FACE_THRESHOLD", "high")
    assert _error() == (
        "environment variable REALDID_AUTHORITY__FACE_THRESHOLD: Input should be a valid"
        " number, unable to parse string as a number, got 'high'"
    )
    monkeypatch.delenv("REALDID_AUTHORITY__FACE_THRESHOLD")
    config = write_toml(tmp_path, '[node]\nledger = "pow"\n')
    assert _error(config_file=config) == (
        f"node.ledger in {config}: Input should be 'solo' or 'evm', got 'pow'"
    )


def test_url_errors_are_sentences_about_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = {"authority.node_url": Flag("--node", "ftp://node")}
    assert _error(flags=flags) == "--node must be an http(s) URL, got 'ftp://node'"
    monkeypatch.setenv("REALDID_AUTHORITY__ISSUER_URL", "x/")
    assert (
        _error()
        == "environment variable REALDID_AUTHORITY__ISSUER_URL must be an http(s) URL, got 'x'"
    )
    flags = {"node.peers": Flag("--peers", "http://a.test, ftp://b.test")}
    assert _error(flags=flags) == "--peers: 'ftp://b.test' is not an http(s) URL"


def test_a_database_must_be_a_postgresql_url_and_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALDID_NODE__DATABASE", "mysql://root:hunter2@db/x")
    message = _error()
    assert message == (
        "environment variable REALDID_NODE__DATABASE must be a postgresql:// URL (leave it"
        " unset to keep SQLite files in the data directory)"
    )
    assert "hunter2" not in message
    monkeypatch.setenv("REALDID_NODE__DATABASE", "postgresql://realdid:pw@db/realdid")
    assert load_settings().node.database == "postgresql://realdid:pw@db/realdid"
    flags = {"authority.database": Flag("--database", "/var/lib/authority.db")}
    assert _error(flags=flags).startswith("--database must be a postgresql:// URL")


def test_an_unreadable_or_malformed_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.toml"
    assert _error(config_file=missing) == (
        f"--config: cannot read {missing}: No such file or directory"
    )
    monkeypatch.setenv(CONFIG_ENV, str(missing))
    assert _error() == f"{CONFIG_ENV}: cannot read {missing}: No such file or directory"
    broken = write_toml(tmp_path, "[node\nport = 1\n")
    assert _error(config_file=broken).startswith(f"--config: {broken} is not valid TOML: ")


def test_a_misspelt_variable_of_a_section_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALDID_NODE__PROT", "8080")
    assert _error().startswith("environment variable REALDID_NODE__PROT: not a setting; [node] has")


def test_trusted_proxies_are_addresses_or_networks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().http.trusted_proxies == ()  # nobody's X-Forwarded-For believed
    monkeypatch.setenv("REALDID_HTTP__TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16,2001:db8::/32")
    assert load_settings().http.trusted_proxies == ("10.0.0.5/32", "10.1.0.0/16", "2001:db8::/32")
    monkeypatch.setenv("REALDID_HTTP__TRUSTED_PROXIES", "10.0.0.5,proxy.example")
    assert _error() == (
        "environment variable REALDID_HTTP__TRUSTED_PROXIES must list IP addresses or"
        " networks (e.g. 10.0.0.5, 10.0.0.0/24), got 'proxy.example'"
    )
    config = write_toml(tmp_path, '[http]\ntrusted_proxies = ["192.0.2.1"]\nmax_headers = 50\n')
    monkeypatch.delenv("REALDID_HTTP__TRUSTED_PROXIES")
    http = load_settings(config_file=config).http
    assert http.trusted_proxies == ("192.0.2.1/32",)
    assert http.limits().max_headers == 50


def test_rate_limit_exemptions_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALDID_RATE_LIMITS__EXEMPT", "::1, 192.0.2.0/24")
    assert load_settings().rate_limits.exempt == ("::1/128", "192.0.2.0/24")
    monkeypatch.setenv("REALDID_RATE_LIMITS__EXEMPT", "192.0.2.300")
    assert _error() == (
        "environment variable REALDID_RATE_LIMITS__EXEMPT must list IP addresses or"
        " networks (e.g. 10.0.0.5, 10.0.0.0/24), got '192.0.2.300'"
    )


def test_rate_limits_become_one_limiter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings().rate_limits.limiter()
    assert set(defaults._rates) == {"operations", "challenges", "enrollments", "login-requests"}
    assert defaults._rates["operations"].burst == 1_000  # a full bulk submission passes
    config = write_toml(
        tmp_path,
        "[rate_limits]\nchallenges_per_second = 0\nenrollments_burst = 3\n"
        'exempt = ["127.0.0.1", "::1"]\nbuckets = 128\n',
    )
    limits = load_settings(config_file=config).rate_limits.limiter()
    assert "challenges" not in limits._rates  # 0: not limited
    assert limits._rates["enrollments"].burst == 3
    assert [limits.retry_after("enrollments", "127.0.0.1") for _ in range(10)] == [0.0] * 10
    assert [limits.retry_after("enrollments", "10.0.0.1") > 0 for _ in range(4)] == [
        False,
        False,
        False,
        True,
    ]
    monkeypatch.setenv("REALDID_RATE_LIMITS__EXEMPT", "localhost")
    assert _error().startswith("environment variable REALDID_RATE_LIMITS__EXEMPT must list IP")
    monkeypatch.setenv("REALDID_RATE_LIMITS__EXEMPT", "")
    monkeypatch.setenv("REALDID_RATE_LIMITS__OPERATIONS_PER_SECOND", "-1")
    assert "REALDID_RATE_LIMITS__OPERATIONS_PER_SECOND" in _error()
