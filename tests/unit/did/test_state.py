"""The state machine: apply_operation over create, update, recover, deactivate
(realdid.did._state), including every rejection and its stable ``code``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from realdid.crypto import KeyType, LocalSigner
from realdid.did import (
    AnchorPoint,
    CommitmentMismatchError,
    CreateOperation,
    DeactivateOperation,
    DidDeactivatedError,
    DidExistsError,
    DidNotFoundError,
    DidState,
    DocumentContent,
    InvalidOperationSignatureError,
    InvalidPatchError,
    Operation,
    OperationRejectedError,
    ParsedOperation,
    Patch,
    PublicKeyEntry,
    RecoverOperation,
    ServiceEntry,
    StalePreviousError,
    UpdateOperation,
    apply_operation,
    commitment_of,
    sign,
    signing_input,
    to_dict,
)


def key(seed: int, key_type: KeyType = KeyType.ED25519) -> LocalSigner:
    return LocalSigner(key_type, bytes([seed]) * 32)


UPDATE_0, UPDATE_1, UPDATE_2, UPDATE_3 = key(1), key(2, KeyType.P256), key(3), key(4)
RECOVERY_0, RECOVERY_1, RECOVERY_2 = key(11), key(12, KeyType.SECP256K1), key(13)
DOC_KEY = key(21)
NEW_DOC_KEY = key(22, KeyType.P256)
ATTACKER = key(99)


def at(sequence: int) -> AnchorPoint:
    return AnchorPoint(sequence=sequence, leaf_index=0, timestamp=1_700_000_000 + sequence)


def parse(operation: Operation) -> ParsedOperation:
    """Through the wire form, as a node sees it."""
    return ParsedOperation.from_value(to_dict(operation))


def apply(state: DidState | None, operation: Operation, sequence: int) -> DidState:
    parsed = parse(operation)
    return apply_operation(state, parsed.operation, parsed.hash, at(sequence))


def create_op() -> CreateOperation:
    return CreateOperation(
        DocumentContent(
            (PublicKeyEntry("key-1", DOC_KEY.public_key, ("authentication", "assertionMethod")),),
            (ServiceEntry("hub", "LinkedDomains", "https://example.com/"),),
        ),
        commitment_of(UPDATE_0.public_key),
        commitment_of(RECOVERY_0.public_key),
    )


DID = create_op().did


def update_op(
    state: DidState,
    signer: LocalSigner,
    patches: tuple[Patch, ...],
    next_key: LocalSigner,
    *,
    previous: str | None = None,
    revealed: LocalSigner | None = None,
) -> UpdateOperation:
    revealed = revealed or signer
    op = UpdateOperation(
        DID,
        state.version_id if previous is None else previous,
        revealed.public_key,
        patches,
        commitment_of(next_key.public_key),
    )
    if revealed is signer:
        signed = sign(op, signer)
        assert isinstance(signed, UpdateOperation)
        return signed
    return replace(op, signature=signer.sign(signing_input(op)))


def recover_op(
    state: DidState, signer: LocalSigner, next_update: LocalSigner, next_recovery: LocalSigner
) -> RecoverOperation:
    op = RecoverOperation(
        DID,
        state.version_id,
        signer.public_key,
        DocumentContent((PublicKeyEntry("fresh", NEW_DOC_KEY.public_key, ("authentication",)),)),
        commitment_of(next_update.public_key),
        commitment_of(next_recovery.public_key),
    )
    signed = sign(op, signer)
    assert isinstance(signed, RecoverOperation)
    return signed


def deactivate_op(state: DidState, signer: LocalSigner) -> DeactivateOperation:
    signed = sign(DeactivateOperation(DID, state.version_id, signer.public_key), signer)
    assert isinstance(signed, DeactivateOperation)
    return signed


ADD_KEY = Patch(
    "add-public-keys",
    public_keys=(PublicKeyEntry("key-2", NEW_DOC_KEY.public_key, ("capabilityInvocation",)),),
)
ADD_SERVICE = Patch(
    "add-services", services=(ServiceEntry("inbox", "DIDCommMessaging", "https://inbox.example/"),)
)
REMOVE_KEY_1 = Patch("remove-public-keys", ids=("key-1",))
REMOVE_HUB = Patch("remove-services", ids=("hub",))


@pytest.fixture
def created() -> DidState:
    return apply(None, create_op(), 1)


@pytest.fixture
def updated(created: DidState) -> DidState:
    return apply(created, update_op(created, UPDATE_0, (ADD_KEY, ADD_SERVICE), UPDATE_1), 2)


# -- the happy path -----------------------------------------------------------------------------


def test_create(created: DidState) -> None:
    parsed = parse(create_op())
    assert created.suffix == DID.suffix == parsed.did.suffix
    assert created.version_id == parsed.hash
    assert created.document == create_op().document
    assert created.update_commitment == commitment_of(UPDATE_0.public_key)
    assert created.recovery_commitment == commitment_of(RECOVERY_0.public_key)
    assert created.created == created.updated == at(1)
    assert not created.deactivated


def test_full_life_cycle(created: DidState) -> None:
    # update: add a key and a service
    op1 = update_op(created, UPDATE_0, (ADD_KEY, ADD_SERVICE), UPDATE_1)
    s1 = apply(created, op1, 2)
    assert [k.id for k in s1.document.public_keys] == ["key-1", "key-2"]
    assert [s.id for s in s1.document.services] == ["hub", "inbox"]
    assert s1.update_commitment == commitment_of(UPDATE_1.public_key)
    assert s1.recovery_commitment == created.recovery_commitment
    assert s1.version_id == parse(op1).hash
    assert s1.created == at(1)
    assert s1.updated == at(2)

    # update with the rotated (P-256) key: remove a key and a service
    s2 = apply(s1, update_op(s1, UPDATE_1, (REMOVE_KEY_1, REMOVE_HUB), UPDATE_2), 3)
    assert [k.id for k in s2.document.public_keys] == ["key-2"]
    assert [s.id for s in s2.document.services] == ["inbox"]
    assert s2.update_commitment == commitment_of(UPDATE_2.public_key)

    # recover: new document, both commitments replaced
    s3 = apply(s2, recover_op(s2, RECOVERY_0, UPDATE_3, RECOVERY_1), 4)
    assert [k.id for k in s3.document.public_keys] == ["fresh"]
    assert s3.document.services == ()
    assert s3.update_commitment == commitment_of(UPDATE_3.public_key)
    assert s3.recovery_commitment == commitment_of(RECOVERY_1.public_key)

    # the new update key works after recovery
    s4 = apply(s3, update_op(s3, UPDATE_3, (ADD_SERVICE,), UPDATE_0), 5)
    assert [s.id for s in s4.document.services] == ["inbox"]

    # deactivate with the (secp256k1) recovery key
    s5 = apply(s4, deactivate_op(s4, RECOVERY_1), 6)
    assert s5.deactivated
    assert s5.document == DocumentContent()
    assert s5.update_commitment is None
    assert s5.recovery_commitment is None
    assert s5.created == at(1)
    assert s5.updated == at(6)
    assert s5.suffix == DID.suffix


def test_recover_after_update_key_loss(updated: DidState) -> None:
    recovered = apply(updated, recover_op(updated, RECOVERY_0, UPDATE_2, RECOVERY_1), 3)
    # The update key committed before recovery (UPDATE_1) is dead now.
    op = update_op(recovered, UPDATE_1, (ADD_SERVICE,), UPDATE_3)
    with pytest.raises(CommitmentMismatchError):
        apply(recovered, op, 4)


def test_update_key_may_be_reused_in_a_later_commitment(updated: DidState) -> None:
    """Only *the same key as the revealed one* is refused; going back to an old key is allowed."""
    s2 = apply(updated, update_op(updated, UPDATE_1, (REMOVE_HUB,), UPDATE_0), 3)
    assert s2.update_commitment == commitment_of(UPDATE_0.public_key)


def test_application_is_deterministic() -> None:
    def run() -> DidState:
        s0 = apply(None, create_op(), 1)
        s1 = apply(s0, update_op(s0, UPDATE_0, (ADD_KEY,), UPDATE_1), 2)
        return apply(s1, recover_op(s1, RECOVERY_0, UPDATE_2, RECOVERY_1), 3)

    assert run() == run()
    assert run().to_dict() == run().to_dict()


def test_state_dict_round_trip(updated: DidState) -> None:
    assert DidState.from_dict(updated.to_dict()) == updated
    deactivated = apply(updated, deactivate_op(updated, RECOVERY_0), 3)
    assert DidState.from_dict(deactivated.to_dict()) == deactivated
    assert deactivated.to_dict()["updateCommitment"] is None


# -- rejections ------------------------------------------------------------------------------------


def assert_rejected(
    error: type[OperationRejectedError], code: str, state: DidState | None, op: Operation
) -> None:
    with pytest.raises(error) as info:
        apply(state, op, 99)
    assert info.value.code == code
    assert isinstance(info.value, OperationRejectedError)


def test_replay_of_applied_update_is_stale(created: DidState) -> None:
    op = update_op(created, UPDATE_0, (ADD_SERVICE,), UPDATE_1)
    after = apply(created, op, 2)
    assert_rejected(StalePreviousError, "stale-previous", after, op)


def test_second_update_against_same_version_is_stale(created: DidState) -> None:
    first = update_op(created, UPDATE_0, (ADD_SERVICE,), UPDATE_1)
    second = update_op(created, UPDATE_0, (REMOVE_HUB,), UPDATE_2)
    after = apply(created, first, 2)
    assert_rejected(StalePreviousError, "stale-previous", after, second)


def test_replay_of_recover_and_deactivate_is_stale(created: DidState) -> None:
    recover = recover_op(created, RECOVERY_0, UPDATE_1, RECOVERY_1)
    after = apply(created, recover, 2)
    assert_rejected(StalePreviousError, "stale-previous", after, recover)
    # A deactivate prepared against the old version cannot be replayed later either.
    old_deactivate = deactivate_op(created, RECOVERY_0)
    assert_rejected(StalePreviousError, "stale-previous", after, old_deactivate)


def test_unknown_previous_is_stale(created: DidState) -> None:
    op = update_op(created, UPDATE_0, (ADD_SERVICE,), UPDATE_1, previous="00" * 32)
    assert_rejected(StalePreviousError, "stale-previous", created, op)


def test_update_with_wrong_key_is_commitment_mismatch(created: DidState) -> None:
    op = update_op(created, ATTACKER, (ADD_SERVICE,), UPDATE_1)
    assert_rejected(CommitmentMismatchError, "commitment-mismatch", created, op)


def test_update_with_recovery_key_is_commitment_mismatch(created: DidState) -> None:
    op = update_op(created, RECOVERY_0, (ADD_SERVICE,), UPDATE_1)
    assert_rejected(CommitmentMismatchError, "commitment-mismatch", created, op)


def test_recover_with_update_key_is_commitment_mismatch(created: DidState) -> None:
    op = recover_op(created, UPDATE_0, UPDATE_1, RECOVERY_1)
    assert_rejected(CommitmentMismatchError, "commitment-mismatch", created, op)


def test_deactivate_with_update_key_is_commitment_mismatch(created: DidState) -> None:
    assert_rejected(
        CommitmentMismatchError, "commitment-mismatch", created, deactivate_op(created, UPDATE_0)
    )


def test_spent_update_key_cannot_be_used_again(updated: DidState) -> None:
    op = update_op(updated, UPDATE_0, (REMOVE_HUB,), UPDATE_2)  # right previous, spent key
    assert_rejected(CommitmentMismatchError, "commitment-mismatch", updated, op)


def test_spent_recovery_key_cannot_be_used_again(created: DidState) -> None:
    recovered = apply(created, recover_op(created, RECOVERY_0, UPDATE_1, RECOVERY_1), 2)
    assert_rejected(
        CommitmentMismatchError,
        "commitment-mismatch",
        recovered,
        deactivate_op(recovered, RECOVERY_0),
    )


def test_update_committing_to_the_same_key_is_refused(created: DidState) -> None:
    op = update_op(created, UPDATE_0, (ADD_SERVICE,), UPDATE_0)
    assert_rejected(CommitmentMismatchError, "commitment-mismatch", created, op)


def test_recover_committing_to_the_same_recovery_key_is_refused(created: DidState) -> None:
    op = recover_op(created, RECOVERY_0, UPDATE_1, RECOVERY_0)
    assert_rejected(CommitmentMismatchError, "commitment-mismatch", created, op)


def test_stolen_document_key_cannot_update(created: DidState) -> None:
    """The document's authentication key is not the update key: owning it gives no control."""
    op = update_op(created, DOC_KEY, (REMOVE_KEY_1, ADD_KEY), ATTACKER)
    assert_rejected(CommitmentMismatchError, "commitment-mismatch", created, op)
    assert_rejected(
        CommitmentMismatchError,
        "commitment-mismatch",
        created,
        recover_op(created, DOC_KEY, ATTACKER, ATTACKER),
    )
    assert_rejected(
        CommitmentMismatchError, "commitment-mismatch", created, deactivate_op(created, DOC_KEY)
    )


