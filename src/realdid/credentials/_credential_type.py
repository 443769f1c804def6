"""The credential types RealDID issues, as the ``vct`` URNs every component compares.

``vct`` (draft-ietf-oauth-sd-jwt-vc section 3.2.2.1.1) names what a credential is; the
authority issues one per type, wallets pick by it and relying parties request and permit
claims by it. A :class:`~enum.StrEnum` so a member *is* its URN: it compares equal to the
string in a verified payload and goes into JSON unchanged. Example::

    >>> CredentialType.SITE_PROOF == "urn:realdid:SiteProof"
    True
    >>> CredentialType("urn:realdid:RealName").name
    'REAL_NAME'
"""

from __future__ import annotations

import enum


class CredentialType(enum.StrEnum):
    """The ``vct`` of each credential the authority issues."""

    #: The resident's identity (names, ID number, birth date), held on the root DID.
    REAL_NAME = "urn:realdid:RealName"
    #: Pseudonymous proof of a verified person, bound to a per-site DID.
    SITE_PROOF = "urn:realdid:SiteProof"
    #: An enterprise's identity from the business register.
    BUSINESS = "urn:realdid:Business"
    #: A relying party's registration: name, purpose and the claims it may request.
    RP_REGISTRATION = "urn:realdid:RpRegistration"
