"""RFC 9457 problem details: one stable ``type`` URI per error code (docs/api.md lists them)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

PROBLEM_BASE = "urn:realdid:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# error code -> (HTTP status, title). Codes come from the typed errors of each package.
PROBLEMS: dict[str, tuple[int, str]] = {
    "malformed-json": (400, "Request body is not valid JSON"),
    "malformed-operation": (400, "Operation does not conform to the did:realdid schema"),
    "invalid-signature": (400, "Operation signature does not verify"),
    "invalid-operation-hash": (400, "Not an operation hash"),
    "invalid-content-address": (400, "Not a content address"),
    "empty-submission": (400, "No operations submitted"),
    "did-not-found": (404, "DID not found"),
    "invalid-did": (400, "Not a valid did:realdid identifier"),
    "method-not-supported": (501, "DID method not supported by this resolver"),
    "operation-not-found": (404, "Operation not known to this node"),
    "content-not-found": (404, "No content with this address"),
    "stale-previous": (409, "Operation does not build on the DID's latest version"),
    "commitment-mismatch": (409, "Revealed key does not match the DID's commitment"),
    "operation-already-processed": (409, "Operation was already anchored"),
    "did-deactivated": (410, "DID is deactivated"),
    "payload-too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Request body must be application/json"),
    "invalid-patch": (422, "Patch cannot be applied to the DID document"),
    "no-such-resource": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed on this resource"),
    "invalid-request": (400, "Request does not match the API"),
    "internal-error": (500, "Internal error; the operator has been told (see node log)"),
    "read-only-node": (
        503,
        "This node only follows the ledger; submit operations to an anchoring node",
    ),
}


def problem_body(code: str, detail: str, **extensions: Any) -> dict[str, Any]:
    status, title = PROBLEMS[code]
    return {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        **extensions,
    }


def problem(code: str, detail: str, **extensions: Any) -> JSONResponse:
    body = problem_body(code, detail, **extensions)
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE)
