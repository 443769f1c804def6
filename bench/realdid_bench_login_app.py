"""The benchmark relying party's OpenID4VP routes as an ASGI app factory (bench_login_http.py).

Every worker process of the server builds the same relying party as bench_login.py's
workers — the setup pickled in ``$REALDID_BENCH_LOGIN_SETUP``, the shared SQLite request
store at ``$REALDID_BENCH_LOGIN_STORE`` — and serves :func:`realdid.rp.login_routes`. With
``$REALDID_BENCH_LOGIN_NODE`` set it resolves DIDs at that registry node over HTTP, caching
them ``$REALDID_BENCH_LOGIN_DID_TTL`` seconds (bench/scale_run.py).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from fastapi import FastAPI

from bench_login import make_rp
from realdid.rp import login_routes


def create() -> FastAPI:
    setup = pickle.loads(Path(os.environ["REALDID_BENCH_LOGIN_SETUP"]).read_bytes())  # noqa: S301 - our own file
    rp = make_rp(
        setup,
        os.environ["REALDID_BENCH_LOGIN_STORE"],
        node_url=os.environ.get("REALDID_BENCH_LOGIN_NODE"),
        did_ttl=int(os.environ.get("REALDID_BENCH_LOGIN_DID_TTL", "3600")),
    )
    app = FastAPI()
    app.include_router(login_routes(rp))
    return app
