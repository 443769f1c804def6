"""Simulated residents: their keys, the register rows they enroll with, and the state file.

**Keys.** A simulated resident is a random 64-byte seed, the size of the BIP-39 seed a
real wallet holds. Every key is derived from it with the wallet's own function
(:func:`realdid.controller.derive_signer`) on the wallet's own paths: the root DID is
``did/ed25519/0/{signing,update,recovery}/<n>`` and the DID for a site is
``site/ed25519/<site_tag(rp_did)>/...`` (ADR 0012). Create operations have the shape
``realdid wallet did create`` submits, so the platform sees what a real wallet sends; only
the seed is not from a recovery phrase (that would cost a PBKDF2 per resident and buy
nothing here).

**Register rows.** Enrolling needs what a resident types at the authority: the ID number,
the name (family then given name, as the register has it) and the face capture. They come
from the register CSV the authority imported (``realdid authority register generate --out
residents.csv --captures captures.csv``) and the captures sidecar written with it. They
are held in memory only and never printed or written: the state file names residents by
their row number in the CSV.

**The state file** (JSON, mode 0600) is the pool ``prepare`` built: per resident its seed,
root DID and DID-update position, and per site the site DID and its SiteProof credential.
The seeds are private keys of synthetic residents on the deployment under test; the
site proofs hold the claims a site proof carries (``verified_person``, age bands,
province), no name and no ID number.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from realdid.controller import derive_signer, site_tag
from realdid.crypto import KeyType, LocalSigner
from realdid.did import CreateOperation, DocumentContent, PublicKeyEntry, commitment_of

from .mix import SpecError

STATE_VERSION = 1
#: The purposes a wallet gives its DID signing keys (``realdid.controller``'s create).
SIGNING_PURPOSES = ("authentication", "assertionMethod", "capabilityInvocation")
SEED_BYTES = 64
KEY_TYPE = KeyType.ED25519


# -- keys and create operations ---------------------------------------------------------------
def root_base() -> str:
    """The wallet's derivation base of its first ordinary DID (index 0, Ed25519)."""
    return f"did/{KEY_TYPE.value.lower()}/0"


def site_base(rp_did: str) -> str:
    """The wallet's derivation base of its DID for the relying party ``rp_did``."""
    return f"site/{KEY_TYPE.value.lower()}/{site_tag(rp_did)}"


def derive(seed: bytes, base: str, role: str, counter: int = 0) -> LocalSigner:
    """Key ``role``/``counter`` under ``base`` (``signing``, ``update`` or ``recovery``)."""
    return derive_signer(seed, f"{base}/{role}/{counter}", KEY_TYPE)


def create_operation(seed: bytes, base: str) -> CreateOperation:
    """The create operation of the DID at ``base``: one signing key ``key-1``, commitments
    to update and recovery key 0 (what the wallet's ``initial_create`` builds)."""
    signing = derive(seed, base, "signing")
    return CreateOperation(
        DocumentContent((PublicKeyEntry("key-1", signing.public_key, SIGNING_PURPOSES),), ()),
        commitment_of(derive(seed, base, "update").public_key),
        commitment_of(derive(seed, base, "recovery").public_key),
    )


def new_seed() -> bytes:
    return os.urandom(SEED_BYTES)


# -- register rows (personal data: memory only) ----------------------------------------------
@dataclass(frozen=True, slots=True)
class Applicant:
    """What one resident gives the authority to enroll: row ``row`` of the register CSV."""

    row: int
    id_number: str
    name: str
    face: str

    def __repr__(self) -> str:  # never print personal data, not even in a traceback
        return f"Applicant(row={self.row})"


