"""The demo bootstrap's pure parts: URLs, secret files, enterprises, registration reuse."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import typer

from realdid.authority import validate_uscc
from realdid.cli._serve import _demo_sockets, _listen
from realdid.storage import DatabaseUnavailableError
from realdid.wallet import StoredCredential
from realdid.web import DEMO_RPS, DemoRuntime, DemoSettings, available_sites, demo_enterprises
from realdid.web._bootstrap import _current_registration, _jwt_payload, secret_file

from ...e2e._cli import free_port, realdid

RP_DID = "did:realdid:QmDemoForumAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def settings(host: str) -> DemoSettings:
    return DemoSettings(Path("/tmp/x"), host, 8090, "http://n", "http://a")


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8092"),
        ("0.0.0.0", "http://127.0.0.1:8092"),  # noqa: S104 - a host name, not a bind
        ("::", "http://[::1]:8092"),
        ("::1", "http://[::1]:8092"),
        ("localhost", "http://localhost:8092"),
    ],
)
def test_public_urls(host: str, url: str) -> None:
    assert settings(host).url(2) == url


def test_sites_and_ports() -> None:
    assert available_sites() == [("forum", 0), ("oidc", 1), ("hotel", 2), ("bridge", 3)]
    assert [rp.key for rp in DEMO_RPS] == ["forum", "hotel", "bridge"]


def test_secret_file_is_owner_only_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    first = secret_file(path, lambda: "one")
    assert first == "one"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_file(path, lambda: "two") == "one"  # made once, then read
    assert not (tmp_path / "secret.tmp").exists()


def test_demo_enterprises_are_deterministic_and_valid() -> None:
    enterprises = demo_enterprises()
    assert enterprises == demo_enterprises()
    assert len(enterprises) == len(DEMO_RPS)
    assert len({e.uscc for e in enterprises}) == len(enterprises)
    for enterprise in enterprises:
        assert validate_uscc(enterprise.uscc) == enterprise.uscc


# -- reusing a stored registration ---------------------------------------------------------
def jws(payload: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'ES256'})}.{part(payload)}.sig~"


class StoredWallet:
    def __init__(self, *credentials: dict[str, Any]) -> None:
        stored = ({"issuer": "https://authority.test", "received_at": 0, **c} for c in credentials)
        self.credentials = [StoredCredential.from_dict(entry) for entry in stored]


def registration(**overrides: Any) -> dict[str, Any]:
    forum = DEMO_RPS[0]
    payload = {
        "sub": RP_DID,
        "purpose": forum.purpose,
        "permitted": {vct: sorted(claims) for vct, claims in forum.permitted.items()},
        "exp": int(time.time()) + 30 * 86400,
        **overrides,
    }
    return {"type": "RpRegistration", "did": RP_DID, "credential": jws(payload)}


def test_current_registration_is_reused() -> None:
    entry = registration()
    wallet = StoredWallet(entry)
    assert _current_registration(wallet, RP_DID, DEMO_RPS[0]) == entry["credential"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": "Something else"},
        {"permitted": {"urn:realdid:SiteProof": ["verified_person"]}},
        {"sub": "did:realdid:other"},
        {"exp": int(time.time()) + 3600},  # about to expire: register again
    ],
)
def test_stale_or_different_registration_is_not_reused(change: dict[str, Any]) -> None:
    wallet = StoredWallet(registration(**change))
    assert _current_registration(wallet, RP_DID, DEMO_RPS[0]) is None  # type: ignore[arg-type]


def test_newest_registration_wins_and_other_types_are_ignored() -> None:
    old = registration(purpose="old")
    new = registration()
    business = {"type": "Business", "did": RP_DID, "credential": jws({})}
    wallet = StoredWallet(old, new, business)
    assert _current_registration(wallet, RP_DID, DEMO_RPS[0]) == new["credential"]  # type: ignore[arg-type]
    assert _current_registration(StoredWallet(business), RP_DID, DEMO_RPS[0]) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "a", "a.b.c", "a.!!!.c", "a.bnVsbA.c", "a.WzFd.c"])
def test_jwt_payload_of_garbage_is_empty(text: str) -> None:
    assert _jwt_payload(text) == {}


# -- realdid serve --demo-port -----------------------------------------------------------------
def test_demo_needs_the_authority(tmp_path: Path) -> None:
    result = realdid(
        "serve", "--data-dir", tmp_path, "--port", free_port(), "--authority-port", 0,
        "--demo-port", free_port(),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --demo-port needs the identity authority: give --authority-port a port too"
    ]
    assert not (tmp_path / "demo").exists()


def test_demo_port_in_use_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    taken = _listen("127.0.0.1", 0, "the registry node", "--port")
    try:
        port = taken.getsockname()[1]
        with pytest.raises(typer.Exit):
            _demo_sockets("127.0.0.1", port - 2)  # the hotel's port is taken
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot listen on 127.0.0.1:{port} for the demo hotel site")
        assert "--demo-port" in err
    finally:
        taken.close()


def test_no_demo_sockets_without_demo_port() -> None:
    assert _demo_sockets("127.0.0.1", 0) == {}


def test_the_demo_bootstrap_waits_out_a_database_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the crash-under-load test: a PostgreSQL restart during the bootstrap made a
    # worker give its demo sites up until it died.
    settings = DemoSettings(tmp_path, "127.0.0.1", 18090, "http://node.test", "http://a.test")
    runtime = DemoRuntime(settings, authority=None, retry=0.01)  # type: ignore[arg-type]
    attempts: list[int] = []

    def bootstrap() -> None:
        attempts.append(len(attempts))
        if len(attempts) < 3:
            raise DatabaseUnavailableError("connection refused")

    monkeypatch.setattr(runtime, "_bootstrap", bootstrap)
    runtime.start()
    runtime._thread.join(timeout=10)
    assert attempts == [0, 1, 2]
    assert not any(app._failed for app in runtime.apps.values())
