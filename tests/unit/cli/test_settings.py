"""``--config`` of the serving commands: the file's values reach the services' configs,
a bad file is one error line, and the flags the docs name are the commands' own.

The settings the serve command runs with come from :func:`serve_settings`, tested here on
a parsed command line (click's context records which options were typed) without serving.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from realdid.cli import create_app
from realdid.cli._authority import AUTHORITY_SERVE_OPTIONS
from realdid.cli._bridge import BRIDGE_SERVE_OPTIONS
from realdid.cli._serve import NODE_SERVE_OPTIONS, SERVE_OPTIONS, serve_settings
from realdid.settings import RealDIDSettings

from .conftest import invoke, one_line_error


@pytest.fixture(autouse=True)
def no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if ("__" in name and name.upper().startswith("REALDID_")) or name == "REALDID_CONFIG":
            monkeypatch.delenv(name)


def _parsed(*args: str | Path) -> typer.Context:
    """The context of ``realdid serve ARGS`` as click parsed it (nothing runs)."""
    command = get_command(create_app()).commands["serve"]  # type: ignore[attr-defined]
    context: typer.Context = command.make_context("serve", [str(a) for a in args])
    return context


def test_a_file_value_reaches_the_node_config(tmp_path: Path) -> None:
    config = tmp_path / "realdid.toml"
    config.write_text(
        "[node]\nport = 9123\nbatch_interval = 2.0\nmax_request_bytes = 1000\n", encoding="utf-8"
    )
    context = _parsed("--data-dir", tmp_path / "node", "--config", config, "--batch-interval", 3)
    settings = serve_settings(context, SERVE_OPTIONS)
    node = settings.node_config()
    assert node.data_dir == tmp_path / "node"
    assert node.max_request_bytes == 1000  # from the file
    assert node.batch_interval == 3.0  # the typed flag beats the file
    assert settings.node.port == 9123  # --port was not typed: its default does not override


def test_the_environment_beats_the_file_but_not_a_typed_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "realdid.toml"
    config.write_text("[authority]\nport = 9001\n[demo]\nport = 9100\n", encoding="utf-8")
    monkeypatch.setenv("REALDID_CONFIG", str(config))
    monkeypatch.setenv("REALDID_AUTHORITY__PORT", "9002")
    settings = serve_settings(_parsed("--data-dir", tmp_path, "--demo-port", 9200), SERVE_OPTIONS)
    assert (settings.authority.port, settings.demo.port) == (9002, 9200)
    assert settings.authority_settings().data_dir == tmp_path / "authority"


def test_one_host_flag_serves_everything(tmp_path: Path) -> None:
    settings = serve_settings(_parsed("--data-dir", tmp_path, "--host", "::1"), SERVE_OPTIONS)
    assert settings.node.host == settings.authority.host == settings.demo.host == "::1"


def test_serve_with_a_bad_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[node]\nport = 'eighty'\n", encoding="utf-8")
    serve = ["serve", "--data-dir", tmp_path / "node", "--config", config]
    assert one_line_error(invoke(*serve)) == (
        f"node.port in {config}: Input should be a valid integer, unable to parse string as an"
        " integer, got 'eighty'"
    )
    config.write_text("[node\n", encoding="utf-8")
    assert one_line_error(invoke(*serve)).startswith(f"--config: {config} is not valid TOML")
    assert one_line_error(invoke(*serve[:-1], tmp_path / "none.toml")).startswith(
        f"--config: cannot read {tmp_path / 'none.toml'}"
    )
    assert not (tmp_path / "node").exists()


def test_authority_serve_with_a_bad_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[authority]\nface_matcher = 'acme'\n", encoding="utf-8")
    serve = ["authority", "serve", "--data-dir", tmp_path, "--node", "http://node.test"]
    assert one_line_error(invoke(*serve, "--config", config)) == (
        f"authority.face_matcher in {config}: unknown face matcher 'acme'; known: simulated"
    )
    config.write_text("[authority]\nport = 0\n", encoding="utf-8")
    assert one_line_error(invoke(*serve, "--config", config)) == (
        "authority.port is 0: the authority alone needs a TCP port (give --port)"
    )


def test_the_documented_flags_are_the_commands_own() -> None:
    commands = {
        "serve": SERVE_OPTIONS,
        "node serve": NODE_SERVE_OPTIONS,
        "authority serve": AUTHORITY_SERVE_OPTIONS,
        "bridge serve": BRIDGE_SERVE_OPTIONS,
    }
    documented: dict[str, dict[str, str]] = {command: {} for command in commands}
    for section, section_field in RealDIDSettings.model_fields.items():
        model = type(section_field.get_default(call_default_factory=True))
        for name, field in model.model_fields.items():
            extra = field.json_schema_extra
            for flag in extra.get("flags", []) if isinstance(extra, dict) else []:
                command, _, option = str(flag).rpartition(" ")
                documented[command][f"{section}.{name}"] = option
    assert documented == commands
