"""The stored-credential type: exact round trips of the wallet file's entries, old files open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realdid.controller import Keystore
from realdid.wallet import MalformedStoredCredentialError, StoredCredential, Wallet

from .test_wallet import PASSPHRASE, new_wallet

#: An entry exactly as ``redeem_offer`` has written it since the wallet first kept credentials.
WRITTEN = {
    "type": "RealName",
    "did": "did:realdid:QmRootAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "issuer": "http://127.0.0.1:8081",
    "credential": "eyJhbGciOiJFUzI1NiJ9.eyJ2Y3QiOiJ1cm46cmVhbGRpZDpSZWFsTmFtZSJ9.c2ln~WyJzIiwibiIsMV0~",
    "received_at": 1_700_000_000,
}

entries = st.fixed_dictionaries(
    {
        "type": st.text(),
        "did": st.text(),
        "issuer": st.text(),
        "credential": st.text(),
        "received_at": st.integers(),
    }
)


@given(entries)
def test_entries_round_trip_exactly(entry: dict[str, Any]) -> None:
    stored = StoredCredential.from_dict(entry)
    assert stored.to_dict() == entry
    assert StoredCredential.from_dict(stored.to_dict()) == stored


def test_the_written_member_order_is_kept() -> None:
    assert list(StoredCredential.from_dict(WRITTEN).to_dict()) == list(WRITTEN)


@given(entries)
def test_objects_round_trip(entry: dict[str, Any]) -> None:
    stored = StoredCredential(**entry)
    assert StoredCredential.from_dict(stored.to_dict()) == stored


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({k: v for k, v in WRITTEN.items() if k != "issuer"}, id="missing"),
        pytest.param({**WRITTEN, "note": "x"}, id="unknown-member"),
        pytest.param({**WRITTEN, "received_at": "1700000000"}, id="text-time"),
        pytest.param({**WRITTEN, "received_at": True}, id="boolean-time"),
        pytest.param({**WRITTEN, "credential": None}, id="no-credential-text"),
        pytest.param({**WRITTEN, "did": 7}, id="numeric-did"),
    ],
)
def test_malformed_entries_are_refused(entry: Any) -> None:
    with pytest.raises(MalformedStoredCredentialError) as caught:
        StoredCredential.from_dict(entry)
    assert caught.value.code == "malformed-stored-credential"


def test_a_wallet_file_written_with_plain_entries_opens(tmp_path: Path) -> None:
    new_wallet(tmp_path)
    keystore = Keystore.open(tmp_path, PASSPHRASE)
    keystore.save({**keystore.payload, "credentials": [WRITTEN]})
    reopened = Wallet.open(tmp_path, PASSPHRASE)
    assert reopened.credentials == [StoredCredential.from_dict(WRITTEN)]
    second = StoredCredential.from_dict({**WRITTEN, "type": "SiteProof", "received_at": 1})
    reopened.add_credential(second)
    assert Keystore.open(tmp_path, PASSPHRASE).payload["credentials"] == [
        WRITTEN,
        second.to_dict(),
    ]


def test_a_wallet_without_credentials_has_none(tmp_path: Path) -> None:
    wallet, _ = new_wallet(tmp_path)
    assert "credentials" not in Keystore.open(tmp_path, PASSPHRASE).payload
    assert wallet.credentials == []


def test_a_malformed_wallet_file_is_refused(tmp_path: Path) -> None:
    new_wallet(tmp_path)
    keystore = Keystore.open(tmp_path, PASSPHRASE)
    keystore.save({**keystore.payload, "credentials": {"type": "RealName"}})
    with pytest.raises(MalformedStoredCredentialError):
        _ = Wallet.open(tmp_path, PASSPHRASE).credentials
