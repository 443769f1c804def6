"""``realdid serve``: a registry node on the solo ledger or an EVM chain, with the identity
authority and the demo sites beside it; the listening sockets and the uvicorn servers that
``realdid authority serve`` uses too."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from realdid.serving import (
    WorkerPool,
    default_workers,
    forget_process,
    limited_protocol,
    share_metrics,
)
from realdid.settings import (
    Flag,
    HttpSection,
    LedgerKind,
    RealDIDSettings,
    SettingsError,
    load_settings,
)

from ._conventions import ChainAnchorContract, ChainUrl, fail, user_errors
from ._ledger import open_evm_ledger

if TYPE_CHECKING:
    from realdid.authority import AuthorityRuntime
    from realdid.http import RateLimiter
    from realdid.node import RegistryNode
    from realdid.registry import RegistryClient

serve_commands = typer.Typer()
node_app = typer.Typer(help="The registry node on its own.", no_args_is_help=True)
#: Under a service's data directory: its workers' shared metric files (emptied at start).
METRICS_DIR = "metrics"
SERVE_OPTIONS = {  # setting -> the option of `realdid serve` that sets it
    "node.data_dir": "--data-dir",
    "node.database": "--database",
    "node.workers": "--workers",
    "node.read_only": "--read-only",
    "node.host": "--host",
    "node.port": "--port",
    "node.batch_interval": "--batch-interval",
    "node.max_batch_operations": "--max-batch",
    "node.ledger": "--ledger",
    "node.evm_url": "--evm-url",
    "node.anchor_contract": "--anchor-contract",
    "node.anchorer_key_file": "--anchorer-key-file",
    "node.confirmations": "--confirmations",
    "node.peers": "--peers",
    # One --host serves everything this process runs.
    "authority.host": "--host",
    "authority.port": "--authority-port",
    "demo.host": "--host",
    "demo.port": "--demo-port",
}
#: The options of `realdid node serve`: the node's own.
NODE_SERVE_OPTIONS = {
    setting: option for setting, option in SERVE_OPTIONS.items() if setting.startswith("node.")
}
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="postgresql://user:password@host/db of the stores (default: SQLite files in the"
        " data directory). Prefer $REALDID_NODE__DATABASE: a flag is visible in ps.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Processes serving HTTP (one is elected to write). Default: one per core.",
        min=1,
        max=256,
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML settings file (docs/configuration.md); flags and REALDID_* variables"
        " override it. Default: $REALDID_CONFIG.",
    ),
]


NodeDataDir = Annotated[
    Path,
    typer.Option("--data-dir", help="Where the node keeps its database, batch files and ledger."),
]
ReadOnly = Annotated[
    bool,
    typer.Option(
        "--read-only",
        help="A resolver replica of the node whose store is --database (or --data-dir on"
        " this machine): resolves, writes nothing, starts no authority.",
    ),
]
Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)]
BatchInterval = Annotated[
    float, typer.Option(help="Seconds between batch cuts.", min=0.01, max=3600)
]
MaxBatch = Annotated[int, typer.Option(help="Operations per batch at most.", min=1, max=100_000)]
Ledger = Annotated[
    LedgerKind,
    typer.Option(help="solo: embedded signed block log; evm: anchor contract on an EVM chain."),
]
AnchorerKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--anchorer-key-file",
        help="secp256k1 key (hex) of a permitted anchorer; without it the node only follows.",
    ),
]
Confirmations = Annotated[
    int,
    typer.Option(
        help="Blocks an anchor must be buried under before it is applied.", min=0, max=1000
    ),
]
Peers = Annotated[
    str,
    typer.Option(help="Comma-separated base URLs of consortium nodes to fetch batch files from."),
]


@serve_commands.command()
def serve(
    ctx: typer.Context,
    data_dir: NodeDataDir,
    database: DatabaseUrl = None,
    workers: Workers = None,
    read_only: ReadOnly = False,
    host: Host = "127.0.0.1",
    port: Port = 8080,
    batch_interval: BatchInterval = 0.5,
    max_batch: MaxBatch = 10_000,
    ledger: Ledger = LedgerKind.SOLO,
    evm_url: ChainUrl = None,
    anchor_contract: ChainAnchorContract = None,
    anchorer_key_file: AnchorerKeyFile = None,
    confirmations: Confirmations = 2,
    authority_port: Annotated[
        int,
        typer.Option(
            "--authority-port",
            help="Also serve the identity authority on this port (0: registry node only).",
            min=0,
            max=65535,
        ),
    ] = 8081,
    peers: Peers = "",
    demo_port: Annotated[
        int,
        typer.Option(
            "--demo-port",
            help="Also serve the demo sites: forum on this port, OIDC demo site +1, hotel +2,"
            " OIDC bridge +3 (0: no demo; needs --authority-port).",
            min=0,
            max=65532,
        ),
    ] = 0,
    config: ConfigFile = None,
) -> None:
    """Run a registry node (default: embedded SQLite + the solo ledger)."""
    # The parameters declare the options; their values arrive through serve_settings,
    # which knows which ones were typed, merged with the environment and --config file.
    _serve_platform(serve_settings(ctx, SERVE_OPTIONS))


@node_app.command("serve")
def node_serve(
    ctx: typer.Context,
    data_dir: NodeDataDir,
    database: DatabaseUrl = None,
    workers: Workers = None,
    read_only: ReadOnly = False,
    host: Host = "127.0.0.1",
    port: Port = 8080,
    batch_interval: BatchInterval = 0.5,
    max_batch: MaxBatch = 10_000,
    ledger: Ledger = LedgerKind.SOLO,
    evm_url: ChainUrl = None,
    anchor_contract: ChainAnchorContract = None,
    anchorer_key_file: AnchorerKeyFile = None,
    confirmations: Confirmations = 2,
    peers: Peers = "",
    config: ConfigFile = None,
) -> None:
    """Run the registry node alone: no authority, no demo sites, whatever the settings
    file says of them (multi-host deployments)."""
    alone = {
        "authority.port": Flag("realdid node serve", 0),
        "demo.port": Flag("realdid node serve", 0),
    }
    _serve_platform(serve_settings(ctx, NODE_SERVE_OPTIONS, fixed=alone))


def _serve_platform(settings: RealDIDSettings) -> None:
    """Bind every port the settings serve, then run them in one or many workers."""
    node_settings = settings.node
    authority_port, demo_port = _served_ports(settings)
    settings.log.configure()
    # Both ports are bound before anything starts, so a port in use is one clear error line
    # instead of a half-started process (the node up, the authority dead) that exits later.
    if demo_port and not authority_port:
        fail("--demo-port needs the identity authority: give --authority-port a port too")
    sockets = [_listen(node_settings.host, node_settings.port, "the registry node", "--port")]
    if authority_port:
        sockets.append(
            _listen(
                settings.authority.host,
                authority_port,
                "the identity authority",
                "--authority-port",
            )
        )
    demo_sockets = _demo_sockets(settings.demo.host, demo_port)
    workers = node_settings.workers or default_workers()
    # From the setting itself: building the node's config would load prometheus_client
    # before share_metrics may choose how it stores values.
    metrics = (node_settings.data_dir or Path()) / METRICS_DIR
    rate_limits = settings.rate_limits.limiter()  # before the fork: the workers share it
    try:
        _run(
            workers,
            lambda: _preflight(settings),
            lambda _: _serve_worker(
                settings, sockets, demo_sockets, rate_limits, accept_when_ready=workers > 1
            ),
            metrics,
        )
    finally:  # also when the set-up failed after the ports were bound
        for sock in [*sockets, *demo_sockets.values()]:
            sock.close()


def _served_ports(settings: RealDIDSettings) -> tuple[int, int]:
    """The authority's and the demo's ports (0: not served); a read-only replica serves
    resolution only."""
    if settings.node.read_only:
        return 0, 0
    return settings.authority.port, settings.demo.port


def _preflight(settings: RealDIDSettings) -> None:
    """Build, once and here, what every worker builds, and close it again: a bad set-up is
    one error line before any worker starts, and first-start keys and migrations are made
    by one process."""
    _registry_node(settings).stop()
    if _served_ports(settings)[0]:
        authority_runtime(settings).close()


def _serve_worker(
    settings: RealDIDSettings,
    sockets: list[socket.socket],
    demo_sockets: dict[str, socket.socket],
    rate_limits: RateLimiter,
    *,
    accept_when_ready: bool = False,
) -> int:
    """Everything ``realdid serve`` runs, in this process, on the sockets bound already.

    ``accept_when_ready`` (one of several workers): this process accepts no connection on
    the authority's and the demo sites' sockets until its own copy of them is ready, so
    the kernel hands every connection to a worker that can answer it (meanwhile they wait
    in the listen backlog). A single worker answers at once, with a "starting" page.
    """
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from realdid.node import LocalRegistryClient, create_app  # noqa: PLC0415

    node_settings = settings.node
    authority_port, demo_port = _served_ports(settings)
    node = _registry_node(settings)
    servers: list[Served] = [
        (
            _server(
                uvicorn,
                create_app(node, rate_limits=rate_limits),
                node_settings.host,
                node_settings.port,
                settings.http,
            ),
            sockets[0],
            None,
        )
    ]
    runtime = None
    if authority_port:
        from realdid.authority import create_authority_app  # noqa: PLC0415 - only when it runs

        # The node is in this process: no HTTP round trip to it for every enrollment.
        runtime = authority_runtime(settings, LocalRegistryClient(node))
        runtime.start()
        authority = runtime
        servers.append(
            (
                _server(
                    uvicorn,
                    create_authority_app(runtime.get, rate_limits=rate_limits),
                    settings.authority.host,
                    authority_port,
                    settings.http,
                ),
                sockets[1],
                (lambda: authority.get() is not None) if accept_when_ready else None,
            )
        )
        _warn_if_simulated(settings, settings.issuer_url())
    demo = None
    if runtime is not None and demo_port:
        from realdid.web import DemoRuntime  # noqa: PLC0415 - only with --demo-port

        demo = DemoRuntime(settings.demo_settings(), runtime, rate_limits=rate_limits)
        for name, site_port, site_app in demo.served():
            servers.append(
                (
                    _server(uvicorn, site_app, settings.demo.host, site_port, settings.http),
                    demo_sockets[name],
                    _ready_flag(site_app) if accept_when_ready else None,
                )
            )
            logging.getLogger(__name__).info(
                "demo %s on %s", name, demo.settings.url(site_port - demo_port)
            )
        demo.start()
    logging.getLogger(__name__).info("registry node on %s", node_settings.url)
    try:
        serve_all(servers)
    finally:
        if demo is not None:
            demo.close()
        if runtime is not None:
            runtime.close()
    return 0


def _registry_node(settings: RealDIDSettings) -> RegistryNode:
    """The registry node of the settings (not started), or one ``error:`` line."""
    from realdid.node import NodeSetupError, RegistryNode  # noqa: PLC0415

    node_settings = settings.node
    with user_errors():
        node_config = settings.node_config()
        chain = None
        if node_settings.ledger is LedgerKind.EVM:
            chain = open_evm_ledger(
                node_config.data_dir,
                node_config.database,
                node_settings.evm_url,
                node_settings.anchor_contract,
                node_settings.anchorer_key_file,
                node_settings.confirmations,
            )
        elif (
            node_settings.evm_url
            or node_settings.anchor_contract
            or node_settings.anchorer_key_file
        ):
            fail("--evm-url, --anchor-contract and --anchorer-key-file need --ledger evm")
        try:
            return RegistryNode(node_config, ledger=chain)
        except NodeSetupError as e:
            fail(str(e))


def _run(
    workers: int, preflight: Callable[[], None], work: Callable[[int], int], metrics: Path
) -> None:
    """``work`` in this process (one worker), or in ``workers`` supervised children after
    ``preflight`` checked the set-up here, so that a bad one is one error line, not one
    per child. Several workers add their Prometheus metrics up in the directory ``metrics``.
    """
    if workers == 1:
        code = work(0)
    else:
        share_metrics(metrics)
        preflight()
        forget_process(os.getpid())  # the preflight's values are not a worker's
        code = WorkerPool(workers, work, ended=forget_process).run()
    if code:
        raise typer.Exit(code)


def serve_settings(
    ctx: typer.Context, options: Mapping[str, str], fixed: Mapping[str, Flag] | None = None
) -> RealDIDSettings:
    """The settings a serving command runs with, or one ``error:`` line naming the bad one.

    ``options`` maps each setting to the command's option for it. Only options the user
    typed become flags (click records each value's source), so an option's default never
    overrides the environment or the ``--config`` file while ``--help`` still shows it.
    ``fixed`` are settings the command itself decides, over every other source.
    """
    param_of = {opt: param.name for param in ctx.command.params for opt in param.opts}
    flags = {
        setting: Flag(option, ctx.params[name])
        for setting, option in options.items()
        if (name := param_of[option]) is not None and _typed(ctx, name)
    }
    try:
        return load_settings({**flags, **(fixed or {})}, ctx.params.get("config"))
    except SettingsError as e:
        fail(e.diagnostics())


def _typed(ctx: typer.Context, param: str) -> bool:
    """Whether the user gave ``param`` (click's ParameterSource; compared by name because
    typer ships its own copy of click)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name not in {"DEFAULT", "DEFAULT_MAP"}


def authority_runtime(
    settings: RealDIDSettings, registry: RegistryClient | None = None
) -> AuthorityRuntime:
    """The identity authority's runtime, built from the settings (not started); it reaches
    the node through ``registry`` (a node in this process) or else over HTTP."""
    from realdid.authority import AuthorityError, AuthorityRuntime  # noqa: PLC0415

    with user_errors():
        try:
            return AuthorityRuntime(
                settings.authority_settings(),
                config=settings.authority_config(),
                faces=settings.face_matcher(),
                registry=registry,
            )
        except AuthorityError as e:
            fail(e.diagnostics())


def _warn_if_simulated(settings: RealDIDSettings, where: str) -> None:
    if settings.simulated_faces:
        logging.getLogger(__name__).warning(
            "identity authority on %s — face matching is SIMULATED (development only)", where
        )


def _demo_sockets(host: str, demo_port: int) -> dict[str, socket.socket]:
    """Bound sockets for every demo site this installation has (none when ``demo_port`` is 0)."""
    if not demo_port:
        return {}
    from realdid.web import available_sites  # noqa: PLC0415 - only with --demo-port

    bound: dict[str, socket.socket] = {}
    try:
        for name, offset in available_sites():
            bound[name] = _listen(host, demo_port + offset, f"the demo {name} site", "--demo-port")
    except BaseException:  # typer.Exit from _listen: release the ports already taken
        for sock in bound.values():
            sock.close()
        raise
    return bound


def _listen(host: str, port: int, what: str, option: str) -> socket.socket:
    """A bound socket for ``host:port`` (uvicorn listens on it), or one ``error:`` line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and accepted sockets inherit it. With proto 0, Nagle + delayed ACKs stall every
    # response whose headers and body are written separately by 40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listen at once: with SO_REUSEADDR, Linux lets two processes bind one port as long
        # as neither listens yet, and the second would only fail later, half started.
        sock.listen(2048)
    except OSError as e:
        sock.close()
        hint = " (or 0 to run the registry node alone)" if option == "--authority-port" else ""
        fail(
            f"cannot listen on {host}:{port} for {what}: {e.strerror or e};"
            f" choose another port with {option}{hint}"
        )
    sock.set_inheritable(True)
    return sock


def _server(uvicorn: Any, app: Any, host: str, port: int, http: HttpSection) -> Any:
    """A uvicorn server for ``app``, bounded by the ``[http]`` settings."""
    limits = http.limits()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=limited_protocol(limits),
        ws="none",
        timeout_keep_alive=limits.keep_alive_timeout,
        # X-Forwarded-For is believed from the listed proxies only: uvicorn's default trusts
        # every loopback client, which let any local process pick its address.
        proxy_headers=bool(http.trusted_proxies),
        forwarded_allow_ips=list(http.trusted_proxies),
        log_level="info",
        access_log=False,
        log_config=None,  # uvicorn's records go to the root logger, in the format of [log]
    )
    return uvicorn.Server(config)


#: A uvicorn server, its socket, and what must hold before it accepts (None: nothing).
Served = tuple[Any, socket.socket, "Callable[[], bool] | None"]


def serve_all(servers: list[Served]) -> None:
    """Run the servers until they stop, on uvloop (uvicorn[standard] installs it): the
    asyncio API with the event loop and socket I/O in C. Profiled on the resolution path,
    the standard loop's transport writes alone were a fifth of each request."""
    import uvloop  # noqa: PLC0415 - only a server needs it

    uvloop.run(_serve_all(servers))


async def _serve_all(servers: list[Served]) -> None:
    await asyncio.gather(*(_serve_when(server, sock, ready) for server, sock, ready in servers))


def _ready_flag(app: Any) -> Callable[[], bool]:
    """``app.ready`` read when asked (a demo site's :class:`~realdid.web.DeferredApp`)."""
    return lambda: bool(app.ready)


async def _serve_when(server: Any, sock: socket.socket, ready: Callable[[], bool] | None) -> None:
    """Serve on ``sock`` once ``ready()``; until then its connections wait in the backlog."""
    while ready is not None and not ready():
        await asyncio.sleep(0.1)
    await server.serve(sockets=[sock])