def test_revealed_key_signed_by_someone_else_is_bad_signature(created: DidState) -> None:
    """Revealing the right public key is not enough: the matching private key must sign."""
    op = update_op(created, ATTACKER, (ADD_SERVICE,), UPDATE_1, revealed=UPDATE_0)
    assert_rejected(InvalidOperationSignatureError, "invalid-signature", created, op)


@pytest.mark.parametrize("kind", ["update", "recover", "deactivate"])
def test_tampered_operation_is_bad_signature(created: DidState, kind: str) -> None:
    op: Operation
    if kind == "update":
        signed = update_op(created, UPDATE_0, (ADD_SERVICE,), UPDATE_1)
        op = replace(signed, next_update_commitment=commitment_of(ATTACKER.public_key))
    elif kind == "recover":
        signed_r = recover_op(created, RECOVERY_0, UPDATE_1, RECOVERY_1)
        op = replace(signed_r, next_recovery_commitment=commitment_of(ATTACKER.public_key))
    else:
        signed_d = deactivate_op(created, RECOVERY_0)
        op = replace(
            signed_d, signature=bytes([signed_d.signature[0] ^ 1]) + signed_d.signature[1:]
        )
    assert_rejected(InvalidOperationSignatureError, "invalid-signature", created, op)


def test_signature_is_checked_after_cheap_checks(created: DidState) -> None:
    """Junk (stale previous, wrong key) is rejected before any signature verification."""
    op = update_op(created, UPDATE_0, (ADD_SERVICE,), UPDATE_1, previous="11" * 32)
    op = replace(op, signature=b"\x00" * 64)
    assert_rejected(StalePreviousError, "stale-previous", created, op)


