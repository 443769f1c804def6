"""``realdid serve``: a registry node on the solo ledger or an EVM chain, with the identity
authority and the demo sites beside it; the listening sockets and the uvicorn servers that
``realdid authority serve`` uses too."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._conventions import LedgerKind, fail, user_errors
from ._ledger import open_evm_ledger

if TYPE_CHECKING:
    from realdid.authority import AuthorityRuntime
    from realdid.web import DemoRuntime

serve_commands = typer.Typer()


@serve_commands.command()
def serve(
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir", help="Where the node keeps its database, batch files and ledger."
        ),
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8080,
    batch_interval: Annotated[
        float, typer.Option(help="Seconds between batch cuts.", min=0.01, max=3600)
    ] = 0.5,
    max_batch: Annotated[
        int, typer.Option(help="Operations per batch at most.", min=1, max=100_000)
    ] = 10_000,
    ledger: Annotated[
        LedgerKind,
        typer.Option(help="solo: embedded signed block log; evm: anchor contract on an EVM chain."),
    ] = LedgerKind.SOLO,
    evm_url: Annotated[
        str | None, typer.Option("--evm-url", help="JSON-RPC URL of the EVM chain (--ledger evm).")
    ] = None,
    anchor_contract: Annotated[
        str | None, typer.Option("--anchor-contract", help="Address of the RealDIDAnchor contract.")
    ] = None,
    anchorer_key_file: Annotated[
        Path | None,
        typer.Option(
            "--anchorer-key-file",
            help="secp256k1 key (hex) of a permitted anchorer; without it the node only follows.",
        ),
    ] = None,
    confirmations: Annotated[
        int,
        typer.Option(
            help="Blocks an anchor must be buried under before it is applied.", min=0, max=1000
        ),
    ] = 2,
    authority_port: Annotated[
        int,
        typer.Option(
            "--authority-port",
            help="Also serve the identity authority on this port (0: registry node only).",
            min=0,
            max=65535,
        ),
    ] = 8081,
    peers: Annotated[
        str,
        typer.Option(
            help="Comma-separated base URLs of consortium nodes to fetch batch files from."
        ),
    ] = "",
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
) -> None:
    """Run a registry node (default: embedded SQLite + the solo ledger)."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from realdid.node import NodeConfig, NodeSetupError, RegistryNode, create_app  # noqa: PLC0415

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    peer_urls = tuple(p.strip() for p in peers.split(",") if p.strip())
    for url in peer_urls:
        if not url.startswith(("http://", "https://")):
            fail(f"--peers: '{url}' is not an http(s) URL")
    # Both ports are bound before anything starts, so a port in use is one clear error line
    # instead of a half-started process (the node up, the authority dead) that exits later.
    if demo_port and not authority_port:
        fail("--demo-port needs the identity authority: give --authority-port a port too")
    sockets = [_listen(host, port, "the registry node", "--port")]
    if authority_port:
        sockets.append(_listen(host, authority_port, "the identity authority", "--authority-port"))
    demo_sockets = _demo_sockets(host, demo_port)
    with user_errors():
        chain = None
        if ledger is LedgerKind.EVM:
            chain = open_evm_ledger(
                data_dir, evm_url, anchor_contract, anchorer_key_file, confirmations
            )
        elif evm_url or anchor_contract or anchorer_key_file:
            fail("--evm-url, --anchor-contract and --anchorer-key-file need --ledger evm")
        config = NodeConfig(
            data_dir=data_dir,
            batch_interval=batch_interval,
            max_batch_operations=max_batch,
            peers=peer_urls,
            accepts_operations=chain is None or anchorer_key_file is not None,
        )
        try:
            node = RegistryNode(config, ledger=chain)
        except NodeSetupError as e:
            fail(str(e))
    servers = [(_server(uvicorn, create_app(node), host, port), sockets[0])]
    runtime = None
    if authority_port:
        from realdid.authority import (  # noqa: PLC0415 - only when the authority runs
            AuthorityRuntime,
            AuthoritySettings,
            create_authority_app,
        )

        settings = AuthoritySettings(
            data_dir=data_dir / "authority",
            issuer_url=f"http://{host}:{authority_port}",
            node_url=f"http://{host}:{port}",
        )
        runtime = AuthorityRuntime(settings)
        runtime.start()
        servers.append(
            (_server(uvicorn, create_authority_app(runtime.get), host, authority_port), sockets[1])
        )
        logging.getLogger(__name__).warning(
            "identity authority on http://%s:%d — face matching is SIMULATED (development only)",
            host,
            authority_port,
        )
    demo = None
    if runtime is not None and demo_port:
        demo = _demo_runtime(data_dir, host, port, authority_port, demo_port, runtime)
        for name, site_port, site_app in demo.served():
            servers.append((_server(uvicorn, site_app, host, site_port), demo_sockets[name]))
            logging.getLogger(__name__).info(
                "demo %s on %s", name, demo.settings.url(site_port - demo_port)
            )
        demo.start()
    logging.getLogger(__name__).info("registry node on http://%s:%d", host, port)
    try:
        asyncio.run(_serve_all(servers))
    finally:
        if demo is not None:
            demo.close()
        if runtime is not None:
            runtime.close()


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


def _demo_runtime(
    data_dir: Path,
    host: str,
    port: int,
    authority_port: int,
    demo_port: int,
    runtime: AuthorityRuntime,
) -> DemoRuntime:
    from realdid.web import DemoRuntime, DemoSettings  # noqa: PLC0415 - only with --demo-port

    settings = DemoSettings(
        data_dir=data_dir,
        host=host,
        port=demo_port,
        node_url=f"http://{host}:{port}",
        authority_url=f"http://{host}:{authority_port}",
    )
    return DemoRuntime(settings, runtime)


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


def _server(uvicorn: Any, app: Any, host: str, port: int) -> Any:
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False)
    return uvicorn.Server(config)


async def _serve_all(servers: list[tuple[Any, socket.socket]]) -> None:
    await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))
