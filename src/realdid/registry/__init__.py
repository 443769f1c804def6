"""The registry client: how everything above the node talks to a registry node over HTTP.

It sits on ``crypto`` and ``did`` only, below the wallet, the relying party and the
authority, which all resolve DIDs through it:

* :class:`NodeClient` — submit operations, poll their status, resolve DIDs;
* :class:`ResolutionResult` — the typed W3C DID Resolution result a node serves (document,
  resolution metadata, document metadata with the anchoring evidence), parsed once here
  instead of by hand in each resolver;
* :func:`download` — the one streamed, size-capped way any RealDID client reads a remote
  answer (python-tuf's ``download_bytes(url, max_length)``).

Example::

    >>> client = NodeClient("http://127.0.0.1:8080")
    >>> result = client.resolve("did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc")
    >>> result.deactivated, result.document_metadata.version_id
    (False, '5d0c…')
"""

from __future__ import annotations

from ._client import NodeClient
from ._download import MAX_RESPONSE_BYTES, ResponseTooLargeError, download
from ._errors import NodeClientError, ResolutionResultError
from ._resolution import (
    DocumentMetadata,
    InclusionProof,
    MethodMetadata,
    ResolutionMetadata,
    ResolutionResult,
)

__all__ = [
    "MAX_RESPONSE_BYTES",
    "DocumentMetadata",
    "InclusionProof",
    "MethodMetadata",
    "NodeClient",
    "NodeClientError",
    "ResolutionMetadata",
    "ResolutionResult",
    "ResolutionResultError",
    "ResponseTooLargeError",
    "download",
]
