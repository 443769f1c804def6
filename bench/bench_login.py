"""Login benchmark (issue 5): presentation verifications per second in the RP SDK.

Run with ``make bench`` (or ``.venv/bin/python bench/bench_login.py --help``). The result is
printed next to the raw signature rates measured in the same run: P-256 ES256 verifies via
``cryptography`` (the authority's credential signature) and PyNaCl Ed25519 verifies (the
holder's key-binding JWT; ``--holder-key p256`` makes that ES256 too).

What one verification is: :meth:`realdid.rp.RelyingParty.verify_response` on a real
``direct_post`` body — parse the form, find the stored request by ``state``, mark it answered
(the single-use ``UPDATE`` in the RP's SQLite store, WAL, shared by all workers), verify the
SD-JWT VC (issuer signature, disclosures, KB-JWT with audience, nonce and ``iat``), check the
status list and the holder DID, and record the outcome. Caches are warm, as in steady state:
the holder DID documents and the authority's document sit in :class:`HttpDidResolver`'s
cache (filled once through an in-memory transport that answers like a registry node), the
status list in :class:`StatusListCache`.

Phases: raw limits; setup (issuer, RP and its registration, ``--holders`` site DIDs with a
SiteProof each, one status list); then ``--workers`` processes each create ``--logins``
requests (timed: request creation), let the wallet side answer them (untimed: fetch the
signed request object, ``present``), and verify every answer (timed: the result).
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from realdid.clock import SystemClock
from realdid.credentials import (
    CredentialQuery,
    DcqlQuery,
    StatusList,
    issue,
    present,
    response_form,
    sign_status_list,
    status_reference,
)
from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner
from realdid.did import (
    CreateOperation,
    DocumentContent,
    ParsedOperation,
    PublicKeyEntry,
    commitment_of,
    to_dict,
)
from realdid.rp import (
    HttpDidResolver,
    LoginRequestStore,
    RelyingParty,
    RelyingPartyConfig,
    StatusListCache,
)

SITE_PROOF = "urn:realdid:SiteProof"
STATUS_URI = "https://authority.bench/status-lists/1"
RP_URL = "https://forum.bench"
NODE_URL = "http://registry.bench"


# -- raw limits ------------------------------------------------------------------------------------
def _rate(fn: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            fn()
        count += 50
    return count / elapsed


def raw_limits(seconds: float = 1.0) -> dict[str, float]:
    ed = nacl.signing.SigningKey.generate()
    ed_sig = ed.sign(b"m" * 64).signature
    p256 = ec.generate_private_key(ec.SECP256R1())
    p_sig = p256.sign(b"m" * 64, ec.ECDSA(hashes.SHA256()))
    p_pub = p256.public_key()
    return {
        "ed25519_verify": _rate(lambda: ed.verify_key.verify(b"m" * 64, ed_sig), seconds),
        "es256_verify": _rate(
            lambda: p_pub.verify(p_sig, b"m" * 64, ec.ECDSA(hashes.SHA256())), seconds
        ),
    }


# -- setup ----------------------------------------------------------------------------------------
def _did_for(signer: LocalSigner) -> tuple[str, dict[str, Any], bytes]:
    """The DID of ``signer``'s key, its document and its canonical create operation."""
    content = DocumentContent(
        (PublicKeyEntry("key-1", signer.public_key, ("authentication", "assertionMethod")),), ()
    )
    recovery = LocalSigner.generate()
    create = CreateOperation(
        content, commitment_of(signer.public_key), commitment_of(recovery.public_key)
    )
    did = str(create.did)
    return did, content.render(did), ParsedOperation.from_value(to_dict(create)).canonical


@dataclass
class Setup:
    issuer_did: str
    rp_secret: bytes
    rp_did: str
    registration: str
    status_jwt: str
    documents: dict[str, dict[str, Any]]
    holders: list[tuple[bytes, str]]  # (holder secret, site proof SD-JWT)
    holder_key: str
    #: The canonical create of every DID in ``documents``, to anchor them on a real node
    #: (``make_rp(node_url=...)``; bench/scale_run.py).
    creates: list[bytes] = field(default_factory=list)


