"""The authority's store on SQLite and on PostgreSQL: migrations, the service's happy path,
and what concurrent transactions must not break.

SQLite has one writer at a time; PostgreSQL runs transactions side by side (READ
COMMITTED). The racing tests start their threads at a barrier so that, on PostgreSQL,
their transactions really overlap: single-use values are spent once, status indexes are
distinct, the audit chain does not fork, and concurrent enrollments of one resident
supersede each other in turn instead of failing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from realdid.authority import (
    REAL_NAME,
    AuthorityConfig,
    AuthorityDatabase,
    EnrollmentError,
    Role,
    SqliteBusinessRegister,
    SqliteRegister,
)
from realdid.authority._applications import ChallengeStatements
from realdid.authority._audit import AuditLog
from realdid.authority._issuance import IssuanceStatements
from realdid.authority._lockouts import FailureStatements
from realdid.authority._status_lists import SignedListCache, StatusLists
from realdid.clock import FixedClock
from realdid.credentials import (
    CredentialOffer,
    CredentialRequest,
    Oid4vciError,
    TokenRequest,
)
from realdid.randomness import Randomness
from realdid.storage import StoreLocation, load_migrations, migrations_of

from .conftest import CLIENT, ISSUER_URL, T0, Env, FakeResolver, StaticIssuer, build_env
from .test_service import status_of

Locate = Callable[[str], StoreLocation]
T = TypeVar("T")
RACERS = 6  # below the PostgreSQL pool's 8 connections: every racer holds one at once
_TABLES = (
    "challenges",
    "c_nonces",
    "failures",
    "enrollments",
    "escrow",
    "credentials",
    "grants",
    "status_lists",
    "operators",
    "audit_log",
)


def race(calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run ``calls`` in threads released together; each one's result or exception."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | Exception:
        barrier.wait()
        try:
            return call()
        except Exception as e:
            return e

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def db(both_engines: str, store_at: Locate) -> Iterator[AuthorityDatabase]:
    opened = AuthorityDatabase(store_at("authority"))
    assert opened.engine == both_engines
    yield opened
    opened.close()


@pytest.fixture
def engine_env(both_engines: str, store_at: Locate, tmp_path: Path) -> Iterator[Env]:
    built = build_env(tmp_path, FixedClock(T0), store_at=store_at)
    assert built.authority.db.engine == both_engines
    yield built
    built.close()


# -- migrations ----------------------------------------------------------------------------------
def test_a_fresh_database_is_migrated_and_a_second_open_applies_nothing(
    both_engines: str, store_at: Locate
) -> None:
    where = store_at("authority")
    first = AuthorityDatabase(where)
    with first.reading() as tx:
        assert [tuple(r) for r in tx.execute("SELECT version, name FROM schema_migrations")] == [
            (1, "initial")
        ]
        for table in _TABLES:
            assert tx.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0  # noqa: S608
    with first.transaction() as tx:
        tx.execute("INSERT INTO challenges (nonce, expires_at) VALUES ('kept', 1)")
    first.close()
    again = AuthorityDatabase(where)
    try:
        steps = load_migrations(migrations_of("realdid.authority", "authority"), again.engine)
        assert again.migrate(steps) == []
        with again.reading() as tx:
            assert tx.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 1
            assert tx.execute("SELECT nonce FROM challenges").fetchall() == [("kept",)]
    finally:
        again.close()


def test_the_registers_migrate_once_on_both_engines(both_engines: str, store_at: Locate) -> None:
    for register_class, store in (
        (SqliteRegister, "register"),
        (SqliteBusinessRegister, "business"),
    ):
        for _ in range(2):  # the second open finds the schema in place
            with register_class(store_at(store)) as register:
                assert register.count() == 0


# -- the service ---------------------------------------------------------------------------------
def test_enroll_issue_and_revoke_on_both_engines(engine_env: Env) -> None:
    env = engine_env
    holder = env.resolver.create()
    offer = env.enroll(holder, env.residents[0])
    sd_jwt = env.collect(offer, holder)
    vc = env.verify(sd_jwt, holder)
    assert vc.claims["verified_person"] is True
    assert status_of(env, sd_jwt, holder) == 0
    officer, _ = env.operator(Role.REVOCATION_OFFICER)
    assert env.authority.revoke(officer, did=holder.did, reason="fraud") == 1
    assert status_of(env, sd_jwt, holder) == 1
    assert env.rows("SELECT state, pending, revocation_reason FROM credentials") == [
        ("revoked", None, "fraud")
    ]
    assert env.rows("SELECT state, end_reason FROM enrollments") == [("revoked", "fraud")]
    assert env.rows("SELECT count(*) FROM grants") == [(0,)]
    actions = [action for _, action, _ in env.audit_actions()]
    assert actions == ["enrollment.accepted", "credentials.revoked", "revocation"]
    assert env.authority.audit.verify() == 3


# -- single use under concurrency ----------------------------------------------------------------
def test_one_challenge_answers_one_of_racing_applications(engine_env: Env) -> None:
    env = engine_env
    nonce, _ = env.authority.challenge()
    applications = [
        env.application(env.resolver.create(), env.enrollment_claims(env.residents[i]), nonce=nonce)
        for i in range(RACERS)
    ]
    results = race(
        [
            lambda jws=jws: env.authority.enroll(jws, client=CLIENT)  # type: ignore[misc]
            for jws in applications
        ]
    )
    refused = [r for r in results if isinstance(r, EnrollmentError)]
    assert len(refused) == RACERS - 1, results
    assert {e.code for e in refused} == {"invalid-nonce"}
    assert env.rows("SELECT count(*) FROM enrollments") == [(1,)]


def test_one_pre_authorized_code_is_redeemed_by_one_of_racing_requests(engine_env: Env) -> None:
    env = engine_env
    offer = env.enroll(env.resolver.create(), env.residents[0])
    form = TokenRequest(CredentialOffer.from_dict(offer.offer).pre_authorized_code).to_form()
    results = race([lambda: env.authority.token(form)] * RACERS)
    tokens = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Oid4vciError)]
    assert len(tokens) == 1, results
    assert [e.error for e in refused] == ["invalid_grant"] * (RACERS - 1)
    assert env.rows("SELECT kind FROM grants") == [("access-token",)]


def test_one_c_nonce_proves_possession_for_one_of_racing_requests(engine_env: Env) -> None:
    env = engine_env
    holder = env.resolver.create()
    access_token = env.access_token(env.enroll(holder, env.residents[0]))
    body = CredentialRequest(REAL_NAME, (env.proof(holder),)).to_dict()  # one c_nonce
    results = race([lambda: env.authority.credential(access_token, body)] * RACERS)
    issued = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Oid4vciError)]
    assert len(issued) == 1, results
    assert len(refused) == RACERS - 1, results
    # A loser that came after the winner's issuance finds the access token used up.
    assert {e.error for e in refused} <= {"invalid_nonce", "invalid_token"}
    assert env.rows("SELECT state FROM credentials") == [("issued",)]


@pytest.mark.parametrize("table", ["challenges", "c_nonces"])
def test_a_nonce_is_spent_by_exactly_one_racing_transaction(
    db: AuthorityDatabase, table: str
) -> None:
    challenges, issuance = ChallengeStatements(), IssuanceStatements(db)
    insert = challenges.insert if table == "challenges" else issuance.insert_c_nonce
    spend = challenges.spend if table == "challenges" else issuance.spend_c_nonce
    with db.transaction(durable=False) as tx:
        insert(tx, "the-nonce", T0 + 300)

    def spend_it() -> int | None:
        with db.transaction(durable=False) as tx:
            return spend(tx, "the-nonce")

    assert sorted(race([spend_it] * RACERS), key=str) == [T0 + 300] + [None] * (RACERS - 1)


# -- status indexes ------------------------------------------------------------------------------
class FirstFreeDraws:
    """``randbelow`` that draws 0, 1, 2, … in each thread: racing allocators all try the same
    indexes, so only the serialisation of one list's allocations keeps them distinct."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, bound: int) -> int:
        drawn: int = getattr(self._local, "next", 0)
        self._local.next = drawn + 1
        return drawn % bound


