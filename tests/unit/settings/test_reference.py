"""docs/configuration.md says what the settings models say, and its example file loads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from realdid.settings import RealDIDSettings, reference_table

PAGE = Path(__file__).parents[3] / "docs" / "configuration.md"
BEGIN, END = "<!-- settings table: begin -->\n", "<!-- settings table: end -->"


def test_the_reference_table_is_up_to_date() -> None:
    page = PAGE.read_text(encoding="utf-8")
    table = page[page.index(BEGIN) + len(BEGIN) : page.index(END)]
    assert table == reference_table(), (
        "docs/configuration.md is out of date: replace its table with"
        " realdid.settings.reference_table()"
    )


def test_every_setting_is_in_the_table() -> None:
    table = reference_table()
    for section, field in RealDIDSettings.model_fields.items():
        model = type(field.get_default(call_default_factory=True))
        for name in model.model_fields:
            assert f"| `{section}.{name}` |" in table


def test_the_example_file_is_valid() -> None:
    example = re.search(r"```toml\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    assert example is not None
    settings = RealDIDSettings.model_validate(tomllib.loads(example.group(1)))
    assert settings.issuer_url() == "https://id.example"
    assert settings.node.peers == ("https://node-b.example", "https://node-c.example")