def build_setup(holders: int, holder_key: KeyType) -> Setup:
    now = int(time.time())
    issuer = LocalSigner.generate(KeyType.P256)
    issuer_did, issuer_doc, issuer_create = _did_for(issuer)
    kid = issuer_did + "#key-1"
    documents = {issuer_did: issuer_doc}
    rp = LocalSigner.generate(KeyType.P256)
    rp_did, rp_doc, rp_create = _did_for(rp)
    documents[rp_did] = rp_doc
    creates = [issuer_create, rp_create]
    common = {
        "issuer": issuer_did,
        "signer": issuer,
        "key_id": kid,
        "issued_at": now - 60,
        "expires_at": now + 86400,
        "salt": lambda: os.urandom(16),
    }
    registration = issue(
        {
            "rp_name": "Bench Forum Co.",
            "purpose": "benchmark",
            "permitted": {SITE_PROOF: ["age_over_18", "verified_person"]},
        },
        selectively_disclosable=set(),
        holder_jwk=rp.public_key.to_jwk(),
        vct="urn:realdid:RpRegistration",
        status=None,
        subject=rp_did,
        **common,
    )
    status = StatusList(holders + 1)
    status_jwt = sign_status_list(
        status,
        uri=STATUS_URI,
        issuer=issuer_did,
        signer=issuer,
        key_id=kid,
        issued_at=now - 60,
        expires_at=now + 86400,
        ttl=3600,
    )
    made: list[tuple[bytes, str]] = []
    for index in range(holders):
        holder = LocalSigner.generate(holder_key)
        did, document, create = _did_for(holder)
        documents[did] = document
        creates.append(create)
        sd_jwt = issue(
            {
                "verified_person": True,
                "assurance_level": "high",
                "age_over_18": True,
                "age_over_60": False,
                "province": "110000",
            },
            selectively_disclosable={"age_over_18", "age_over_60", "province"},
            holder_jwk=holder.public_key.to_jwk(),
            vct=SITE_PROOF,
            status=status_reference(STATUS_URI, index),
            subject=did,
            **common,
        )
        made.append((holder.secret_bytes(), sd_jwt))
    return Setup(
        issuer_did,
        rp.secret_bytes(),
        rp_did,
        registration,
        status_jwt,
        documents,
        made,
        holder_key.value,
        creates,
    )


# -- one worker ---------------------------------------------------------------------------------
def _registry_transport(documents: dict[str, dict[str, Any]]) -> httpx.MockTransport:
    """Answers ``GET /1.0/identifiers/{did}`` like a registry node, from memory."""

    def handler(request: httpx.Request) -> httpx.Response:
        did = request.url.path.rsplit("/", 1)[-1]
        document = documents.get(did)
        if document is None:
            return httpx.Response(404, json={"type": "urn:realdid:problem:did-not-found"})
        return httpx.Response(
            200,
            json={
                "didDocument": document,
                "didDocumentMetadata": {},
                "didResolutionMetadata": {"contentType": "application/did+ld+json"},
            },
        )

    return httpx.MockTransport(handler)


def _payload(jws: str) -> dict[str, Any]:
    segment = jws.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def make_rp(
    setup: Setup, store_path: str, node_url: str | None = None, did_ttl: int = 3600
) -> RelyingParty:
    """The benchmark's relying party on ``store_path``, its DID cache warm (as in steady
    state: every holder's and the issuer's document resolved once).

    ``node_url``: resolve over HTTP at that registry node instead (``setup.creates``
    anchored there), caching documents ``did_ttl`` seconds (0: every verification resolves
    the issuer's and the holder's DID at the node); only the issuer's and the RP's own
    DIDs are resolved up front."""
    clock = SystemClock()
    if node_url is None:
        resolver = HttpDidResolver(
            NODE_URL, ttl=did_ttl, clock=clock, transport=_registry_transport(setup.documents)
        )
    else:
        resolver = HttpDidResolver(node_url, ttl=did_ttl, clock=clock)
    status = StatusListCache(
        lambda uri: setup.status_jwt,
        resolver=resolver,
        trusted_issuers=frozenset({setup.issuer_did}),
        clock=clock,
        policy=DEFAULT_POLICY,
        max_ttl=3600,
    )
    rp = RelyingParty(
        RelyingPartyConfig(
            base_url=RP_URL,
            client_did=setup.rp_did,
            key_id=setup.rp_did + "#key-1",
            registration=setup.registration,
            trusted_issuers=frozenset({setup.issuer_did}),
            did_cache_ttl=did_ttl,
        ),
        signer=LocalSigner(KeyType.P256, setup.rp_secret),
        store=LoginRequestStore(store_path),
        resolver=resolver,
        status_lists=status,
        clock=clock,
    )
    for did in setup.documents if node_url is None else (setup.issuer_did, setup.rp_did):
        resolver.document(did)
    return rp


