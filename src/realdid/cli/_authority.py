"""``realdid authority register …``: generate synthetic residents, import a register CSV."""

from __future__ import annotations

import random
import secrets
from pathlib import Path
from typing import Annotated

import typer

from realdid.authority import (
    AuthorityError,
    CsvBackedRegister,
    SqliteBusinessRegister,
    SqliteRegister,
    write_business_register,
    write_register,
)

from ._app import app, fail, user_errors

authority_app = typer.Typer(help="Identity authority: population register.", no_args_is_help=True)
register_app = typer.Typer(help="The population register.", no_args_is_help=True)
app.add_typer(authority_app, name="authority")
authority_app.add_typer(register_app, name="register")


@register_app.command("generate")
def register_generate(
    count: Annotated[int, typer.Option("--count", min=0, help="Number of residents.")],
    out: Annotated[Path, typer.Option("--out", help="Register CSV to write.")],
    captures: Annotated[
        Path | None, typer.Option("--captures", help="Sidecar of id_number,capture lines.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for a reproducible file.")
    ] = None,
) -> None:
    """Write COUNT synthetic residents (never real people) as a register CSV."""
    rng = _rng(seed)
    with user_errors():
        n = write_register(count, rng, out, captures)
    typer.echo(f"generated {n} residents into {out}")


@register_app.command("import")
def register_import(
    file: Annotated[Path, typer.Argument(help="Register CSV.")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Authority data directory.")],
) -> None:
    """Import a register CSV into DATA_DIR/register.db; all or nothing."""
    n, total = _import(SqliteRegister, data_dir / "register.db", file)
    typer.echo(f"imported {n} residents; register holds {total}")


business_app = typer.Typer(help="The enterprise (business) register.", no_args_is_help=True)
authority_app.add_typer(business_app, name="business")


@business_app.command("generate")
def business_generate(
    count: Annotated[int, typer.Option("--count", min=0, help="Number of enterprises.")],
    out: Annotated[Path, typer.Option("--out", help="Business register CSV to write.")],
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for a reproducible file.")
    ] = None,
) -> None:
    """Write COUNT synthetic enterprises (never real ones) as a business register CSV."""
    rng = _rng(seed)
    with user_errors():
        n = write_business_register(count, rng, out)
    typer.echo(f"generated {n} enterprises into {out}")


@business_app.command("import")
def business_import(
    file: Annotated[Path, typer.Argument(help="Business register CSV.")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Authority data directory.")],
) -> None:
    """Import a business register CSV into DATA_DIR/business.db; all or nothing."""
    n, total = _import(SqliteBusinessRegister, data_dir / "business.db", file)
    typer.echo(f"imported {n} enterprises; business register holds {total}")


def _rng(seed: int | None) -> random.Random:
    return random.Random(secrets.randbits(64) if seed is None else seed)  # noqa: S311 - synthetic data


def _import(kind: type[CsvBackedRegister], db_path: Path, file: Path) -> tuple[int, int]:
    """Import ``file`` into the register at ``db_path``; (rows imported, rows held)."""
    with user_errors():
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            with kind(db_path) as register:
                return register.import_csv(file), register.count()
        except AuthorityError as e:
            # Import errors already name the line and the precise cause's code.
            fail(e.diagnostics())
