"""Enrollment benchmark (issue 4): residents enrolled per second, end to end.

Run with ``make bench`` (or ``.venv/bin/python bench/bench_enroll.py --help``). As in
``bench_node.py`` every result is printed next to raw signature rates measured in the same
run: PyNaCl Ed25519 (the residents' keys) and P-256 ES256 via ``cryptography`` (the
authority's credential key), plus HPKE sealing (the escrow record).

Phases:

1. raw limits: Ed25519 signs/verifies, ES256 signs/verifies and HPKE X25519 seals per
   second on one core, and the crypto ceiling they imply for one enrollment (authority side:
   verify the application, verify the proof JWT, sign the credential, seal the escrow);
2. register: ``--residents`` synthetic residents with face captures, generated once with
   ``realdid.authority.generate_residents`` and imported with ``SqliteRegister.import_csv``
   into ``bench/.cache/register-<N>/`` (reused by later runs);
3. root DIDs: ``--enrollments`` residents' Ed25519 root DIDs are created and pushed through an
   in-process :class:`RegistryNode` (solo ledger, temp dir) the way its HTTP intake does
   (precheck, durable enqueue, the anchoring loop); the clock stops when all are resolvable;
4. enrollment: ``--workers`` processes, each an :class:`Authority` wired like
   ``_runtime.py`` (own authority database shard, shared service secrets, issuer key, escrow
   public key, the shared >= 1 M register, ``SimulatedFaceMatcher``) whose resolver reads the
   node's index in process. Each resident runs the full OpenID4VCI sequence: challenge ->
   sign_application -> enroll -> token -> nonce -> make_proof_jwt -> credential. Calls into
   the authority and the wallet-side work are timed separately;
5. profile: cProfile of ``--profile`` enrollments in one process (top functions);
6. ``--http``: the same sequence through the real FastAPI apps (``realdid serve`` with
   ``--authority-port``: uvicorn on localhost) from ``--http-clients`` httpx threads.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import cProfile
import csv
import io
import json
import multiprocessing
import os
import pstats
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
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

from realdid.authority import (
    CSV_COLUMNS,
    Authority,
    AuthorityConfig,
    AuthorityDatabase,
    DidKeyError,
    DocumentKeyResolver,
    ServiceSecrets,
    SimulatedFaceMatcher,
    SqliteBusinessRegister,
    SqliteRegister,
    X25519EscrowKey,
    X25519EscrowPublicKey,
    encode_face,
)
from realdid.authority._synthetic import generate_residents
from realdid.clock import SystemClock
from realdid.credentials import (
    ENROLLMENT_TYP,
    CredentialOffer,
    CredentialRequest,
    CredentialResponse,
    NonceResponse,
    TokenRequest,
    TokenResponse,
    make_proof_jwt,
    sign_application,
)
from realdid.crypto import KeyType, LocalSigner, PublicKey, Signer
from realdid.did import (
    CreateOperation,
    Did,
    DidError,
    DocumentContent,
    ParsedOperation,
    PublicKeyEntry,
    commitment_of,
    render_document,
    to_dict,
)
from realdid.ledger import RegistryStore
from realdid.node import NodeConfig, RegistryNode
from realdid.node._intake import precheck_all

REALDID = Path(sys.executable).with_name("realdid")
ISSUER_URL = "https://authority.bench.example"


CACHE = Path(__file__).resolve().parent / ".cache"


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the main process (which then stops the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _generate_part(args: tuple[int, int, str, bool]) -> int:
    seed, count, prefix, verbose = args
    n = 0
    start = time.perf_counter()
    with (
        open(prefix + ".csv", "w", encoding="utf-8", newline="") as rows,
        open(prefix + ".captures", "w", encoding="ascii", newline="") as caps,
    ):
        writer = csv.writer(rows, lineterminator="\n")
        for resident, capture in generate_residents(count, random.Random(seed)):
            writer.writerow(resident.to_row())
            caps.write(f"{resident.id_number},{encode_face(capture)}\n")
            n += 1
            if verbose and n % 50_000 == 0:
                rate = n / (time.perf_counter() - start)
                print(f"  part {seed}: {n:,}/{count:,} residents ({rate:,.0f}/s)", flush=True)
    return n


def register_cache(
    residents: int,
    workers: int = 2,
    *,
    cache: Path = CACHE,
    part_size: int | None = None,
    keep_csv: bool = False,
    on_part: Callable[[int, int], None] | None = None,
) -> Path:
    """Build (once) and return ``<cache>/register-<N>/`` with register.db + captures.

    Resumable: each finished step is kept — every generated part (``part-<i>.done``), the
    merged files (``merged``), the import (``complete``) — so a run interrupted part-way
    starts again at the step it was in. ``part_size``: generate in parts of that many
    residents, so an interruption loses one part per process at most (default: one part
    per process); ``keep_csv``: keep ``register.csv`` too (to import it into another store,
    e.g. a PostgreSQL schema); ``on_part(parts done, parts)`` replaces the progress lines.
    """
    folder = cache / f"register-{residents}"
    done = folder / "complete"
    if done.exists():
        if keep_csv and not (folder / "register.csv").exists():
            raise SystemExit(
                f"error: the register cache {folder} has no register.csv: delete it to rebuild"
            )
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    verbose = on_part is None
    say: Callable[[str], None] = (lambda line: print(line, flush=True)) if verbose else _quiet
    parts = workers if part_size is None else max(1, -(-residents // part_size))
    # a few spare per part: parts may collide on an ID number
    per = (residents // workers if part_size is None else part_size) + 1000
    prefixes = [str(folder / f"part-{i}") for i in range(parts)]
    merged = folder / "merged"
    if not merged.exists():
        jobs = [
            (1 + i, per, prefixes[i], verbose)
            for i in range(parts)
            if not Path(prefixes[i] + ".done").exists()
        ]
        say(f"generating {residents:,} synthetic residents with {workers} processes ...")
        finished = parts - len(jobs)
        with multiprocessing.Pool(workers, initializer=_ignore_sigint) as pool:
            for job, _ in zip(jobs, pool.imap(_generate_part, jobs), strict=True):
                Path(job[2] + ".done").write_text("done\n")
                finished += 1
                if on_part is not None:
                    on_part(finished, parts)
        say(f"  generated in {time.perf_counter() - start:.0f} s; merging")
        seen: set[str] = set()
        with (
            open(folder / "register.csv.tmp", "w", encoding="utf-8", newline="") as out,
            open(folder / "captures.txt.tmp", "w", encoding="ascii", newline="") as caps_out,
        ):
            out.write(",".join(CSV_COLUMNS) + "\n")
            for prefix in prefixes:
                with (
                    open(prefix + ".csv", encoding="utf-8") as rows,
                    open(prefix + ".captures", encoding="ascii") as caps,
                ):
                    for row, cap in zip(rows, caps, strict=True):
                        if len(seen) >= residents:
                            break
                        id_number = row[:18]
                        if id_number in seen:
                            continue
                        seen.add(id_number)
                        out.write(row)
                        caps_out.write(cap)
        os.replace(folder / "register.csv.tmp", folder / "register.csv")
        os.replace(folder / "captures.txt.tmp", folder / "captures.txt")
        merged.write_text(f"{len(seen)}\n")
        del seen
    say(
        f"  importing {int(merged.read_text()):,} residents into register.db"
        " (SqliteRegister.import_csv)"
    )
    t0 = time.perf_counter()
    db = folder / "register.db"
    db.unlink(missing_ok=True)
    with SqliteRegister(db) as register:
        imported = register.import_csv(folder / "register.csv")
    say(f"  imported {imported:,} in {time.perf_counter() - t0:.0f} s")
    done.write_text(f"{imported}\n")
    for prefix in prefixes:
        for suffix in (".csv", ".captures", ".done"):
            Path(prefix + suffix).unlink(missing_ok=True)
    merged.unlink()
    if not keep_csv:
        (folder / "register.csv").unlink()
    say(f"register cache ready in {time.perf_counter() - start:.0f} s: {folder}")
    return folder


def _quiet(line: str) -> None:
    """Progress lines nobody asked for (a caller that shows its own progress)."""


# -- raw limits ------------------------------------------------------------------------------
def _rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            fn()
        n += 200
    return n / (time.perf_counter() - start)


def raw_limits(seconds: float = 1.0) -> dict[str, float]:
    """One-core rates of the signature and sealing primitives an enrollment uses."""
    message = b"x" * 200
    ed = nacl.signing.SigningKey.generate()
    signed = ed.sign(message)
    p256 = ec.generate_private_key(ec.SECP256R1())
    signature = p256.sign(message, ec.ECDSA(hashes.SHA256()))
    p256_public = p256.public_key()
    escrow = X25519EscrowKey.generate().public()
    return {
        "ed25519_sign": _rate(lambda: ed.sign(message), seconds),
        "ed25519_verify": _rate(lambda: ed.verify_key.verify(signed), seconds),
        "es256_sign": _rate(lambda: p256.sign(message, ec.ECDSA(hashes.SHA256())), seconds),
        "es256_verify": _rate(
            lambda: p256_public.verify(signature, message, ec.ECDSA(hashes.SHA256())), seconds
        ),
        "hpke_seal": _rate(lambda: escrow.seal(message, b"escrow-id"), seconds),
    }


def crypto_ceiling(raw: dict[str, float], cores: int) -> tuple[float, float]:
    """Enrollments/s if signatures and sealing were the only cost (authority, wallet side).

    Authority per enrollment: verify the application (Ed25519), verify the proof JWT
    (Ed25519), sign the credential (ES256), seal the escrow record (HPKE). Wallet: two
    Ed25519 signatures (application, proof JWT).
    """
    authority = 2 / raw["ed25519_verify"] + 1 / raw["es256_sign"] + 1 / raw["hpke_seal"]
    wallet = 2 / raw["ed25519_sign"]
    return cores / authority, cores / wallet


# -- the register (cached) -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Applicant:
    """What a resident's phone holds: the root DID key and what it sends at enrollment."""

    secret: bytes
    did: str
    id_number: str
    name: str
    face: str  # base64url capture


