"""The bridge draws its authorization ids, codes, tokens, script nonces and pairwise secret
from its injected randomness."""

from __future__ import annotations

import string
from pathlib import Path

from realdid.randomness import Randomness
from realdid.rp.bridge import load_or_create_bridge_keys

from ._fakes import complete, make_bridge, redeem, start

ALPHABET = string.ascii_letters + string.digits  # Authlib's code alphabet, kept


def test_ids_codes_tokens_and_nonces_are_what_the_source_gave(tmp_path: Path) -> None:
    bridge = make_bridge(tmp_path, randomness=Randomness.seeded(11))
    replay = Randomness.seeded(11)  # the same draws, in the order the flow makes them

    started = start(bridge)
    assert started.authorization == replay.token(32)
    assert f'<script nonce="{replay.token(16)}">' in started.page
    bridge.rp.answer()
    params = complete(bridge, started)
    assert params["code"] == "".join(ALPHABET[replay.randbelow(62)] for _ in range(43))
    token = redeem(bridge, started, params["code"]).json()
    assert token["access_token"] == replay.token(32)


def test_a_new_pairwise_secret_is_drawn_from_the_source_once(tmp_path: Path) -> None:
    drawn: list[int] = []

    def token_bytes(n: int) -> bytes:
        drawn.append(n)
        return b"\x07" * n

    first = load_or_create_bridge_keys(tmp_path, randomness=Randomness(token_bytes=token_bytes))
    again = load_or_create_bridge_keys(tmp_path, randomness=Randomness(token_bytes=token_bytes))
    assert first.pairwise_secret == again.pairwise_secret == b"\x07" * 32
    assert drawn == [32]  # the second start read the file instead of drawing
