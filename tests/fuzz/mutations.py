"""Hypothesis strategies that mutate the seed corpus, for when no coverage guidance runs.

atheris (libFuzzer) mutates seeds and keeps what reaches new code. Hypothesis has no such
guidance of its own, so :func:`inputs` makes up for part of it with structure: most inputs
are a seed with a few byte-level edits (flip, insert, delete, duplicate, splice with
another seed), and seeds that are JSON — every envelope — are also edited as JSON: a
subtree replaced by a hostile value, a member dropped or added, a string leaf mutated.
What Hypothesis adds is shrinking: a failure is reported as a small reproducer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

#: Values parsers mishandle most often: wrong types, boundaries, reserved names.
_HOSTILE_SCALARS: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**63,
    2**64,
    1e308,
    -0.0,
    0.5,
    "",
    "none",
    "EdDSA",
    "ES256",
    "ES256K",
    "_sd",
    "...",
    "_sd_alg",
    "sha-256",
    "kb+jwt",
    "dc+sd-jwt",
    "did:realdid:",
    "#key-1",
    "\x00",
    "\ud800",
    "~",
    ".",
    "https://[::1",
    "https://a.example:99999/",
    "x" * 300,
)
_KEYS = (
    "alg",
    "typ",
    "kid",
    "crit",
    "jwk",
    "_sd",
    "...",
    "cnf",
    "status",
    "status_list",
    "idx",
    "uri",
    "bits",
    "lst",
    "iat",
    "exp",
    "nbf",
    "sub",
    "iss",
    "aud",
    "nonce",
    "sd_hash",
    "type",
    "did",
    "patches",
    "document",
    "dcql_query",
    "credentials",
    "claims",
    "path",
    "meta",
    "vct_values",
    "response_uri",
    "client_id",
    "verifier_info",
)

json_scalars = st.one_of(
    st.sampled_from(_HOSTILE_SCALARS),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(_KEYS), st.text(max_size=8)), children, max_size=4
        ),
    ),
    max_leaves=12,
)


def _edit_bytes(draw: st.DrawFn, data: bytes, seeds: Sequence[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(("flip", "insert", "delete", "duplicate", "splice", "set")))
        at = draw(st.integers(0, len(out)))
        if kind == "flip" and out:
            at = min(at, len(out) - 1)
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 64))]
        elif kind == "duplicate":
            out[at:at] = out[at : at + draw(st.integers(1, 64))]
        elif kind == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            out[at:at] = other[start : start + draw(st.integers(1, 128))]
        elif kind == "set" and out:
            at = min(at, len(out) - 1)
            out[at] = draw(st.sampled_from(b'\x00\xff~.#:%[]{}",\n\\=&'))
    return bytes(out)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any, *, drop: bool = False) -> Any:
    """``value`` with the node at ``path`` replaced by ``new`` (or removed when ``drop``)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if drop and not rest:
        del copy[head]
    else:
        copy[head] = _replaced(copy[head], rest, new, drop=drop)
    return copy


def _edit_json(draw: st.DrawFn, value: Any) -> Any:
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(value)))
        node: Any = value
        for step in path:
            node = node[step]
        kind = draw(st.sampled_from(("replace", "drop", "add", "string")))
        if kind == "drop" and path:
            value = _replaced(value, path, None, drop=True)
        elif kind == "add" and isinstance(node, dict):
            key = draw(st.one_of(st.sampled_from(_KEYS), st.text(max_size=8)))
            value = _replaced(value, path, {**node, key: draw(json_values)})
        elif kind == "add" and isinstance(node, list):
            value = _replaced(value, path, [*node, draw(json_values)])
        elif kind == "string" and isinstance(node, str):
            raw = node.encode("utf-8", "surrogatepass")
            edited = _edit_bytes(draw, raw, [raw])
            value = _replaced(value, path, edited.decode("utf-8", "replace"))
        else:
            value = _replaced(value, path, draw(json_values))
    return value


def _json_seed(seed: bytes) -> Any:
    try:
        return json.loads(seed)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to edit
        return None


def inputs(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Inputs for one target from its seeds: byte edits, JSON edits, and plain bytes."""
    if not seeds:
        return st.binary(max_size=512)
    documents = [v for v in (_json_seed(s) for s in seeds) if isinstance(v, dict | list)]

    @st.composite
    def edited(draw: st.DrawFn) -> bytes:
        return _edit_bytes(draw, draw(st.sampled_from(seeds)), seeds)

    @st.composite
    def edited_json(draw: st.DrawFn) -> bytes:
        value = _edit_json(draw, draw(st.sampled_from(documents)))
        return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")

    choices = [edited(), st.sampled_from(seeds), st.binary(max_size=256)]
    if documents:
        choices.insert(0, edited_json())
    return st.one_of(*choices)
