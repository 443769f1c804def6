"""Fuzz targets: one harness per parser that takes outside input (issue "Fuzzing").

Each :class:`Target` turns arbitrary bytes into calls of the real entry points a node, a
wallet, a relying party or the authority runs on what arrives from outside, and declares
the errors those entry points document as *refusals* (each package's error root, or the
precise subclass the code promises). A refusal is the parser doing its job; anything else
escaping — ``KeyError``, ``TypeError``, ``IndexError``, ``RecursionError``, an undeclared
``ValueError``, a broken invariant — is a finding, and so is a hang (the fuzzer's
per-input timeout). The same harnesses run three ways:

* ``tests/fuzz/test_fuzz.py`` replays the checked-in corpus and runs a short Hypothesis
  search per target (part of ``make test``);
* ``scripts/fuzz.py --seconds N`` runs each target under atheris (coverage-guided
  libFuzzer) or, without atheris, a long Hypothesis search, and records findings;
* ``scripts/fuzz_seeds.py`` builds the seed corpus with the same keys and identities.

Signed formats get an *envelope* mode so that the fuzzer reaches the code behind the
signature check: when the input is a JSON array ``[header, payload, ...]`` the harness signs
it with the key the verifier trusts and feeds the result to the parser, so hostile claims,
disclosures and status lists are exercised, not only hostile signatures. Every key is
derived from a fixed label, so seeds and reproducers are stable across runs and machines.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from realdid import ijson
from realdid.authority import (
    RegisterImportError,
    SqliteBusinessRegister,
    SqliteRegister,
)
from realdid.clock import FixedClock
from realdid.credentials import (
    CREDENTIAL_FORMAT,
    AuthorizationRequest,
    AuthorizationResponse,
    CredentialError,
    CredentialQuery,
    DcqlQuery,
    StatusList,
    authorization_url,
    client_id_for,
    issue,
    parse_authorization_url,
    parse_status_reference,
    peek_sd_jwt_unverified,
    present,
    sign_request_object,
    status_reference,
    verify,
    verify_proof_jwt,
    verify_status_list,
)
from realdid.credentials._jws import CompactJws, json_bytes, sign_compact
from realdid.crypto import (
    DEFAULT_POLICY,
    KeyType,
    LocalSigner,
    PublicKey,
    Signer,
    b64url_encode,
    sha256,
)
from realdid.did import (
    AnchorPoint,
    CreateOperation,
    Did,
    DidError,
    DidState,
    DocumentContent,
    ParsedOperation,
    PublicKeyEntry,
    ServiceEntry,
    apply_operation,
    commitment_of,
    operation_suffix,
    resolution_result,
    verification_key,
    verify_operation_signature,
)
from realdid.http import HttpError, parse_form, parse_problem
from realdid.ledger import InvalidBatchError, decode_batch, encode_batch, merkle_tree_of
from realdid.registry import NodeClientError, RegistryClient, ResolutionResult
from realdid.wallet import LoginFlowError
from realdid.wallet._login_request import RpChannel, code_url

__all__ = ["CORPUS", "FINDINGS", "TARGETS", "InvariantError", "Target", "corpus_of", "run_one"]

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS = FUZZ_DIR / "corpus"
FINDINGS = FUZZ_DIR / "findings"

#: The verifiers' clock: every seed is valid at this instant.
NOW = 1_800_000_000
CLOCK = FixedClock(NOW)
ISSUER_URL = "https://authority.realdid.example"
STATUS_URI = "https://authority.realdid.example/status/1"
RP_ORIGIN = "https://rp.realdid.example"
REQUEST_URI = RP_ORIGIN + "/oid4vp/requests/r-1"
CODE_URL = RP_ORIGIN + "/oid4vp/codes/ABCD-EFGH"
NONCE = "n-fuzz-1"
_T = TypeVar("_T")


class InvariantError(AssertionError):
    """A harness invariant broke: the parser accepted something it documents it refuses,
    or a refusal lacks the stable ``code`` services answer it with."""


# -- fixed keys and identities ----------------------------------------------------------------
def _secret(label: str) -> bytes:
    return hashlib.sha256(b"realdid-fuzz:" + label.encode()).digest()


class DeterministicP256Signer:
    """A P-256 :class:`~realdid.crypto.Signer` with RFC 6979 nonces (low-S, 64 bytes), so the
    ES256 seeds rebuild byte for byte; :class:`LocalSigner` draws a fresh nonce each time."""

    def __init__(self, secret: bytes) -> None:
        self._public = LocalSigner(KeyType.P256, secret).public_key
        self._private = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        der = self._private.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        s = min(s, order - s)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass(frozen=True)
class Identity:
    """A DID made by a real create operation, its signing key ``#key-1`` and its state."""

    signer: Signer
    update: LocalSigner
    recovery: LocalSigner
    create: CreateOperation
    state: DidState
    document: dict[str, Any]

    @property
    def did(self) -> str:
        return str(self.create.did)

    @property
    def kid(self) -> str:
        return self.did + "#key-1"