QUERY = DcqlQuery((CredentialQuery("site", (SITE_PROOF,), ("age_over_18",)),))


def answer_forms(
    rp: RelyingParty, setup: Setup, pendings: list[Any], offset: int
) -> list[dict[str, str]]:
    """The wallet side: each pending request's ``direct_post`` form, from the holders."""
    holders = [
        (LocalSigner(KeyType(setup.holder_key), secret), sd_jwt) for secret, sd_jwt in setup.holders
    ]
    forms = []
    now = int(time.time())
    for n, pending in enumerate(pendings):
        request = _payload(rp.request_object(pending.request_id))
        signer, sd_jwt = holders[(offset + n) % len(holders)]
        vp = present(
            sd_jwt,
            disclose={"age_over_18"},
            holder_signer=signer,
            audience=request["client_id"],
            nonce=request["nonce"],
            issued_at=now,
        )
        forms.append(response_form({"site": [vp]}, request["state"]))
    return forms


def run_worker(args: tuple[Setup, int, str, int]) -> dict[str, Any]:
    setup, logins, store_path, offset = args
    rp = make_rp(setup, store_path)
    start = time.perf_counter()
    pendings = [rp.create_request(QUERY) for _ in range(logins)]
    create_seconds = time.perf_counter() - start
    forms = answer_forms(rp, setup, pendings, offset)
    rp.verify_response(forms.pop())  # warm the status list cache

    latencies = []
    start = time.perf_counter()
    for form in forms:
        t0 = time.perf_counter()
        rp.verify_response(form)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    rp.close()
    return {
        "create_seconds": create_seconds,
        "created": logins,
        "latencies": latencies,
        "elapsed": elapsed,
        "started": start,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--logins", type=int, default=10_000, help="per worker")
    parser.add_argument("--holders", type=int, default=2_000)
    parser.add_argument("--holder-key", choices=["ed25519", "p256"], default="ed25519")
    parser.add_argument(
        "--store-per-worker",
        action="store_true",
        help="one SQLite file per worker instead of one shared file (isolates lock contention)",
    )
    args = parser.parse_args()

    holder_key = KeyType.ED25519 if args.holder_key == "ed25519" else KeyType.P256
    raw = raw_limits()
    kb_rate = raw["ed25519_verify"] if holder_key is KeyType.ED25519 else raw["es256_verify"]
    ceiling = 1 / (1 / raw["es256_verify"] + 1 / kb_rate)
    print(
        f"raw limits (1 core): ES256 verify {raw['es256_verify']:,.0f}/s, "
        f"Ed25519 verify {raw['ed25519_verify']:,.0f}/s"
    )
    print(
        f"crypto ceiling per login (issuer ES256 + KB {holder_key.algorithm}): "
        f"{ceiling:,.0f}/s per core, {ceiling * args.workers:,.0f}/s on {args.workers} cores"
    )

    t0 = time.perf_counter()
    setup = build_setup(args.holders, holder_key)
    print(f"setup: {args.holders:,} holders with site proofs in {time.perf_counter() - t0:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "rp.db")
        paths = [store + (str(w) if args.store_per_worker else "") for w in range(args.workers)]
        for path in paths:
            LoginRequestStore(path).close()  # create the schema before the workers start
        jobs = [(setup, args.logins, path, w * args.logins) for w, path in enumerate(paths)]
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            results = pool.map(run_worker, jobs)

    latencies = [x for r in results for x in r["latencies"]]
    verified = len(latencies)
    # Workers start their timed phase at nearly the same moment; the slowest one bounds it.
    wall = max(r["elapsed"] for r in results)
    created = sum(r["created"] for r in results)
    create_rate = created / max(r["create_seconds"] for r in results)
    print(f"request creation: {create_rate:,.0f}/s ({args.workers} workers)")
    print(
        f"presentation verification: {verified / wall:,.0f}/s with {args.workers} workers "
        f"({verified:,} logins; p50 {statistics.median(latencies) * 1000:.2f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms, "
        f"max {max(latencies) * 1000:.2f} ms)"
    )
    print(f"  = {verified / wall / (ceiling * args.workers):.0%} of the crypto ceiling")


if __name__ == "__main__":
    main()
