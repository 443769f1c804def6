"""The registry node as an ASGI app factory, for servers other than ``realdid serve``.

bench_http.py starts uvicorn, gunicorn and granian on ``realdid_bench_app:create``; each
worker process builds its own node on ``$REALDID_BENCH_DATA_DIR`` (and, if set,
``$REALDID_BENCH_DATABASE``), exactly as a ``realdid serve`` worker does.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from realdid.node import NodeConfig, RegistryNode, create_app


def create() -> FastAPI:
    config = NodeConfig(
        data_dir=Path(os.environ["REALDID_BENCH_DATA_DIR"]),
        database=os.environ.get("REALDID_BENCH_DATABASE"),
    )
    return create_app(RegistryNode(config))
