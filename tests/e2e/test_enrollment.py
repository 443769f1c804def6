"""Real-name enrollment end to end: the real ``realdid`` CLI against one running
``realdid serve`` (registry node + identity authority), as issue 4's "Done when" asks.

* generate and import synthetic residents, create a root DID, enroll with the right capture:
  a RealName credential that the IETF reference SD-JWT library (``sd_jwt``) verifies with the
  authority's key resolved from its DID document on the registry;
* wrong name / wrong face / bad check character / unknown ID number: each its own error on one
  ``error:`` line, nothing stored (an unknown number answers like a wrong name; the audit
  log keeps the precise reason);
* a site proof for a second DID discloses no name and no ID number;
* ``realdid authority revoke`` flips the credential's bit in the published status list at once;
* re-enrolling the same resident with a new root DID revokes the old DID's credential;
* ``realdid authority rotate-key``: old credentials keep verifying, new ones carry the new kid.

The server is started here (tests/e2e has no conftest) so that this file stands alone.
"""

from __future__ import annotations

import base64
import csv
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from realdid.authority import generate_residents
from realdid.credentials import verify_status_list
from realdid.crypto import DEFAULT_POLICY, PublicKey
from realdid.storage import migrations_of, open_database

from ..service_databases import ServiceDatabases
from ._cli import REALDID, free_port, realdid, succeeds

RESIDENTS = 30

pytestmark = pytest.mark.e2e


# -- a node + authority, and the command line ---------------------------------------------------
@dataclass(frozen=True)
class Resident:
    id_number: str
    name: str  # family + given name, as the register has it
    capture: str  # base64url face capture (from the generator's sidecar)


