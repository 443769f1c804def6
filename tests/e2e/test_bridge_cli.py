"""``realdid bridge serve``: the OpenID Connect bridge alone, as its own relying party.

The bridge's operator sets it up with the commands any relying party uses (its own wallet,
business-enrolled, registered by the authority's rp-registrar, the registration redeemed),
writes a clients file, and starts ``realdid bridge serve`` against the node. A plain OIDC
client then signs a resident in with the authorization code flow and PKCE while the
resident answers with ``realdid wallet login``; the ID token carries the "verified real
person" statement and a pairwise ``sub``, never the resident's DIDs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from ..service_databases import ServiceDatabases
from ._cli import PASSPHRASE, REALDID, SECRETS_ENV, free_port, realdid, succeeds
from .test_enrollment import (  # noqa: F401 - ``server`` is the module-scoped fixture
    Holder,
    Server,
    business_register,
    enrolled,
    fails_with_one_line,
    new_holder,
    registered_rp,
    server,
)

pytestmark = pytest.mark.e2e

CLIENT_ID = "news"
CLIENT_SECRET = "news-client-secret-0123456789abcdef"
REDIRECT = "https://news.example/auth/callback"
CLIENTS = f"""
[[clients]]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
redirect_uris = ["{REDIRECT}"]
scopes = ["openid", "realdid_verified", "age_over_18"]
name = "Example News"
"""


@dataclass(frozen=True)
class Bridge:
    url: str
    did: str
    wallet: Path
    clients: Path
    env: dict[str, str]  # what puts a bridge on this run's engine


def _bridge_args(platform: Server, wallet: Path, clients: Path, data_dir: Path) -> list[str]:
    return [
        "bridge", "serve", "--data-dir", str(data_dir), "--node", platform.node,
        "--wallet-dir", str(wallet), "--clients", str(clients),
    ]  # fmt: skip


@contextlib.contextmanager
def _serving(args: list[str], log: Path, env: dict[str, str]) -> Iterator[None]:
    environment = {k: v for k, v in os.environ.items() if k not in SECRETS_ENV}
    environment |= {"REALDID_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1", **env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(REALDID), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    try:
        yield
        assert process.poll() is None, log.read_text(errors="replace")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for(url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/.well-known/openid-configuration", timeout=1).status_code == 200:
                return
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def bridge(server: Server, service_databases: ServiceDatabases) -> Iterator[Bridge]:  # noqa: F811
    company = business_register(server, "bridge")[0]
    holder, _ = registered_rp(server, "bridge", company, "Sign in with RealDID")
    clients = server.scratch / "clients.toml"
    clients.write_text(CLIENTS, encoding="utf-8")
    clients.chmod(0o600)
    data_dir = server.scratch / "bridge-data"
    database = service_databases.url(data_dir)
    env = {} if database is None else {"REALDID_BRIDGE__DATABASE": database}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = _bridge_args(server, holder.wallet, clients, data_dir)
    log = server.scratch / "bridge.log"
    with _serving([*args, "--port", str(port), "--workers", "2"], log, env):
        _wait_for(url, log)
        yield Bridge(url, holder.did, holder.wallet, clients, env)


@pytest.fixture(scope="module")
def resident(server: Server) -> Holder:  # noqa: F811 - the imported fixture
    holder = new_holder(server, "nadia")
    enrolled(server, holder, server.residents[3])
    return holder


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_an_oidc_client_signs_a_resident_in(
    server: Server,  # noqa: F811 - the imported fixture
    bridge: Bridge,
    resident: Holder,
) -> None:
    discovery = httpx.get(f"{bridge.url}/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == bridge.url
    assert discovery["token_endpoint"] == f"{bridge.url}/token"
    verifier, challenge = _pkce()
    with httpx.Client(base_url=bridge.url, timeout=10) as browser:
        page = browser.get(
            "/authorize?"
            + urlencode(
                {
                    "response_type": "code",
                    "client_id": CLIENT_ID,
                    "redirect_uri": REDIRECT,
                    "scope": "openid realdid_verified age_over_18",
                    "state": "st-1",
                    "nonce": "n-1",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                }
            )
        )
        assert page.status_code == 200, page.text
        code = re.search(r'id="login-code"[^>]*>([A-Z0-9-]+)<', page.text)
        authorization = re.search(r"authorization=([A-Za-z0-9_-]+)", page.text)
        assert code
        assert authorization
        login = succeeds(
            realdid(
                "wallet", "login", code.group(1), "--site", bridge.url, "--consent", "allow",
                "--wallet-dir", resident.wallet, "--node", server.node,
            )
        )  # fmt: skip
        line = login.stdout.strip()
        assert line.startswith("logged in to "), line
        site_did = line.rsplit(" ", 1)[-1]
        assert site_did.startswith("did:realdid:")
        assert site_did != resident.did

        done = browser.get(f"/authorize/complete?authorization={authorization.group(1)}")
        assert done.status_code == 302, done.text
        location = urlsplit(done.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
        back = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert back["state"] == "st-1"
        exchange = {
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
        token = browser.post("/token", data=exchange, auth=(CLIENT_ID, CLIENT_SECRET))
        assert token.status_code == 200, token.text
        # The code is single-use, on whichever worker the replay lands.
        replay = browser.post("/token", data=exchange, auth=(CLIENT_ID, CLIENT_SECRET))
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        keys = KeySet.import_key_set(browser.get("/jwks").json())
    claims = jwt.decode(token.json()["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["iss"] == bridge.url
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == "n-1"
    assert claims["real_name_verified"] is True
    assert claims["age_over_18"] is True
    assert resident.did not in token.text
    assert site_did not in token.text
    assert "did:realdid:" not in claims["sub"]
    health = httpx.get(f"{bridge.url}/healthz", timeout=5)
    assert health.json() == {"status": "ok", "did": bridge.did}
    metrics = httpx.get(f"{bridge.url}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "realdid_http_requests" in metrics.text


def _serve_fails(args: list[str], expected: str, **env: str) -> None:
    fails_with_one_line(realdid(*args, "--port", free_port(), **env), expected)


def test_serve_names_what_it_lacks(server: Server, bridge: Bridge, tmp_path: Path) -> None:  # noqa: F811
    args = _bridge_args(server, bridge.wallet, bridge.clients, tmp_path / "data")
    without_clients = args[: args.index("--clients")]
    _serve_fails(without_clients, "error: bridge.clients_file is not set: give --clients")
    without_node = [a for a in args if a not in ("--node", server.node)]
    _serve_fails(without_node, "error: bridge.node_url is not set: give --node")
    node = args.index(server.node)
    _serve_fails(
        [*args[:node], "ftp://node", *args[node + 1 :]],
        "error: --node must be an http(s) URL, got 'ftp://node'",
    )


def test_serve_refuses_a_readable_clients_file(
    server: Server,  # noqa: F811 - the imported fixture
    bridge: Bridge,
    tmp_path: Path,
) -> None:
    clients = tmp_path / "clients.toml"
    clients.write_text(CLIENTS, encoding="utf-8")
    clients.chmod(0o644)
    args = _bridge_args(server, bridge.wallet, clients, tmp_path / "data")
    _serve_fails(args, "holds client secrets: chmod 600 it", **bridge.env)
    assert not (tmp_path / "data" / "keys").exists()  # no key made before the check


def test_serve_needs_a_registration_and_the_passphrase(
    server: Server,  # noqa: F811 - the imported fixture
    bridge: Bridge,
    resident: Holder,
    tmp_path: Path,
) -> None:
    unregistered = _bridge_args(server, resident.wallet, bridge.clients, tmp_path / "data")
    _serve_fails(unregistered, "error: the wallet holds no RpRegistration: ask", **bridge.env)
    args = _bridge_args(server, bridge.wallet, bridge.clients, tmp_path / "data")
    wrong = {"REALDID_PASSPHRASE": "not the passphrase of this wallet", **bridge.env}
    _serve_fails(args, "passphrase", **wrong)
