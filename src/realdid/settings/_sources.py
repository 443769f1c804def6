"""Where a setting's value comes from, and the one line that says which value is wrong.

Four layers, highest precedence first: command-line flags the user passed, environment
variables (``REALDID_<SECTION>__<FIELD>``), the TOML file (``--config FILE`` or
``REALDID_CONFIG``), the defaults. Each layer is read on its own and merged key by key,
so a flag the user did not pass (value ``None``) leaves the environment's or the file's
value in place, and an error can name the layer its bad value came from. Example::

    >>> settings = load_settings({"node.port": Flag("--port", 9090)})
    >>> settings.node.port, settings.node.host
    (9090, '127.0.0.1')
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ._errors import SettingsError
from ._settings import ENV_NESTED_DELIMITER, ENV_PREFIX, RealDIDSettings, _SectionsOnlyEnv

CONFIG_ENV = "REALDID_CONFIG"


@dataclass(frozen=True, slots=True)
class Flag:
    """The value a command-line option gives one setting; ``None``: the user did not pass it."""

    name: str  # the option as the user types it, e.g. "--port"
    value: object


def load_settings(
    flags: Mapping[str, Flag] | None = None, config_file: Path | None = None
) -> RealDIDSettings:
    """The settings from ``flags`` (keyed ``"section.field"``), the environment, the TOML
    file (``config_file``, else ``$REALDID_CONFIG``) and the defaults.

    Raise :class:`SettingsError` with one line naming the setting and its source when the
    file cannot be read or a value is refused.
    """
    passed = {key: flag for key, flag in (flags or {}).items() if flag.value is not None}
    file_label, file_values = _read_file(config_file)
    env_values = _SectionsOnlyEnv(RealDIDSettings)()
    merged: dict[str, Any] = {}
    for layer in (file_values, env_values, _nest(passed)):
        _merge(merged, layer)
    try:
        return RealDIDSettings.model_validate(merged)
    except ValidationError as e:
        error = e.errors()[0]
        where = _where(error["loc"], passed, file_values, file_label)
        raise SettingsError(_sentence(error, where)) from None


def _read_file(config_file: Path | None) -> tuple[str, dict[str, Any]]:
    """``(how errors name the file, its tables)``; no file: ``("", {})``."""
    option = "--config"
    if config_file is None:
        named = os.environ.get(CONFIG_ENV)
        if not named:
            return "", {}
        option, config_file = CONFIG_ENV, Path(named)
    try:
        text = config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise SettingsError(f"{option}: cannot read {config_file}: {reason}") from None
    try:
        return str(config_file), tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{option}: {config_file} is not valid TOML: {e}") from None


def _nest(flags: Mapping[str, Flag]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, flag in flags.items():
        section, _, field = key.partition(".")
        nested.setdefault(section, {})[field] = flag.value
    return nested


def _merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    """Merge ``layer`` over ``into`` table by table (a later layer wins key by key)."""
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = {}
            _merge(into[key], value)
        else:
            into[key] = value


def env_name(section: str, field: str) -> str:
    """The environment variable of ``section.field``, e.g. ``REALDID_NODE__PORT``."""
    return f"{ENV_PREFIX}{section}{ENV_NESTED_DELIMITER}{field}".upper()


def _where(
    loc: tuple[int | str, ...],
    flags: Mapping[str, Flag],
    file_values: Mapping[str, Any],
    file_label: str,
) -> str:
    """The source of the value at ``loc``, by precedence: the flag, variable or file key."""
    dotted = ".".join(str(part) for part in loc[:2])
    if dotted in flags:
        return flags[dotted].name
    if len(loc) >= 2:
        wanted = env_name(str(loc[0]), str(loc[1])).lower()
        for name in os.environ:
            if name.lower() == wanted:
                return f"environment variable {name}"
    table: Any = file_values
    for part in loc[:2]:
        if not isinstance(table, Mapping) or part not in table:
            return dotted
        table = table[part]
    return f"{dotted} in {file_label}"


def _sentence(error: ErrorDetails, where: str) -> str:
    """One line for a refused value: what is wrong, after where it came from."""
    if error["type"] == "realdid_setting":
        return error["msg"].replace("{setting}", where)
    if error["type"] == "extra_forbidden":
        return f"{where}: not a setting; {_known(error['loc'])}"
    got = error.get("input")
    if isinstance(got, str | int | float | bool):
        return f"{where}: {error['msg']}, got {got!r}"
    return f"{where}: {error['msg']}"


def _known(loc: tuple[int | str, ...]) -> str:
    """What the table holding ``loc`` may contain (for a misspelt key)."""
    if len(loc) == 1:
        return "the sections are " + ", ".join(RealDIDSettings.model_fields)
    section = RealDIDSettings.model_fields.get(str(loc[0]))
    if section is None:
        return "see docs/configuration.md"
    model = type(section.get_default(call_default_factory=True))
    return f"[{loc[0]}] has " + ", ".join(model.model_fields)