def test_racing_allocations_get_distinct_indexes_and_fill_lists_in_turn(
    db: AuthorityDatabase,
) -> None:
    size, count = 16, 12  # a list takes 8 (half of 16): the racers also start list 2
    lists = StatusLists(
        db,
        AuthorityConfig(issuer_url=ISSUER_URL, status_list_size=size),
        StaticIssuer(FakeResolver()),
        FixedClock(T0),
        Randomness(randbelow=FirstFreeDraws()),
        SignedListCache(),
    )
    statements = IssuanceStatements(db)

    def offer(number: int) -> tuple[int, int]:
        with db.transaction() as tx:
            status = lists.allocate(tx)
            statements.insert_offered(
                tx, f"credential-{number}", "enrollment", REAL_NAME, "ref", b"sealed", status, T0
            )
        return status

    allocations = race([lambda n=n: offer(n) for n in range(count)])  # type: ignore[misc]
    assert all(isinstance(a, tuple) for a in allocations), allocations
    assert len(set(allocations)) == count
    with db.reading() as tx:
        rows = [tuple(r) for r in tx.execute("SELECT id, allocated FROM status_lists ORDER BY id")]
    assert rows == [(1, 8), (2, 4)]
    assert sorted(index for list_id, index in allocations if list_id == 1) == list(range(8))  # type: ignore[union-attr,misc]


