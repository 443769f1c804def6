"""``realdid authority …``: the registers and operators on disk, the admin API over the seam.

The admin API is an in-process fake here (an ``httpx.MockTransport`` that checks the bearer
token and answers like the authority); the real authority answers ``rp register`` in
tests/unit/authority/test_rp_cli.py and every admin command in tests/e2e.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from realdid.authority import AuthorityDatabase, OperatorStore, Role
from realdid.clock import SystemClock

from .conftest import UNREACHABLE, invoke, one_line_error, succeeds, usage_error

AUTHORITY = "http://authority.test"
TOKEN = "rdop_" + "A" * 43
PROBLEM = "application/problem+json"


class AdminApi:
    """A fake admin API: records each request, answers from ``routes`` by method and path."""

    def __init__(self, routes: dict[tuple[str, str], Callable[[Any], httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(
                401,
                headers={"content-type": PROBLEM},
                json={"type": "urn:realdid:problem:unauthorized", "detail": "who?"},
            )
        route = self.routes[(request.method, request.url.path)]
        return route(json.loads(request.content) if request.content else None)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def test_help_lists_the_groups_and_commands() -> None:
    out = succeeds(invoke("authority", "--help")).stdout
    for name in (
        "revoke",
        "rotate-key",
        "audit",
        "serve",
        "register",
        "business",
        "operator",
        "rp",
    ):
        assert f" {name} " in out
    assert "generate" in succeeds(invoke("authority", "register", "--help")).stdout


def test_generate_then_import_a_register(tmp_path: Path) -> None:
    csv = tmp_path / "register.csv"
    out = succeeds(
        invoke("authority", "register", "generate", "--count", "3", "--out", csv, "--seed", "7")
    ).stdout
    assert out == f"generated 3 residents into {csv}\n"
    data_dir = tmp_path / "authority"
    out = succeeds(invoke("authority", "register", "import", csv, "--data-dir", data_dir)).stdout
    assert out == "imported 3 residents; register holds 3\n"
    assert (data_dir / "register.db").is_file()


def test_a_missing_register_file_is_one_line(tmp_path: Path) -> None:
    message = one_line_error(
        invoke("authority", "register", "import", tmp_path / "none.csv", "--data-dir", tmp_path)
    )
    assert message == f"No such file or directory: {tmp_path / 'none.csv'}"


def test_operator_add_prints_the_token_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "authority"
    result = succeeds(
        invoke(
            "authority",
            "operator",
            "add",
            "--data-dir",
            data_dir,
            "--name",
            "Li Si",
            "--role",
            "auditor",
        )
    )
    token = result.stdout.strip()
    assert result.stdout == f"{token}\n"
    assert "(auditor) created; its token is shown once:" in result.stderr
    db = AuthorityDatabase(data_dir / "authority.db")
    try:
        operator = OperatorStore(db, SystemClock()).authenticate(token, require=Role.AUDITOR)
    finally:
        db.close()
    assert operator.role is Role.AUDITOR
    assert operator.name == "Li Si"


def test_operator_add_refuses_an_unknown_role(tmp_path: Path) -> None:
    message = one_line_error(
        invoke(
            "authority", "operator", "add", "--data-dir", tmp_path, "--name", "X", "--role", "king"
        )
    )
    assert message.startswith("--role must be one of enrollment-officer, ")
    assert not (tmp_path / "authority.db").exists()


def test_revoke_audit_and_rotate_key_call_the_admin_api(token_file: Path) -> None:
    api = AdminApi(
        {
            ("POST", "/admin/revocations"): lambda body: httpx.Response(200, json={"revoked": 2}),
            ("GET", "/admin/audit"): lambda _: httpx.Response(
                200, json={"entries": [{"seq": 1, "action": "enroll"}, {"seq": 2, "action": "x"}]}
            ),
            ("POST", "/admin/issuer-key/rotations"): lambda _: httpx.Response(
                200, json={"keyId": "did:realdid:QmAuthority#key-2"}
            ),
        }
    )
    common = ["--authority", AUTHORITY, "--token-file", str(token_file)]
    out = succeeds(
        invoke(
            "authority",
            "revoke",
            "--did",
            "did:realdid:QmX",
            "--reason",
            "fraud",
            *common,
            transport=api.transport,
        )
    ).stdout
    assert out == "revoked 2 credential(s)\n"
    assert json.loads(api.requests[-1].content) == {"reason": "fraud", "did": "did:realdid:QmX"}
    out = succeeds(
        invoke("authority", "audit", "--after", "5", *common, transport=api.transport)
    ).stdout
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [1, 2]
    assert api.requests[-1].url.params["after"] == "5"
    out = succeeds(invoke("authority", "rotate-key", *common, transport=api.transport)).stdout
    assert out == "the authority now signs with did:realdid:QmAuthority#key-2\n"


def test_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    api = AdminApi(
        {("POST", "/admin/revocations"): lambda _: httpx.Response(200, json={"revoked": 0})}
    )
    monkeypatch.setenv("REALDID_OPERATOR_TOKEN", TOKEN)
    args = ["authority", "revoke", "--id-number", "11010519491231002X", "--reason", "death"]
    out = succeeds(invoke(*args, "--authority", AUTHORITY, transport=api.transport)).stdout
    assert out == "revoked 0 credential(s)\n"


def test_the_authoritys_refusals_are_one_line(token_file: Path, tmp_path: Path) -> None:
    api = AdminApi(
        {
            ("POST", "/admin/issuer-key/rotations"): lambda _: httpx.Response(
                503, content=b"<html>down</html>"
            ),
        }
    )
    args = ["authority", "rotate-key", "--authority", AUTHORITY]
    message = one_line_error(invoke(*args, "--token-file", token_file, transport=api.transport))
    assert message == "the authority answered HTTP 503"
    wrong = tmp_path / "wrong"
    wrong.write_text("rdop_wrong\n")
    message = one_line_error(invoke(*args, "--token-file", wrong, transport=api.transport))
    assert message == "unauthorized: who?"


def test_an_unreachable_authority_is_one_line(token_file: Path) -> None:
    message = one_line_error(
        invoke("authority", "audit", "--authority", UNREACHABLE, "--token-file", token_file)
    )
    assert message == f"cannot reach the authority at {UNREACHABLE}: ConnectError"


def test_admin_argument_errors(token_file: Path, tmp_path: Path) -> None:
    revoke = ["authority", "revoke", "--authority", AUTHORITY, "--reason", "fraud"]
    assert one_line_error(invoke(*revoke, "--token-file", token_file)) == (
        "give exactly one of --did or --id-number"
    )
    message = one_line_error(
        invoke(*revoke, "--did", "did:realdid:QmX", "--token-file", tmp_path / "none")
    )
    assert message == f"--token-file: cannot read {tmp_path / 'none'}"
    assert one_line_error(invoke(*revoke, "--did", "did:realdid:QmX")) == (
        "give --token-file or set REALDID_OPERATOR_TOKEN to an operator token"
    )
    usage_error(invoke("authority", "audit", "--authority", AUTHORITY, "--after", "-1"), "--after")


def test_serve_checks_its_urls_before_listening(tmp_path: Path) -> None:
    serve = ["authority", "serve", "--data-dir", tmp_path, "--port", "1"]
    assert one_line_error(invoke(*serve, "--node", "ftp://node")) == (
        "--node must be an http(s) URL, got 'ftp://node'"
    )
    message = one_line_error(invoke(*serve, "--node", "http://node.test", "--issuer-url", "x"))
    assert message == "--issuer-url must be an http(s) URL, got 'x'"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [
        "authority serve --node http://127.0.0.1:1 --port {a}",
        "serve --port {n} --authority-port {a}",
    ],
)
def test_a_weak_authority_passphrase_is_one_error_line_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("REALDID_AUTHORITY_PASSPHRASE", "short")
    args = command.format(a=_free_port(), n=_free_port()).split()
    message = one_line_error(invoke(*args, "--data-dir", tmp_path / "d", "--workers", "1"))
    assert message == "REALDID_AUTHORITY_PASSPHRASE: passphrase is shorter than 8 characters"
    assert not (tmp_path / "d" / "authority" / "issuer-wallet").exists()