def identity(label: str, signer: Signer, *, service: bool = False) -> Identity:
    key = PublicKeyEntry(
        "key-1", signer.public_key, ("authentication", "assertionMethod", "capabilityInvocation")
    )
    services = (ServiceEntry("hub", "LinkedDomains", "https://hub.example/" + label),)
    content = DocumentContent((key,), services if service else ())
    update = LocalSigner(KeyType.ED25519, _secret(label + "/update"))
    recovery = LocalSigner(KeyType.ED25519, _secret(label + "/recovery"))
    create = CreateOperation(
        content, commitment_of(update.public_key), commitment_of(recovery.public_key)
    )
    parsed = ParsedOperation.from_value(create.to_dict())
    state = apply_operation(None, create, parsed.hash, AnchorPoint(1, 0, NOW - 1000))
    return Identity(signer, update, recovery, create, state, content.render(str(create.did)))


AUTHORITY = identity("authority", LocalSigner(KeyType.ED25519, _secret("authority")))
HOLDER = identity("holder", DeterministicP256Signer(_secret("holder")))
RP = identity("rp", LocalSigner(KeyType.ED25519, _secret("rp")))
ALICE = identity("alice", LocalSigner(KeyType.ED25519, _secret("alice")), service=True)
IDENTITIES = {i.did: i for i in (AUTHORITY, HOLDER, RP, ALICE)}
RP_CLIENT_ID = client_id_for(RP.did)
AUTHORIZATION_URL = authorization_url(RP_CLIENT_ID, REQUEST_URI)


def salts(label: str) -> Callable[[], bytes]:
    """A deterministic ``salt()`` for :func:`~realdid.credentials.issue` (seeds only)."""
    counter = iter(range(1 << 30))
    return lambda: _secret(f"{label}/salt/{next(counter)}")[:16]


#: The real SD-JWT VC every credential seed starts from (no KB-JWT): synthetic claims.
CREDENTIAL = issue(
    {
        "family_name": "Wang",
        "given_name": "Li",
        "age_over_18": True,
        "address": {"locality": "Beijing", "country": "CN"},
        "nationalities": ["CN"],
    },
    selectively_disclosable={"family_name", "given_name", "address", "nationalities"},
    issuer=AUTHORITY.did,
    signer=AUTHORITY.signer,
    key_id=AUTHORITY.kid,
    holder_jwk=HOLDER.signer.public_key.to_jwk(),
    vct="urn:realdid:RealName",
    issued_at=NOW - 100,
    expires_at=NOW + 1_000_000,
    salt=salts("credential"),
    status=status_reference(STATUS_URI, 7),
    subject=HOLDER.did,
)


def document_key(kid: str, purpose: str) -> PublicKey:
    """A DID URL's key, as the services resolve it: from the DID's current document, listed
    for ``purpose``; :class:`LookupError` otherwise (what every caller's resolver raises)."""
    found = IDENTITIES.get(kid.partition("#")[0])
    key = None if found is None else verification_key(found.document, kid, purpose=purpose)
    if key is None:
        raise LookupError("no such key")
    return key


