"""``realdid resolve``: resolve a DID at a registry node and check its anchoring evidence."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from realdid.ledger import verify_resolution_evidence

from ._conventions import NodeUrl, user_errors
from ._network import network

resolve_commands = typer.Typer()


@resolve_commands.command()
def resolve(
    ctx: typer.Context,
    did: str,
    node: NodeUrl,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the inclusion-proof check.")
    ] = False,
) -> None:
    """Resolve a DID, print the resolution result and verify its Merkle inclusion proof."""
    with user_errors():
        client = network(ctx).node(node)
        try:
            result = client.resolve(did).to_dict()
        finally:
            client.close()
        if not no_verify:
            evidence = verify_resolution_evidence(result["didDocumentMetadata"])
            typer.echo(
                f"inclusion proof verified: version {evidence.version_id[:16]}… is in anchor "
                f"{evidence.sequence} (Merkle root {evidence.merkle_root[:16]}…, {evidence.ledger} ledger)",
                err=True,
            )
    typer.echo(json.dumps(result, indent=2))
