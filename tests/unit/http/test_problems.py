"""RFC 9457 problems (realdid.http): tables, the wire form, and tolerant parsing."""

from __future__ import annotations

import doctest

import orjson
import pytest

import realdid.http._problems
from realdid.http import (
    MAX_DETAIL_CHARS,
    MAX_PROBLEM_BYTES,
    PROBLEM_MEDIA_TYPE,
    Problem,
    ProblemTable,
    ProblemType,
    parse_problem,
    problem_body,
    problem_response,
)
from realdid.node import NODE_PROBLEMS

NOT_FOUND = ProblemType("did-not-found", 404, "DID not found")
TABLE = ProblemTable(NOT_FOUND, ProblemType("payload-too-large", 413, "Request body too large"))


def test_module_examples_run() -> None:
    assert doctest.testmod(realdid.http._problems).failed == 0


# -- declaring types ----------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["invalidDid", "Not-Found", "-x", "x-", "a--b", "", "a" * 65])
def test_codes_are_kebab_case(code: str) -> None:
    with pytest.raises(ValueError, match="kebab-case"):
        ProblemType(code, 400, "t")


@pytest.mark.parametrize("status", [200, 302, 399, 600])
def test_a_problem_has_an_error_status(status: int) -> None:
    with pytest.raises(ValueError, match="error status"):
        ProblemType("x", status, "t")


def test_a_problem_has_a_title() -> None:
    with pytest.raises(ValueError, match="title"):
        ProblemType("x", 400, "")


def test_a_code_is_declared_once_per_table() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        ProblemTable(NOT_FOUND, ProblemType("did-not-found", 410, "Gone"))


def test_a_table_is_a_read_only_mapping_by_code() -> None:
    assert TABLE["did-not-found"] is NOT_FOUND
    assert list(TABLE) == ["did-not-found", "payload-too-large"]
    assert len(TABLE) == 2
    assert "invalid-did" not in TABLE
    with pytest.raises(KeyError):
        TABLE.body("invalid-did", "not in this table")


def test_type_uri() -> None:
    assert NOT_FOUND.uri == "urn:realdid:problem:did-not-found"


# -- writing ------------------------------------------------------------------------------------
def test_body_members_in_wire_order_with_extensions_last() -> None:
    body = problem_body(NOT_FOUND, "no such DID", didDocument=None, index=3)
    assert list(body) == ["type", "title", "status", "detail", "didDocument", "index"]
    assert body["status"] == 404
    assert TABLE.body("did-not-found", "no such DID", didDocument=None, index=3) == body


@pytest.mark.parametrize("member", ["type", "title", "status", "instance"])
def test_extensions_cannot_redefine_standard_members(member: str) -> None:
    with pytest.raises(ValueError, match="redefine"):
        problem_body(NOT_FOUND, "d", **{member: "x"})


def test_response_bytes_status_and_media_type() -> None:
    response = TABLE.response("payload-too-large", "body exceeds 10 bytes", headers={"X-A": "1"})
    assert response.status_code == 413
    assert response.media_type == PROBLEM_MEDIA_TYPE
    assert response.headers["x-a"] == "1"
    assert response.body == (
        b'{"type":"urn:realdid:problem:payload-too-large","title":"Request body too large",'
        b'"status":413,"detail":"body exceeds 10 bytes"}'
    )
    assert problem_response(TABLE["payload-too-large"], "body exceeds 10 bytes").body == (
        response.body
    )


def test_node_table_keeps_every_code_and_status() -> None:
    # The node's codes are documented in docs/api.md; none may change status silently.
    assert {code: t.status for code, t in NODE_PROBLEMS.items()} == {
        "malformed-json": 400,
        "malformed-operation": 400,
        "invalid-signature": 400,
        "invalid-operation-hash": 400,
        "invalid-content-address": 400,
        "empty-submission": 400,
        "did-not-found": 404,
        "invalid-did": 400,
        "method-not-supported": 501,
        "operation-not-found": 404,
        "content-not-found": 404,
        "stale-previous": 409,
        "commitment-mismatch": 409,
        "operation-already-processed": 409,
        "did-deactivated": 410,
        "payload-too-large": 413,
        "unsupported-media-type": 415,
        "invalid-patch": 422,
        "no-such-resource": 404,
        "method-not-allowed": 405,
        "invalid-request": 400,
        "rate-limited": 429,
        "internal-error": 500,
        "storage-unavailable": 503,
        "read-only-node": 503,
    }


# -- reading ------------------------------------------------------------------------------------
def test_round_trip_through_the_wire() -> None:
    response = TABLE.response("did-not-found", "no anchored DID", didResolutionMetadata={"e": 1})
    problem = parse_problem(response.status_code, response.body)
    assert problem == Problem(
        404,
        "did-not-found",
        type="urn:realdid:problem:did-not-found",
        title="DID not found",
        detail="no anchored DID",
        extensions={"didResolutionMetadata": {"e": 1}},
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'"urn:realdid:problem:x"',
        b"null",
        b"[" * 100_000,
        None,
        42,
        ["type"],
        object(),
    ],
)
def test_anything_that_is_no_problem_document_yields_the_status_code(body: object) -> None:
    problem = parse_problem(502, body)
    assert problem.code == "http-502"
    assert problem.type is None
    assert problem.title is None


@pytest.mark.parametrize(
    "kind",
    [
        "about:blank",
        "https://example.com/probs/out-of-credit",
        "urn:realdid:problem:",
        "urn:realdid:problem:invalidDid",
        "urn:realdid:problem:x y",
        "urn:realdid:problem:" + "a" * 65,
        "urn:other:problem:did-not-found",
    ],
)
def test_only_realdid_kebab_codes_are_taken_from_type(kind: str) -> None:
    problem = parse_problem(400, {"type": kind, "detail": "d"})
    assert problem.code == "http-400"
    assert problem.type == kind
    assert problem.detail == "d"


def test_already_decoded_json_and_text_are_accepted() -> None:
    body = {"type": "urn:realdid:problem:forbidden", "detail": "no"}
    assert parse_problem(403, body).code == "forbidden"
    assert parse_problem(403, orjson.dumps(body).decode()).code == "forbidden"
    assert parse_problem(403, bytearray(orjson.dumps(body))).code == "forbidden"


def test_members_of_the_wrong_type_are_dropped() -> None:
    problem = parse_problem(
        400, {"type": "urn:realdid:problem:x", "title": 7, "detail": {"a": 1}, "status": "?"}
    )
    assert (problem.code, problem.title, problem.detail, problem.status) == ("x", None, None, 400)


def test_detail_is_bounded_and_printable() -> None:
    hostile = "\x1b[2J\x1b]0;pwned\x07line\nforged" + "x" * 10_000
    problem = parse_problem(400, {"type": "urn:realdid:problem:x", "detail": hostile})
    assert problem.detail is not None
    assert len(problem.detail) == MAX_DETAIL_CHARS + 1
    assert problem.detail.endswith("…")
    assert not any(c in problem.detail for c in "\x1b\x07\n")
    assert problem.detail.startswith(" [2J ]0;pwned line forged")


def test_an_oversize_body_is_not_parsed() -> None:
    padding = "x" * MAX_PROBLEM_BYTES
    body = orjson.dumps({"type": "urn:realdid:problem:x", "detail": padding})
    assert parse_problem(400, body).code == "http-400"


def test_extensions_are_read_only() -> None:
    problem = parse_problem(400, {"type": "urn:realdid:problem:x", "index": 2})
    assert problem.extensions == {"index": 2}
    with pytest.raises(TypeError):
        problem.extensions["index"] = 3  # type: ignore[index]
