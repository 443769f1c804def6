"""The registry client: how everything above the node talks to a registry node.

It sits on ``crypto`` and ``did`` only, below the wallet, the relying party and the
authority, which all resolve DIDs through it:

* :class:`RegistryClient` — what a node offers its clients: submit operations, poll their
  status, resolve DIDs; :class:`NodeClient` asks a node over HTTP (``realdid.node`` has the
  client of a node in the same process);
* :class:`ResolutionResult` — the typed W3C DID Resolution result a node serves (document,
  resolution metadata, document metadata with the anchoring evidence), parsed once here
  instead of by hand in each resolver.

Every HTTP answer is read through :func:`realdid.http.download`, so a node cannot make its
clients buffer more than :data:`realdid.http.MAX_RESPONSE_BYTES`.

Example::

    >>> client = NodeClient("http://127.0.0.1:8080")
    >>> result = client.resolve("did:realdid:QmYC8hqtvH2AfdrP47kBRz1m8B4hmeWF1hk527YyproLuc")
    >>> result.deactivated, result.document_metadata.version_id
    (False, '5d0c…')
"""

from __future__ import annotations

from ._client import NodeClient, RegistryClient
from ._errors import NodeClientError, ResolutionResultError
from ._resolution import (
    DocumentMetadata,
    InclusionProof,
    MethodMetadata,
    ResolutionMetadata,
    ResolutionResult,
)

__all__ = [
    "DocumentMetadata",
    "InclusionProof",
    "MethodMetadata",
    "NodeClient",
    "NodeClientError",
    "RegistryClient",
    "ResolutionMetadata",
    "ResolutionResult",
    "ResolutionResultError",
]
