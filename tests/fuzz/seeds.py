"""The seed corpus of every fuzz target, built by the project's own code (deterministic).

Each target starts from a few small, real inputs — a signed create operation, an SD-JWT VC
with its KB-JWT, an OpenID4VP request object and response form, a Status List Token, a
batch file, a register CSV of synthetic residents — in the wire form and, for signed
formats, as the target's envelope (``[header, payload, ...]``, see :mod:`.targets`), plus a
few hand-made hostile ones. Every key, salt and nonce is fixed (Ed25519 and RFC 6979
P-256 signatures, ``mtime=0`` gzip, a seeded RNG for residents), so the same code yields
the same bytes: ``scripts/fuzz_seeds.py`` writes them under ``tests/fuzz/corpus/`` and
``test_fuzz.py`` checks the checked-in files are still what this builds.

Files named ``regress-*`` are not built here: they are reproducers of fixed findings,
kept in the corpus so every run replays them.
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from realdid.authority import generate_enterprises, generate_residents, write_business_csv
from realdid.authority import write_csv as write_register_csv
from realdid.credentials import (
    StatusList,
    StatusValue,
    authorization_url,
    error_response_form,
    make_proof_jwt,
    present,
    response_form,
    sign_status_list,
)
from realdid.credentials._jws import CompactJws
from realdid.crypto import KeyType, LocalSigner, b64url_decode, b64url_encode, canonicalize
from realdid.did import (
    DeactivateOperation,
    DocumentContent,
    Patch,
    PublicKeyEntry,
    RecoverOperation,
    ServiceEntry,
    UpdateOperation,
    commitment_of,
    sign,
    to_dict,
)
from realdid.ledger import encode_batch

from .targets import (
    ALICE,
    AUTHORITY,
    CREDENTIAL,
    HOLDER,
    ISSUER_URL,
    NONCE,
    NOW,
    REQUEST_OBJECT,
    REQUEST_URI,
    RP_CLIENT_ID,
    STATUS_URI,
    TARGETS,
    _secret,
)

Seeds = dict[str, dict[str, bytes]]
REGRESSION_PREFIX = "regress-"


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _envelope(jws: str, *rest: Any) -> bytes:
    """The envelope of a real compact JWS: its decoded header and payload, then ``rest``."""
    parsed = CompactJws.parse(jws)
    return _json([parsed.header, parsed.payload, *rest])


def _ed25519(label: str) -> LocalSigner:
    return LocalSigner(KeyType.ED25519, _secret(label))


# -- DID operations -------------------------------------------------------------------------------
def operations() -> dict[str, bytes]:
    """Alice's create and one of each signed operation on it, canonical (as batched)."""
    previous = ALICE.state.version_id
    new_key = PublicKeyEntry("key-2", _ed25519("alice/key-2").public_key, ("authentication",))
    update = UpdateOperation(
        ALICE.create.did,
        previous,
        ALICE.update.public_key,
        (
            Patch("add-public-keys", public_keys=(new_key,)),
            Patch("add-services", services=(ServiceEntry("inbox", "Inbox", "https://in.example"),)),
            Patch("remove-services", ids=("hub",)),
        ),
        commitment_of(_ed25519("alice/update-2").public_key),
    )
    recover = RecoverOperation(
        ALICE.create.did,
        previous,
        ALICE.recovery.public_key,
        DocumentContent((new_key,)),
        commitment_of(_ed25519("alice/update-3").public_key),
        commitment_of(_ed25519("alice/recovery-2").public_key),
    )
    deactivate = DeactivateOperation(ALICE.create.did, previous, ALICE.recovery.public_key)
    signed = {
        "update": sign(update, ALICE.update),
        "recover": sign(recover, ALICE.recovery),
        "deactivate": sign(deactivate, ALICE.recovery),
    }
    found = {"create": canonicalize(ALICE.create.to_dict())}
    found.update({kind: canonicalize(to_dict(op)) for kind, op in signed.items()})
    return found


def _operation_seeds(ops: dict[str, bytes]) -> dict[str, bytes]:
    seeds = dict(ops)
    create = json.loads(ops["create"])
    seeds["submission-list"] = b"[" + ops["create"] + b"," + ops["update"] + b"]"
    seeds["hostile-not-canonical"] = json.dumps(create, indent=1).encode()
    seeds["hostile-duplicate-member"] = ops["create"][:-1] + b',"type":"create"}'
    seeds["hostile-deep-document"] = (
        b'{"type":"create","document":' + b'{"a":' * 900 + b"1" + b"}" * 900 + b"}"
    )
    seeds["hostile-number-key"] = ops["create"].replace(b'"publicKeys":[', b'"publicKeys":[1e400,')
    return seeds


# -- batch files ----------------------------------------------------------------------------------
def _batch_seeds(ops: dict[str, bytes]) -> dict[str, bytes]:
    lines = [ops["create"], ops["update"], canonicalize(AUTHORITY.create.to_dict())]
    batch = encode_batch(lines)
    return {
        "batch": batch,
        "lines": b"\n".join([ops["create"], ops["deactivate"]]),
        "hostile-truncated": batch[:-5],
        "hostile-trailing": batch + b"\x00",
        "hostile-inflates-1mib": gzip.compress(b"\n" * (1 << 20), mtime=0),
        "hostile-empty-lines": b"\n\n\n",
    }


