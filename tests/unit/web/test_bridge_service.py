"""``realdid bridge serve``'s set-up: the clients file and the wallet's RpRegistration.

The served bridge itself runs in tests/e2e/test_bridge_cli.py; here every way the set-up
can be wrong is one :class:`BridgeSetupError` line that says what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from realdid.authority import RP_REGISTRATION
from realdid.rp.bridge import BridgeSetupError
from realdid.wallet import StoredCredential
from realdid.web import find_registration, load_bridge_clients

SECRET = "s" * 32
NEWS = f"""
[[clients]]
client_id = "news"
client_secret = "{SECRET}"
redirect_uris = ["https://news.test/cb", "https://news.test/cb2"]
scopes = ["openid", "realdid_verified"]
name = "News"
"""
SHOP = f"""
[[clients]]
client_id = "shop"
client_secret = "{SECRET}"
redirect_uris = ["https://shop.test/cb", "https://pay.shop.test/cb"]
scopes = ["openid", "age_over_18"]
sector_identifier = "shop.test"
"""


def _clients(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "clients.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _refused(path: Path) -> str:
    with pytest.raises(BridgeSetupError) as caught:
        load_bridge_clients(path)
    return str(caught.value)


def test_clients_are_read_with_their_sectors(tmp_path: Path) -> None:
    news, shop = load_bridge_clients(_clients(tmp_path, NEWS + SHOP))
    assert news.client_id == "news"
    assert news.client_secret == SECRET
    assert news.redirect_uris == ("https://news.test/cb", "https://news.test/cb2")
    assert news.allowed_scopes == {"openid", "realdid_verified"}
    assert news.sector_identifier == "news.test"  # the one host of its redirect URIs
    assert news.name == "News"
    assert shop.sector_identifier == "shop.test"
    assert shop.name == ""


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_clients_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = _clients(tmp_path, NEWS, mode)
    assert _refused(path) == (
        f"clients file {path} can be read by others and holds client secrets: chmod 600 it"
    )


def test_a_missing_clients_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert _refused(path) == f"clients file {path}: No such file or directory"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[clients]\n", " is not valid TOML: Expected"),
        ("", ": clients: Field required"),
        ("clients = []\n", ": clients: List should have at least 1 item"),
        (NEWS.replace(SECRET, "short"), ": clients.0.client_secret: String should have at least"),
        (NEWS + 'colour = "red"\n', ": clients.0.colour: Extra inputs are not permitted"),
        (NEWS.replace('name = "News"', ""), None),
        (NEWS.replace("redirect_uris", "redirect_uri"), ": clients.0.redirect_uris: Field"),
        (NEWS.replace('"realdid_verified"', '"email"'), ": clients.0: unknown scopes for client"),
        (
            NEWS.replace("https://news.test/cb2", "https://other.test/cb"),
            ": clients.0: the redirect URIs are on several hosts: give sector_identifier",
        ),
        (NEWS + NEWS, ": client_id 'news' is listed twice"),
    ],
)
def test_a_bad_clients_file_names_what_is_wrong(
    tmp_path: Path, text: str, message: str | None
) -> None:
    path = _clients(tmp_path, text)
    if message is None:  # the control: the same file, valid
        assert len(load_bridge_clients(path)) == 1
        return
    assert _refused(path).startswith(f"clients file {path}{message}")


def test_a_clients_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clients.toml"
    path.write_bytes(b"\xff\xfe" + NEWS.encode())
    path.chmod(0o600)
    assert "is not valid TOML" in _refused(path)


# -- the registration ---------------------------------------------------------------------
KEY = ECKey.generate_key("P-256", private=True)
NOW = 1_800_000_000
AUTHORITY = "did:realdid:QmAuthority"
BRIDGE = "did:realdid:QmBridge"


def _sd_jwt(**claims: Any) -> str:
    payload = json.dumps({"vct": "urn:realdid:rp-registration", **claims}).encode()
    return jws.serialize_compact({"alg": "ES256", "typ": "dc+sd-jwt"}, payload, KEY) + "~"


def _held(
    did: str = BRIDGE, received_at: int = NOW - 10, type: str = RP_REGISTRATION, **claims: Any
) -> StoredCredential:
    claims = {"iss": AUTHORITY, "exp": NOW + 3600, **claims}
    return StoredCredential(
        type=type,
        did=did,
        issuer="http://authority.test",
        credential=_sd_jwt(**{k: v for k, v in claims.items() if v is not None}),
        received_at=received_at,
    )


@dataclass
class _Holder:
    """The part of a wallet find_registration reads."""

    credentials: list[StoredCredential] = field(default_factory=list)


def _registration(*held: StoredCredential, did: str | None = None) -> Any:
    return find_registration(_Holder(list(held)), did, NOW)  # type: ignore[arg-type]


def _not_found(*held: StoredCredential, did: str | None = None) -> str:
    with pytest.raises(BridgeSetupError) as caught:
        _registration(*held, did=did)
    return str(caught.value)


def test_the_newest_registration_of_the_one_registered_did_is_taken() -> None:
    older, newer = _held(received_at=NOW - 100, jti="old"), _held(jti="new")
    business = _held(type="Business", did="did:realdid:QmOther")
    found = _registration(older, newer, business)
    assert (found.did, found.credential, found.issuer) == (BRIDGE, newer.credential, AUTHORITY)
    assert _registration(newer, older, did=BRIDGE).credential == newer.credential


def test_no_registration_says_how_to_get_one() -> None:
    message = _not_found(_held(type="Business"))
    assert message.startswith("the wallet holds no RpRegistration: ask the authority's")
    assert "realdid wallet redeem" in message
    named = _not_found(_held(), did="did:realdid:QmElse")
    assert named.startswith("the wallet holds no RpRegistration for did:realdid:QmElse: ask")


def test_several_registered_dids_need_a_choice() -> None:
    two = (_held(), _held(did="did:realdid:QmSecond"))
    assert _not_found(*two) == "the wallet holds RpRegistrations for 2 DIDs: choose one with --did"
    assert _registration(*two, did="did:realdid:QmSecond").did == "did:realdid:QmSecond"


def test_an_expired_registration_is_refused() -> None:
    message = _not_found(_held(exp=NOW))
    assert message.startswith(f"the RpRegistration of {BRIDGE} has expired: ask")
    assert _registration(_held(exp=None)).issuer == AUTHORITY  # no expiry: still good


def test_a_registration_without_issuer_or_unreadable_is_refused() -> None:
    assert _not_found(_held(iss=None)) == "the wallet's RpRegistration names no issuer"
    broken = StoredCredential(RP_REGISTRATION, BRIDGE, "http://a.test", "not-a-jwt~", NOW)
    assert _not_found(broken).startswith("the wallet's RpRegistration is unreadable: ")