def issuer_keys(iss: str, kid: str) -> PublicKey:
    """The relying party's rule: ``kid`` is a key of ``iss`` itself, for assertions."""
    if kid.partition("#")[0] != iss:
        raise LookupError("kid is not a key of iss")
    return document_key(kid, "assertionMethod")


#: The RP's real signed request object (OpenID4VP 1.0 section 5), served at REQUEST_URI.
REQUEST_OBJECT = sign_request_object(
    AuthorizationRequest(
        client_id=RP_CLIENT_ID,
        response_uri=RP_ORIGIN + "/oid4vp/responses",
        nonce=NONCE,
        state="s-1",
        dcql_query=DcqlQuery(
            (CredentialQuery("real_name", ("urn:realdid:RealName",), ("family_name",)),)
        ),
        verifier_info=({"format": CREDENTIAL_FORMAT, "data": CREDENTIAL},),
        client_name="Forum",
        issued_at=NOW - 10,
        expires_at=NOW + 290,
    ),
    signer=RP.signer,
    key_id=RP.kid,
)


# -- running one input ------------------------------------------------------------------------
def attempt(
    refusals: tuple[type[BaseException], ...], call: Callable[..., _T], *args: Any, **kwargs: Any
) -> _T | None:
    """``call(*args, **kwargs)``; ``None`` when it refuses with one of ``refusals``.

    A refusal must carry the stable, non-empty ``code`` that services map onto their
    problem types; one without it is a :class:`InvariantError`. Any other exception propagates.
    """
    try:
        return call(*args, **kwargs)
    except refusals as e:
        code = getattr(e, "code", None)
        if not isinstance(code, str) or not code:
            raise InvariantError(f"{type(e).__name__} refusal without a code") from e
        return None


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _envelope(data: bytes, size: int) -> list[Any] | None:
    """The JSON array ``[header, payload, ...]`` of an envelope input, else ``None``."""
    if not data.startswith(b"["):
        return None
    try:
        value = ijson.loads(data)
    except ijson.IJsonError:
        return None
    if (
        isinstance(value, list)
        and len(value) == size
        and isinstance(value[0], dict)
        and isinstance(value[1], dict)
    ):
        return value
    return None


def _signed(header: Mapping[str, Any], payload: Mapping[str, Any], signer: Signer) -> str | None:
    """``sign_compact`` of hostile JSON; ``None`` if it is not serialisable as JSON text."""
    try:
        return sign_compact(header, payload, signer)
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        return None  # e.g. a lone surrogate: not an input a remote party can produce


# -- DID strings and DID URLs -----------------------------------------------------------------
_DID_REFUSALS: tuple[type[BaseException], ...] = (DidError,)
_PROOF_REFUSALS: tuple[type[BaseException], ...] = (CredentialError,)


def _did(data: bytes) -> None:
    text = _text(data)
    did = attempt(_DID_REFUSALS, Did.parse, text)
    if did is not None and str(did) != text:
        raise InvariantError("Did.parse accepted a DID that does not print back to its text")
    for purpose in ("authentication", "assertionMethod"):
        for found in IDENTITIES.values():
            # The DID URL lookups every verifier makes with a kid it was sent.
            verification_key(found.document, text, purpose=purpose)
    # The issuer's DID URL check of an OpenID4VCI key proof naming this text as its kid.
    proof = sign_compact(
        {"alg": HOLDER.signer.public_key.algorithm, "typ": "openid4vci-proof+jwt", "kid": text},
        {"aud": ISSUER_URL, "iat": NOW, "nonce": NONCE},
        HOLDER.signer,
    )
    attempt(_PROOF_REFUSALS, verify_key_proof, proof)


# -- DID operations ---------------------------------------------------------------------------
def _operation(data: bytes) -> None:
    parsed = attempt(_DID_REFUSALS, ParsedOperation.from_canonical, data)
    if parsed is not None:
        _check_parsed(parsed, data)
    # A node's intake: the request body parsed as I-JSON, then each operation from its value.
    value = attempt((ijson.IJsonError,), ijson.loads, data)
    for item in value if isinstance(value, list) else [value]:
        parsed = attempt(_DID_REFUSALS, ParsedOperation.from_value, item)
        if parsed is not None:
            _check_parsed(parsed, parsed.canonical)