def pick_applicants(
    folder: Path, count: int, seed: int, *, rows: range | None = None
) -> list[tuple[str, str, str]]:
    """``count`` random residents of the cached register: (ID number, name, face capture).

    ``rows``: these rows of the register instead, in its (random) order — a long run takes
    its applicants slice by slice (``count`` and ``seed`` are then unused)."""
    total = int((folder / "complete").read_text())
    if rows is not None:
        if rows.stop > total:
            raise SystemExit(f"asked for register row {rows.stop - 1:,} of {total:,}")
        wanted = set(rows)
    else:
        if count > total:
            raise SystemExit(f"asked for {count:,} enrollments but the register holds {total:,}")
        wanted = set(random.Random(seed).sample(range(total), count))
    picked: list[tuple[str, str]] = []
    last = max(wanted, default=-1)
    with open(folder / "captures.txt", encoding="ascii") as f:
        for i, line in enumerate(f):
            if i in wanted:
                id_number, _, face = line.rstrip("\n").partition(",")
                picked.append((id_number, face))
            if i >= last:
                break
    if rows is None:
        random.Random(seed + 1).shuffle(picked)
    out = []
    with SqliteRegister(folder / "register.db") as register:
        for id_number, face in picked:
            resident = register.lookup(id_number)
            assert resident is not None
            out.append((id_number, resident.family_name + resident.given_name, face))
    return out


