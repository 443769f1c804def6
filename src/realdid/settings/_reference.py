"""The settings reference table of ``docs/configuration.md``, generated from the models.

The page is only true while it says what the models say, so it is not written by hand:
``tests/unit/settings/test_reference.py`` compares the page's table with
:func:`reference_table` and fails, printing the new table, when a field changed.
"""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from ._settings import RealDIDSettings
from ._sources import env_name

_WORDS: dict[Any, str] = {int: "integer", float: "number", str: "string", Path: "path"}


def reference_table() -> str:
    """Markdown: one row per setting (section, name, type, default, variable, flag, meaning)."""
    rows = [
        "| Setting | Type | Default | Environment variable | Flag | Meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for section, section_field in RealDIDSettings.model_fields.items():
        model = type(section_field.get_default(call_default_factory=True))
        for name, field in model.model_fields.items():
            extra = field.json_schema_extra
            flags = extra.get("flags", []) if isinstance(extra, dict) else []
            cells = (
                f"`{section}.{name}`",
                _type(field.annotation),
                _default(field),
                f"`{env_name(section, name)}`",
                ", ".join(f"`{flag}`" for flag in flags if isinstance(flag, str)) or "—",
                (field.description or "").replace("|", "\\|"),
            )
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        return f"{_type(args[0])} (optional)"
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin is tuple:
        return f"list of {_type(args[0])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(str(member.value) for member in annotation)
    return _WORDS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"