def file_digest(path: Path) -> str:
    """SHA-256 of a file: ties a state file's row numbers to one register CSV."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_applicants(residents: Path, captures: Path) -> list[Applicant]:
    """Every row of the register CSV with its face capture from the captures sidecar."""
    try:
        with captures.open(encoding="ascii") as f:
            faces = dict(
                line.rstrip("\n").split(",", 1) for line in f if line.strip() and "," in line
            )
    except OSError as e:
        raise SpecError(f"--captures: cannot read {captures}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise SpecError(f"--captures: {captures} is not an id_number,capture file") from None
    applicants: list[Applicant] = []
    try:
        with residents.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"id_number", "family_name", "given_name"} - set(reader.fieldnames or ())
            if missing:
                raise SpecError(
                    f"--residents: {residents} is not a register CSV"
                    f" (no {', '.join(sorted(missing))} column)"
                )
            for row, record in enumerate(reader):
                face = faces.get(record["id_number"])
                if face is None:
                    raise SpecError(
                        f"--captures: no face capture for row {row} of {residents}:"
                        " give the captures file generated with this register"
                    )
                applicants.append(
                    Applicant(
                        row,
                        record["id_number"],
                        record["family_name"] + record["given_name"],
                        face.strip(),
                    )
                )
    except OSError as e:
        raise SpecError(f"--residents: cannot read {residents}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise SpecError(f"--residents: {residents} is not UTF-8 CSV") from None
    if not applicants:
        raise SpecError(f"--residents: {residents} holds no residents")
    return applicants


# -- the pool (the state file) -----------------------------------------------------------------
@dataclass(slots=True)
class SiteAccount:
    """A resident's DID for one site and the site proof the authority issued for it."""

    did: str
    proof: str
    expires_at: int


@dataclass(slots=True)
class PooledResident:
    """An enrolled resident: its seed, root DID and where its DID updates have got to."""

    row: int
    seed: str  # hex
    root_did: str
    update_counter: int = 0  # the update key the next update reveals
    previous: str = ""  # hash of the DID's last submitted operation
    has_service: bool = False  # whether the last update added the load generator's service
    sites: dict[str, SiteAccount] = field(default_factory=dict)

    @property
    def seed_bytes(self) -> bytes:
        return bytes.fromhex(self.seed)


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """A relying party the residents log in to: its URL, DID and what it asks for."""

    url: str
    rp_did: str
    name: str
    credential_type: str
    claims: tuple[str, ...]


@dataclass(slots=True)
class PoolState:
    node: str
    authority: str
    issuer: str
    residents_file: str
    captures_file: str
    residents_digest: str
    sites: dict[str, SiteInfo] = field(default_factory=dict)
    residents: list[PooledResident] = field(default_factory=list)
    created_at: int = field(default_factory=lambda: int(time.time()))
    updated_at: int = field(default_factory=lambda: int(time.time()))

    def to_dict(self) -> dict[str, Any]:
        value = asdict(self)
        value["version"] = STATE_VERSION
        return value

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> PoolState:
        if value.get("version") != STATE_VERSION:
            raise SpecError(f"state file version {value.get('version')!r} is not {STATE_VERSION}")
        residents = []
        for item in value["residents"]:
            sites = {url: SiteAccount(**account) for url, account in item.pop("sites").items()}
            residents.append(PooledResident(**item, sites=sites))
        site_infos = {
            url: SiteInfo(**{**info, "claims": tuple(info["claims"])})
            for url, info in value["sites"].items()
        }
        fields = {k: v for k, v in value.items() if k not in ("version", "residents", "sites")}
        return cls(**fields, sites=site_infos, residents=residents)

    def pooled_rows(self) -> set[int]:
        return {r.row for r in self.residents}


def load_state(path: Path) -> PoolState:
    """The pool in ``path``; :class:`SpecError` naming the file if it is missing or unusable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"no state file {path}: run the prepare command first") from None
    except (OSError, ValueError) as e:
        raise SpecError(f"cannot read the state file {path}: {e}") from None
    try:
        return PoolState.from_dict(value)
    except (KeyError, TypeError, AttributeError) as e:
        raise SpecError(f"{path} is not a load-generator state file ({e})") from None


def save_state(path: Path, state: PoolState) -> None:
    """Write ``state`` atomically (temporary file, fsync, rename), readable by the owner only."""
    state.updated_at = int(time.time())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state.to_dict(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
