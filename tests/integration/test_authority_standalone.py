"""``realdid authority serve``: the authority as its own process, against a node elsewhere.

A multi-host deployment runs registry nodes alone (``realdid node serve``) and the
authority separately. The authority must bootstrap its DID through the remote node, answer 503
``authority-starting`` until then, and publish metadata naming its public ``--issuer-url``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from realdid.controller import DidController

from .test_authority_crash import REALDID, free_port

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(REALDID), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=1.0) as client:
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            with contextlib.suppress(httpx.HTTPError):
                response = client.get(f"{url}/healthz")
                if response.status_code == 200:
                    return response
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)


def _wait_metadata(client: httpx.Client, public: str) -> dict[str, object]:
    """The issuer metadata once every worker is ready.

    Each worker bootstraps on its own, so one may answer ``/healthz`` while another still
    answers ``authority-starting`` for a moment: anything but that 503 fails at once.
    """
    deadline = time.monotonic() + 30
    while True:
        response = client.get(f"{public}/.well-known/openid-credential-issuer")
        if response.status_code == 200:
            return response.json()  # type: ignore[no-any-return]
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "urn:realdid:problem:authority-starting"
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_authority_runs_as_its_own_process(tmp_path: Path) -> None:
    node_port, authority_port = free_port(), free_port()
    node_url, public = f"http://127.0.0.1:{node_port}", f"http://127.0.0.1:{authority_port}"
    authority_args = [
        "authority",
        "serve",
        "--data-dir",
        str(tmp_path / "authority"),
        "--node",
        node_url,
    ]
    authority_args += ["--port", str(authority_port), "--issuer-url", public + "/"]
    # The authority starts first: it must wait for the node, answering 503 meanwhile.
    with _process(authority_args, tmp_path / "authority.log") as authority:
        with httpx.Client(timeout=5.0) as client:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    starting = client.get(f"{public}/1.0/challenges")
                    break
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert starting.status_code in (405, 503)
            starting = client.post(f"{public}/1.0/challenges")
            assert starting.status_code == 503
            assert starting.json()["type"] == "urn:realdid:problem:authority-starting"
        # `realdid node serve` runs the node alone, even where its settings file also
        # describes an authority and demo sites (one file for every machine of a fleet).
        unserved = free_port()
        config = tmp_path / "realdid.toml"
        config.write_text(f"[authority]\nport = {unserved}\n[demo]\nport = {free_port()}\n")
        node_args = ["node", "serve", "--data-dir", str(tmp_path / "node"), "--port"]
        node_args += [str(node_port), "--batch-interval", "0.05", "--config", str(config)]
        with _process(node_args, tmp_path / "node.log") as node:
            _wait_healthy(node_url, node, tmp_path / "node.log")
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{unserved}/healthz", timeout=2.0)
            health = _wait_healthy(public, authority, tmp_path / "authority.log").json()
            with httpx.Client(timeout=5.0) as client:
                resolved = client.get(f"{node_url}/1.0/identifiers/{health['issuer']}")
                metadata = _wait_metadata(client, public)
    assert resolved.status_code == 200
    assert health["keyId"].startswith(health["issuer"] + "#")
    assert metadata["credential_issuer"] == public
    assert metadata["credential_endpoint"] == public + "/oid4vci/credential"


def test_authority_serve_refuses_bad_options(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REALDID), "authority", "serve", "--data-dir", str(tmp_path), "--node", "ftp://x"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: --node must be an http(s) URL, got 'ftp://x'"]
    assert not (tmp_path / "authority.db").exists()


def test_a_passphrase_that_does_not_open_the_issuer_wallet_is_one_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong ``REALDID_AUTHORITY_PASSPHRASE`` for an existing issuer wallet: the node
    serves, the authority answers 503 and says once why — no traceback, no retry loop."""
    data = tmp_path / "data"
    DidController.init(data / "authority" / "issuer-wallet", "the right passphrase")
    port, authority_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    monkeypatch.setenv("REALDID_AUTHORITY_PASSPHRASE", "a wrong passphrase")
    with _process(
        [
            "serve",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--authority-port",
            str(authority_port),
            "--workers",
            "1",
        ],
        log,
    ) as process:
        _wait_healthy(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 30
        while "cannot open its issuer wallet" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        answer = httpx.post(f"http://127.0.0.1:{authority_port}/1.0/challenges")
        assert answer.status_code == 503
        assert answer.json()["type"] == "urn:realdid:problem:authority-starting"
    text = log.read_text(errors="replace")
    assert "Traceback" not in text
    assert text.count("cannot open its issuer wallet") == 1
