"""The identity authority's tunables: lifetimes, time-to-lives, sizes and lockout limits.

Every concern of the service (``_enrollment.py``, ``_issuance.py``, ``_status_lists.py``,
``_lockouts.py``, …) reads the one :class:`AuthorityConfig` the :class:`~realdid.authority.Authority`
was built with. Times are in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from realdid.crypto import DEFAULT_POLICY, AlgorithmPolicy


@dataclass(frozen=True, slots=True)
class AuthorityConfig:
    issuer_url: str
    real_name_lifetime: int = 365 * 86400
    site_proof_lifetime: int = 90 * 86400
    business_lifetime: int = 365 * 86400
    rp_registration_lifetime: int = 365 * 86400
    challenge_ttl: int = 300
    offer_ttl: int = 600
    token_ttl: int = 300
    application_max_age: int = 300
    status_list_size: int = 1 << 20
    status_list_ttl: int = 300
    status_list_validity: int = 86400
    max_failures_per_subject: int = 5
    max_failures_per_client: int = 20
    failure_window: int = 3600
    policy: AlgorithmPolicy = DEFAULT_POLICY