def _check_parsed(parsed: ParsedOperation, line: bytes) -> None:
    """The documented invariants of an accepted operation, then its application to state."""
    if ParsedOperation.from_canonical(parsed.canonical) != parsed:
        raise InvariantError(
            "an accepted operation does not round-trip through its canonical bytes"
        )
    if operation_suffix(line, hashlib.sha256(line).digest()) != parsed.did.suffix:
        raise InvariantError("operation_suffix disagrees with the parsed operation's DID")
    operation = parsed.operation
    if isinstance(operation, CreateOperation):
        attempt(
            _DID_REFUSALS, apply_operation, None, operation, parsed.hash, AnchorPoint(2, 0, NOW)
        )
        return
    attempt(_DID_REFUSALS, verify_operation_signature, operation)
    found = IDENTITIES.get(str(parsed.did))
    state = None if found is None else found.state
    attempt(_DID_REFUSALS, apply_operation, state, operation, parsed.hash, AnchorPoint(2, 0, NOW))


# -- batch files ------------------------------------------------------------------------------
_BATCH_REFUSALS: tuple[type[BaseException], ...] = (InvalidBatchError,)
_GZIP_MAGIC = b"\x1f\x8b"


def _batch(data: bytes) -> None:
    """A batch file as the observer reads it; non-gzip input is the lines of one (so the
    fuzzer mutates operations and separators, not only the gzip container)."""
    if not data.startswith(_GZIP_MAGIC):
        lines = data.split(b"\n")
        data = encode_batch(lines) if len(lines) <= 100 else data
    decoded = attempt(_BATCH_REFUSALS, decode_batch, data)
    if decoded is None:
        return
    merkle_tree_of([hashlib.sha256(line).digest() for line in decoded])
    for line in decoded:
        suffix = operation_suffix(line, hashlib.sha256(line).digest())
        parsed = attempt(_DID_REFUSALS, ParsedOperation.from_canonical, line)
        if parsed is not None and suffix != parsed.did.suffix:
            raise InvariantError("operation_suffix disagrees with the parsed batch line")


# -- compact JWS headers ----------------------------------------------------------------------
_CREDENTIAL_REFUSALS: tuple[type[BaseException], ...] = (CredentialError,)
_JWS_KEYS = {"EdDSA": AUTHORITY.signer.public_key, "ES256": HOLDER.signer.public_key}


def _jws(data: bytes) -> None:
    envelope = _envelope(data, 2)
    if envelope is not None:
        signer = HOLDER.signer if envelope[0].get("alg") == "ES256" else AUTHORITY.signer
        text = _signed(envelope[0], envelope[1], signer)
        if text is None:
            return
    else:
        text = _text(data)
    jws = attempt(_CREDENTIAL_REFUSALS, CompactJws.parse, text)
    if jws is None:
        return
    alg = attempt(_CREDENTIAL_REFUSALS, jws.check_algorithm, DEFAULT_POLICY)
    key = _JWS_KEYS.get(alg or "")
    if key is not None:
        attempt(_CREDENTIAL_REFUSALS, jws.verify, key, DEFAULT_POLICY)


# -- SD-JWT VC and its Key-Binding JWT ------------------------------------------------------
def _disclosure(value: Any) -> str | None:
    try:
        return b64url_encode(json_bytes(value))
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        return None


def verify_presentation(presentation: str, *, require_key_binding: bool = True) -> Any:
    return verify(
        presentation,
        issuer_keys=issuer_keys,
        expected_audience=RP_CLIENT_ID,
        expected_nonce=NONCE,
        now=NOW,
        max_kb_age=300,
        policy=DEFAULT_POLICY,
        require_key_binding=require_key_binding,
    )