@dataclass(frozen=True)
class Server:
    node: str
    authority: str
    data_dir: Path
    scratch: Path
    residents: list[Resident]
    log: Path

    @property
    def authority_dir(self) -> Path:
        return self.data_dir / "authority"


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log_path.read_text(errors="replace")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log_path.read_text(errors="replace")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """``realdid serve`` (node and authority) on free ports, with 30 residents imported."""
    base = tmp_path_factory.mktemp("e2e-authority")
    port, authority_port, log_path = free_port(), free_port(), base / "serve.log"
    failed_before = request.session.testsfailed
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(REALDID),
                "serve",
                "--data-dir",
                str(base / "data"),
                "--port",
                str(port),
                "--authority-port",
                str(authority_port),
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
        node, authority = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{authority_port}"
        _wait_healthy(process, node, log_path)
        _wait_healthy(process, authority, log_path)  # 503 until the authority's DID is anchored

        # The register is imported while the server runs (SQLite: the authority sees it).
        register, captures = base / "residents.csv", base / "captures.csv"
        generated = succeeds(
            realdid(
                "authority",
                "register",
                "generate",
                "--count",
                RESIDENTS,
                "--out",
                register,
                "--captures",
                captures,
                "--seed",
                7,
            )
        )
        assert f"generated {RESIDENTS} residents" in generated.stdout
        imported = succeeds(
            realdid(
                "authority", "register", "import", register, "--data-dir", base / "data/authority"
            )
        )
        assert imported.stdout.startswith(f"imported {RESIDENTS} residents"), imported.stdout
        yield Server(
            node,
            authority,
            base / "data",
            base / "scratch",
            _residents(register, captures),
            log_path,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if request.session.testsfailed > failed_before:
            sys.stdout.write(f"\n----- serve log -----\n{log_path.read_text(errors='replace')}\n")


def _residents(register: Path, captures: Path) -> list[Resident]:
    capture_of = dict(
        line.split(",", 1) for line in captures.read_text(encoding="utf-8").splitlines() if line
    )
    lines = register.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    residents = []
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        residents.append(
            Resident(
                row["id_number"],
                row["family_name"] + row["given_name"],
                capture_of[row["id_number"]].strip(),
            )
        )
    assert len(residents) == RESIDENTS
    return residents


def fails_with_one_line(result: subprocess.CompletedProcess[str], expected: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"want one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    assert expected in lines[0], f"{expected!r} not in {lines[0]!r}"
    assert result.stdout == ""
    return lines[0]


# -- wallets -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Holder:
    wallet: Path
    did: str


def new_wallet(server: Server, name: str) -> Path:
    wallet = server.scratch / name
    succeeds(realdid("wallet", "init", "--wallet-dir", wallet))
    return wallet


def new_did(server: Server, wallet: Path) -> str:
    created = succeeds(
        realdid("wallet", "did", "create", "--wallet-dir", wallet, "--node", server.node, "--wait")
    )
    return created.stdout.strip()


def new_holder(server: Server, name: str) -> Holder:
    wallet = new_wallet(server, name)
    return Holder(wallet, new_did(server, wallet))


def face_file(server: Server, resident: Resident) -> Path:
    path = server.scratch / f"face-{resident.id_number}.txt"
    path.write_text(resident.capture + "\n", encoding="ascii")
    return path


def enroll(
    server: Server,
    holder: Holder,
    resident: Resident,
    *,
    id_number: str | None = None,
    name: str | None = None,
    face: Resident | None = None,
) -> subprocess.CompletedProcess[str]:
    return realdid(
        "wallet",
        "enroll",
        "--wallet-dir",
        holder.wallet,
        "--authority",
        server.authority,
        "--did",
        holder.did,
        "--id-number",
        id_number or resident.id_number,
        "--name",
        name or resident.name,
        "--face",
        face_file(server, face or resident),
    )


def enrolled(server: Server, holder: Holder, resident: Resident) -> str:
    """Enroll successfully; the RealName credential (one line on stdout)."""
    result = succeeds(enroll(server, holder, resident))
    assert f"received RealName credential for {holder.did}" in result.stderr
    credential = result.stdout.strip()
    assert result.stdout == credential + "\n"
    return credential


def wallet_credentials(holder: Holder) -> str:
    return succeeds(realdid("wallet", "credentials", "--wallet-dir", holder.wallet)).stdout


# -- credentials, keys, status lists ---------------------------------------------------------
def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def jwt_header_payload(credential: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = credential.split("~", 1)[0].split(".")
    return _b64json(header), _b64json(payload)


def disclosures(credential: str) -> list[list[Any]]:
    return [_b64json(d) for d in credential.split("~")[1:] if d]


def did_key(server: Server, did: str) -> PublicKey:
    """The first verification method of ``did`` as the node resolves it."""
    response = httpx.get(f"{server.node}/1.0/identifiers/{did}", timeout=10)
    assert response.status_code == 200, response.text
    method = response.json()["didDocument"]["verificationMethod"][0]
    return PublicKey.from_multibase(method["publicKeyMultibase"])


def issuer_key(server: Server, kid: str) -> PublicKey:
    """The key ``kid`` names, from the DID document the node resolves (no trust store)."""
    did = kid.split("#", 1)[0]
    response = httpx.get(f"{server.node}/1.0/identifiers/{did}", timeout=10)
    assert response.status_code == 200, response.text
    document = response.json()["didDocument"]
    assert kid in document.get("assertionMethod", []), document
    (method,) = [m for m in document["verificationMethod"] if m["id"] == kid]
    return PublicKey.from_multibase(method["publicKeyMultibase"])


def verify_with_reference_library(server: Server, credential: str) -> dict[str, Any]:
    """Verify the issued SD-JWT VC with the IETF reference implementation; all disclosed."""
    from jwcrypto.jwk import JWK
    from sd_jwt.verifier import SDJWTVerifier

    header, _ = jwt_header_payload(credential)
    assert header["typ"] == "dc+sd-jwt"
    key = JWK.from_json(json.dumps(issuer_key(server, header["kid"]).to_jwk()))
    seen: list[str | None] = []

    def get_key(issuer: str, jose_header: dict[str, Any]) -> JWK:
        seen.append(issuer)
        assert jose_header["kid"] == header["kid"]
        return key

    payload: dict[str, Any] = SDJWTVerifier(credential, get_key).get_verified_payload()
    assert seen == [header["kid"].split("#", 1)[0]]
    return payload


def status_of(server: Server, credential: str) -> int:
    """The credential's entry in its status list, fetched now and verified."""
    _, payload = jwt_header_payload(credential)
    reference = payload["status"]["status_list"]
    uri, index = reference["uri"], reference["idx"]
    assert uri.startswith(server.authority + "/status-lists/"), uri
    response = httpx.get(uri, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/statuslist+jwt")
    verified = verify_status_list(
        response.text,
        expected_uri=uri,
        issuer_keys=lambda iss, kid: issuer_key(server, kid),
        now=int(time.time()),
        policy=DEFAULT_POLICY,
    )
    assert verified.issuer == payload["iss"]
    return verified.status_list.get(index)


def credential_rows(server: Server) -> int:
    url = os.environ.get("REALDID_NODE__DATABASE")  # the PostgreSQL run (tests/e2e/conftest.py)
    db = open_database(
        url or server.authority_dir / "authority.db",
        store="authority",
        migrations=migrations_of("realdid.authority", "authority"),
        read_only=True,
    )
    try:
        with db.reading() as tx:
            return int(tx.execute("SELECT count(*) FROM credentials").fetchone()[0])
    finally:
        db.close()


def operator(server: Server, name: str, role: str) -> Path:
    """``realdid authority operator add``: the token (stdout) saved to a file."""
    added = succeeds(
        realdid(
            "authority",
            "operator",
            "add",
            "--data-dir",
            server.authority_dir,
            "--name",
            name,
            "--role",
            role,
        )
    )
    token = added.stdout.strip()
    assert added.stdout == token + "\n", added.stdout
    assert len(token) >= 32, added.stdout
    path = server.scratch / f"{name}.token"
    path.write_text(token + "\n", encoding="ascii")
    return path


def business_register(server: Server, name: str, count: int = 3) -> list[dict[str, str]]:
    """A synthetic business register, imported into the authority: its companies."""
    register = server.scratch.parent / f"{name}-business.csv"
    succeeds(
        realdid(
            "authority", "business", "generate", "--count", count, "--seed", 77, "--out", register
        )
    )
    succeeds(
        realdid("authority", "business", "import", register, "--data-dir", server.authority_dir)
    )
    with register.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def registered_rp(
    server: Server, name: str, company: dict[str, str], purpose: str
) -> tuple[Holder, str]:
    """An enterprise's wallet, business-enrolled as ``company`` and registered as an RP
    for SiteProof ``age_over_18, verified_person`` by an ``rp-registrar``: the holder and
    the redeemed RpRegistration."""
    holder = new_holder(server, name)
    succeeds(
        realdid(
            "wallet", "business-enroll", "--wallet-dir", holder.wallet,
            "--authority", server.authority, "--uscc", company["uscc"],
            "--company-name", company["name"],
            "--legal-representative", company["legal_representative"],
        )
    )  # fmt: skip
    token = operator(server, f"registrar-{name}", "rp-registrar")
    offer = succeeds(
        realdid(
            "authority", "rp", "register", "--authority", server.authority,
            "--did", holder.did, "--purpose", purpose,
            "--permit", "SiteProof:age_over_18,verified_person", "--token-file", token,
        )
    ).stdout.strip()  # fmt: skip
    registration = succeeds(
        realdid(
            "wallet", "redeem", offer, "--wallet-dir", holder.wallet,
            "--authority", server.authority, "--did", holder.did,
        )
    ).stdout.strip()  # fmt: skip
    return holder, registration


# -- enrollment -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def alice(server: Server) -> tuple[Holder, str]:
    """Resident 0 enrolled with a root DID: the holder and the RealName credential."""
    holder = new_holder(server, "alice")
    return holder, enrolled(server, holder, server.residents[0])


def test_enroll_verified_by_reference_library(server: Server, alice: tuple[Holder, str]) -> None:
    holder, credential = alice
    resident = server.residents[0]
    payload = verify_with_reference_library(server, credential)
    assert payload["vct"] == "urn:realdid:RealName"
    assert payload["iss"] == jwt_header_payload(credential)[0]["kid"].split("#", 1)[0]
    assert payload["id_number"] == resident.id_number
    assert payload["family_name"] + payload["given_name"] == resident.name
    assert payload["birth_date"] == (
        f"{resident.id_number[6:10]}-{resident.id_number[10:12]}-{resident.id_number[12:14]}"
    )
    assert payload["region"] == resident.id_number[:6]
    assert payload["verified_person"] is True
    assert isinstance(payload["age_over_18"], bool)
    assert "jwk" in payload["cnf"]  # holder-bound
    # Name and ID number are selectively disclosable: not in the signed payload itself.
    _, signed = jwt_header_payload(credential)
    assert "id_number" not in signed
    assert "family_name" not in signed
    assert resident.id_number not in json.dumps(signed)
    # The wallet stored it.
    assert wallet_credentials(holder).startswith(f"RealName\t{holder.did}\t{server.authority}\t")
    assert status_of(server, credential) == 0


def test_the_authority_issues_on_its_own_did(server: Server, alice: tuple[Holder, str]) -> None:
    health = httpx.get(f"{server.authority}/healthz", timeout=5).json()
    header, payload = jwt_header_payload(alice[1])
    assert payload["iss"] == health["issuer"]
    assert header["kid"].startswith(health["issuer"] + "#")


# -- refused enrollments ------------------------------------------------------------------------
def _unknown_id_number(server: Server) -> str:
    known = {r.id_number for r in server.residents}
    for resident, _ in generate_residents(5, random.Random(4242)):
        if resident.id_number not in known:
            return resident.id_number
    raise AssertionError("no unregistered ID number generated")


def _flip_check_character(id_number: str) -> str:
    last = id_number[-1]
    return id_number[:-1] + ("0" if last != "0" else "1")


@dataclass(frozen=True)
class Refusal:
    result: subprocess.CompletedProcess[str]
    credentials_before: str
    credentials_after: str
    rows_before: int
    rows_after: int


@pytest.fixture(scope="module")
def refusals(server: Server) -> dict[str, Refusal]:
    """Four refused enrollments of resident 1 (and strangers) from a fresh, unenrolled DID."""
    holder = new_holder(server, "mallory")
    resident, other = server.residents[1], server.residents[2]
    attempts: dict[str, dict[str, Any]] = {
        "wrong-name": {"name": other.name if other.name != resident.name else resident.name + "某"},
        "wrong-face": {"face": other},
        "bad-check-character": {"id_number": _flip_check_character(resident.id_number)},
        "unknown-id-number": {"id_number": _unknown_id_number(server)},
    }
    results = {}
    listed = wallet_credentials(holder)
    for label, kw in attempts.items():
        rows_before = credential_rows(server)
        result = enroll(server, holder, resident, **kw)
        after = wallet_credentials(holder)
        results[label] = Refusal(result, listed, after, rows_before, credential_rows(server))
        listed = after
    return results


REFUSED = {
    "wrong-name": "identity-mismatch",
    "wrong-face": "face-mismatch",
    "bad-check-character": "id-number-checksum",
    "unknown-id-number": "identity-mismatch",  # the same answer: no existence leak
}


@pytest.mark.parametrize(("label", "code"), REFUSED.items(), ids=REFUSED.keys())
def test_refused_enrollment(refusals: dict[str, Refusal], label: str, code: str) -> None:
    refusal = refusals[label]
    line = fails_with_one_line(refusal.result, code)
    assert line.startswith(f"error: {code}"), line
    assert refusal.credentials_after == refusal.credentials_before == ""
    assert refusal.rows_after == refusal.rows_before


def test_unknown_number_answers_like_a_wrong_name(refusals: dict[str, Refusal]) -> None:
    assert refusals["unknown-id-number"].result.stderr == refusals["wrong-name"].result.stderr


def test_audit_log_keeps_the_precise_reasons(server: Server, refusals: dict[str, Refusal]) -> None:
    token = operator(server, "olga", "auditor")
    audit = succeeds(
        realdid("authority", "audit", "--authority", server.authority, "--token-file", token)
    )
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    reasons = [e["detail"].get("reason") for e in entries if e["action"] == "enrollment.refused"]
    assert {"unknown-id-number", "name-mismatch", "face-mismatch"} <= set(reasons), reasons
    # No personal data in the audit log.
    resident = server.residents[1]
    assert resident.id_number not in audit.stdout
    assert resident.name not in audit.stdout
    # An operator without the auditor role is refused, on one line.
    wrong_role = operator(server, "rick", "revocation-officer")
    fails_with_one_line(
        realdid("authority", "audit", "--authority", server.authority, "--token-file", wrong_role),
        "forbidden",
    )


# -- site proof ---------------------------------------------------------------------------------
def test_site_proof_for_a_second_did(server: Server, alice: tuple[Holder, str]) -> None:
    holder, _ = alice
    resident = server.residents[0]
    site_did = new_did(server, holder.wallet)
    assert site_did != holder.did
    result = succeeds(
        realdid(
            "wallet",
            "site-proof",
            "--wallet-dir",
            holder.wallet,
            "--authority",
            server.authority,
            "--root-did",
            holder.did,
            "--site-did",
            site_did,
        )
    )
    assert f"received SiteProof credential for {site_did}" in result.stderr
    proof = result.stdout.strip()
    header, payload = jwt_header_payload(proof)
    assert payload["vct"] == "urn:realdid:SiteProof"
    assert payload["verified_person"] is True
    names = {d[1] for d in disclosures(proof)}
    assert names <= {"age_over_18", "age_over_60", "province"}, names
    everything = json.dumps([payload, disclosures(proof)], ensure_ascii=False)
    for secret in (resident.id_number, resident.name, holder.did):
        assert secret not in everything
    for claim in ("id_number", "family_name", "given_name", "birth_date", "name"):
        assert claim not in payload
        assert claim not in names
    assert verify_with_reference_library(server, proof)["verified_person"] is True
    # Signed by the authority like the RealName credential, but bound (cnf) to the site DID's
    # key, not to the root DID's.
    assert header["kid"] == jwt_header_payload(alice[1])[0]["kid"]
    assert payload["cnf"]["jwk"] == did_key(server, site_did).to_jwk()
    assert jwt_header_payload(alice[1])[1]["cnf"]["jwk"] == did_key(server, holder.did).to_jwk()
    listed = wallet_credentials(holder).splitlines()
    assert [line.split("\t")[:2] for line in listed] == [
        ["RealName", holder.did],
        ["SiteProof", site_did],
    ]


# -- revocation ----------------------------------------------------------------------------------
def test_admin_revocation_flips_the_status_list(server: Server) -> None:
    holder = new_holder(server, "bob")
    credential = enrolled(server, holder, server.residents[3])
    assert status_of(server, credential) == 0
    token = operator(server, "ravi", "revocation-officer")
    revoked = succeeds(
        realdid(
            "authority",
            "revoke",
            "--authority",
            server.authority,
            "--token-file",
            token,
            "--did",
            holder.did,
            "--reason",
            "fraud",
        )
    )
    assert revoked.stdout == "revoked 1 credential(s)\n"
    assert status_of(server, credential) == 1  # at once: a revocation bumps the list's revision
    # Revoking again finds no active enrollment; an auditor may not revoke.
    again = realdid(
        "authority",
        "revoke",
        "--authority",
        server.authority,
        "--token-file",
        token,
        "--did",
        holder.did,
        "--reason",
        "fraud",
    )
    fails_with_one_line(again, "enrollment-not-found")
    auditor = operator(server, "otto", "auditor")
    fails_with_one_line(
        realdid(
            "authority",
            "revoke",
            "--authority",
            server.authority,
            "--token-file",
            auditor,
            "--did",
            holder.did,
            "--reason",
            "fraud",
        ),
        "forbidden",
    )


def test_re_enrollment_revokes_the_old_root_did(server: Server) -> None:
    resident = server.residents[4]
    first = new_holder(server, "carol-old-phone")
    old_credential = enrolled(server, first, resident)
    assert status_of(server, old_credential) == 0
    second = new_holder(server, "carol-new-phone")
    new_credential = enrolled(server, second, resident)
    assert status_of(server, old_credential) == 1
    assert status_of(server, new_credential) == 0
    # The old root DID can no longer vouch for site proofs.
    site_did = new_did(server, first.wallet)
    fails_with_one_line(
        realdid(
            "wallet",
            "site-proof",
            "--wallet-dir",
            first.wallet,
            "--authority",
            server.authority,
            "--root-did",
            first.did,
            "--site-did",
            site_did,
        ),
        "not-enrolled",
    )


# -- issuer key rotation ---------------------------------------------------------------------------
def test_rotate_key_keeps_old_credentials_verifying(
    server: Server, alice: tuple[Holder, str]
) -> None:
    _, old_credential = alice
    old_kid = jwt_header_payload(old_credential)[0]["kid"]
    token = operator(server, "sam", "security-officer")
    rotated = succeeds(
        realdid("authority", "rotate-key", "--authority", server.authority, "--token-file", token)
    )
    new_kid = rotated.stdout.strip().rsplit(" ", 1)[-1]
    assert rotated.stdout == f"the authority now signs with {new_kid}\n"
    assert new_kid != old_kid
    assert new_kid.split("#")[0] == old_kid.split("#")[0]
    assert httpx.get(f"{server.authority}/healthz", timeout=5).json()["keyId"] == new_kid

    # Resolved again: the old verification method is still there, and still verifies.
    assert verify_with_reference_library(server, old_credential)["id_number"] == (
        server.residents[0].id_number
    )
    assert status_of(server, old_credential) == 0  # the status list is signed with the new key

    holder = new_holder(server, "dave")
    new_credential = enrolled(server, holder, server.residents[5])
    assert jwt_header_payload(new_credential)[0]["kid"] == new_kid
    assert verify_with_reference_library(server, new_credential)["id_number"] == (
        server.residents[5].id_number
    )


def _stored_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # batch files in CAS are gzip: scan what they hold
        return gzip.decompress(raw)
    return raw


def _postgres_files_outside_the_registers(url: str, server_data: Path) -> list[Path]:
    """The files of the platform's PostgreSQL database, checkpointed, but for the relations
    of the register and business schemas (which hold personal data by definition)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # every page the platform wrote is in the files now
        database = conn.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert database is not None
        excluded = {
            str(row[0])
            for row in conn.execute(
                "SELECT pg_relation_filenode(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname IN ('register', 'business')"
                " UNION SELECT pg_relation_filenode(c.reltoastrelid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname IN ('register', 'business') AND c.reltoastrelid <> 0"
            )
        }
    files = sorted((server_data / "base" / str(database[0])).iterdir())
    return [f for f in files if f.name.split(".")[0].split("_")[0] not in excluded]


def test_no_personal_data_in_logs_ledger_or_operational_database(
    server: Server, service_databases: ServiceDatabases
) -> None:
    """Runs last: after every enrollment, refusal, site proof, revocation and rotation above.

    The registers (``register.db``, ``business.db``) hold personal data by definition and the
    wallets are encrypted; everything else the platform wrote is scanned: the server log
    (node + authority), the node's ledger, index and batch files, and the authority's
    operational database with its WAL — on PostgreSQL, every data file of the platform's
    database but the registers' relations.
    """
    registers = {server.authority_dir / "register.db", server.authority_dir / "business.db"}
    scanned = {
        path: _stored_bytes(path)
        for path in server.data_dir.rglob("*")
        if path.is_file() and not any(path == r or path.name.startswith(r.name) for r in registers)
    }
    scanned[server.log] = server.log.read_bytes()
    url = os.environ.get("REALDID_NODE__DATABASE")
    if url is None:
        assert any(p.name == "authority.db" for p in scanned)
        assert any(p.name == "ledger.db" for p in scanned)
    else:
        assert service_databases.server is not None
        relations = _postgres_files_outside_the_registers(url, service_databases.server.data)
        assert len(relations) > 20, relations  # the node's and the authority's tables
        scanned.update((path, path.read_bytes()) for path in relations)
    assert any("cas" in p.parts for p in scanned), "no batch file was scanned"
    for resident in server.residents:
        needles = {
            "ID number": resident.id_number.encode(),
            "name": resident.name.encode(),
            "face capture": resident.capture.encode(),
        }
        for what, needle in needles.items():
            for path, data in scanned.items():
                assert needle not in data, f"{what} of a resident found in {path}"
