"""The command tree ``create_app`` assembles, and the network seam it carries."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from realdid.cli import app, create_app

from .conftest import NODE, UNREACHABLE, invoke, one_line_error, succeeds

DID = "did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc"


def test_the_root_lists_its_commands_in_order() -> None:
    out = succeeds(invoke("--help")).stdout
    positions = [
        out.index(f" {name} ") for name in ("resolve", "serve", "wallet", "ledger", "authority")
    ]
    assert positions == sorted(positions)


def test_no_arguments_shows_the_usage() -> None:
    result = invoke()
    assert result.exit_code == 2
    assert "Usage: " in result.stdout
    assert "Traceback" not in result.stderr


def test_the_installed_command_uses_the_real_network() -> None:
    result = CliRunner().invoke(app, ["resolve", DID, "--node", UNREACHABLE])
    assert one_line_error(result) == f"cannot reach node at {UNREACHABLE}: ConnectError"


def test_each_app_sends_its_requests_over_its_own_transport() -> None:
    hosts: dict[str, list[str]] = {"a": [], "b": []}

    def answer(name: str) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            hosts[name].append(request.url.host)
            return httpx.Response(503)

        return httpx.MockTransport(handle)

    first, second = create_app(answer("a")), create_app(answer("b"))
    for tree in (first, second, first):
        result = CliRunner().invoke(tree, ["resolve", DID, "--node", NODE])
        assert one_line_error(result) == "node answered HTTP 503"
    assert hosts == {"a": ["node.test", "node.test"], "b": ["node.test"]}
