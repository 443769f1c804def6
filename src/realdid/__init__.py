"""RealDID: a national-scale, real-name decentralized identity platform.

Packages follow the component boundaries of the architecture: ``crypto`` <- ``did`` <-
``ledger`` <- ``node``; ``wallet`` and ``cli`` sit on top.
"""

__version__ = "0.1.0"