def _sd_jwt_envelope(value: list[Any]) -> str | None:
    """``[header, payload, disclosures, kb_header, kb_payload]`` signed: the issuer JWT by
    the authority, each disclosure encoded as is, the KB-JWT (if its header is an object)
    by the holder, with the true ``sd_hash`` unless the payload sets one."""
    header, payload, disclosures, kb_header, kb_payload = value
    jwt = _signed(header, payload, AUTHORITY.signer)
    encoded = [_disclosure(d) for d in disclosures] if isinstance(disclosures, list) else []
    if jwt is None or None in encoded:
        return None
    sd_jwt = jwt + "~" + "".join(f"{d}~" for d in encoded)
    if not isinstance(kb_header, dict) or not isinstance(kb_payload, dict):
        return sd_jwt
    kb_payload = {"sd_hash": b64url_encode(sha256(sd_jwt.encode())), **kb_payload}
    kb = _signed(kb_header, kb_payload, HOLDER.signer)
    return None if kb is None else sd_jwt + kb


def _sd_jwt(data: bytes) -> None:
    envelope = _envelope(data, 5)
    if envelope is not None:
        text = _sd_jwt_envelope(envelope)
        if text is None:
            return
    else:
        text = _text(data)
    attempt(_CREDENTIAL_REFUSALS, verify_presentation, text)
    attempt(_CREDENTIAL_REFUSALS, verify_presentation, text, require_key_binding=False)
    attempt(_CREDENTIAL_REFUSALS, peek_sd_jwt_unverified, text)
    # The wallet presenting a credential the authority sent it.
    attempt(
        _CREDENTIAL_REFUSALS,
        present,
        text,
        disclose={"family_name"},
        holder_signer=HOLDER.signer,
        audience=RP_CLIENT_ID,
        nonce=NONCE,
        issued_at=NOW,
    )


def _kb_jwt(data: bytes) -> None:
    """A hostile KB-JWT after the real :data:`CREDENTIAL`."""
    envelope = _envelope(data, 2)
    if envelope is not None:
        payload = {"sd_hash": b64url_encode(sha256(CREDENTIAL.encode())), **envelope[1]}
        kb = _signed(envelope[0], payload, HOLDER.signer)
        if kb is None:
            return
    else:
        kb = _text(data)
    attempt(_CREDENTIAL_REFUSALS, verify_presentation, CREDENTIAL + kb)


# -- OpenID4VP request objects (what the wallet fetches) -------------------------------------
class DocumentNode(RegistryClient):
    """A registry that resolves the fuzz identities from their real create operations."""

    def submit(self, operation: dict[str, Any]) -> dict[str, Any]:
        raise NodeClientError("not-supported", "read-only registry")

    def operation_status(self, operation_hash: str) -> dict[str, Any] | None:
        return None

    def resolve(self, did: str) -> ResolutionResult:
        found = IDENTITIES.get(did)
        if found is None:
            raise NodeClientError("did-not-found", "no such DID")
        return ResolutionResult.from_dict(
            resolution_result(found.create.did, found.state, evidence={})
        )

    def close(self) -> None:
        return None


class _RelyingPartySite:
    """The relying party's side of the wallet's HTTP exchange: every answer is ``body``."""

    def __init__(self) -> None:
        self.body = b""
        self.channel = RpChannel(
            httpx.Client(transport=httpx.MockTransport(self._answer)),
            DocumentNode(),
            clock=CLOCK,
            policy=DEFAULT_POLICY,
            progress=lambda _: None,
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=self.body)


_SITE: list[_RelyingPartySite] = []
_WALLET_REFUSALS: tuple[type[BaseException], ...] = (LoginFlowError, CredentialError)


def relying_party_site() -> _RelyingPartySite:
    if not _SITE:
        _SITE.append(_RelyingPartySite())
    return _SITE[0]


