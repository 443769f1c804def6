"""The short fuzz run of ``make test``: the corpus replayed, then a brief Hypothesis search.

Every parser that takes outside input has a target in :mod:`.targets`; here each target
replays its checked-in seeds (real inputs and the reproducers of fixed findings) and then
runs a few hundred mutated inputs (:mod:`.mutations`). A target fails only on a finding:
an exception that is not one of the parser's documented refusals, or a broken invariant.
The long, coverage-guided run is ``scripts/fuzz.py`` (docs/fuzzing.md).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from realdid.authority import SqliteBusinessRegister, SqliteRegister
from realdid.credentials import AuthorizationResponse, CredentialError
from realdid.did import (
    AnchorPoint,
    CreateOperation,
    MalformedOperationError,
    ParsedOperation,
    apply_operation,
    verify_operation_signature,
)
from realdid.http import parse_form
from realdid.ledger import decode_batch

from .mutations import inputs
from .seeds import build_seeds
from .targets import (
    ALICE,
    AUTHORIZATION_URL,
    CLOCK,
    CODE_URL,
    CORPUS,
    CREDENTIAL,
    TARGETS,
    InvariantError,
    Target,
    attempt,
    corpus_of,
    register_work_file,
    relying_party_site,
    run_one,
    verify_key_proof,
    verify_presentation,
    verify_status_token,
)

SEEDS = [(name, file, data) for name in TARGETS for file, data in corpus_of(name)]
SHORT = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seed(target: str, name: str) -> bytes:
    return (CORPUS / target / name).read_bytes()


@pytest.mark.parametrize(("target", "file", "data"), SEEDS, ids=[f"{t}/{f}" for t, f, _ in SEEDS])
def test_corpus_replays_without_findings(target: str, file: str, data: bytes) -> None:
    run_one(TARGETS[target], data)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_mutated_inputs_find_nothing(target: str) -> None:
    seeds = [data for _, data in corpus_of(target)]

    @SHORT
    @given(data=inputs(seeds))
    def search(data: bytes) -> None:
        run_one(TARGETS[target], data)

    search()


def test_every_target_has_seeds_and_the_corpus_stays_small() -> None:
    sizes = {name: [len(d) for _, d in corpus_of(name)] for name in TARGETS}
    assert all(len(found) >= 3 for found in sizes.values()), sizes
    assert sum(map(sum, sizes.values())) < 256 * 1024


def test_the_seed_script_is_deterministic() -> None:
    """Fixed keys, salts and nonces: ``scripts/fuzz_seeds.py`` writes the same bytes each
    time, so a rebuilt corpus differs only where a format changed. (The checked-in files
    are not compared byte for byte: gzip, zlib and Faker output may differ between library
    versions; ``scripts/fuzz_seeds.py --check`` reports a stale corpus on one machine.)"""
    first, second = build_seeds(), build_seeds()
    assert first == second
    assert {
        name for files in first.values() for name in files if name.startswith("regress-")
    } == set()


# -- the real seeds get through every check, so mutations start deep in each parser ----------
def test_the_real_credential_seeds_verify() -> None:
    presented = verify_presentation(_seed("sdjwt", "presentation").decode())
    assert presented.key_bound
    assert presented.disclosed == {"family_name", "address"}
    bound = verify_presentation(CREDENTIAL + _seed("kbjwt", "kb-jwt").decode())
    assert bound.claims["given_name"] == "Li"
    form = parse_form(_seed("oid4vp_response", "response"), strict=True)
    (token,) = AuthorizationResponse.from_form(form).vp_token["real_name"]
    assert verify_presentation(token).claims["family_name"] == "Wang"
    assert verify_key_proof(_seed("oid4vci_proof", "proof").decode()).nonce == "n-fuzz-1"
    status = verify_status_token(_seed("status_list", "token").decode()).status_list
    assert (status.get(7), status.get(1023), status.get(0)) == (1, 2, 0)


def test_the_wallet_seeds_verify() -> None:
    rp = relying_party_site()
    rp.body = _seed("oid4vp_request", "request-object")
    assert rp.channel.fetch_request(AUTHORIZATION_URL).state == "s-1"
    rp.body = _seed("oid4vp_request", "code-answer")
    assert rp.channel.authorization_url(CODE_URL, None).startswith("openid4vp://")


@pytest.mark.parametrize("kind", ["update", "recover", "deactivate"])
def test_the_operation_seeds_apply_to_alices_state(kind: str) -> None:
    parsed = ParsedOperation.from_canonical(_seed("operation", kind))
    assert parsed.operation.type == kind
    assert not isinstance(parsed.operation, CreateOperation)
    verify_operation_signature(parsed.operation)
    state = apply_operation(ALICE.state, parsed.operation, parsed.hash, AnchorPoint(2, 0, 1))
    assert state.version_id == parsed.hash
    assert len(decode_batch(_seed("batch", "batch"))) == 3


@pytest.mark.parametrize(
    ("kind", "file", "rows"),
    [(SqliteRegister, "residents", 3), (SqliteBusinessRegister, "enterprises", 2)],
)
def test_the_register_seeds_import(kind: type[SqliteRegister], file: str, rows: int) -> None:
    path = register_work_file()
    path.write_bytes(_seed("register_csv", file))
    with kind(":memory:", clock=CLOCK) as register:
        assert register.import_csv(path) == rows
        assert register.count() == rows


# -- the harness itself: refusals pass, everything else is reported --------------------------
def test_attempt_passes_refusals_and_reports_the_rest() -> None:
    def refuse() -> None:
        raise MalformedOperationError("no")

    def crash() -> None:
        raise KeyError("type")

    assert attempt((MalformedOperationError,), refuse) is None
    assert attempt((MalformedOperationError,), lambda: 7) == 7
    with pytest.raises(KeyError):
        attempt((MalformedOperationError,), crash)
    with pytest.raises(MalformedOperationError):
        attempt((CredentialError,), refuse)  # another package's refusal is not this one's


def test_attempt_reports_a_refusal_without_a_code() -> None:
    class UncodedError(CredentialError):
        code = ""

    def refuse() -> None:
        raise UncodedError("no code")

    with pytest.raises(InvariantError):
        attempt((CredentialError,), refuse)


def test_run_one_feeds_inputs_up_to_the_targets_cap() -> None:
    seen: list[bytes] = []
    probe = Target("probe", "records its inputs", seen.append, max_len=4)
    run_one(probe, b"1234")
    run_one(probe, b"12345")
    assert seen == [b"1234"]