# -- root DIDs through an in-process registry node -------------------------------------------
def _make_root_dids(args: tuple[int, int]) -> list[tuple[bytes, bytes]]:
    """(signing secret, canonical create) for ``count`` Ed25519 root DIDs."""
    seed, count = args
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        secret = rng.randbytes(32)
        signing = LocalSigner(KeyType.ED25519, secret)
        update, recovery = (LocalSigner(KeyType.ED25519, rng.randbytes(32)) for _ in range(2))
        create = CreateOperation(
            DocumentContent(
                (PublicKeyEntry("key-1", signing.public_key, ("authentication",)),), ()
            ),
            commitment_of(update.public_key),
            commitment_of(recovery.public_key),
        )
        out.append((secret, ParsedOperation.from_value(to_dict(create)).canonical))
    return out


def make_root_dids(count: int, workers: int, seed: int = 7_000) -> list[tuple[bytes, bytes]]:
    """``count`` root DIDs; the same ``seed`` gives the same DIDs (a node refuses a create
    it anchored already, so a caller submitting twice to one node gives another seed)."""
    chunk = max(1, min(5_000, count // (workers * 4) or 1))
    jobs = [(seed + i, min(chunk, count - i * chunk)) for i in range((count + chunk - 1) // chunk)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return [item for part in pool.map(_make_root_dids, jobs) for item in part]


def issuer_create(signer: Signer) -> bytes:
    update, recovery = LocalSigner.generate(), LocalSigner.generate()
    create = CreateOperation(
        DocumentContent((PublicKeyEntry("key-1", signer.public_key, ("assertionMethod",)),), ()),
        commitment_of(update.public_key),
        commitment_of(recovery.public_key),
    )
    return ParsedOperation.from_value(to_dict(create)).canonical


def anchor_in_process(node: RegistryNode, canonicals: list[bytes], bulk: int = 1000) -> float:
    """Submit like the node's HTTP intake (parse, precheck, durable enqueue, parse cache,
    wake the loop) without HTTP; return seconds until the last one resolves."""
    start = time.perf_counter()
    last: ParsedOperation | None = None
    for i in range(0, len(canonicals), bulk):
        parsed = [ParsedOperation.from_canonical(c) for c in canonicals[i : i + bulk]]
        precheck_all(parsed, node.store)
        node.store.enqueue(parsed, node.clock.now())
        node.parsed.remember(parsed)
        node.notify_queued(len(parsed))
        last = parsed[-1]
    assert last is not None
    deadline = time.monotonic() + 3600
    while node.store.state(last.did.suffix) is None or node.store.queue_length() > 0:
        if time.monotonic() > deadline:
            raise RuntimeError("root DIDs were not anchored in time")
        time.sleep(0.01)
    return time.perf_counter() - start


# -- the authority, wired like _runtime.py but resolving in process ---------------------------
class IndexResolver(DocumentKeyResolver):
    """A ``DidKeyResolver`` over the registry node's index (what a resolver replica reads),
    rendering documents with ``realdid.did.render_document``: no HTTP."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store

    def document(self, did: str) -> dict[str, Any]:
        try:
            parsed = Did.parse(did)
        except DidError as e:
            raise DidKeyError("invalid-did", "kid does not name a did:realdid DID") from e
        state = self._store.state(parsed.suffix)
        if state is None:
            raise DidKeyError("did-not-found", "the DID is not (yet) anchored in the registry")
        if state.deactivated:
            raise DidKeyError("did-deactivated", "the DID is deactivated")
        return render_document(parsed, state)


@dataclass(frozen=True, slots=True)
class BenchIssuer:
    """``IssuerIdentity``: the authority's P-256 DID, anchored on the bench node."""

    did: str
    key_id: str
    signer: Signer


@dataclass(frozen=True, slots=True)
class Setup:
    tmp: str
    register_db: str
    node_db: str
    issuer_secret: bytes
    issuer_did: str


def build_authority(setup: Setup, shard: str) -> Authority:
    tmp = Path(setup.tmp)
    data = tmp / f"authority-{shard}"
    data.mkdir()
    clock = SystemClock()
    db = AuthorityDatabase(data / "authority.db")
    return Authority(
        config=AuthorityConfig(issuer_url=ISSUER_URL),
        db=db,
        secrets=ServiceSecrets.load_or_create(tmp / "service-secrets"),
        escrow=X25519EscrowPublicKey.load(tmp / "escrow-public.jwk"),
        register=SqliteRegister(setup.register_db, clock=clock),
        business_register=SqliteBusinessRegister(data / "business.db", clock=clock),
        faces=SimulatedFaceMatcher(),
        resolver=IndexResolver(RegistryStore(Path(setup.node_db))),
        issuer=BenchIssuer(
            setup.issuer_did,
            f"{setup.issuer_did}#key-1",
            LocalSigner(KeyType.P256, setup.issuer_secret),
        ),
        clock=clock,
    )


# -- one enrollment, authority and wallet work timed apart ----------------------------------
AUTHORITY_PHASES = ("challenge", "enroll", "token", "nonce", "credential")
WALLET_PHASES = ("sign_application", "proof_jwt", "parse")


@dataclass(slots=True)
class Timings:
    phases: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(AUTHORITY_PHASES + WALLET_PHASES, 0.0)
    )
    latencies: list[float] = field(default_factory=list)

    @property
    def authority(self) -> float:
        return sum(self.phases[p] for p in AUTHORITY_PHASES)

    @property
    def wallet(self) -> float:
        return sum(self.phases[p] for p in WALLET_PHASES)


def enroll_one(authority: Authority, a: Applicant, t: Timings, client: str) -> str:
    """challenge -> sign_application -> enroll -> token -> nonce -> proof JWT -> credential."""
    ph = t.phases
    t0 = time.perf_counter()
    nonce, _ = authority.challenge()
    t1 = time.perf_counter()
    signer = LocalSigner(KeyType.ED25519, a.secret)
    key_id = f"{a.did}#key-1"
    application = sign_application(
        signer,
        key_id=key_id,
        typ=ENROLLMENT_TYP,
        audience=ISSUER_URL,
        nonce=nonce,
        issued_at=int(time.time()),
        claims={"id_number": a.id_number, "name": a.name, "face": a.face},
    )
    t2 = time.perf_counter()
    offer = authority.enroll(application, client=client)
    t3 = time.perf_counter()
    parsed = CredentialOffer.from_dict(offer.offer)
    form = TokenRequest(parsed.pre_authorized_code).to_form()
    t4 = time.perf_counter()
    token_body = authority.token(form)
    t5 = time.perf_counter()
    nonce_body = authority.nonce()
    t6 = time.perf_counter()
    access_token = TokenResponse.from_dict(token_body).access_token
    c_nonce = NonceResponse.from_dict(nonce_body).c_nonce
    proof = make_proof_jwt(
        signer, key_id=key_id, audience=parsed.issuer, nonce=c_nonce, issued_at=int(time.time())
    )
    request = CredentialRequest(parsed.configuration_ids[0], (proof,)).to_dict()
    t7 = time.perf_counter()
    answer = authority.credential(access_token, request)
    t8 = time.perf_counter()
    credential = CredentialResponse.from_dict(answer).credentials[0]
    t9 = time.perf_counter()
    ph["challenge"] += t1 - t0
    ph["sign_application"] += t2 - t1
    ph["enroll"] += t3 - t2
    ph["parse"] += (t4 - t3) + (t9 - t8)
    ph["token"] += t5 - t4
    ph["nonce"] += t6 - t5
    ph["proof_jwt"] += t7 - t6
    ph["credential"] += t8 - t7
    t.latencies.append(t9 - t0)
    return credential


def run_shard(
    setup: Setup,
    shard: int,
    applicants: list[Applicant],
    warmup: list[Applicant],
    barrier: Any,
    results: Any,
) -> None:
    """A worker process: its own authority database shard, then enroll its applicants."""
    authority = build_authority(setup, str(shard))
    client = f"bench-client-{shard}"
    for a in warmup:
        enroll_one(authority, a, Timings(), client)
    t = Timings()
    barrier.wait()
    started = time.time()
    sample = ""
    for a in applicants:
        sample = enroll_one(authority, a, t, client)
    ended = time.time()
    results.put(
        {
            "shard": shard,
            "count": len(applicants),
            "started": started,
            "ended": ended,
            "phases": t.phases,
            "latencies": t.latencies,
            "sample": sample,
        }
    )


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def bench_enrollment(
    setup: Setup, applicants: list[Applicant], warmup: list[Applicant], workers: int
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    per_warm = len(warmup) // workers
    procs = [
        ctx.Process(
            target=run_shard,
            args=(
                setup,
                i,
                applicants[i::workers],
                warmup[i * per_warm : (i + 1) * per_warm],
                barrier,
                results,
            ),
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    shards = [results.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join(60)
        if p.exitcode != 0:
            raise RuntimeError(f"enrollment worker failed with exit code {p.exitcode}")
    count = sum(s["count"] for s in shards)
    wall = max(s["ended"] for s in shards) - min(s["started"] for s in shards)
    phases = {k: sum(s["phases"][k] for s in shards) for k in AUTHORITY_PHASES + WALLET_PHASES}
    authority_rate = sum(s["count"] / sum(s["phases"][p] for p in AUTHORITY_PHASES) for s in shards)
    wallet_rate = sum(s["count"] / sum(s["phases"][p] for p in WALLET_PHASES) for s in shards)
    latencies = sorted(x for s in shards for x in s["latencies"])
    return {
        "enrollments": count,
        "workers": workers,
        "elapsed_s": wall,
        "rate": count / wall,
        "authority_rate": authority_rate,
        "wallet_rate": wallet_rate,
        "phase_us": {k: v / count * 1e6 for k, v in phases.items()},
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "sample": shards[0]["sample"],
    }


def check_credential(sd_jwt: str, issuer_did: str, issuer_public: PublicKey) -> dict[str, Any]:
    """Decode the issuer-signed JWT of one issued credential and check its signature."""
    jws = sd_jwt.split("~", 1)[0]
    header_b64, payload_b64, signature_b64 = jws.split(".")

    def b64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    header = json.loads(b64(header_b64))
    payload: dict[str, Any] = json.loads(b64(payload_b64))
    if header.get("alg") != "ES256" or payload.get("iss") != issuer_did:
        raise RuntimeError(f"unexpected credential header/issuer: {header}")
    issuer_public.verify(f"{header_b64}.{payload_b64}".encode(), b64(signature_b64))
    return payload


# -- profile -------------------------------------------------------------------------------
def profile_enrollments(setup: Setup, applicants: list[Applicant], top: int = 22) -> str:
    authority = build_authority(setup, "profile")
    for a in applicants[:50]:
        enroll_one(authority, a, Timings(), "bench-profile")
    profiler = cProfile.Profile()
    t = Timings()
    profiler.enable()
    for a in applicants[50:]:
        enroll_one(authority, a, t, "bench-profile")
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(
        r"_service.py.*\((challenge|enroll|_enroll_subject|token|nonce|credential|_application"
        r"|_write_escrow|_offer_credential|_allocate_status|_offer|_spend_challenge|_fail"
        r"|_require_unlocked)\)|_register.py.*\((lookup|compare|validate_id_number)\)"
        r"|_sdjwt.py.*\(issue\)|transaction|append"
    )
    return out.getvalue()


# -- HTTP variant ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, ok: Callable[[httpx.Response], bool], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok(httpx.get(url, timeout=2)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def bench_http(
    register_db: Path,
    roots: list[tuple[bytes, bytes]],
    picks: list[tuple[str, str, str]],
    clients: int,
    serve_workers: int,
) -> dict[str, Any]:
    """The full sequence through ``realdid serve --authority-port --workers N`` (node +
    authority over HTTP)."""
    with tempfile.TemporaryDirectory(prefix="realdid-bench-enroll-http-") as tmp:
        data = Path(tmp) / "node"
        (data / "authority").mkdir(parents=True)
        shutil.copyfile(register_db, data / "authority" / "register.db")
        port, authority_port = free_port(), free_port()
        log = (Path(tmp) / "serve.log").open("wb")
        proc = subprocess.Popen(
            [
                str(REALDID),
                "serve",
                "--data-dir",
                str(data),
                "--port",
                str(port),
                "--authority-port",
                str(authority_port),
                "--batch-interval",
                "0.2",
                "--workers",
                str(serve_workers),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "REALDID_AUTHORITY_PASSPHRASE": "bench-passphrase",
                "REALDID_RATE_LIMITS__EXEMPT": "127.0.0.1",  # the one load client
            },
        )
        node_url = f"http://127.0.0.1:{port}"
        base = f"http://127.0.0.1:{authority_port}"
        try:
            wait_http(f"{node_url}/healthz", lambda r: r.status_code == 200)
            wait_http(
                f"{base}/.well-known/openid-credential-issuer", lambda r: r.status_code == 200
            )
            result = enroll_over_http(node_url, base, roots, picks, clients)
        finally:
            proc.terminate()
            proc.wait(30)
    return result


def enroll_over_http(
    node_url: str,
    base: str,
    roots: list[tuple[bytes, bytes]],
    picks: list[tuple[str, str, str]],
    clients: int,
    warmup: int = 100,
) -> dict[str, Any]:
    """Against a running ``realdid serve``: anchor ``roots`` through the node at
    ``node_url`` (bulk submissions; ``anchor_s`` until the last resolves), then the full
    wallet sequence at the authority ``base`` for each of them, the first ``warmup``
    untimed, from ``clients`` threads."""
    issuer = httpx.get(f"{base}/.well-known/openid-credential-issuer").json()
    audience = str(issuer["credential_issuer"])
    start = time.perf_counter()
    with httpx.Client(base_url=node_url, timeout=120) as http:
        for i in range(0, len(roots), 1000):
            body = b"[" + b",".join(c for _, c in roots[i : i + 1000]) + b"]"
            r = http.post(
                "/1.0/operations",
                content=body,
                headers={"content-type": "application/json"},
            )
            if r.status_code != 202:
                raise RuntimeError(f"submission refused: {r.status_code} {r.text[:200]}")
        last = str(ParsedOperation.from_canonical(roots[-1][1]).did)
        while http.get(f"/1.0/identifiers/{last}").status_code != 200:
            time.sleep(0.02)
    anchor_s = time.perf_counter() - start
    applicants = [
        Applicant(secret, str(ParsedOperation.from_canonical(c).did), *pick)
        for (secret, c), pick in zip(roots, picks, strict=True)
    ]

    def enroll_http(http: httpx.Client, a: Applicant) -> float:
        t0 = time.perf_counter()
        signer = LocalSigner(KeyType.ED25519, a.secret)
        key_id = f"{a.did}#key-1"
        r = http.post("/1.0/challenges")
        nonce = r.json()["nonce"]
        application = sign_application(
            signer,
            key_id=key_id,
            typ=ENROLLMENT_TYP,
            audience=audience,
            nonce=nonce,
            issued_at=int(time.time()),
            claims={"id_number": a.id_number, "name": a.name, "face": a.face},
        )
        r = http.post("/1.0/enrollments", json={"application": application})
        if r.status_code != 201:
            raise RuntimeError(f"enrollment refused: {r.status_code} {r.text[:300]}")
        offer = CredentialOffer.from_dict(r.json()["credential_offer"])
        r = http.post("/oid4vci/token", data=TokenRequest(offer.pre_authorized_code).to_form())
        access_token = TokenResponse.from_dict(r.json()).access_token
        c_nonce = NonceResponse.from_dict(http.post("/oid4vci/nonce").json()).c_nonce
        proof = make_proof_jwt(
            signer,
            key_id=key_id,
            audience=offer.issuer,
            nonce=c_nonce,
            issued_at=int(time.time()),
        )
        r = http.post(
            "/oid4vci/credential",
            json=CredentialRequest(offer.configuration_ids[0], (proof,)).to_dict(),
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if r.status_code != 200:
            raise RuntimeError(f"credential refused: {r.status_code} {r.text[:300]}")
        CredentialResponse.from_dict(r.json())
        return time.perf_counter() - t0

    def worker(part: list[Applicant]) -> list[float]:
        with httpx.Client(base_url=base, timeout=60) as http:
            return [enroll_http(http, a) for a in part]

    warm, timed = applicants[:warmup], applicants[warmup:]
    worker(warm)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(worker, [timed[i::clients] for i in range(clients)]))
    elapsed = time.perf_counter() - start
    latencies = sorted(x for part in parts for x in part)
    return {
        "enrollments": len(timed),
        "clients": clients,
        "anchor_s": anchor_s,
        "elapsed_s": elapsed,
        "rate": len(timed) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


# -- main -------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--residents", type=int, default=1_000_000, help="synthetic residents in the register"
    )
    parser.add_argument("--enrollments", type=int, default=20_000, help="residents to enroll")
    parser.add_argument("--workers", type=int, default=2, help="authority worker processes")
    parser.add_argument(
        "--profile", type=int, default=1_000, help="enrollments to run under cProfile (0: skip)"
    )
    parser.add_argument("--http", action="store_true", help="also run the HTTP variant")
    parser.add_argument("--http-enrollments", type=int, default=2_000)
    parser.add_argument("--http-clients", type=int, default=3)
    parser.add_argument(
        "--serve-workers", type=int, default=2, help="worker processes of realdid serve (--http)"
    )
    parser.add_argument(
        "--prepare-only", action="store_true", help="only build the register cache, then exit"
    )
    args = parser.parse_args()

    folder = register_cache(args.residents)
    if args.prepare_only:
        return
    cores = os.cpu_count() or 1
    print(f"RealDID enrollment benchmark on {cores} cores, Python {sys.version.split()[0]}")
    raw = raw_limits()
    ceiling, wallet_ceiling = crypto_ceiling(raw, min(cores, args.workers))
    print(
        f"raw limit   PyNaCl Ed25519: {raw['ed25519_sign']:,.0f} signs/s, "
        f"{raw['ed25519_verify']:,.0f} verifies/s; P-256 ES256 (cryptography): "
        f"{raw['es256_sign']:,.0f} signs/s, {raw['es256_verify']:,.0f} verifies/s; "
        f"HPKE X25519 seal {raw['hpke_seal']:,.0f}/s (one core)"
    )
    print(
        f"crypto ceiling  {ceiling:,.0f} enrollments/s authority side on {min(cores, args.workers)} "
        f"cores (2 Ed25519 verifies + 1 ES256 sign + 1 HPKE seal each); "
        f"wallet side {wallet_ceiling:,.0f}/s (2 Ed25519 signs)"
    )

    warm_each = 200
    extra = warm_each * args.workers + (args.profile + 50 if args.profile else 0)
    total = args.enrollments + extra
    with SqliteRegister(folder / "register.db") as register:
        residents = register.count()
    picks = pick_applicants(folder, total + (args.http_enrollments if args.http else 0), seed=4)
    roots = make_root_dids(total, max(1, min(cores, 2)))

    with tempfile.TemporaryDirectory(prefix="realdid-bench-enroll-") as tmp:
        node = RegistryNode(NodeConfig(Path(tmp) / "node", batch_interval=0.2))
        node.start()
        try:
            issuer_signer = LocalSigner.generate(KeyType.P256)
            issuer_op = issuer_create(issuer_signer)
            canonicals = [issuer_op] + [c for _, c in roots]
            anchor_s = anchor_in_process(node, canonicals)
            print(
                f"root DIDs   {len(canonicals) / anchor_s:,.0f} DID creations/s submitted in process -> "
                f"anchored and resolvable ({len(canonicals):,} ops in {anchor_s:.2f} s) "
                f"| raw limit {raw['ed25519_verify']:,.0f} verifies/s"
            )
            ServiceSecrets.load_or_create(Path(tmp) / "service-secrets")
            X25519EscrowKey.generate().public().save(Path(tmp) / "escrow-public.jwk")
            setup = Setup(
                tmp=tmp,
                register_db=str(folder / "register.db"),
                node_db=str(Path(tmp) / "node" / "node.db"),
                issuer_secret=issuer_signer.secret_bytes(),
                issuer_did=str(ParsedOperation.from_canonical(issuer_op).did),
            )
            applicants = [
                Applicant(secret, str(ParsedOperation.from_canonical(c).did), *pick)
                for (secret, c), pick in zip(roots, picks, strict=False)
            ]
            warmup = applicants[: warm_each * args.workers]
            profiled = applicants[len(warmup) : extra]
            timed = applicants[extra:]
            result = bench_enrollment(setup, timed, warmup, args.workers)
            payload = check_credential(
                result.pop("sample"), setup.issuer_did, issuer_signer.public_key
            )
            ph = result["phase_us"]
            print(
                f"enrollment  {result['rate']:,.0f} residents enrolled/s, full pipeline incl. wallet signing "
                f"({result['enrollments']:,} in {result['elapsed_s']:.2f} s, {args.workers} processes, "
                f"register {residents:,} residents; p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms "
                f"per enrollment) | raw limit {raw['ed25519_verify']:,.0f} verifies/s, "
                f"{raw['es256_sign']:,.0f} ES256 signs/s"
            )
            print(
                f"authority   {result['authority_rate']:,.0f} enrollments/s authority side "
                f"(wallet work excluded; wallet side alone {result['wallet_rate']:,.0f}/s) "
                f"| crypto ceiling {ceiling:,.0f}/s"
            )
            print(
                "per enrollment (µs, one core): "
                + ", ".join(f"{k} {v:,.0f}" for k, v in ph.items())
            )
            print(
                f"check       sample credential: ES256 signature verified, vct {payload.get('vct')}, "
                f"{len(payload.get('_sd', []))} selectively disclosable claims"
            )
            combined = result["enrollments"] / (
                anchor_s * result["enrollments"] / len(canonicals) + result["elapsed_s"]
            )
            print(
                f"combined    {combined:,.0f} residents/s from nothing to credential "
                f"(root DID anchoring then enrollment, run one after the other)"
            )
            prof = ""
            if args.profile:
                prof = profile_enrollments(setup, profiled)
                print(f"profile     {args.profile:,} enrollments in one process (cProfile):")
                print(prof)
        finally:
            node.stop()

    http_result = None
    if args.http:
        http_roots = make_root_dids(args.http_enrollments + 100, max(1, min(cores, 2)))
        http_picks = pick_applicants(folder, len(http_roots), seed=44)
        http_result = bench_http(
            folder / "register.db", http_roots, http_picks, args.http_clients, args.serve_workers
        )
        print(
            f"http        {http_result['rate']:,.0f} residents enrolled/s over HTTP "
            f"({http_result['enrollments']:,} with {http_result['clients']} client threads, "
            f"node + authority in `realdid serve --workers {args.serve_workers}`; p50 {http_result['p50_ms']:.2f} ms, "
            f"p99 {http_result['p99_ms']:.2f} ms) | raw limit {raw['ed25519_verify']:,.0f} verifies/s"
        )
    print(
        json.dumps(
            {
                "raw": raw,
                "ceiling": ceiling,
                "anchor_s": anchor_s,
                "enrollment": result,
                "combined": combined,
                "http": http_result,
            }
        )
    )


if __name__ == "__main__":
    main()
