"""[log]: the level and the format every serving process writes its records in."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from realdid.settings import load_settings
from realdid.settings._sections import LogSection


def _no_handlers() -> None:
    """configure() sets up a root logger with no handler yet: remove pytest's (added for
    the test's call phase) inside the test; the fixture puts them back."""
    logging.getLogger().handlers[:] = []


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_level_logger_pid_message_and_exception(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_handlers()
    LogSection(level="INFO", format="json").configure()
    log = logging.getLogger("realdid.test")
    log.debug("not written")
    log.info("node ready on %s", "http://127.0.0.1:1")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("loop failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == [
        "node ready on http://127.0.0.1:1",
        "loop failed",
    ]
    first, second = lines
    assert (first["level"], first["logger"]) == ("INFO", "realdid.test")
    assert isinstance(first["pid"], int)
    assert "T" in first["time"]
    assert "exception" not in first
    assert "ValueError: boom" in second["exception"]


def test_text_lines_name_the_process(capsys: pytest.CaptureFixture[str]) -> None:
    _no_handlers()
    LogSection(level="WARNING").configure()
    logging.getLogger("realdid.test").info("quiet")
    logging.getLogger("realdid.test").warning("loud")
    err = capsys.readouterr().err
    assert "quiet" not in err
    assert "WARNING [" in err
    assert "realdid.test: loud" in err


def test_a_root_logger_set_up_already_is_left_as_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_handlers()
    LogSection(level="INFO").configure()
    LogSection(level="INFO", format="json").configure()
    logging.getLogger("realdid.test").info("once")
    assert capsys.readouterr().err.count("once") == 1


def test_the_format_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALDID_LOG__FORMAT", "json")
    assert load_settings().log.format == "json"