# -- compact JWS and SD-JWT -----------------------------------------------------------------------
def _presentation() -> str:
    return present(
        CREDENTIAL,
        disclose={"family_name", "address"},
        holder_signer=HOLDER.signer,
        audience=RP_CLIENT_ID,
        nonce=NONCE,
        issued_at=NOW - 5,
    )


def _jws_seeds(presentation: str) -> dict[str, bytes]:
    issuer_jwt = CREDENTIAL.split("~")[0]
    kb_jwt = presentation.rsplit("~", maxsplit=1)[-1]
    return {
        "issuer-jwt-eddsa": issuer_jwt.encode(),
        "kb-jwt-es256": kb_jwt.encode(),
        "envelope-eddsa": _envelope(issuer_jwt),
        "envelope-es256": _envelope(kb_jwt),
        "hostile-alg-none": (
            b64url_encode(b'{"alg":"none"}') + "." + b64url_encode(b"{}") + "."
        ).encode(),
        "hostile-crit": _json([{"alg": "EdDSA", "crit": ["exp"]}, {}]),
        "hostile-two-segments": issuer_jwt.rsplit(".", 1)[0].encode(),
    }


def _sd_jwt_seeds(presentation: str) -> dict[str, bytes]:
    jwt, *disclosures, kb = presentation.split("~")
    decoded = [json.loads(b64url_decode(d)) for d in disclosures]
    kb_jws = CompactJws.parse(kb)
    kb_payload = {k: v for k, v in kb_jws.payload.items() if k != "sd_hash"}
    issuer = CompactJws.parse(jwt)
    nested_payload = {
        **{k: v for k, v in issuer.payload.items() if k != "_sd"},
        "_sd": ["d-top"],
        "list": [{"...": "d-element"}, 1],
    }
    return {
        "credential-issued": CREDENTIAL.encode(),
        "presentation": presentation.encode(),
        "envelope-presentation": _json(
            [issuer.header, issuer.payload, decoded, kb_jws.header, kb_payload]
        ),
        "envelope-without-kb": _json([issuer.header, issuer.payload, decoded, None, None]),
        "hostile-nested-digests": _json(
            [issuer.header, nested_payload, [["salt", "x", {"_sd": [1]}], ["s2", 2]], None, None]
        ),
        "hostile-many-tildes": ("~" * 200).encode(),
    }


def _kb_jwt_seeds() -> dict[str, bytes]:
    """KB-JWTs over the whole :data:`CREDENTIAL`, the SD-JWT the kbjwt target binds to."""
    everything = present(
        CREDENTIAL,
        disclose={"family_name", "given_name", "address", "nationalities"},
        holder_signer=HOLDER.signer,
        audience=RP_CLIENT_ID,
        nonce=NONCE,
        issued_at=NOW - 5,
    )
    kb = everything.removeprefix(CREDENTIAL)
    kb_jws = CompactJws.parse(kb)
    payload = {k: v for k, v in kb_jws.payload.items() if k != "sd_hash"}
    return {
        "kb-jwt": kb.encode(),
        "envelope": _json([kb_jws.header, payload]),
        "hostile-wrong-alg": _json([{"alg": "EdDSA", "typ": "kb+jwt"}, payload]),
        "hostile-float-iat": _json([kb_jws.header, {**payload, "iat": 1.8e9}]),
    }


# -- OpenID4VP ------------------------------------------------------------------------------------
def _oid4vp_request_seeds() -> dict[str, bytes]:
    request_object = REQUEST_OBJECT
    url = authorization_url(RP_CLIENT_ID, REQUEST_URI)
    parsed = CompactJws.parse(request_object)
    header, payload = parsed.header, parsed.payload
    return {
        "request-object": request_object.encode(),
        "envelope": _envelope(request_object),
        "code-answer": _json({"authorization_url": url}),
        "authorization-url": url.encode(),
        "login-code": b"abcd-efgh",
        "problem": _json({"type": "https://realdid.example/problems/expired", "status": 400}),
        "hostile-response-uri": _json(
            [header, {**payload, "response_uri": "https://[::1/oid4vp/responses"}]
        ),
        "hostile-dcql": _json(
            [header, {**payload, "dcql_query": {"credentials": [{"claims": 1}]}}]
        ),
    }


def _oid4vp_response_seeds(presentation: str) -> dict[str, bytes]:
    return {
        "response": urlencode(response_form({"real_name": [presentation]}, "s-1")).encode(),
        "error": urlencode(error_response_form("access_denied", "declined", "s-1")).encode(),
        "hostile-repeated-state": b"state=a&state=b&vp_token=%7B%7D",
        "hostile-token-array": b"state=s&vp_token=%5B%5D",
        "hostile-no-equals": b"state",
    }


