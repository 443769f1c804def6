"""One ``realdid serve`` with the demo sites for the whole browser session, and Chromium.

The server runs node + authority + demo sites (forum, OIDC demo site, hotel, OIDC bridge)
on free ports; the fixture waits until the forum answers 200, i.e. the demo bootstrap has
registered every relying party with the authority. A resident from a synthetic register is
enrolled through the real CLI, exactly as in tests/e2e/test_enrollment.py.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make test``), driven by
Playwright's sync API; no browser download. Without it the tests are skipped with a reason
— except under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..e2e._cli import REALDID, consecutive_free_ports, free_port, realdid, succeeds

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
DEMO_SITES = 4  # forum, OIDC site, hotel, bridge on consecutive ports
STARTUP_SECONDS = 120


@dataclass(frozen=True)
class Resident:
    id_number: str
    name: str  # family + given name, as the register has it
    capture: str


@dataclass(frozen=True)
class Demo:
    node: str
    authority: str
    forum: str
    oidc_site: str
    hotel: str
    bridge: str
    wallet: Path
    resident: Resident
    log: Path


def _wait_ok(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready:\n{log.read_text(errors='replace')}"
        time.sleep(0.1)


def _resident(register: Path, captures: Path) -> Resident:
    header, first = register.read_text(encoding="utf-8").splitlines()[:2]
    row = dict(zip(header.split(","), first.split(","), strict=True))
    capture_of = dict(
        line.split(",", 1) for line in captures.read_text(encoding="utf-8").splitlines() if line
    )
    return Resident(
        row["id_number"],
        row["family_name"] + row["given_name"],
        capture_of[row["id_number"]].strip(),
    )


@dataclass(frozen=True)
class Ports:
    node: int
    authority: int
    demo: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), consecutive_free_ports(DEMO_SITES))

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serving(data_dir: Path, ports: Ports, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``realdid serve --demo-port`` until the forum answers 200 (the demo bootstrap is done)."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                str(REALDID),
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(ports.node),
                "--authority-port",
                str(ports.authority),
                "--demo-port",
                str(ports.demo),
                "--batch-interval",
                "0.05",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    try:
        _wait_ok(process, f"{ports.url(ports.demo)}/", log_path)  # 503 "starting" until ready
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def demo(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Demo]:
    """``realdid serve --demo-port`` with the demo ready and one enrolled resident's wallet."""
    base = tmp_path_factory.mktemp("browser")
    ports = Ports.free()
    log_path = base / "serve.log"
    failed_before = request.session.testsfailed
    try:
        with serving(base / "data", ports, log_path):
            node, authority = ports.url(ports.node), ports.url(ports.authority)
            register, captures = base / "residents.csv", base / "captures.csv"
            succeeds(
                realdid(
                    "authority", "register", "generate", "--count", 3, "--out", register,
                    "--captures", captures, "--seed", 11,
                )
            )  # fmt: skip
            succeeds(
                realdid(
                    "authority", "register", "import", register,
                    "--data-dir", base / "data/authority",
                )
            )  # fmt: skip
            resident = _resident(register, captures)
            wallet = base / "wallet"
            succeeds(realdid("wallet", "init", "--wallet-dir", wallet))
            did = succeeds(
                realdid("wallet", "did", "create", "--wallet-dir", wallet, "--node", node, "--wait")
            ).stdout.strip()
            face = base / "face.txt"
            face.write_text(resident.capture + "\n", encoding="ascii")
            succeeds(
                realdid(
                    "wallet", "enroll", "--wallet-dir", wallet, "--authority", authority,
                    "--did", did, "--id-number", resident.id_number, "--name", resident.name,
                    "--face", face,
                )
            )  # fmt: skip
            yield Demo(
                node=node,
                authority=authority,
                forum=ports.url(ports.demo),
                oidc_site=ports.url(ports.demo + 1),
                hotel=ports.url(ports.demo + 2),
                bridge=ports.url(ports.demo + 3),
                wallet=wallet,
                resident=resident,
                log=log_path,
            )
    finally:
        if request.session.testsfailed > failed_before:
            sys.stdout.write(f"\n----- serve log -----\n{log_path.read_text(errors='replace')}\n")


# -- the browser --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (own cookies) per test; a screenshot is kept if it fails."""
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    failed_before = request.session.testsfailed
    try:
        yield tab
    finally:
        if request.session.testsfailed > failed_before:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot to test-artifacts/browser/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wallet_login(
    demo: Demo, code: str, site: str, consent: str = "allow"
) -> subprocess.CompletedProcess[str]:
    """``realdid wallet login CODE --site SITE`` as the resident types it (passphrase via env)."""
    return realdid(
        "wallet",
        "login",
        code,
        "--site",
        site,
        "--wallet-dir",
        demo.wallet,
        "--node",
        demo.node,
        "--consent",
        consent,
    )
