from __future__ import annotations


class DidError(Exception):
    """Base of :mod:`realdid.did` errors.

    ``code`` is stable: nodes use it as the last path segment of the RFC 9457 problem
    ``type`` and as the rejection reason recorded for operations.
    """

    code = "did-error"
    http_status = 400  # malformed or refused operations come from outside

    def diagnostics(self) -> str:
        return str(self)


class InvalidDidError(DidError):
    """Text that is not a syntactically valid ``did:realdid`` identifier."""

    code = "invalidDid"


class MethodNotSupportedError(DidError):
    """A syntactically valid DID of another method."""

    code = "methodNotSupported"


class MalformedOperationError(DidError):
    """An operation that does not parse or violates the schema (bad type, unknown member)."""

    code = "malformed-operation"


class OperationRejectedError(DidError):
    """A well-formed operation that cannot be applied to the DID's current state.

    ``code`` carries the precise reason: see the subclasses.
    """

    code = "operation-rejected"


class DidNotFoundError(OperationRejectedError):
    code = "did-not-found"


class DidExistsError(OperationRejectedError):
    code = "did-exists"


class DidDeactivatedError(OperationRejectedError):
    code = "did-deactivated"


class StalePreviousError(OperationRejectedError):
    """The operation does not build on the DID's latest version (replay or lost race)."""

    code = "stale-previous"


class CommitmentMismatchError(OperationRejectedError):
    """The revealed key does not hash to the DID's current commitment (spent or wrong key)."""

    code = "commitment-mismatch"


class InvalidOperationSignatureError(OperationRejectedError):
    code = "invalid-signature"


class InvalidPatchError(OperationRejectedError):
    """A patch cannot apply: duplicate or unknown id, or a document limit exceeded."""

    code = "invalid-patch"