# -- OpenID4VCI proofs ----------------------------------------------------------------------------
def _oid4vci_proof_seeds() -> dict[str, bytes]:
    proof = make_proof_jwt(
        HOLDER.signer, key_id=HOLDER.kid, audience=ISSUER_URL, nonce=NONCE, issued_at=NOW - 10
    )
    parsed = CompactJws.parse(proof)
    return {
        "proof": proof.encode(),
        "envelope": _envelope(proof),
        "hostile-jwk-header": _json(
            [{**parsed.header, "jwk": HOLDER.signer.public_key.to_jwk()}, parsed.payload]
        ),
        "hostile-kid-fragment": _json([{**parsed.header, "kid": HOLDER.did + "#"}, parsed.payload]),
    }


# -- status lists ---------------------------------------------------------------------------------
def _status_list_seeds() -> dict[str, bytes]:
    entries = StatusList(size=1024, bits=2)
    entries.set(7, StatusValue.INVALID)
    entries.set(1023, StatusValue.SUSPENDED)
    token = sign_status_list(
        entries,
        uri=STATUS_URI,
        issuer=AUTHORITY.did,
        signer=AUTHORITY.signer,
        key_id=AUTHORITY.kid,
        issued_at=NOW - 60,
        expires_at=NOW + 3600,
        ttl=300,
    )
    parsed = CompactJws.parse(token)
    too_big = b64url_encode(zlib.compress(bytes((1 << 21) + 1), 9))
    return {
        "token": token.encode(),
        "envelope": _envelope(token),
        "status-list-object": _json(entries.to_dict()),
        "status-reference": _json({"status_list": {"idx": 7, "uri": STATUS_URI}}),
        "hostile-inflates-too-far": _json(
            [parsed.header, {**parsed.payload, "status_list": {"bits": 1, "lst": too_big}}]
        ),
        "hostile-trailing-zlib": _json(
            {"bits": 1, "lst": b64url_encode(zlib.compress(b"\x01", 9) + b"\x00")}
        ),
    }


# -- register CSV ---------------------------------------------------------------------------------
def _register_seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as work:
        residents = Path(work) / "residents.csv"
        rows = [r for r, _ in generate_residents(3, random.Random(7))]
        write_register_csv(rows, residents)
        business = Path(work) / "business.csv"
        write_business_csv(list(generate_enterprises(2, random.Random(7))), business)
        register, companies = residents.read_bytes(), business.read_bytes()
    header, first, *_ = register.split(b"\n")
    return {
        "residents": register,
        "enterprises": companies,
        "hostile-duplicate-row": b"\n".join([header, first, first]) + b"\n",
        "hostile-bad-utf8": header + b"\n" + first[:20] + b"\xff\xfe" + first[20:] + b"\n",
        "hostile-nul": header + b"\n" + first.replace(b",", b"\x00,", 1) + b"\n",
        "hostile-unclosed-quote": header + b'\n"' + first + b"\n",
    }


# -- DID strings, I-JSON --------------------------------------------------------------------------
def _did_seeds() -> dict[str, bytes]:
    did = ALICE.did
    return {
        "did": did.encode(),
        "did-url": (did + "#key-1").encode(),
        "did-url-path-query": (did + "/path?service=hub#key-1").encode(),
        "other-method": b"did:example:123456789abcdefghi",
        "hostile-percent": b"did:realdid:%ZZ" + did[12:].encode(),
        "hostile-trailing-newline": (did + "\n").encode(),
        "hostile-long": b"did:realdid:" + b"Qm" * 200,
        "hostile-fragment-only": b"#key-1",
    }


def _ijson_seeds(ops: dict[str, bytes]) -> dict[str, bytes]:
    return {
        "operation": ops["create"],
        "request-form-token": _json({"real_name": ["a~b~"]}),
        "hostile-duplicate": b'{"a":1,"b":{"c":2,"c":3}}',
        "hostile-deep": b"[" * 1100 + b"]" * 1100,
        "hostile-nan": b"[NaN]",
        "hostile-big-number": b"[1" + b"0" * 400 + b"]",
        "hostile-surrogate": b'["\\ud800"]',
        "hostile-bom": b'\xef\xbb\xbf{"a":1}',
    }


def build_seeds() -> Seeds:
    """Every target's generated seeds: ``{target: {file name: bytes}}``."""
    ops = operations()
    presentation = _presentation()
    seeds: Seeds = {
        "ijson": _ijson_seeds(ops),
        "did": _did_seeds(),
        "operation": _operation_seeds(ops),
        "batch": _batch_seeds(ops),
        "jws": _jws_seeds(presentation),
        "sdjwt": _sd_jwt_seeds(presentation),
        "kbjwt": _kb_jwt_seeds(),
        "oid4vp_request": _oid4vp_request_seeds(),
        "oid4vp_response": _oid4vp_response_seeds(presentation),
        "oid4vci_proof": _oid4vci_proof_seeds(),
        "status_list": _status_list_seeds(),
        "register_csv": _register_seeds(),
    }
    if set(seeds) != set(TARGETS):
        raise RuntimeError(f"targets without seeds: {sorted(set(TARGETS) - set(seeds))}")
    return seeds
