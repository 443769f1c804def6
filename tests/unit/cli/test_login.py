"""``realdid wallet login`` and ``realdid wallet history``.

A whole login against the demo sites runs in tests/e2e/test_login_cli.py; here: the
disclosure log's two output forms and the login command's error lines, with the website
behind the CLI's network seam.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from realdid.wallet import Disclosure, Wallet

from .conftest import PASSPHRASE, UNREACHABLE, invoke, one_line_error, succeeds, usage_error

SITE = "http://forum.test"
RP_DID = "did:realdid:QmRpForum"
SITE_DID = "did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc"


def _log_two_answers(wallet_dir: Path) -> None:
    Wallet.open(wallet_dir, PASSPHRASE).add_disclosures(
        Disclosure(
            at=1_700_000_000,
            rp_did=RP_DID,
            rp_name="Demo forum",
            purpose="member login",
            site_did=SITE_DID,
            credential_type="urn:realdid:SiteProof",
            claims=("age_over_18", "verified_person"),
            outcome="released",
        ),
        Disclosure(
            at=1_700_000_060,
            rp_did=RP_DID,
            rp_name="",
            purpose="member login",
            site_did="",
            credential_type="urn:realdid:RealName",
            claims=(),
            outcome="declined",
        ),
    )


def test_help() -> None:
    assert "CODE_OR_URL" in succeeds(invoke("wallet", "login", "--help")).stdout
    assert "--json" in succeeds(invoke("wallet", "history", "--help")).stdout


def test_history_of_a_new_wallet(wallet_dir: Path) -> None:
    result = succeeds(invoke("wallet", "history", "--wallet-dir", wallet_dir))
    assert (result.stdout, result.stderr) == ("", "no logins yet\n")
    result = succeeds(invoke("wallet", "history", "--wallet-dir", wallet_dir, "--json"))
    assert (result.stdout, result.stderr) == ("", "")


def test_history_as_a_table(wallet_dir: Path) -> None:
    _log_two_answers(wallet_dir)
    lines = succeeds(invoke("wallet", "history", "--wallet-dir", wallet_dir)).stdout.splitlines()
    assert lines[0] == "time (UTC)\tsite\tsite DID\ttype\tclaims\toutcome"
    assert lines[1].split("\t")[1:] == [
        f"Demo forum ({RP_DID})",
        SITE_DID,
        "SiteProof",
        "age_over_18,verified_person",
        "released",
    ]
    assert lines[2].split("\t")[1:] == [f"? ({RP_DID})", "-", "RealName", "-", "declined"]
    assert len(lines) == 3


def test_history_as_json_lines(wallet_dir: Path) -> None:
    _log_two_answers(wallet_dir)
    out = succeeds(invoke("wallet", "history", "--wallet-dir", wallet_dir, "--json")).stdout
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["outcome"] for e in entries] == ["released", "declined"]
    assert entries[0]["claims"] == ["age_over_18", "verified_person"]


def test_a_bad_login_target_is_one_line(wallet_dir: Path) -> None:
    message = one_line_error(invoke("wallet", "login", "not a code", "--wallet-dir", wallet_dir))
    assert message.startswith("invalid-login-target: ")
    message = one_line_error(invoke("wallet", "login", "ABCD-EFGH", "--wallet-dir", wallet_dir))
    assert message == "invalid-login-target: a login code needs the site's address: add --site URL"


def _last_line_error(result_stderr: str) -> str:
    *progress, last = result_stderr.splitlines()
    assert all(not line.startswith("error") for line in progress)
    assert last.startswith("error: ")
    return last.removeprefix("error: ")


def test_an_unreachable_site_is_one_error_line(wallet_dir: Path) -> None:
    result = invoke(
        "wallet", "login", "ABCD-EFGH", "--site", UNREACHABLE, "--wallet-dir", wallet_dir
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    message = _last_line_error(result.stderr)
    assert message == f"rp-unreachable: cannot reach the site at {UNREACHABLE}: ConnectError"


def test_the_site_is_reached_through_the_seam(wallet_dir: Path) -> None:
    seen: list[str] = []

    def site(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(404, json={"error": "unknown code"})

    result = invoke(
        "wallet",
        "login",
        "abcd efgh",
        "--site",
        SITE,
        "--wallet-dir",
        wallet_dir,
        transport=httpx.MockTransport(site),
    )
    assert result.exit_code == 1
    assert seen == [f"{SITE}/oid4vp/codes/ABCD-EFGH"]
    assert _last_line_error(result.stderr)


def test_bad_arguments_are_usage_errors(wallet_dir: Path) -> None:
    usage_error(
        invoke("wallet", "login", "ABCD-EFGH", "--wallet-dir", wallet_dir, "--consent", "maybe"),
        "--consent",
    )
    usage_error(invoke("wallet", "login", "--wallet-dir", wallet_dir), "Missing argument")