@pytest.mark.parametrize("kind", ["update", "recover", "deactivate"])
def test_operation_on_deactivated_did_is_refused(created: DidState, kind: str) -> None:
    dead = apply(created, deactivate_op(created, RECOVERY_0), 2)
    fake = replace(
        dead,
        update_commitment=created.update_commitment,
        recovery_commitment=created.recovery_commitment,
    )
    op: Operation
    if kind == "update":
        op = update_op(fake, UPDATE_0, (ADD_SERVICE,), UPDATE_1)
    elif kind == "recover":
        op = recover_op(fake, RECOVERY_0, UPDATE_1, RECOVERY_1)
    else:
        op = deactivate_op(fake, RECOVERY_0)
    assert_rejected(DidDeactivatedError, "did-deactivated", dead, op)


@pytest.mark.parametrize("kind", ["update", "recover", "deactivate"])
def test_operation_on_unknown_did_is_refused(created: DidState, kind: str) -> None:
    op: Operation
    if kind == "update":
        op = update_op(created, UPDATE_0, (ADD_SERVICE,), UPDATE_1)
    elif kind == "recover":
        op = recover_op(created, RECOVERY_0, UPDATE_1, RECOVERY_1)
    else:
        op = deactivate_op(created, RECOVERY_0)
    assert_rejected(DidNotFoundError, "did-not-found", None, op)


