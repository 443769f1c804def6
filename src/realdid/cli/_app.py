"""The ``realdid`` command tree, assembled from one module per thing the commands act on.

* ``_serve``: ``realdid serve`` (the node, with the authority and demo sites beside it)
  and ``realdid node serve`` (the node alone);
* ``_resolve``: ``realdid resolve``;
* ``_ledger``: ``realdid ledger verify|keygen|deploy|anchorer``;
* ``_wallet``: ``realdid wallet init|restore`` and ``realdid wallet did …``;
* ``_enroll``: ``realdid wallet enroll|site-proof|business-enroll|redeem|credentials``;
* ``_login``: ``realdid wallet login|history``;
* ``_authority``: ``realdid authority …`` (registers, operators, admin API, serve);
* ``_bridge``: ``realdid bridge serve`` (the OpenID Connect bridge alone).

The modules only declare commands; :func:`create_app` decides where they hang and in
which order (the order ``--help`` lists them in), and gives the tree its network.
"""

from __future__ import annotations

import httpx
import typer

from ._authority import authority_app
from ._bridge import bridge_app
from ._enroll import enroll_commands
from ._ledger import ledger_app
from ._login import login_commands
from ._network import Network
from ._resolve import resolve_commands
from ._serve import node_app, serve_commands
from ._wallet import did_app, wallet_commands


def create_app(transport: httpx.BaseTransport | None = None) -> typer.Typer:
    """The ``realdid`` command; every HTTP request its commands make goes over ``transport``.

    None (the installed command) is httpx's real network; tests pass an
    ``httpx.MockTransport`` or an in-process app's transport (see ``_network``).
    """
    app = typer.Typer(
        name="realdid",
        help="RealDID: real-name decentralized identity. Run a registry node, manage DIDs, resolve.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"obj": Network(transport)},
    )
    app.add_typer(resolve_commands)
    app.add_typer(serve_commands)
    wallet_app = typer.Typer(
        help="Resident wallet: keys, DIDs, recovery phrase.", no_args_is_help=True
    )
    wallet_app.add_typer(enroll_commands)
    wallet_app.add_typer(login_commands)
    wallet_app.add_typer(wallet_commands)
    wallet_app.add_typer(did_app, name="did")
    app.add_typer(wallet_app, name="wallet")
    app.add_typer(node_app, name="node")
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(authority_app, name="authority")
    app.add_typer(bridge_app, name="bridge")
    return app
