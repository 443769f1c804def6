"""``realdid bridge serve``: the OpenID Connect bridge alone, under its own RP identity.

Set-up as any relying party (:mod:`realdid.web._bridge`, README): a wallet with an
enterprise DID, business-enrolled, registered by the authority's rp-registrar for SiteProof
``verified_person`` (and ``age_over_18``), the registration redeemed into the wallet.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from realdid.controller import read_passphrase
from realdid.serving import default_workers

from ._conventions import fail, user_errors
from ._serve import (
    METRICS_DIR,
    ConfigFile,
    Workers,
    _listen,
    _run,
    _server,
    serve_all,
    serve_settings,
)

if TYPE_CHECKING:
    from realdid.http import RateLimiter
    from realdid.settings import RealDIDSettings
    from realdid.web import BridgeService, BridgeServiceSettings

bridge_app = typer.Typer(help="The OpenID Connect bridge on its own.", no_args_is_help=True)
BRIDGE_SERVE_OPTIONS = {  # setting -> the option of `realdid bridge serve` that sets it
    "bridge.data_dir": "--data-dir",
    "bridge.database": "--database",
    "bridge.node_url": "--node",
    "bridge.wallet_dir": "--wallet-dir",
    "bridge.did": "--did",
    "bridge.clients_file": "--clients",
    "bridge.host": "--host",
    "bridge.port": "--port",
    "bridge.issuer_url": "--issuer-url",
    "bridge.workers": "--workers",
}


@bridge_app.command("serve")
def bridge_serve(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where the bridge keeps its keys, secrets and stores."),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option("--node", help="Registry node base URL the bridge resolves through."),
    ] = None,
    wallet_dir: Annotated[
        Path | None,
        typer.Option(
            "--wallet-dir",
            help="The bridge's wallet (its DID and RpRegistration); passphrase from"
            " $REALDID_PASSPHRASE or a prompt.",
        ),
    ] = None,
    clients: Annotated[
        Path | None,
        typer.Option("--clients", help="TOML file of the OIDC clients served (mode 0600)."),
    ] = None,
    did: Annotated[
        str | None,
        typer.Option("--did", help="The wallet's DID to serve as (default: the registered one)."),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="postgresql://user:password@host/db of the bridge's stores (default: SQLite"
            " files in the data directory). Prefer $REALDID_BRIDGE__DATABASE: a flag is"
            " visible in ps.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8084,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url",
            help="Public base URL (OpenID Provider issuer); default http://HOST:PORT.",
        ),
    ] = None,
    workers: Workers = None,
    config: ConfigFile = None,
) -> None:
    """Run the OpenID Connect bridge alone: "Sign in with RealDID" for OIDC websites."""
    # The parameters declare the options; serve_settings reads the typed ones (see there).
    settings = serve_settings(ctx, BRIDGE_SERVE_OPTIONS)
    settings.log.configure()
    with user_errors():
        service = settings.bridge_service_settings()
        # Read once, here: every worker opens the wallet with it.
        passphrase = read_passphrase("Bridge wallet passphrase: ", confirm=False)
    served = settings.bridge
    sock = _listen(served.host, served.port, "the OIDC bridge", "--port")
    rate_limits = settings.rate_limits.limiter()  # before the fork: the workers share it
    with sock:  # closed also when the set-up fails after the port was bound
        _run(
            served.workers or default_workers(),
            lambda: _bridge(service, passphrase).close(),
            lambda _: _serve_bridge(settings, service, passphrase, sock, rate_limits),
            service.data_dir / METRICS_DIR,
        )


def _bridge(
    service: BridgeServiceSettings, passphrase: str, rate_limits: RateLimiter | None = None
) -> BridgeService:
    """The bridge of ``service``, or one ``error:`` line."""
    from realdid.http import NO_RATE_LIMITS  # noqa: PLC0415 - only the server needs these
    from realdid.rp.bridge import BridgeSetupError  # noqa: PLC0415
    from realdid.web import BridgeService  # noqa: PLC0415

    with user_errors():
        try:
            return BridgeService(service, passphrase, rate_limits=rate_limits or NO_RATE_LIMITS)
        except BridgeSetupError as e:
            fail(str(e))


def _serve_bridge(
    settings: RealDIDSettings,
    service: BridgeServiceSettings,
    passphrase: str,
    sock: socket.socket,
    rate_limits: RateLimiter,
) -> int:
    """The bridge alone, in this process, on ``sock``."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    bridge = _bridge(service, passphrase, rate_limits)
    served = settings.bridge
    logging.getLogger(__name__).info(
        "OIDC bridge %s on %s:%d as %s", service.issuer_url, served.host, served.port, bridge.did
    )
    try:
        serve_all(
            [(_server(uvicorn, bridge.app, served.host, served.port, settings.http), sock, None)]
        )
    finally:
        bridge.close()
    return 0