def _oid4vp_request(data: bytes) -> None:
    envelope = _envelope(data, 2)
    body = data
    if envelope is not None:
        signed = _signed(envelope[0], envelope[1], RP.signer)
        if signed is None:
            return
        body = signed.encode()
    site = relying_party_site()
    site.body = body
    request = attempt(_WALLET_REFUSALS, site.channel.fetch_request, AUTHORIZATION_URL)
    if request is not None:
        # The answer to the RP's response_uri is the RP's too (a redirect_uri, or nothing).
        site.body = data
        attempt(_WALLET_REFUSALS, site.channel.post, request, {"state": request.state})
    site.body = data  # the RP's answer to a login code
    attempt(_WALLET_REFUSALS, site.channel.authorization_url, CODE_URL, None)
    text = _text(data)
    attempt(_WALLET_REFUSALS, code_url, text, RP_ORIGIN)
    if text.startswith("openid4vp://"):
        # A scanned or pasted openid4vp:// URL: the wallet fetches whatever request_uri it
        # names (here the RP's real request object answers, whoever is asked).
        site.body = REQUEST_OBJECT.encode()
        attempt(_WALLET_REFUSALS, site.channel.fetch_request, text)
    attempt(_WALLET_REFUSALS, parse_authorization_url, text)
    parse_problem(400, data)  # an RP's refusal: never raises, by contract


# -- OpenID4VP responses (what the relying party receives) -----------------------------------
_RESPONSE_REFUSALS: tuple[type[BaseException], ...] = (HttpError, CredentialError)


def _oid4vp_response(data: bytes) -> None:
    form = attempt(_RESPONSE_REFUSALS, parse_form, data, strict=True)
    if form is None:
        return
    response = attempt(_RESPONSE_REFUSALS, AuthorizationResponse.from_form, form)
    if response is None:
        return
    for presentations in response.vp_token.values():
        for presentation in presentations:
            attempt(_CREDENTIAL_REFUSALS, verify_presentation, presentation)


# -- OpenID4VCI key proofs --------------------------------------------------------------------
def verify_key_proof(jwt: str) -> Any:
    return verify_proof_jwt(
        jwt,
        resolve_key=lambda kid: document_key(kid, "authentication"),
        expected_audience=ISSUER_URL,
        now=NOW,
        max_age=300,
        policy=DEFAULT_POLICY,
    )


def _oid4vci_proof(data: bytes) -> None:
    envelope = _envelope(data, 2)
    if envelope is not None:
        text = _signed(envelope[0], envelope[1], HOLDER.signer)
        if text is None:
            return
    else:
        text = _text(data)
    attempt(_PROOF_REFUSALS, verify_key_proof, text)


# -- status lists -----------------------------------------------------------------------------
def verify_status_token(jwt: str) -> Any:
    return verify_status_list(
        jwt, expected_uri=STATUS_URI, issuer_keys=issuer_keys, now=NOW, policy=DEFAULT_POLICY
    )


def _status_list(data: bytes) -> None:
    envelope = _envelope(data, 2)
    if envelope is not None:
        text = _signed(envelope[0], envelope[1], AUTHORITY.signer)
        if text is None:
            return
    elif data.startswith(b"{"):
        # A bare status_list object or a credential's status claim.
        value = attempt((ijson.IJsonError,), ijson.loads, data)
        attempt(_CREDENTIAL_REFUSALS, StatusList.from_dict, value)
        attempt(_CREDENTIAL_REFUSALS, parse_status_reference, value)
        return
    else:
        text = _text(data)
    verified = attempt(_CREDENTIAL_REFUSALS, verify_status_token, text)
    if verified is not None:
        status_list = verified.status_list
        for index in (0, status_list.size - 1):
            status_list.get(index)


# -- the register CSV import ------------------------------------------------------------------
_REGISTER_REFUSALS: tuple[type[BaseException], ...] = (RegisterImportError,)
_DIGIT_RUN = re.compile(rb"[0-9]{8,}")
_WORK: list[Path] = []


def register_work_file() -> Path:
    if not _WORK:
        _WORK.append(Path(tempfile.mkdtemp(prefix="realdid-fuzz-")) / "register.csv")
    return _WORK[0]


def _register_csv(data: bytes) -> None:
    """``import_csv`` of the bytes as a file, into a fresh in-memory register each time
    (the business register when the header starts with its key column)."""
    path = register_work_file()
    path.write_bytes(data)
    kind = SqliteBusinessRegister if data.startswith(b"uscc") else SqliteRegister
    with kind(":memory:", clock=CLOCK) as register:
        try:
            imported = register.import_csv(path)
        except _REGISTER_REFUSALS as e:
            message = str(e).encode()
            # Errors name the line and the field, never a value (no ID numbers in logs).
            if any(run in message for run in _DIGIT_RUN.findall(data)):
                raise InvariantError("a register import error echoes digits of the file") from e
            if not e.code:
                raise InvariantError("a register import error without a code") from e
            return
        if register.count() != imported:
            raise InvariantError("import_csv reported another number of rows than it stored")


