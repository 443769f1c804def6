"""Hypothesis: SD-JWT verify and present on hostile input raise only the package's errors.

A presentation is attacker-controlled text at the relying party. Whatever arrives, verify()
either returns or raises :class:`CredentialError` (a subclass with a stable ``code``);
never KeyError, ValueError, IndexError, TypeError, RecursionError. Three surfaces:
arbitrary text, a real presentation mutated, and issuer-signed payloads of arbitrary JSON
with arbitrary Disclosures (so the claim reconstruction of RFC 9901 section 7.1 step 3 runs
over hostile structure instead of stopping at the signature).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realdid.credentials import CredentialError, issue, present, verify
from realdid.crypto import (
    DEFAULT_POLICY,
    KeyType,
    LocalSigner,
    b64url_encode,
    sha256,
)

ISS, KID, AUD, NONCE, T0 = "did:realdid:auth", "did:realdid:auth#k1", "did:realdid:rp", "n1", 1_000
ISSUER = LocalSigner.generate(KeyType.P256)
HOLDER = LocalSigner.generate(KeyType.P256)
SD_JWT = issue(
    {"family_name": "Wang", "address": {"locality": "Beijing"}, "nationalities": ["CN"]},
    selectively_disclosable={"family_name", "address", "nationalities"},
    issuer=ISS,
    signer=ISSUER,
    key_id=KID,
    holder_jwk=HOLDER.public_key.to_jwk(),
    vct="urn:realdid:RealName",
    issued_at=T0,
    expires_at=T0 + 1000,
    salt=lambda: bytes(16),
    status=None,
)
PRESENTATION = present(
    SD_JWT,
    disclose={"family_name", "address"},
    holder_signer=HOLDER,
    audience=AUD,
    nonce=NONCE,
    issued_at=T0 + 5,
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _verify(text: str, *, require_key_binding: bool = True) -> None:
    try:
        verify(
            text,
            issuer_keys=lambda iss, kid: ISSUER.public_key,
            expected_audience=AUD,
            expected_nonce=NONCE,
            now=T0 + 10,
            max_kb_age=60,
            policy=DEFAULT_POLICY,
            require_key_binding=require_key_binding,
        )
    except CredentialError as e:
        error = e
    else:
        return
    assert isinstance(error.code, str)
    assert error.code


def _b64_json(value: Any) -> str:
    return b64url_encode(json.dumps(value).encode())


def _digest(text: str) -> str:
    return b64url_encode(sha256(text.encode("ascii")))


def test_the_unmutated_presentation_verifies() -> None:
    verify(
        PRESENTATION,
        issuer_keys=lambda iss, kid: ISSUER.public_key,
        expected_audience=AUD,
        expected_nonce=NONCE,
        now=T0 + 10,
        max_kb_age=60,
        policy=DEFAULT_POLICY,
    )


@FAST
@given(st.text(max_size=400))
def test_verify_arbitrary_text(text: str) -> None:
    _verify(text)


@FAST
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="ABCDEFabcdef0123456789-_.=~", max_size=60),
            st.builds(
                _b64_json,
                st.recursive(
                    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: (
                        st.lists(c, max_size=3)
                        | st.dictionaries(st.text(max_size=5), c, max_size=3)
                    ),
                    max_leaves=10,
                ),
            ),
        ),
        max_size=6,
    ).map("~".join)
)
def test_verify_arbitrary_tilde_segments(text: str) -> None:
    _verify(text)


_MUTATIONS = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, len(PRESENTATION) - 1), st.characters()),
    st.tuples(st.just("delete"), st.integers(0, len(PRESENTATION) - 1), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, len(PRESENTATION)), st.text(max_size=20)),
    st.tuples(st.just("segment"), st.integers(0, 8), st.sampled_from(["drop", "dup", "swap"])),
)


def _mutate(text: str, mutation: tuple[str, int, Any]) -> str:
    kind, at, arg = mutation
    if kind == "replace":
        return text[:at] + arg + text[at + 1 :]
    if kind == "delete":
        return text[:at] + text[at + arg :]
    if kind == "insert":
        return text[:at] + arg + text[at:]
    parts = text.split("~")
    i = at % len(parts)
    if arg == "drop":
        del parts[i]
    elif arg == "dup":
        parts.insert(i, parts[i])
    else:
        j = (i + 1) % len(parts)
        parts[i], parts[j] = parts[j], parts[i]
    return "~".join(parts)


@FAST
@given(st.lists(_MUTATIONS, min_size=1, max_size=3))
def test_verify_mutated_presentation(mutations: list[tuple[str, int, Any]]) -> None:
    text = PRESENTATION
    for mutation in mutations:
        text = _mutate(text, mutation)
    _verify(text)


# -- signed payloads of arbitrary structure with arbitrary Disclosures ------------------------------
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["_sd", "...", "_sd_alg", "a", "b", "iat", "sub"]), children, max_size=4
        )
    ),
    max_leaves=20,
)
_DISCLOSURE_CONTENT = st.one_of(
    st.tuples(st.text(max_size=8), _JSON).map(list),
    st.tuples(
        st.text(max_size=8), st.sampled_from(["a", "b", "_sd", "...", "sub", "exp"]), _JSON
    ).map(list),
    _JSON,
)


def _sign(payload: dict[str, Any]) -> str:
    header = {"alg": "ES256", "typ": "dc+sd-jwt", "kid": KID}
    signing_input = _b64_json(header) + "." + _b64_json(payload)
    return signing_input + "." + b64url_encode(ISSUER.sign(signing_input.encode("ascii")))


@st.composite
def _hostile_sd_jwt(draw: st.DrawFn) -> str:
    disclosures = [_b64_json(c) for c in draw(st.lists(_DISCLOSURE_CONTENT, max_size=5))]
    digests = [_digest(d) for d in disclosures]
    chosen = draw(st.lists(st.sampled_from(digests), max_size=6)) if digests else []
    # Digests go where RFC 9901 puts them (top-level and nested _sd, array {"...": d}) and
    # where it does not (non-list _sd, non-string digests), mixed with arbitrary claims.
    payload: dict[str, Any] = dict(
        draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), _JSON, max_size=3))
    )
    placement = draw(st.sampled_from(["top", "nested", "array", "raw"]))
    if placement == "top":
        payload["_sd"] = chosen
    elif placement == "nested":
        payload["a"] = {"_sd": chosen, "b": {"_sd": chosen[:1]}}
    elif placement == "array":
        payload["b"] = [{"...": d} for d in chosen] + [{"...": 5}, {"...": "x", "y": 1}]
    else:
        payload["_sd"] = draw(_JSON)
    payload.update({"iss": ISS, "vct": "urn:realdid:RealName", "iat": T0, "exp": T0 + 1000})
    if draw(st.booleans()):
        payload["_sd_alg"] = draw(st.sampled_from(["sha-256", "sha-512", 1]))
    presented = draw(st.permutations(disclosures)) if disclosures else []
    return "~".join([_sign(payload), *presented, ""])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_hostile_sd_jwt())
def test_verify_signed_hostile_structure(text: str) -> None:
    _verify(text, require_key_binding=False)


@FAST
@given(
    st.text(max_size=300),
    st.sets(st.sampled_from(["family_name", "address", "x", ""]), max_size=3),
)
def test_present_arbitrary_text(text: str, disclose: set[str]) -> None:
    with contextlib.suppress(CredentialError):
        present(
            text, disclose=disclose, holder_signer=HOLDER, audience=AUD, nonce=NONCE, issued_at=T0
        )


@FAST
@given(st.lists(_MUTATIONS, min_size=1, max_size=2))
def test_present_mutated_credential(mutations: list[tuple[str, int, Any]]) -> None:
    text = SD_JWT
    for mutation in mutations:
        text = _mutate(text, mutation)
    with contextlib.suppress(CredentialError):
        present(
            text,
            disclose={"family_name"},
            holder_signer=HOLDER,
            audience=AUD,
            nonce=NONCE,
            issued_at=T0,
        )


@st.composite
def _hostile_key_binding(draw: st.DrawFn) -> str:
    """A valid issuer JWT with an arbitrary ``cnf`` and a holder-signed, arbitrary KB-JWT."""
    payload: dict[str, Any] = {
        "iss": ISS,
        "vct": "urn:realdid:RealName",
        "iat": T0,
        "exp": T0 + 1000,
    }
    cnf = draw(st.sampled_from(["holder", "absent", "json"]))
    if cnf == "holder":
        payload["cnf"] = {"jwk": HOLDER.public_key.to_jwk()}
    elif cnf == "json":
        payload["cnf"] = draw(_JSON | st.builds(lambda j: {"jwk": j}, _JSON))
    sd_jwt = _sign(payload) + "~"
    header = {
        "alg": draw(st.sampled_from(["ES256", "EdDSA", "none", "HS256", 7])),
        "typ": draw(st.sampled_from(["kb+jwt", "JWT", None])),
    }
    kb: dict[str, Any] = {"aud": AUD, "nonce": NONCE, "iat": T0 + 5, "sd_hash": _digest(sd_jwt)}
    for key in draw(st.lists(st.sampled_from(sorted(kb)), max_size=2, unique=True)):
        kb[key] = draw(_JSON)
    signing_input = _b64_json(header) + "." + _b64_json(kb)
    return sd_jwt + signing_input + "." + b64url_encode(HOLDER.sign(signing_input.encode("ascii")))


@FAST
@given(_hostile_key_binding())
def test_verify_hostile_key_binding(text: str) -> None:
    _verify(text)
