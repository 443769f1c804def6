"""Operators and their tokens, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from realdid.authority import AuthorityDatabase
from realdid.authority._operators import (
    MAX_TOKEN_CHARS,
    Operator,
    OperatorAuthError,
    OperatorForbiddenError,
    OperatorNotFoundError,
    OperatorStore,
    Role,
)
from realdid.clock import FixedClock
from realdid.crypto import b64url_decode
from realdid.storage import StoreLocation

T0 = 1_800_000_000

Locate = Callable[[str], StoreLocation]


@pytest.fixture
def db(both_engines: str, store_at: Locate) -> Iterator[AuthorityDatabase]:
    opened = AuthorityDatabase(store_at("authority"))
    yield opened
    opened.close()


class Operators:
    """An :class:`OperatorStore` whose writes each commit in a transaction of their own."""

    def __init__(self, db: AuthorityDatabase) -> None:
        self.db = db
        self.clock = FixedClock(T0)
        self.store = OperatorStore(db, self.clock)

    def add(self, name: str, role: Role) -> tuple[Operator, str]:
        with self.db.transaction() as tx:
            return self.store.add(tx, name, role)

    def revoke(self, operator_id: str) -> None:
        with self.db.transaction() as tx:
            self.store.revoke(tx, operator_id)

    def authenticate(
        self, token: str | None, *, require: Role | set[Role] | frozenset[Role]
    ) -> Operator:
        return self.store.authenticate(token, require=require)

    def get(self, operator_id: str) -> Operator | None:
        return self.store.get(operator_id)

    def list(self) -> list[Operator]:
        return self.store.list()


def _store(db: AuthorityDatabase) -> tuple[Operators, FixedClock]:
    operators = Operators(db)
    return operators, operators.clock


def test_role_values() -> None:
    assert [r.value for r in Role] == [
        "enrollment-officer",
        "revocation-officer",
        "auditor",
        "security-officer",
        "rp-registrar",
    ]
    assert Role("auditor") is Role.AUDITOR


@pytest.mark.parametrize("role", list(Role))
def test_happy_path_per_role(db: AuthorityDatabase, role: Role) -> None:
    store, _ = _store(db)
    operator, token = store.add("Officer Li", role)
    assert token.startswith("rdop_")
    assert len(b64url_decode(token.removeprefix("rdop_"))) == 32
    assert operator.role is role
    assert operator.active
    assert operator.created_at == "2027-01-15T08:00:00Z"
    assert store.authenticate(token, require=role) == operator
    assert store.authenticate(token, require={role, Role.AUDITOR}) == operator
    assert store.authenticate(token, require=frozenset(Role)) == operator


def test_wrong_role_is_forbidden(db: AuthorityDatabase) -> None:
    store, _ = _store(db)
    _, token = store.add("Auditor Wang", Role.AUDITOR)
    with pytest.raises(OperatorForbiddenError) as info:
        store.authenticate(token, require=Role.REVOCATION_OFFICER)
    assert info.value.code == "forbidden"
    assert token not in info.value.diagnostics()
    with pytest.raises(OperatorForbiddenError):
        store.authenticate(token, require={Role.REVOCATION_OFFICER, Role.ENROLLMENT_OFFICER})


def test_unknown_token(db: AuthorityDatabase) -> None:
    store, _ = _store(db)
    store.add("Officer Li", Role.AUDITOR)
    unknown = "rdop_" + "A" * 43
    with pytest.raises(OperatorAuthError) as info:
        store.authenticate(unknown, require=Role.AUDITOR)
    assert info.value.code == "unauthenticated"
    assert unknown not in info.value.diagnostics()


def test_revoked_token(db: AuthorityDatabase) -> None:
    store, clock = _store(db)
    operator, token = store.add("Officer Li", Role.REVOCATION_OFFICER)
    other, other_token = store.add("Officer Zhao", Role.REVOCATION_OFFICER)
    clock.advance(3600)
    store.revoke(operator.id)
    with pytest.raises(OperatorAuthError) as info:
        store.authenticate(token, require=Role.REVOCATION_OFFICER)
    assert info.value.code == "unauthenticated"
    assert store.authenticate(other_token, require=Role.REVOCATION_OFFICER) == other
    revoked = store.get(operator.id)
    assert revoked is not None
    assert revoked.revoked_at == "2027-01-15T09:00:00Z"
    clock.advance(60)
    store.revoke(operator.id)  # idempotent; keeps the first time
    assert store.get(operator.id) == revoked


def test_revoke_unknown_operator(db: AuthorityDatabase) -> None:
    store, _ = _store(db)
    for op_id in ("op_0000000000000000", "", "nonsense", "op_" + "f" * 1000):
        with pytest.raises(OperatorNotFoundError) as info:
            store.revoke(op_id)
        assert info.value.code == "operator-not-found"


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "rdop_",
        "Bearer rdop_" + "A" * 43,
        "rdop_" + "A" * 42,
        "rdop_" + "A" * 44,
        "rdop_" + "A" * 42 + "=",
        "rdop_" + "A" * 42 + "é",
        "rdop_" + "A" * 42 + "\u0391",  # Greek capital alpha, looks like A
        "rdop_" + "A" * 42 + "\n",
        "RDOP_" + "A" * 43,
        "rdop_" + "A" * (MAX_TOKEN_CHARS + 1),
        "rdop_" + "A" * 10_000_000,
        "\x00" * 48,
    ],
)
def test_malformed_tokens_rejected(db: AuthorityDatabase, token: str | None) -> None:
    store, _ = _store(db)
    store.add("Officer Li", Role.AUDITOR)
    with pytest.raises(OperatorAuthError) as info:
        store.authenticate(token, require=Role.AUDITOR)
    assert info.value.code == "unauthenticated"
    if token:
        assert token[:20] not in info.value.diagnostics()


def test_near_miss_tokens_do_not_authenticate(db: AuthorityDatabase) -> None:
    store, _ = _store(db)
    _, token = store.add("Officer Li", Role.AUDITOR)
    for variant in (token[:-1], token + "A", token.upper(), " " + token):
        with pytest.raises(OperatorAuthError):
            store.authenticate(variant, require=Role.AUDITOR)


def test_require_must_name_a_role(db: AuthorityDatabase) -> None:
    store, _ = _store(db)
    _, token = store.add("Officer Li", Role.AUDITOR)
    with pytest.raises(ValueError, match="Role"):
        store.authenticate(token, require=set())
    with pytest.raises(ValueError, match="Role"):
        store.authenticate(token, require={"auditor"})  # type: ignore[arg-type]


def test_token_never_stored_in_plaintext(tmp_path: Path) -> None:
    # The database file's bytes (SQLite: the file is what a thief takes).
    path = tmp_path / "ops.db"
    db = AuthorityDatabase(path)
    store, _ = _store(db)
    tokens = [store.add(f"Officer {i}", Role.AUDITOR)[1] for i in range(5)]
    db.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"Officer 3" in stored  # the scan does see the table's contents
    for token in tokens:
        assert token.encode("ascii") not in stored
        assert token.removeprefix("rdop_").encode("ascii") not in stored
        assert b64url_decode(token.removeprefix("rdop_")) not in stored
    reopened_db = AuthorityDatabase(path)
    try:
        reopened = OperatorStore(reopened_db, FixedClock(T0))
        assert reopened.authenticate(tokens[3], require=Role.AUDITOR).name == "Officer 3"
    finally:
        reopened_db.close()


def test_tokens_and_ids_unique(db: AuthorityDatabase) -> None:
    store, _ = _store(db)
    added = [store.add(f"Officer {i}", Role.ENROLLMENT_OFFICER) for i in range(200)]
    assert len({token for _, token in added}) == 200
    assert len({op.id for op, _ in added}) == 200


def test_list_in_insertion_order_including_revoked(db: AuthorityDatabase) -> None:
    store, _ = _store(db)
    a, _ = store.add("A", Role.AUDITOR)
    b, _ = store.add("B", Role.ENROLLMENT_OFFICER)
    store.revoke(a.id)
    listed = store.list()
    assert [op.id for op in listed] == [a.id, b.id]
    assert not listed[0].active
    assert listed[1] == b
    assert isinstance(listed[0], Operator)


class _GiveUpError(Exception):
    """Raised inside a transaction to roll it back."""


def test_add_does_not_commit(db: AuthorityDatabase) -> None:
    store = OperatorStore(db, FixedClock(T0))
    added: list[str] = []

    def add_then_give_up() -> None:
        with db.transaction() as tx:
            added.append(store.add(tx, "Officer Li", Role.AUDITOR)[1])
            raise _GiveUpError

    with pytest.raises(_GiveUpError):
        add_then_give_up()
    (token,) = added
    with pytest.raises(OperatorAuthError):
        store.authenticate(token, require=Role.AUDITOR)
    assert store.list() == []


def test_add_rejects_bad_names_and_roles(db: AuthorityDatabase) -> None:
    store, _ = _store(db)
    for name in ("", " Li", "Li\n", "x" * 65):
        with pytest.raises(ValueError, match="operator name"):
            store.add(name, Role.AUDITOR)
    with pytest.raises(ValueError, match="Role"):
        store.add("Li", "superuser")  # type: ignore[arg-type]
    assert store.list() == []
