"""The index's compact DidState encoding round-trips every state exactly."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from realdid.crypto import KeyType, LocalSigner, multihash_b58
from realdid.did import (
    PURPOSES,
    AnchorPoint,
    DidState,
    DocumentContent,
    PublicKeyEntry,
    ServiceEntry,
)
from realdid.ledger._state_codec import decode_state, encode_state, suffix_from_key, suffix_key

_KEYS = {kt: [LocalSigner.generate(kt).public_key for _ in range(3)] for kt in KeyType}
ids = st.from_regex(r"[A-Za-z0-9_-]{1,50}", fullmatch=True)
commitments = st.binary(min_size=1, max_size=64).map(multihash_b58)
points = st.builds(
    AnchorPoint,
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
)
key_entries = st.builds(
    PublicKeyEntry,
    ids,
    st.sampled_from([k for keys in _KEYS.values() for k in keys]),
    st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=4, unique=True).map(tuple),
)
services = st.builds(
    ServiceEntry,
    ids,
    st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,49}", fullmatch=True),
    st.from_regex(r"https://[a-z]{1,20}\.example/[a-z0-9/]{0,100}", fullmatch=True),
)


@st.composite
def documents(draw: st.DrawFn) -> DocumentContent:
    keys = draw(st.lists(key_entries, max_size=10, unique_by=lambda k: k.id))
    taken = {k.id for k in keys}
    svc = draw(
        st.lists(
            services.filter(lambda s: s.id not in taken), max_size=10, unique_by=lambda s: s.id
        )
    )
    return DocumentContent(tuple(keys), tuple(svc))


@st.composite
def states(draw: st.DrawFn) -> DidState:
    deactivated = draw(st.booleans())
    created = draw(points)
    return DidState(
        suffix=draw(commitments),
        document=DocumentContent() if deactivated else draw(documents()),
        update_commitment=None if deactivated else draw(commitments),
        recovery_commitment=None if deactivated else draw(commitments),
        version_id=draw(st.binary(min_size=32, max_size=32)).hex(),
        created=created,
        updated=draw(st.one_of(st.just(created), points)),
        deactivated=deactivated,
    )


@settings(max_examples=150)
@given(states())
def test_every_state_round_trips_exactly(state: DidState) -> None:
    assert decode_state(state.suffix, encode_state(state)) == state


@given(commitments)
def test_suffix_keys_round_trip(suffix: str) -> None:
    assert len(suffix_key(suffix)) == 32
    assert suffix_from_key(suffix_key(suffix)) == suffix


def test_a_typical_did_takes_well_under_200_bytes() -> None:
    signer = LocalSigner.generate()
    state = DidState(
        suffix=multihash_b58(b"x"),
        document=DocumentContent(
            (PublicKeyEntry("key-1", signer.public_key, ("authentication", "assertionMethod")),)
        ),
        update_commitment=multihash_b58(b"u"),
        recovery_commitment=multihash_b58(b"r"),
        version_id="ab" * 32,
        created=AnchorPoint(1, 2, 3),
        updated=AnchorPoint(1, 2, 3),
    )
    # 2 header + 64 commitments + 32 version + 12 point + 1 + (1+5 id, 1 type, 32 key, 1+2)
    assert len(encode_state(state)) == 2 + 64 + 32 + 12 + 1 + 6 + 1 + 32 + 3 + 1
