"""``realdid serve``: its checks before anything starts, and the sockets it binds itself.

The listening sockets must be TCP sockets asyncio tunes. A node that runs (with the
authority and the demo sites) is the subject of tests/e2e; a unit test cannot return from
a command that serves until it is killed.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer

from realdid.cli._serve import _listen

from .conftest import invoke, one_line_error, succeeds, usage_error


def test_listening_socket_is_tcp_so_accepted_connections_get_nodelay() -> None:
    # asyncio sets TCP_NODELAY only when sock.proto == IPPROTO_TCP; accepted sockets inherit
    # the listener's proto. With proto 0 every split response waits for a delayed ACK.
    sock = _listen("127.0.0.1", 0, "the registry node", "--port")
    try:
        assert sock.proto == socket.IPPROTO_TCP
        with socket.create_connection(sock.getsockname()):
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_port_in_use_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    first = _listen("127.0.0.1", 0, "the registry node", "--port")
    try:
        port = first.getsockname()[1]
        with pytest.raises(typer.Exit):
            _listen("127.0.0.1", port, "the identity authority", "--authority-port")
        err = capsys.readouterr().err
        assert err.startswith(
            f"error: cannot listen on 127.0.0.1:{port} for the identity authority"
        )
        assert "--authority-port (or 0 to run the registry node alone)" in err
    finally:
        first.close()


def test_help() -> None:
    out = succeeds(invoke("serve", "--help")).stdout
    for option in ("--data-dir", "--ledger", "--authority-port", "--demo-port", "--peers"):
        assert option in out


def test_argument_errors_come_before_any_port_is_bound(tmp_path: Path) -> None:
    serve = ["serve", "--data-dir", str(tmp_path / "node")]
    assert one_line_error(invoke(*serve, "--peers", "http://a.test, ftp://b.test")) == (
        "--peers: 'ftp://b.test' is not an http(s) URL"
    )
    assert one_line_error(invoke(*serve, "--demo-port", "9000", "--authority-port", "0")) == (
        "--demo-port needs the identity authority: give --authority-port a port too"
    )
    usage_error(invoke(*serve, "--port", "0"), "--port")
    usage_error(invoke(*serve, "--ledger", "pow"), "--ledger")
    assert not (tmp_path / "node").exists()


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    taken = _listen("127.0.0.1", 0, "the registry node", "--port")
    try:
        port = taken.getsockname()[1]
        message = one_line_error(
            invoke("serve", "--data-dir", tmp_path, "--port", str(port), "--authority-port", "0")
        )
    finally:
        taken.close()
    assert message.startswith(f"cannot listen on 127.0.0.1:{port} for the registry node: ")
    assert message.endswith("choose another port with --port")
