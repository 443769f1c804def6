"""The ``realdid`` command as a user runs it, shared by the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REALDID = Path(sys.executable).with_name("realdid")
PASSPHRASE = "correct horse battery staple"
SECRETS_ENV = ("REALDID_PASSPHRASE", "REALDID_MNEMONIC", "REALDID_OPERATOR_TOKEN")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def consecutive_free_ports(count: int) -> int:
    """A base port with ``count`` free ports from it (the demo sites sit side by side)."""
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError("no run of free ports for the demo sites")


def realdid(*args: str | Path | int, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command as a user would: passphrase from the environment, no terminal."""
    environment = {k: v for k, v in os.environ.items() if k not in SECRETS_ENV}
    environment["REALDID_PASSPHRASE"] = PASSPHRASE
    environment.update(env)
    return subprocess.run(
        [str(REALDID), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=environment,
        timeout=90,
        check=False,
    )


def succeeds(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result
