"""The acknowledgement log (``--acknowledged FILE``): what the deployment acknowledged.

One JSON line per operation, appended the moment the deployment acknowledged it, so that a
test that crashes services under load can check afterwards, from this file and the
services' stores, that nothing acknowledged was lost or done twice (docs/load.md):

* ``did-operation`` — an operation the node answered ``202`` (durable, not yet anchored):
  ``operation`` (its hash), ``did``, ``type`` (``create``, ``update``) and ``step``;
* ``enrollment`` — a RealName credential the authority issued (``/oid4vci/credential``
  answered ``200``): the enrolled ``did``, the register ``row`` and the credential's
  ``status_list`` (the status list URI) and ``status_index``, which identify it in the
  authority's records (``credentials.status_list``, ``credentials.status_index``);
* ``site-proof`` — the same for a SiteProof (``prepare``): ``did`` (the site DID),
  ``root_did``, ``site``, ``status_list``, ``status_index``;
* ``login`` — a login whose ``direct_post`` the relying party answered ``200``: ``site``,
  ``did`` (the site DID) and ``state``, the login request's ``state`` (unique per request
  in the relying party's ``login_requests``).

Every line also has ``at`` (Unix time) and ``pid`` (the client process). No line holds a
name or an ID number. Several client processes append to one file: each line is one
``write`` on a descriptor opened with ``O_APPEND``, so lines never interleave.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from realdid.credentials import CredentialError, parse_status_reference, peek_sd_jwt_unverified


class AckLog:
    """Appends acknowledgement lines to ``path``; a no-op without a path."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None
        if path:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    @property
    def enabled(self) -> bool:
        return self._fd is not None

    def record(self, kind: str, **fields: Any) -> None:
        """One line: ``{"kind": kind, **fields, "at": ..., "pid": ...}``, written at once."""
        if self._fd is None:
            return
        line = {"kind": kind, **fields, "at": round(time.time(), 3), "pid": os.getpid()}
        os.write(self._fd, orjson.dumps(line) + b"\n")

    def credential(self, kind: str, sd_jwt: str, **fields: Any) -> None:
        """An issued credential, identified by its status list entry."""
        if self._fd is None:
            return
        try:
            uri, index = parse_status_reference(peek_sd_jwt_unverified(sd_jwt).status)
        except CredentialError:
            uri, index = None, None  # still acknowledged; the test will say it is unidentified
        self.record(kind, **fields, status_list=uri, status_index=index)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
