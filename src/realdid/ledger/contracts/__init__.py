"""Compiled EVM contracts (``RealDIDAnchor.json``), built by ``make contracts``."""