def test_duplicate_create_is_refused(created: DidState) -> None:
    assert_rejected(DidExistsError, "did-exists", created, create_op())


def test_create_on_deactivated_did_is_refused(created: DidState) -> None:
    dead = apply(created, deactivate_op(created, RECOVERY_0), 2)
    assert_rejected(DidExistsError, "did-exists", dead, create_op())


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param(Patch("remove-public-keys", ids=("nope",)), id="remove-unknown-key"),
        pytest.param(Patch("remove-services", ids=("nope",)), id="remove-unknown-service"),
        pytest.param(Patch("remove-public-keys", ids=("hub",)), id="remove-service-as-key"),
        pytest.param(
            Patch(
                "add-public-keys",
                public_keys=(PublicKeyEntry("key-1", NEW_DOC_KEY.public_key, ("authentication",)),),
            ),
            id="add-duplicate-key",
        ),
        pytest.param(
            Patch("add-services", services=(ServiceEntry("key-1", "T", "https://x.example/"),)),
            id="add-service-with-key-id",
        ),
        pytest.param(
            Patch(
                "add-services",
                services=tuple(ServiceEntry(f"s{i}", "T", "https://x.example/") for i in range(10)),
            ),
            id="over-service-limit",
        ),
    ],
)
def test_invalid_patch_is_refused(created: DidState, patch: Patch) -> None:
    op = update_op(created, UPDATE_0, (patch,), UPDATE_1)
    assert_rejected(InvalidPatchError, "invalid-patch", created, op)


