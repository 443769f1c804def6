"""The relying party draws every handle, nonce and short code from its injected randomness."""

from __future__ import annotations

import pytest

from realdid.clock import FixedClock
from realdid.credentials import new_code
from realdid.crypto import KeyType
from realdid.randomness import Randomness

from .conftest import DictResolver, RpEnv, StatusServer, Wallet, build_rp


def rp_drawing_from(randomness: Randomness, clock: FixedClock) -> RpEnv:
    resolver = DictResolver()
    issuer = resolver.create(KeyType.P256, ("assertionMethod",))
    return build_rp(clock, resolver, issuer, StatusServer(issuer, clock), randomness=randomness)


def test_request_handles_and_nonce_are_what_the_source_gave(clock: FixedClock) -> None:
    env = rp_drawing_from(Randomness.seeded(9), clock)
    replay = Randomness.seeded(9)  # the same draws, in the order create_request makes them
    pending = env.request()
    wallet = Wallet(env, pending)
    env.rp.close()

    assert pending.request_id == replay.token(16)
    assert pending.transaction == replay.token(32)
    assert pending.code == new_code(replay)
    assert wallet.request.nonce == replay.token(32)
    assert wallet.request.state == replay.token(16)


def test_a_source_that_repeats_itself_cannot_make_a_second_live_request(
    clock: FixedClock,
) -> None:
    env = rp_drawing_from(Randomness(token_bytes=lambda n: b"\x01" * n), clock)
    first = env.request()
    with pytest.raises(RuntimeError, match="unique login code"):
        env.request()  # every retry draws the same values again
    assert env.rp.outcome(first.transaction).state == "pending"
    env.rp.close()
