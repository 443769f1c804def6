"""``realdid serve`` binds its sockets itself; they must be TCP sockets asyncio tunes."""

from __future__ import annotations

import socket

import pytest
import typer

from realdid.cli._serve import _listen


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
