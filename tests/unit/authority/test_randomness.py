"""The authority's randomness seam: ``Authority(token_bytes=..., randbelow=...)``.

Every bearer secret the authority hands out (application nonces, pre-authorized codes,
access tokens, ``c_nonce`` values, operator tokens) and every record id comes from the
injected ``token_bytes``; every status index, and the purge lottery, from ``randbelow``.
These tests inject recording, scripted and seeded sources and check that what comes out is
exactly what went in — so no draw bypasses the seam.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from realdid.authority import Offer, Role
from realdid.authority._runtime import PASSPHRASE_ENV, issuer_passphrase
from realdid.clock import FixedClock
from realdid.credentials import (
    CredentialOffer,
    NonceResponse,
    TokenRequest,
    TokenResponse,
    parse_status_reference,
)
from realdid.crypto import b64url_encode
from realdid.randomness import Randomness

from .conftest import T0, Env, build_env

STATUS_LIST_SIZE = 1024  # build_env's list size: randbelow is asked for an index below it


class RecordingBytes:
    """Seeded ``token_bytes`` that remembers every draw, in order."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.drawn: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        value = self._rng.randbytes(n)
        self.drawn.append(value)
        return value


class ScriptedIndexes:
    """``randbelow`` that answers status-index draws from a script and never wins the purge."""

    def __init__(self, indexes: list[int]) -> None:
        self._indexes: Iterator[int] = iter(indexes)

    def __call__(self, bound: int) -> int:
        if bound == STATUS_LIST_SIZE:
            return next(self._indexes)
        return 1  # the purge lottery (and anything else) draws 1: no purge


def seeded_env(path: Path, seed: int) -> Env:
    path.mkdir()
    return seeded(build_env(path, FixedClock(T0)), seed)


def seeded(env: Env, seed: int) -> Env:
    """``env`` with its authority rebuilt on the same database and a seeded source."""
    rng = random.Random(seed)
    env.authority = dataclasses.replace(
        env.authority, token_bytes=rng.randbytes, randbelow=rng.randrange
    )
    return env


def status_index(env: Env, offer: Offer) -> int:
    ((index,),) = env.rows("SELECT status_index FROM credentials WHERE id = ?", offer.credential_id)
    return int(index)


def test_seeded_authorities_draw_the_same_ids_and_status_index(tmp_path: Path) -> None:
    first = seeded_env(tmp_path / "first", 7)
    second = seeded_env(tmp_path / "second", 7)
    try:
        offers = [env.enroll(env.resolver.create(), env.residents[0]) for env in (first, second)]
        assert offers[0].credential_id == offers[1].credential_id
        assert status_index(first, offers[0]) == status_index(second, offers[1])
        codes = [CredentialOffer.from_dict(o.offer).pre_authorized_code for o in offers]
        assert codes[0] == codes[1]
    finally:
        first.close()
        second.close()


def test_differently_seeded_authorities_differ(tmp_path: Path) -> None:
    first = seeded_env(tmp_path / "first", 7)
    second = seeded_env(tmp_path / "second", 8)
    try:
        offers = [env.enroll(env.resolver.create(), env.residents[0]) for env in (first, second)]
        assert offers[0].credential_id != offers[1].credential_id
    finally:
        first.close()
        second.close()


def test_every_token_is_what_the_injected_source_gave(env: Env) -> None:
    source = RecordingBytes(1)
    env.authority = dataclasses.replace(env.authority, token_bytes=source)

    nonce, _ = env.authority.challenge()
    assert nonce == b64url_encode(source.drawn[-1])
    assert len(source.drawn[-1]) == 24

    offer = env.enroll(env.resolver.create(), env.residents[0])
    # Drawn in order: application nonce, enrollment id, escrow id, credential id, code.
    code = CredentialOffer.from_dict(offer.offer).pre_authorized_code
    assert code == b64url_encode(source.drawn[-1])
    assert len(source.drawn[-1]) == 32
    assert offer.credential_id == b64url_encode(source.drawn[-2])
    ((enrollment_id, escrow_id),) = env.rows("SELECT id, escrow_id FROM enrollments")
    assert (enrollment_id, escrow_id) == tuple(b64url_encode(b) for b in source.drawn[-4:-2])

    access_token = TokenResponse.from_dict(
        env.authority.token(TokenRequest(code).to_form())
    ).access_token
    assert access_token == b64url_encode(source.drawn[-1])
    assert len(source.drawn[-1]) == 32

    c_nonce = NonceResponse.from_dict(env.authority.nonce()).c_nonce
    assert c_nonce == b64url_encode(source.drawn[-1])
    assert len(source.drawn[-1]) == 24

    with env.authority.db.transaction() as tx:
        operator, token = env.authority.operators.add(tx, "seeded auditor", Role.AUDITOR)
    assert token == "rdop_" + b64url_encode(source.drawn[-2])
    assert operator.id == "op_" + source.drawn[-1].hex()


def test_status_index_is_what_randbelow_gave_and_a_taken_one_is_drawn_again(env: Env) -> None:
    env.authority = dataclasses.replace(env.authority, randbelow=ScriptedIndexes([5, 5, 9]))
    first = env.enroll(env.resolver.create(), env.residents[0])
    second = env.enroll(env.resolver.create(), env.residents[1])
    assert status_index(env, first) == 5
    assert status_index(env, second) == 9  # 5 was taken: the allocator drew again


def test_the_purge_lottery_draws_from_randbelow(env: Env) -> None:
    draws: list[int] = []

    def purge_when_told(bound: int) -> int:
        return draws.pop(0) if bound == 256 else 0

    env.authority = dataclasses.replace(env.authority, randbelow=purge_when_told)
    draws.append(1)
    env.authority.challenge()
    env.clock.advance(env.authority.config.challenge_ttl + 1)
    draws.append(1)  # no purge: the expired challenge stays
    env.authority.challenge()
    assert env.rows("SELECT count(*) FROM challenges") == [(2,)]
    draws.append(0)  # purge: the expired challenge goes, the two live ones stay
    env.authority.challenge()
    assert env.rows("SELECT count(*) FROM challenges") == [(2,)]
    assert not draws


def test_status_reference_carries_the_drawn_index(env: Env) -> None:
    env.authority = dataclasses.replace(env.authority, randbelow=ScriptedIndexes([42]))
    holder = env.resolver.create()
    vc = env.verify(env.collect(env.enroll(holder, env.residents[0]), holder), holder, set())
    assert parse_status_reference(vc.status)[1] == 42


def test_the_development_issuer_passphrase_comes_from_the_seam(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    randomness = Randomness(token_bytes=lambda n: bytes(range(n)))
    passphrase = issuer_passphrase(tmp_path, randomness)
    assert passphrase == b64url_encode(bytes(range(32)))
    path = tmp_path / "issuer-passphrase"
    assert path.stat().st_mode & 0o777 == 0o600
    # Made once: a later start reads the file, whatever the source would draw now.
    assert issuer_passphrase(tmp_path, Randomness(token_bytes=bytes)) == passphrase
