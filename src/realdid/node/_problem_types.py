"""The registry node's RFC 9457 problem types: code, HTTP status, title (docs/api.md lists them).

Codes come from the typed errors of the packages the node serves (``realdid.did``,
``realdid.ledger``) and from the API itself; W3C DID Resolution error names are mapped to
these codes by the resolution route, not here.
"""

from __future__ import annotations

from realdid.http import RATE_LIMITED, ProblemTable, ProblemType

__all__ = ["NODE_PROBLEMS"]

NODE_PROBLEMS = ProblemTable(
    ProblemType("malformed-json", 400, "Request body is not valid I-JSON (RFC 7493)"),
    ProblemType("malformed-operation", 400, "Operation does not conform to the did:realdid schema"),
    ProblemType("invalid-signature", 400, "Operation signature does not verify"),
    ProblemType("invalid-operation-hash", 400, "Not an operation hash"),
    ProblemType("invalid-content-address", 400, "Not a content address"),
    ProblemType("empty-submission", 400, "No operations submitted"),
    ProblemType("did-not-found", 404, "DID not found"),
    ProblemType("invalid-did", 400, "Not a valid did:realdid identifier"),
    ProblemType("method-not-supported", 501, "DID method not supported by this resolver"),
    ProblemType("operation-not-found", 404, "Operation not known to this node"),
    ProblemType("content-not-found", 404, "No content with this address"),
    ProblemType("stale-previous", 409, "Operation does not build on the DID's latest version"),
    ProblemType("commitment-mismatch", 409, "Revealed key does not match the DID's commitment"),
    ProblemType("operation-already-processed", 409, "Operation was already anchored"),
    ProblemType("did-deactivated", 410, "DID is deactivated"),
    ProblemType("payload-too-large", 413, "Request body too large"),
    ProblemType("unsupported-media-type", 415, "Request body must be application/json"),
    ProblemType("invalid-patch", 422, "Patch cannot be applied to the DID document"),
    ProblemType("no-such-resource", 404, "No such resource"),
    ProblemType("method-not-allowed", 405, "Method not allowed on this resource"),
    ProblemType("invalid-request", 400, "Request does not match the API"),
    RATE_LIMITED,
    ProblemType("internal-error", 500, "Internal error; the operator has been told (see node log)"),
    ProblemType(
        "storage-unavailable", 503, "The node's database is unavailable for a moment; retry"
    ),
    ProblemType(
        "read-only-node",
        503,
        "This node only follows the ledger; submit operations to an anchoring node",
    ),
)
