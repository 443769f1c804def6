"""The anchor-request check every ledger backend applies before ordering an anchor."""

from __future__ import annotations

import pytest

from realdid.ledger import AnchorRequest, InvalidAnchorRequestError

GOOD_HASH = "ab" * 32


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (AnchorRequest("AB" * 32, GOOD_HASH, 1), "batch_hash must be 64 lowercase hex"),
        (AnchorRequest("ab" * 31, GOOD_HASH, 1), "batch_hash must be 64 lowercase hex"),
        (AnchorRequest(GOOD_HASH, "../" * 20 + "abcd", 1), "merkle_root must be 64 lowercase"),
        (AnchorRequest(GOOD_HASH, GOOD_HASH, -1), "operation_count must be a non-negative"),
        (AnchorRequest(GOOD_HASH, GOOD_HASH, True), "operation_count must be a non-negative"),
    ],
)
def test_malformed_requests_are_refused(request_: AnchorRequest, message: str) -> None:
    with pytest.raises(InvalidAnchorRequestError, match=message) as info:
        request_.check()
    assert info.value.code == "invalid-anchor-request"


def test_unbounded_count_without_a_width() -> None:
    AnchorRequest(GOOD_HASH, GOOD_HASH, 2**40).check()
    AnchorRequest(GOOD_HASH, GOOD_HASH, 0).check()


@pytest.mark.parametrize("count", [-1, 2**32, True, 1.0])
def test_count_outside_a_fixed_width_is_refused(count: int) -> None:
    with pytest.raises(InvalidAnchorRequestError, match=r"integer in 0\.\.2\*\*32-1"):
        AnchorRequest(GOOD_HASH, GOOD_HASH, count).check(operation_count_bits=32)


def test_count_at_the_top_of_a_fixed_width_is_accepted() -> None:
    AnchorRequest(GOOD_HASH, GOOD_HASH, 2**32 - 1).check(operation_count_bits=32)
