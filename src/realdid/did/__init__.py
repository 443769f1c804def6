"""The ``did:realdid`` method: identifiers, documents, operations, state rules, resolution.

Pure and deterministic — no I/O. Example::

    >>> from realdid.crypto import LocalSigner
    >>> from realdid.did import CreateOperation, DocumentContent, commitment_of
    >>> update, recovery = LocalSigner.generate(), LocalSigner.generate()
    >>> create = CreateOperation(DocumentContent(), commitment_of(update.public_key),
    ...                          commitment_of(recovery.public_key))
    >>> str(create.did)[:14]
    'did:realdid:Qm'
"""

from ._document import (
    DID_CORE_CONTEXT,
    MULTIKEY_CONTEXT,
    PURPOSES,
    DocumentContent,
    PublicKeyEntry,
    ServiceEntry,
)
from ._errors import (
    CommitmentMismatchError,
    DidDeactivatedError,
    DidError,
    DidExistsError,
    DidNotFoundError,
    InvalidDidError,
    InvalidOperationSignatureError,
    InvalidPatchError,
    MalformedOperationError,
    MethodNotSupportedError,
    OperationRejectedError,
    StalePreviousError,
)
from ._identifier import METHOD, PREFIX, Did
from ._operations import (
    MAX_OPERATION_BYTES,
    SIGNING_PREFIX,
    CreateOperation,
    DeactivateOperation,
    Operation,
    ParsedOperation,
    Patch,
    RecoverOperation,
    SignedOperation,
    UpdateOperation,
    commitment_of,
    operation_hash,
    operation_suffix,
    sign,
    signing_input,
    to_dict,
    verify_operation_signature,
)
from ._resolution import (
    DID_JSON,
    RESOLUTION_CONTEXT,
    RESOLUTION_MEDIA_TYPE,
    render_document,
    resolution_error,
    resolution_result,
    verification_key,
    xml_datetime,
)
from ._state import AnchorPoint, DidState, apply_operation

__all__ = [
    "DID_CORE_CONTEXT",
    "DID_JSON",
    "MAX_OPERATION_BYTES",
    "METHOD",
    "MULTIKEY_CONTEXT",
    "PREFIX",
    "PURPOSES",
    "RESOLUTION_CONTEXT",
    "RESOLUTION_MEDIA_TYPE",
    "SIGNING_PREFIX",
    "AnchorPoint",
    "CommitmentMismatchError",
    "CreateOperation",
    "DeactivateOperation",
    "Did",
    "DidDeactivatedError",
    "DidError",
    "DidExistsError",
    "DidNotFoundError",
    "DidState",
    "DocumentContent",
    "InvalidDidError",
    "InvalidOperationSignatureError",
    "InvalidPatchError",
    "MalformedOperationError",
    "MethodNotSupportedError",
    "Operation",
    "OperationRejectedError",
    "ParsedOperation",
    "Patch",
    "PublicKeyEntry",
    "RecoverOperation",
    "ServiceEntry",
    "SignedOperation",
    "StalePreviousError",
    "UpdateOperation",
    "apply_operation",
    "commitment_of",
    "operation_hash",
    "operation_suffix",
    "render_document",
    "resolution_error",
    "resolution_result",
    "sign",
    "signing_input",
    "to_dict",
    "verification_key",
    "verify_operation_signature",
    "xml_datetime",
]
