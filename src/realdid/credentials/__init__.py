"""Credentials in the IETF SD-JWT VC format (RFC 9901 + draft-ietf-oauth-sd-jwt-vc).

The authority issues with :func:`issue` through any :class:`~realdid.crypto.Signer`, the
wallet selects claims and binds the presentation to a verifier with :func:`present`, and a
relying party checks it with :func:`verify`, which requires the algorithm policy, audience,
nonce and a caller-supplied issuer-key resolver. Example::

    >>> from realdid.crypto import DEFAULT_POLICY, KeyType, LocalSigner
    >>> from realdid.credentials import issue, present, verify
    >>> authority, wallet = LocalSigner.generate(), LocalSigner.generate(KeyType.P256)
    >>> sd_jwt = issue({"family_name": "Wang", "age_over_18": True},
    ...     selectively_disclosable={"family_name", "age_over_18"},
    ...     issuer="did:realdid:authority", signer=authority,
    ...     key_id="did:realdid:authority#key-1", holder_jwk=wallet.public_key.to_jwk(),
    ...     vct="https://realdid.example/vct/RealName", issued_at=1_700_000_000,
    ...     expires_at=1_800_000_000, salt=lambda: b"\\x07" * 16, status=None)
    >>> vp = present(sd_jwt, disclose={"age_over_18"}, holder_signer=wallet,
    ...     audience="did:realdid:shop", nonce="n-1", issued_at=1_700_000_100)
    >>> verify(vp, issuer_keys=lambda iss, kid: authority.public_key,
    ...     expected_audience="did:realdid:shop", expected_nonce="n-1",
    ...     now=1_700_000_100, max_kb_age=300, policy=DEFAULT_POLICY).claims
    {'age_over_18': True}
"""

from ._errors import (
    AlgorithmNotAllowedError,
    CredentialError,
    DisclosureNotReferencedError,
    DuplicateDisclosureError,
    ExpiredError,
    IssuanceError,
    IssuerSignatureError,
    KeyBindingError,
    MalformedSdJwtError,
    NotYetValidError,
    PresentationError,
    SdHashMismatchError,
    StaleKeyBindingError,
    UntrustedIssuerError,
    VerificationError,
    WrongAudienceError,
    WrongNonceError,
)
from ._sdjwt import (
    KB_JWT_TYP,
    MAX_DISCLOSURES,
    MAX_PRESENTATION_BYTES,
    SD_JWT_VC_TYP,
    VerifiedCredential,
    issue,
    present,
    verify,
)

__all__ = [
    "KB_JWT_TYP",
    "MAX_DISCLOSURES",
    "MAX_PRESENTATION_BYTES",
    "SD_JWT_VC_TYP",
    "AlgorithmNotAllowedError",
    "CredentialError",
    "DisclosureNotReferencedError",
    "DuplicateDisclosureError",
    "ExpiredError",
    "IssuanceError",
    "IssuerSignatureError",
    "KeyBindingError",
    "MalformedSdJwtError",
    "NotYetValidError",
    "PresentationError",
    "SdHashMismatchError",
    "StaleKeyBindingError",
    "UntrustedIssuerError",
    "VerificationError",
    "VerifiedCredential",
    "WrongAudienceError",
    "WrongNonceError",
    "issue",
    "present",
    "verify",
]
