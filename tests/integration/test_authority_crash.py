"""Crash safety of the identity authority (issue 4, "Reliability"):

    a crash between "escrow written" and "credential issued" leaves a state that a retry
    completes without a second credential.

A real ``realdid serve`` (registry node + authority) is SIGKILLed — no shutdown code runs —
at two points of an enrollment, restarted on the same data directory and ports, and the
resident runs ``realdid wallet enroll`` again:

* **after the application**: the authority answered 201 (enrollment, escrow record and the
  offered credential committed together) but the wallet never redeemed the offer;
* **after the token exchange**: the pre-authorized code was spent for an access token, but
  the credential request never came.

Both times the retry succeeds, and ``authority.db`` holds exactly one enrollment, one escrow
record and one RealName credential — the one first offered (same id, same status index),
now issued.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from realdid.authority import SqliteRegister, write_register
from realdid.credentials import (
    ENROLLMENT_TYP,
    CredentialOffer,
    TokenRequest,
    sign_application,
)
from realdid.wallet import AuthorityClient, Wallet

from ..service_databases import ServiceDatabases

REALDID = Path(sys.executable).with_name("realdid")
PASSPHRASE = "correct horse battery staple"
SECRETS_ENV = ("REALDID_PASSPHRASE", "REALDID_MNEMONIC", "REALDID_OPERATOR_TOKEN")
START_TIMEOUT = 60.0

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """``realdid serve`` with the authority, restartable on the same data dir and ports."""

    def __init__(self, data_dir: Path, log_path: Path, databases: ServiceDatabases) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.databases = databases
        self.port, self.authority_port = free_port(), free_port()
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def node_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authority_url(self) -> str:
        return f"http://127.0.0.1:{self.authority_port}"

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        """What ``sql`` reads from the authority's store, on the run's engine."""
        db = self.databases.open(self.data_dir, "authority", "authority/authority.db")
        try:
            with db.reading() as tx:
                return [tuple(row) for row in tx.execute(sql)]
        finally:
            db.close()

    def start(self) -> None:
        self.starts += 1
        if self._log is not None:
            self._log.close()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== start #{self.starts} =====\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            [
                str(REALDID),
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--authority-port",
                str(self.authority_port),
                "--batch-interval",
                "0.05",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                **self.databases.env(self.data_dir),
            },
            start_new_session=True,  # its own process group: killed as a group
        )
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=1.0) as client:
            for url in (self.node_url, self.authority_url):  # authority: 503 until its DID is up
                while True:
                    code = self._process.poll()
                    assert code is None, f"serve exited with {code}:\n{self.log()}"
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{url}/healthz").status_code == 200:
                            break
                    assert time.monotonic() < deadline, f"{url} not healthy:\n{self.log()}"
                    time.sleep(0.05)

    def kill9(self) -> None:
        """SIGKILL the whole process group (no shutdown code runs) and reap it."""
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        if self._log is not None:
            self._log.write(b"===== SIGKILL =====\n")
            self._log.flush()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def serve(
    tmp_path: Path, request: pytest.FixtureRequest, service_databases: ServiceDatabases
) -> Iterator[Serve]:
    """A fresh server with a small imported register; its log printed if the test failed."""
    data_dir = tmp_path / "data"
    (data_dir / "authority").mkdir(parents=True)
    write_register(3, random.Random(11), tmp_path / "residents.csv", tmp_path / "captures.csv")
    where = service_databases.location(data_dir, "authority/register.db")
    with SqliteRegister(where) as register:
        assert register.import_csv(tmp_path / "residents.csv") == 3
    server = Serve(data_dir, tmp_path / "serve.log", service_databases)
    failed_before = request.session.testsfailed
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if request.session.testsfailed > failed_before:
            sys.stdout.write(f"\n----- serve log -----\n{server.log()}\n")


def realdid(*args: str | Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in SECRETS_ENV}
    environment["REALDID_PASSPHRASE"] = PASSPHRASE
    result = subprocess.run(
        [str(REALDID), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=environment,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result


def _resident(tmp_path: Path) -> tuple[str, str, Path]:
    """The first resident's ID number and name, and a file holding their face capture."""
    header, first = (tmp_path / "residents.csv").read_text(encoding="utf-8").splitlines()[:2]
    row = dict(zip(header.split(","), first.split(","), strict=True))
    captures = dict(
        line.split(",", 1)
        for line in (tmp_path / "captures.csv").read_text(encoding="utf-8").splitlines()
    )
    face = tmp_path / "face.txt"
    face.write_text(captures[row["id_number"]].strip() + "\n", encoding="ascii")
    return row["id_number"], row["family_name"] + row["given_name"], face


