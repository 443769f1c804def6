"""The ledger explorer: read-only, server-rendered pages on every node.

* ``/explorer`` — the newest anchors (ledger position, batch, operation count);
* ``/explorer/anchors/{sequence}`` — one anchor and the operations of its batch with their
  outcome (applied, or rejected with the reason);
* ``/explorer/dids/{did}`` — a DID's current document and its full operation history, each
  step with its anchoring evidence and a Merkle inclusion proof checked on the server.

The history is walked backwards through each operation's ``previous`` link and read from
the batch files, so it costs no extra index storage per DID (the explorer is low-traffic;
the resolver is not).
"""

from __future__ import annotations

import functools
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from starlette.responses import HTMLResponse, RedirectResponse, Response

from realdid.did import (
    CreateOperation,
    Did,
    DidError,
    ParsedOperation,
    render_document,
    xml_datetime,
)
from realdid.ledger import Anchor, LedgerError, decode_batch, leaf_hash, verify_inclusion

from ._service import RegistryNode

MAX_HISTORY = 1000
PAGE = 200
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,  # every value shown comes from submitters or the ledger
    undefined=jinja2.StrictUndefined,
)
_TEMPLATES.filters["datetime"] = xml_datetime


@dataclass(frozen=True, slots=True)
class BatchEntry:
    leaf: int
    hash: str
    type: str
    did: str | None
    status: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class HistoryStep:
    hash: str
    type: str
    anchor: Anchor
    leaf: int
    proof_verified: bool


class Explorer:
    def __init__(self, node: RegistryNode) -> None:
        self._node = node
        self._lines = functools.lru_cache(maxsize=16)(self._load_lines)

    def _load_lines(self, batch_hash: str) -> tuple[bytes, ...]:
        return tuple(decode_batch(self._node.cas.get(batch_hash)))

    def batch(
        self, sequence: int, offset: int
    ) -> tuple[Anchor, bool, str | None, list[BatchEntry]] | None:
        record = self._node.store.anchor_record(sequence)
        if record is None:
            return None
        entries: list[BatchEntry] = []
        if record.valid:
            lines = self._lines(record.anchor.batch_hash)
            for leaf in range(offset, min(offset + PAGE, len(lines))):
                digest = record.leaves[leaf].hex()
                outcome = self._node.store.outcome(digest)
                kind, did = _describe(lines[leaf])
                status: str
                reason: str | None
                if outcome is None or (outcome.sequence, outcome.leaf) != (sequence, leaf):
                    status, reason = "duplicate", "already anchored earlier; skipped"
                else:
                    status, reason = (
                        ("applied", None) if outcome.applied else ("rejected", outcome.reason)
                    )
                entries.append(BatchEntry(leaf, digest, kind, did, status, reason))
        return record.anchor, record.valid, record.reason, entries

    def history(self, did: Did) -> list[HistoryStep]:
        """Applied operations of ``did``, newest first, following ``previous`` links."""
        state = self._node.store.state(did.suffix)
        steps: list[HistoryStep] = []
        current: str | None = None if state is None else state.version_id
        while current is not None and len(steps) < MAX_HISTORY:
            outcome = self._node.store.outcome(current)
            anchor = None if outcome is None else self._node.store.anchor(outcome.sequence)
            if outcome is None or anchor is None:
                break
            parsed = ParsedOperation.from_canonical(self._lines(anchor.batch_hash)[outcome.leaf])
            steps.append(
                HistoryStep(
                    current,
                    parsed.operation.type,
                    anchor,
                    outcome.leaf,
                    self._proof_ok(anchor, outcome.leaf, current),
                )
            )
            operation = parsed.operation
            current = None if isinstance(operation, CreateOperation) else operation.previous
        return steps

    def _proof_ok(self, anchor: Anchor, leaf: int, operation_hash: str) -> bool:
        evidence = self._node.evidence(anchor.sequence, leaf)["inclusionProof"]
        try:
            verify_inclusion(
                leaf_hash(bytes.fromhex(operation_hash)),
                leaf,
                evidence["treeSize"],
                [bytes.fromhex(h) for h in evidence["auditPath"]],
                bytes.fromhex(anchor.merkle_root),
            )
        except LedgerError:
            return False
        return True


def _describe(line: bytes) -> tuple[str, str | None]:
    try:
        parsed = ParsedOperation.from_canonical(line)
    except DidError:
        return "malformed", None
    return parsed.operation.type, str(parsed.did)


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_TEMPLATES.get_template(name).render(**context), status_code=status)


#: Anchor numbers and offsets are 64-bit signed integers in both engines' columns: a
#: larger one is a 400 ``invalid-request``, never an overflow inside the database.
_INT64_MAX = 2**63 - 1
Sequence = Annotated[int, PathParam(ge=-_INT64_MAX, le=_INT64_MAX)]
Offset = Annotated[int, Query(ge=-_INT64_MAX, le=_INT64_MAX)]
Before = Annotated[int | None, Query(ge=-_INT64_MAX, le=_INT64_MAX)]


def explorer_router(node: RegistryNode) -> APIRouter:
    explorer = Explorer(node)
    router = APIRouter(prefix="/explorer", include_in_schema=False)

    @router.get("")
    def index(before: Before = None) -> Response:
        anchors = node.store.recent_anchors(20, before)
        return _page(
            "index.html", anchors=anchors, ledger=node.ledger.name, dids=node.store.did_count()
        )

    @router.get("/search")
    def search(q: str = "") -> Response:
        q = q.strip()
        if q.isdigit():
            return RedirectResponse(f"/explorer/anchors/{int(q)}", status_code=303)
        return RedirectResponse(
            f"/explorer/dids/{urllib.parse.quote(q, safe=':')}", status_code=303
        )

    @router.get("/anchors/{sequence}")
    def anchor_page(sequence: Sequence, offset: Offset = 0) -> Response:
        try:
            found = explorer.batch(sequence, max(offset, 0)) if sequence >= 0 else None
        except LedgerError as e:
            return _page(
                "error.html",
                503,
                message=f"The batch file of anchor {sequence} is not available on this node ({e.code}).",
            )
        if found is None:
            return _page("error.html", 404, message=f"No anchor {sequence} on this node yet.")
        anchor, valid, reason, entries = found
        return _page(
            "anchor.html",
            anchor=anchor,
            valid=valid,
            reason=reason,
            entries=entries,
            offset=max(offset, 0),
            page=PAGE,
        )

    @router.get("/dids/{did}")
    def did_page(did: str, request: Request) -> Response:
        try:
            parsed = Did.parse(did)
        except DidError as e:
            return _page("error.html", 400, message=f"Not a did:realdid identifier: {e}")
        state = node.store.state(parsed.suffix)
        if state is None:
            return _page("error.html", 404, message="No anchored DID with this identifier.")
        document = json.dumps(render_document(parsed, state), indent=2)
        try:
            steps = explorer.history(parsed)
        except LedgerError as e:
            message = (
                f"A batch file of this DID's history is not available on this node ({e.code})."
            )
            return _page("error.html", 503, message=message)
        return _page("did.html", did=str(parsed), state=state, document=document, steps=steps)

    return router