# -- counters and the audit chain ----------------------------------------------------------------
def test_racing_failures_against_one_subject_all_count(db: AuthorityDatabase) -> None:
    statements = FailureStatements(db)

    def fail() -> None:
        with db.transaction(durable=False) as tx:
            statements.count(tx, "subject-ref", T0, 3600)

    assert race([fail] * RACERS) == [None] * RACERS
    assert statements.window("subject-ref") == (T0, RACERS)


def test_racing_audit_appends_extend_one_chain(db: AuthorityDatabase) -> None:
    log = AuditLog(db, FixedClock(T0))
    per_racer = 5

    def append_all(racer: int) -> None:
        for i in range(per_racer):
            # Half of the racers open a plain transaction: append takes the lock itself.
            opened = log.transaction() if racer % 2 else db.transaction()
            with opened as tx:
                log.append(tx, f"op_{racer}", "test.appended", f"target-{racer}-{i}", {"i": i})

    results = race([lambda r=r: append_all(r) for r in range(RACERS)])  # type: ignore[misc]
    assert results == [None] * RACERS
    assert log.verify() == RACERS * per_racer
    entries = log.entries(limit=1000)
    assert [e.seq for e in entries] == list(range(1, RACERS * per_racer + 1))
    assert {e.target for e in entries} == {
        f"target-{r}-{i}" for r in range(RACERS) for i in range(per_racer)
    }


# -- enrollment decisions --------------------------------------------------------------------------
def test_racing_enrollments_of_one_resident_supersede_in_turn(engine_env: Env) -> None:
    env = engine_env
    resident = env.residents[0]
    holders = [env.resolver.create() for _ in range(RACERS)]
    applications = [env.application(h, env.enrollment_claims(resident)) for h in holders]
    results = race(
        [
            lambda jws=jws: env.authority.enroll(jws, client=CLIENT)  # type: ignore[misc]
            for jws in applications
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    states = env.rows("SELECT state, count(*) FROM enrollments GROUP BY state ORDER BY state")
    assert states == [("active", 1), ("superseded", RACERS - 1)]
    assert env.rows("SELECT state, count(*) FROM credentials GROUP BY state ORDER BY state") == [
        ("offered", 1),
        ("revoked", RACERS - 1),
    ]
    assert env.authority.audit.verify() == len(env.audit_actions())


def test_racing_enrollments_of_different_residents_all_succeed(engine_env: Env) -> None:
    env = engine_env
    applications = [
        (holder, env.application(holder, env.enrollment_claims(resident)))
        for holder, resident in ((env.resolver.create(), r) for r in env.residents[:RACERS])
    ]
    results: list[Any] = race(
        [
            lambda jws=jws: env.authority.enroll(jws, client=CLIENT)  # type: ignore[misc]
            for _, jws in applications
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert env.rows("SELECT count(*) FROM enrollments WHERE state = 'active'") == [(RACERS,)]
    statuses = env.rows("SELECT status_list, status_index FROM credentials")
    assert len(set(statuses)) == RACERS
    for (holder, _), offer in zip(applications, results, strict=True):
        assert env.verify(env.collect(offer, holder), holder).claims["verified_person"] is True
