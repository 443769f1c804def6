"""``realdid resolve`` and ``realdid ledger …``: resolve, verify, and govern the ledger."""

from __future__ import annotations

import enum
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from realdid.crypto import CryptoError, KeyType, LocalSigner, PublicKey
from realdid.ledger import verify_registry, verify_resolution_evidence
from realdid.registry import NodeClient
from realdid.storage import write_private_file

from ._app import (
    AdminKeyFile,
    EvmUrl,
    LedgerKind,
    NodeUrl,
    app,
    fail,
    ledger_app,
    open_evm_ledger,
    read_key_file,
    user_errors,
)


class AnchorerAction(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"


# -- resolve / ledger ----------------------------------------------------------------------------------
@app.command()
def resolve(
    did: str,
    node: NodeUrl,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the inclusion-proof check.")
    ] = False,
) -> None:
    """Resolve a DID, print the resolution result and verify its Merkle inclusion proof."""
    with user_errors():
        client = NodeClient(node)
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


@ledger_app.command("verify")
def ledger_verify(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")],
    expected_signer: Annotated[
        str | None,
        typer.Option(
            "--expected-signer",
            help="publicKeyMultibase the solo ledger must be signed by (detects a ledger re-signed under another key).",
        ),
    ] = None,
    ledger: Annotated[
        LedgerKind, typer.Option(help="The node's ledger backend.")
    ] = LedgerKind.SOLO,
    evm_url: Annotated[
        str | None, typer.Option("--evm-url", help="JSON-RPC URL of the EVM chain (--ledger evm).")
    ] = None,
    anchor_contract: Annotated[
        str | None, typer.Option("--anchor-contract", help="Address of the RealDIDAnchor contract.")
    ] = None,
) -> None:
    """Re-verify the ledger, every batch file and the index derived from them.

    With --ledger evm the anchors are read afresh from the chain (not from the node's own
    follower state), so the check does not trust the node's view of the chain.
    """
    with user_errors():
        if not data_dir.is_dir():
            fail(f"no data directory at {data_dir}")
        signer = None
        if expected_signer is not None:
            try:
                signer = PublicKey.from_multibase(expected_signer)
            except CryptoError as e:
                fail(f"--expected-signer: {e}")
        if ledger is LedgerKind.SOLO:
            report = verify_registry(data_dir, expected_signer=signer)
        else:
            with tempfile.TemporaryDirectory(prefix="realdid-verify-chain-") as scratch:
                chain = open_evm_ledger(
                    Path(scratch), evm_url, anchor_contract, None, confirmations=0
                )
                try:
                    report = verify_registry(data_dir, ledger=chain)
                finally:
                    chain.close()
    unit = "blocks" if ledger is LedgerKind.SOLO else "anchors"
    typer.echo(
        f"ok: {report.blocks} {unit}, {report.operations} operations, {report.dids} DIDs verified"
    )


@ledger_app.command("keygen")
def ledger_keygen(
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the new key (hex, mode 0600).")
    ],
) -> None:
    """Create a secp256k1 key for an anchorer or admin and print its Ethereum address."""
    from eth_account import Account  # noqa: PLC0415 - web3 stack loads only for EVM commands

    if out.exists():
        fail(f"{out} exists; refusing to overwrite a key")
    signer = LocalSigner.generate(KeyType.SECP256K1)
    with user_errors():
        out.parent.mkdir(parents=True, exist_ok=True)
        write_private_file(out, (signer.secret_bytes().hex() + "\n").encode(), exclusive=True)
    typer.echo(Account.from_key(signer.secret_bytes()).address)


@ledger_app.command("deploy")
def ledger_deploy(
    evm_url: EvmUrl,
    admin_key_file: AdminKeyFile,
    anchorer: Annotated[
        list[str] | None,
        typer.Option("--anchorer", help="Address permitted to anchor (repeatable)."),
    ] = None,
) -> None:
    """Deploy the RealDIDAnchor contract and permit the given anchorers; prints its address."""
    from realdid.ledger import EvmLedger  # noqa: PLC0415 - web3 loads only for EVM commands

    key = read_key_file(admin_key_file, "--admin-key-file")
    with user_errors():
        address = EvmLedger.deploy(evm_url, key, list(anchorer or []))
    typer.echo(address)


@ledger_app.command("anchorer")
def ledger_anchorer(
    action: Annotated[AnchorerAction, typer.Argument(help="add or remove")],
    address: Annotated[str, typer.Argument(help="The anchorer's Ethereum address.")],
    evm_url: EvmUrl,
    anchor_contract: Annotated[
        str, typer.Option("--anchor-contract", help="Address of the RealDIDAnchor contract.")
    ],
    admin_key_file: AdminKeyFile,
) -> None:
    """Permit or revoke a consortium member's anchorer address (admin only)."""
    from realdid.ledger import EvmAnchorAdmin  # noqa: PLC0415 - web3 loads only for EVM commands

    key = read_key_file(admin_key_file, "--admin-key-file")
    with user_errors(), EvmAnchorAdmin(evm_url, anchor_contract, key) as admin:
        if action is AnchorerAction.ADD:
            admin.add_anchorer(address)
        else:
            admin.remove_anchorer(address)
        permitted = admin.is_anchorer(address)
    typer.echo(f"{address} {'is' if permitted else 'is not'} a permitted anchorer")
