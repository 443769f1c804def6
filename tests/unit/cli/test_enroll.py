"""``realdid wallet enroll|site-proof|business-enroll|redeem|credentials``.

The OpenID4VCI flows themselves are the wallet's (tests/unit/wallet) and run end to end in
tests/e2e/test_enrollment.py; here: the commands' arguments, their error lines, and the
listing of what the wallet holds.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from realdid.wallet import StoredCredential, Wallet

from .conftest import PASSPHRASE, UNREACHABLE, Node, create_did, invoke, one_line_error, succeeds

AUTHORITY = "http://authority.test"
SITE_DID = "did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc"


def _enroll(wallet_dir: Path, face: Path, *extra: str, authority: str = AUTHORITY) -> list[str]:
    return [
        "wallet",
        "enroll",
        "--wallet-dir",
        str(wallet_dir),
        "--authority",
        authority,
        "--id-number",
        "11010519491231002X",
        "--name",
        "Zhang San",
        "--face",
        str(face),
        *extra,
    ]


def test_help() -> None:
    for command in ("enroll", "site-proof", "business-enroll", "redeem", "credentials"):
        assert "--wallet-dir" in succeeds(invoke("wallet", command, "--help")).stdout


def test_credentials_lists_what_the_wallet_holds(wallet_dir: Path) -> None:
    wallet = Wallet.open(wallet_dir, PASSPHRASE)
    wallet.add_credential(
        StoredCredential.from_dict(
            {
                "type": "urn:realdid:RealName",
                "did": SITE_DID,
                "issuer": "did:realdid:QmIssuer",
                "credential": "eyJ…~",
                "received_at": 1_700_000_000,
            }
        )
    )
    out = succeeds(invoke("wallet", "credentials", "--wallet-dir", wallet_dir)).stdout
    assert out == f"urn:realdid:RealName\t{SITE_DID}\tdid:realdid:QmIssuer\t1700000000\n"


def test_an_empty_wallet_lists_nothing(wallet_dir: Path) -> None:
    result = succeeds(invoke("wallet", "credentials", "--wallet-dir", wallet_dir))
    assert result.stdout == ""


def test_an_unreadable_face_is_one_line(wallet_dir: Path, tmp_path: Path) -> None:
    message = one_line_error(invoke(*_enroll(wallet_dir, tmp_path / "missing")))
    assert message == f"--face: cannot read a base64url face capture from {tmp_path / 'missing'}"


def test_a_wallet_without_a_did_says_what_to_run(wallet_dir: Path, tmp_path: Path) -> None:
    face = tmp_path / "face"
    face.write_text("AAAA\n")
    message = one_line_error(invoke(*_enroll(wallet_dir, face)))
    assert message == "the wallet has no DID yet: run 'realdid wallet did create --wait' first"
    message = one_line_error(
        invoke(
            "wallet",
            "site-proof",
            "--wallet-dir",
            wallet_dir,
            "--authority",
            AUTHORITY,
            "--site-did",
            SITE_DID,
            "--root-did",
            SITE_DID,
        )
    )
    assert "is not a DID of this wallet" in message


def test_an_unreachable_authority_is_one_line(node: Node, wallet_dir: Path, tmp_path: Path) -> None:
    create_did(node, wallet_dir)
    face = tmp_path / "face"
    face.write_text("AAAA\n")
    message = one_line_error(invoke(*_enroll(wallet_dir, face, authority=UNREACHABLE)))
    assert message == f"cannot reach the authority at {UNREACHABLE}: ConnectError"


def test_the_authority_is_reached_through_the_seam(
    node: Node, wallet_dir: Path, tmp_path: Path
) -> None:
    create_did(node, wallet_dir)
    face = tmp_path / "face"
    face.write_text("AAAA\n")
    seen: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(503)

    message = one_line_error(
        invoke(*_enroll(wallet_dir, face), transport=httpx.MockTransport(down))
    )
    assert seen
    assert all(url.startswith(AUTHORITY) for url in seen)
    assert message == "the authority answered HTTP 503"