def test_whole_update_is_refused_when_a_later_patch_fails(created: DidState) -> None:
    op = update_op(
        created, UPDATE_0, (ADD_SERVICE, Patch("remove-services", ids=("nope",))), UPDATE_1
    )
    assert_rejected(InvalidPatchError, "invalid-patch", created, op)


def test_rejections_leave_state_untouched(created: DidState) -> None:
    snapshot = created.to_dict()
    for op in (
        update_op(created, ATTACKER, (ADD_SERVICE,), UPDATE_1),
        update_op(created, UPDATE_0, (Patch("remove-services", ids=("nope",)),), UPDATE_1),
        create_op(),
    ):
        with pytest.raises(OperationRejectedError):
            apply(created, op, 5)
    assert created.to_dict() == snapshot
    # and the rightful controller can still act on the same version
    apply(created, update_op(created, UPDATE_0, (ADD_SERVICE,), UPDATE_1), 6)


def test_rejection_codes_are_stable() -> None:
    codes = {
        DidNotFoundError: "did-not-found",
        DidExistsError: "did-exists",
        DidDeactivatedError: "did-deactivated",
        StalePreviousError: "stale-previous",
        CommitmentMismatchError: "commitment-mismatch",
        InvalidOperationSignatureError: "invalid-signature",
        InvalidPatchError: "invalid-patch",
    }
    for error, code in codes.items():
        assert error.code == code
        assert issubclass(error, OperationRejectedError)
    assert OperationRejectedError.code == "operation-rejected"
