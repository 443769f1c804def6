"""RealDID: a national-scale, real-name decentralized identity platform.

Packages are layered; each imports only packages on lower lines (names on one line are
independent of each other). ``make lint`` enforces this with the import contract in
``pyproject.toml``; ``docs/architecture.md`` names each package's one job::

    cli                                    thin commands over everything below
    settings                               flags, environment, TOML file -> service configs
    web                                    demo sites (forum, hotel, OIDC site)
    authority | wallet | rp | node         the services and the resident's wallet
    controller | credentials               DIDs a party controls; SD-JWT VC, OpenID4VC
    registry                               HTTP client of a registry node
    ledger                                 batches, Merkle proofs, CAS, ledger backends
    did                                    the did:realdid method (pure)
    crypto                                 keys, signers, encodings
    http | storage | clock | randomness    problems and bounded I/O; SQLite and files; time;
                                           unguessable values
"""

__version__ = "0.1.0"