@pytest.mark.parametrize("crash_after", ["application", "token-exchange"])
def test_crash_between_escrow_and_issuance(serve: Serve, tmp_path: Path, crash_after: str) -> None:
    id_number, name, face = _resident(tmp_path)
    wallet_dir = tmp_path / "wallet"
    realdid("wallet", "init", "--wallet-dir", wallet_dir)
    did = realdid(
        "wallet", "did", "create", "--wallet-dir", wallet_dir, "--node", serve.node_url, "--wait"
    ).stdout.strip()

    # The wallet's first steps, exactly as wallet/_authority.py takes them: sign an application
    # for a fresh challenge, submit it — and (maybe) spend the offer's code for a token.
    wallet = Wallet.open(wallet_dir, PASSPHRASE)
    client = AuthorityClient(serve.authority_url)
    try:
        application = sign_application(
            wallet.signing_key(did),
            key_id=wallet.key_id(did),
            typ=ENROLLMENT_TYP,
            audience=client.base_url,
            nonce=client.challenge(),
            issued_at=int(time.time()),
            claims={"id_number": id_number, "name": name, "face": face.read_text().strip()},
        )
        offer = client.apply("/1.0/enrollments", application)
        if crash_after == "token-exchange":
            _, server_metadata = client.metadata()
            code = CredentialOffer.from_dict(offer).pre_authorized_code
            token = httpx.post(
                str(server_metadata["token_endpoint"]),
                data=TokenRequest(code).to_form(),
                timeout=10,
            )
            assert token.status_code == 200, token.text
            assert token.json()["access_token"]
    finally:
        client.close()

    # Escrow written, credential offered, nothing issued yet.
    offered = serve.rows("SELECT id, state, status_list, status_index FROM credentials")
    assert [row[1] for row in offered] == ["offered"]
    assert len(serve.rows("SELECT id FROM escrow")) == 1

    serve.kill9()
    serve.start()  # same data directory, same ports

    enrolled = realdid(
        "wallet",
        "enroll",
        "--wallet-dir",
        wallet_dir,
        "--authority",
        serve.authority_url,
        "--id-number",
        id_number,
        "--name",
        name,
        "--face",
        face,
    )
    assert f"received RealName credential for {did}" in enrolled.stderr
    assert enrolled.stdout.count("~") >= 2  # an SD-JWT with disclosures

    credentials = serve.rows(
        "SELECT id, type, state, status_list, status_index, pending FROM credentials",
    )
    assert len(credentials) == 1, credentials
    credential_id, ctype, state, status_list, status_index, pending = credentials[0]
    assert (ctype, state, pending) == ("RealName", "issued", None)
    # The very credential offered before the crash, with its status index: not a second one.
    assert (credential_id, status_list, status_index) == (
        offered[0][0],
        offered[0][2],
        offered[0][3],
    )
    enrollments = serve.rows("SELECT id, did, state, escrow_id FROM enrollments")
    assert len(enrollments) == 1, enrollments
    enrollment_id, enrolled_did, enrollment_state, escrow_id = enrollments[0]
    assert (enrolled_did, enrollment_state) == (did, "active")
    assert serve.rows("SELECT enrollment_id FROM credentials") == [(enrollment_id,)]
    assert serve.rows("SELECT id FROM escrow") == [(escrow_id,)]
    assert serve.rows("SELECT * FROM grants") == []  # nothing left to redeem

    listed = realdid("wallet", "credentials", "--wallet-dir", wallet_dir).stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["RealName", did]]