# -- I-JSON itself ----------------------------------------------------------------------------
def _ijson(data: bytes) -> None:
    value = attempt((ijson.IJsonError,), ijson.loads, data)
    with contextlib.suppress(UnicodeDecodeError):
        text = data.decode("utf-8", "surrogatepass")  # str input, lone surrogates included
        if (attempt((ijson.IJsonError,), ijson.loads, text) is None) != (value is None):
            raise InvariantError("ijson.loads accepts the bytes but not the same text, or back")


# -- the table --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One fuzz target: ``run`` feeds the bytes to the entry points named in ``summary``."""

    name: str
    summary: str
    run: Callable[[bytes], None]
    max_len: int = 16 * 1024


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("ijson", "realdid.ijson.loads on bytes and on text", _ijson, 4096),
        Target(
            "did",
            "Did.parse; DID URL lookups (verification_key) and an OpenID4VCI proof's kid",
            _did,
            1024,
        ),
        Target(
            "operation",
            "ParsedOperation.from_canonical / from_value, operation_suffix, apply_operation",
            _operation,
        ),
        Target(
            "batch", "decode_batch, then each line as the observer parses it", _batch, 64 * 1024
        ),
        Target("jws", "CompactJws.parse, check_algorithm, verify (ES256 and EdDSA)", _jws),
        Target("sdjwt", "credentials.verify, peek_sd_jwt_unverified, present", _sd_jwt, 32 * 1024),
        Target("kbjwt", "credentials.verify of a real SD-JWT with a hostile KB-JWT", _kb_jwt),
        Target(
            "oid4vp_request",
            "the wallet's RpChannel: fetch_request, authorization_url, post; URL parsers",
            _oid4vp_request,
            32 * 1024,
        ),
        Target(
            "oid4vp_response",
            "parse_form, AuthorizationResponse.from_form, verify of each presentation",
            _oid4vp_response,
            32 * 1024,
        ),
        Target("oid4vci_proof", "verify_proof_jwt", _oid4vci_proof),
        Target(
            "status_list",
            "verify_status_list, StatusList.from_dict, parse_status_reference",
            _status_list,
            32 * 1024,
        ),
        Target(
            "register_csv",
            "SqliteRegister / SqliteBusinessRegister import_csv",
            _register_csv,
            16 * 1024,
        ),
    )
}


#: Exceptions a long run may be told to tolerate (``scripts/fuzz.py --tolerate``): findings
#: already reported whose fix lies outside the fuzzed package, so the run explores past them.
TOLERATE_VARIABLE = "REALDID_FUZZ_TOLERATE"


def tolerated() -> tuple[type[BaseException], ...]:
    """The classes named (``module.Class``, comma-separated) in ``$REALDID_FUZZ_TOLERATE``."""
    found: list[type[BaseException]] = []
    for name in filter(None, os.environ.get(TOLERATE_VARIABLE, "").split(",")):
        module, _, attribute = name.strip().rpartition(".")
        value = getattr(importlib.import_module(module), attribute)
        if not (isinstance(value, type) and issubclass(value, BaseException)):
            raise TypeError(f"{name} is not an exception class")
        found.append(value)
    return tuple(found)


_TOLERATED = tolerated()


def run_one(target: Target, data: bytes) -> None:
    """One input through one target; raises only on a finding (none tolerated by default)."""
    if len(data) <= target.max_len:
        try:
            target.run(data)
        except _TOLERATED:
            return


def corpus_of(name: str) -> Iterator[tuple[str, bytes]]:
    """``(file name, bytes)`` of the checked-in seeds of target ``name``, sorted."""
    folder = CORPUS / name
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                yield path.name, path.read_bytes()
