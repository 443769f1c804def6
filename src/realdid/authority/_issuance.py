"""OpenID4VCI 1.0 issuance: credential offers and the token, nonce and credential endpoints.

The pre-authorized code flow, end to end:

1. a concern that accepted an application seals the credential's claims with
   :meth:`Issuance.seal_offer`, then calls :meth:`Issuance.offer_credential` (the credential
   row, ``offered``, with its status index allocated) and :meth:`Issuance.offer` (a fresh
   pre-authorized code; an earlier code for the same credential stops working) in its own
   transaction;
2. :meth:`~Issuance.token` (section 6) spends the code, single use, for an access token;
3. :meth:`~Issuance.nonce` (section 7) hands out a ``c_nonce`` for one proof of possession;
4. :meth:`~Issuance.credential` (section 8) checks the proof JWT — signed by a key of the
   DID the credential was offered to, over a live ``c_nonce`` — signs the SD-JWT VC and marks
   the credential ``issued``, dropping its sealed claims and its grants.

Codes, access tokens and nonces are bearer secrets: only their SHA-256 is stored. Grants and
nonces commit with ``durable=False``; the issuance itself with a full fsync. A request that
crashes before the last commit can be retried with the same access token: the credential is
still ``offered``, with the same id and status index.

Tables: ``grants``, ``c_nonces``, and the ``credentials`` rows as they are offered and issued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from realdid.clock import Clock
from realdid.credentials import (
    CredentialConfiguration,
    CredentialOffer,
    CredentialRequest,
    CredentialResponse,
    NonceResponse,
    Oid4vciError,
    TokenRequest,
    TokenResponse,
    authorization_server_metadata,
    credential_issuer_metadata,
    issue,
    status_reference,
    verify_proof_jwt,
)
from realdid.crypto import PublicKey
from realdid.randomness import Randomness
from realdid.storage import Transaction

from ._claims import (
    BUSINESS,
    REAL_NAME,
    RP_REGISTRATION,
    SITE_PROOF,
    VCT,
    credential_configurations,
)
from ._config import AuthorityConfig
from ._identity import IssuerIdentity
from ._resolver import DidKeyError, DidKeyResolver
from ._secrets import ServiceSecrets
from ._status_lists import StatusLists
from ._store import RECORD_ID_BYTES, AuthorityDatabase

_CODE_BYTES = 32  # pre-authorized codes and access tokens
_NONCE_BYTES = 24


@dataclass(frozen=True, slots=True)
class Offer:
    """An OpenID4VCI credential offer (by value) for one offered credential."""

    credential_id: str
    credential_offer: CredentialOffer

    @property
    def offer(self) -> dict[str, Any]:
        """The Credential Offer object as the API answers it (JSON)."""
        return self.credential_offer.to_dict()

    @property
    def uri(self) -> str:
        return self.credential_offer.serialize()


@dataclass(frozen=True, slots=True)
class _OfferedCredential:
    id: str
    type: str
    sealed_pending: bytes
    status_list: int
    status_index: int


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class IssuanceStatements:
    """The ``grants`` and ``c_nonces`` tables, and ``credentials`` from offered to issued."""

    def __init__(self, db: AuthorityDatabase) -> None:
        self._db = db

    def insert_offered(
        self,
        tx: Transaction,
        credential_id: str,
        enrollment_id: str,
        credential_type: str,
        subject_ref: str,
        sealed_pending: bytes,
        status: tuple[int, int],
        now: int,
    ) -> None:
        tx.execute(
            "INSERT INTO credentials (id, enrollment_id, type, subject_ref, state, pending,"
            " status_list, status_index, created_at) VALUES (?, ?, ?, ?, 'offered', ?, ?, ?, ?)",
            (
                credential_id,
                enrollment_id,
                credential_type,
                subject_ref,
                sealed_pending,
                status[0],
                status[1],
                now,
            ),
        )

    def replace_pre_authorized_code(
        self, tx: Transaction, code_hash: str, credential_id: str, expires_at: int
    ) -> None:
        """The credential's only grant from now on is this code."""
        self.drop_grants(tx, credential_id)
        tx.execute(
            "INSERT INTO grants (token_hash, kind, credential_id, expires_at)"
            " VALUES (?, 'pre-authorized-code', ?, ?)",
            (code_hash, credential_id, expires_at),
        )

    def spend_pre_authorized_code(self, tx: Transaction, code_hash: str) -> tuple[str, int] | None:
        """``(credential_id, expires_at)`` of the code, which is gone from now on."""
        row = tx.execute(
            "DELETE FROM grants WHERE token_hash = ? AND kind = 'pre-authorized-code'"
            " RETURNING credential_id, expires_at",
            (code_hash,),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def insert_access_token(
        self, tx: Transaction, token_hash: str, credential_id: str, expires_at: int
    ) -> None:
        tx.execute(
            "INSERT INTO grants (token_hash, kind, credential_id, expires_at)"
            " VALUES (?, 'access-token', ?, ?)",
            (token_hash, credential_id, expires_at),
        )

    def offered_for_access_token(self, token_hash: str, now: int) -> _OfferedCredential | None:
        """The still-offered credential a live access token is for, read outside a transaction."""
        with self._db.reading() as tx:
            row = tx.execute(
                "SELECT c.id, c.type, c.pending, c.status_list, c.status_index FROM grants g"
                " JOIN credentials c ON c.id = g.credential_id WHERE g.token_hash = ?"
                " AND g.kind = 'access-token' AND g.expires_at >= ? AND c.state = 'offered'",
                (token_hash, now),
            ).fetchone()
        return None if row is None else _OfferedCredential(*row)

    def insert_c_nonce(self, tx: Transaction, nonce: str, expires_at: int) -> None:
        tx.execute("INSERT INTO c_nonces (nonce, expires_at) VALUES (?, ?)", (nonce, expires_at))

    def spend_c_nonce(self, tx: Transaction, nonce: str) -> int | None:
        """When the nonce would have expired; it is gone from now on."""
        row = tx.execute(
            "DELETE FROM c_nonces WHERE nonce = ? RETURNING expires_at", (nonce,)
        ).fetchone()
        return None if row is None else int(row[0])

    def mark_issued(self, tx: Transaction, credential_id: str, now: int, expires_at: int) -> bool:
        """``offered`` -> ``issued``, dropping the sealed claims; False if no longer offered."""
        updated = tx.execute(
            "UPDATE credentials SET state = 'issued', pending = NULL, issued_at = ?, expires_at = ?"
            " WHERE id = ? AND state = 'offered'",
            (now, expires_at, credential_id),
        ).rowcount
        return bool(updated == 1)

    def drop_grants(self, tx: Transaction, credential_id: str) -> None:
        tx.execute("DELETE FROM grants WHERE credential_id = ?", (credential_id,))

    def purge_expired(self, tx: Transaction, now: int) -> None:
        tx.execute("DELETE FROM c_nonces WHERE expires_at < ?", (now,))
        tx.execute("DELETE FROM grants WHERE expires_at < ?", (now,))


@dataclass(frozen=True, slots=True)
class SealedOffer:
    """A credential ready to be offered: its id, type, holder reference and sealed claims."""

    credential_id: str
    credential_type: str
    subject_ref: str
    pending: bytes


@dataclass(slots=True)
class Issuance:
    """The credential issuer: offers, and the OpenID4VCI token, nonce and credential endpoints."""

    db: AuthorityDatabase
    config: AuthorityConfig
    secrets: ServiceSecrets
    resolver: DidKeyResolver
    issuer: IssuerIdentity
    status_lists: StatusLists
    clock: Clock
    randomness: Randomness
    salt: Callable[[], bytes]
    statements: IssuanceStatements = field(init=False)

    def __post_init__(self) -> None:
        self.statements = IssuanceStatements(self.db)

    # -- metadata ------------------------------------------------------------------------------
    @property
    def configurations(self) -> list[CredentialConfiguration]:
        return credential_configurations(self.config.policy)

    def issuer_metadata(self) -> dict[str, Any]:
        base = self.config.issuer_url
        return credential_issuer_metadata(
            base,
            credential_endpoint=f"{base}/oid4vci/credential",
            nonce_endpoint=f"{base}/oid4vci/nonce",
            configurations=self.configurations,
            display_name="RealDID identity authority",
        )

    def authorization_server_metadata(self) -> dict[str, Any]:
        base = self.config.issuer_url
        return authorization_server_metadata(base, token_endpoint=f"{base}/oid4vci/token")

    # -- offers --------------------------------------------------------------------------------
    def seal_offer(
        self,
        credential_type: str,
        holder_did: str,
        claims: Mapping[str, Any],
        selectively_disclosable: Set[str],
    ) -> SealedOffer:
        """A credential to offer, its claims sealed — before the transaction that records it
        (:meth:`offer_credential`): sealing is CPU work, and the transaction's locks are
        what every other enrollment waits for."""
        credential_id = self.randomness.token(RECORD_ID_BYTES)
        pending = {
            "holder": holder_did,
            "claims": dict(claims),
            "sd": sorted(selectively_disclosable),
        }
        return SealedOffer(
            credential_id,
            credential_type,
            self.secrets.reference("did", holder_did),
            self.secrets.seal_json(pending, credential_id.encode()),
        )

    def offer_credential(self, tx: Transaction, enrollment_id: str, sealed: SealedOffer) -> str:
        """Record ``sealed`` as an ``offered`` credential in ``tx``, its status index drawn;
        its id."""
        self.statements.insert_offered(
            tx,
            sealed.credential_id,
            enrollment_id,
            sealed.credential_type,
            sealed.subject_ref,
            sealed.pending,
            self.status_lists.allocate(tx),
            self.clock.now(),
        )
        return sealed.credential_id

    def offer(self, tx: Transaction, credential_id: str, credential_type: str) -> Offer:
        """A fresh pre-authorized code for the offered credential, replacing any earlier one."""
        code = self.randomness.token(_CODE_BYTES)
        self.statements.replace_pre_authorized_code(
            tx, _token_hash(code), credential_id, self.clock.now() + self.config.offer_ttl
        )
        return Offer(
            credential_id, CredentialOffer(self.config.issuer_url, (credential_type,), code)
        )

    def drop_grants(self, tx: Transaction, credential_id: str) -> None:
        """The credential was revoked in ``tx``: its code or access token stops working."""
        self.statements.drop_grants(tx, credential_id)

    def purge_expired(self, tx: Transaction, now: int) -> None:
        """Drop ``c_nonce`` values and grants that had expired at ``now``."""
        self.statements.purge_expired(tx, now)

    # -- endpoints -----------------------------------------------------------------------------
    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """OpenID4VCI section 6: exchange a pre-authorized code (single use) for an access token."""
        code = TokenRequest.from_form(form).pre_authorized_code
        access_token = self.randomness.token(_CODE_BYTES)
        now = self.clock.now()
        with self.db.transaction(durable=False) as tx:
            grant = self.statements.spend_pre_authorized_code(tx, _token_hash(code))
            if grant is None or grant[1] < now:
                raise Oid4vciError(
                    "invalid_grant", "the pre-authorized code is unknown, used or expired"
                )
            self.statements.insert_access_token(
                tx, _token_hash(access_token), grant[0], now + self.config.token_ttl
            )
        return TokenResponse(access_token, self.config.token_ttl).to_dict()

    def nonce(self) -> dict[str, Any]:
        """OpenID4VCI section 7: a fresh ``c_nonce`` for one proof of possession."""
        nonce = self.randomness.token(_NONCE_BYTES)
        with self.db.transaction(durable=False) as tx:
            self.statements.insert_c_nonce(tx, nonce, self.clock.now() + self.config.challenge_ttl)
        return NonceResponse(nonce).to_dict()

    def credential(self, access_token: str | None, body: Any) -> dict[str, Any]:
        """OpenID4VCI section 8: issue the offered credential to the holder of the offered DID."""
        if not access_token or len(access_token) > 256:
            raise Oid4vciError(
                "invalid_token", "a Bearer access token from the token endpoint is required"
            )
        request = CredentialRequest.from_dict(body)
        now = self.clock.now()
        offered = self.statements.offered_for_access_token(_token_hash(access_token), now)
        if offered is None:
            raise Oid4vciError("invalid_token", "the access token is unknown, used or expired")
        if request.configuration_id != offered.type:
            raise Oid4vciError(
                "invalid_credential_request",
                f"this access token is for credential configuration '{offered.type}'",
            )
        pending = self.secrets.open_json(offered.sealed_pending, offered.id.encode())
        holder_did: str = pending["holder"]

        def holder_key(kid: str) -> PublicKey:
            if kid.split("#", 1)[0] != holder_did:
                raise Oid4vciError(
                    "invalid_proof",
                    "the proof must be signed by a key of the DID the credential is for",
                )
            try:
                return self.resolver.key(kid, purpose="authentication")
            except DidKeyError as e:
                raise Oid4vciError("invalid_proof", f"proof key: {e}") from e

        proof = verify_proof_jwt(
            request.proof_jwts[0],
            resolve_key=holder_key,
            expected_audience=self.config.issuer_url,
            now=now,
            max_age=self.config.application_max_age,
            policy=self.config.policy,
        )
        with self.db.transaction(durable=False) as tx:
            expires_at = self.statements.spend_c_nonce(tx, proof.nonce)
        if expires_at is None or expires_at < now:
            raise Oid4vciError(
                "invalid_nonce", "the proof's nonce is unknown, used or expired: get a new c_nonce"
            )
        lifetime = self._lifetime(offered.type)
        sd_jwt = issue(
            pending["claims"],
            selectively_disclosable=set(pending["sd"]),
            issuer=self.issuer.did,
            signer=self.issuer.signer,
            key_id=self.issuer.key_id,
            holder_jwk=proof.public_key.to_jwk(),
            vct=VCT[offered.type],
            issued_at=now,
            expires_at=now + lifetime,
            salt=self.salt,
            status=status_reference(
                self.status_lists.uri(offered.status_list), offered.status_index
            ),
            subject=holder_did,
        )
        with self.db.transaction() as tx:
            if not self.statements.mark_issued(tx, offered.id, now, now + lifetime):
                raise Oid4vciError(
                    "invalid_token", "this credential was issued or revoked meanwhile"
                )
            self.statements.drop_grants(tx, offered.id)
        return CredentialResponse((sd_jwt,)).to_dict()

    def _lifetime(self, credential_type: str) -> int:
        return {
            REAL_NAME: self.config.real_name_lifetime,
            SITE_PROOF: self.config.site_proof_lifetime,
            BUSINESS: self.config.business_lifetime,
            RP_REGISTRATION: self.config.rp_registration_lifetime,
        }[credential_type]
