"""Checked-in schema migrations, one numbered SQL file per step and engine.

A store keeps its schema beside its code::

    realdid/<package>/migrations/<store>/sqlite/0001_initial.sql
    realdid/<package>/migrations/<store>/postgresql/0001_initial.sql

Files are named ``NNNN_name.sql``; both engines have the same numbers and names, so a
database on either is at a comparable version. On start, a store applies what its database
lacks, in order, inside one transaction that also records each step in
``schema_migrations`` — so a crash mid-migration leaves the old schema, never half a new
one, and two processes starting together apply each step once (SQLite: the write lock;
PostgreSQL: an advisory lock). A database at a version this release does not know is
refused: an older release must not write a newer schema. A read-only process (a resolver
replica) applies nothing and refuses a database that is not fully migrated.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from ._database import Engine, StorageError

__all__ = [
    "MIGRATIONS_TABLE",
    "Migration",
    "check_versions",
    "load_migrations",
    "migrations_of",
    "statements_of",
]

#: Where each database records the steps applied to it (the same on both engines).
MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL)"""

_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step: its number, its name and its SQL (one or more statements)."""

    version: int
    name: str
    sql: str


def migrations_of(package: str, store: str) -> Traversable:
    """The folder of ``store``'s migrations in ``package`` (one sub-folder per engine)."""
    return resources.files(package) / "migrations" / store


def load_migrations(folder: Traversable, engine: Engine) -> tuple[Migration, ...]:
    """The migrations in ``folder``/``engine``, numbered 1, 2, 3, …"""
    found: list[Migration] = []
    for entry in (folder / engine).iterdir():
        match = _FILE.fullmatch(entry.name)
        if match is None:
            raise ValueError(f"{folder}/{engine}: stray file {entry.name}")
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise ValueError(f"{folder}/{engine}: migrations are not numbered 1..n")
    return tuple(found)


def check_versions(
    store: str, applied: set[int], migrations: Sequence[Migration], *, read_only: bool
) -> list[Migration]:
    """The migrations still to apply, or a refusal if the database is newer or, for a
    read-only process, not yet migrated."""
    known = {m.version for m in migrations}
    unknown = sorted(applied - known)
    if unknown:
        raise StorageError(
            f"the {store} database has schema version {unknown[-1]}, newer than this release"
            f" knows ({len(migrations)}); run the release that wrote it"
        )
    pending = [m for m in migrations if m.version not in applied]
    if pending and read_only:
        raise StorageError(
            f"the {store} database lacks schema version {pending[0].version}; start a writer"
            " of this release once before read-only replicas"
        )
    return pending


def statements_of(sql: str) -> Iterator[str]:
    """The statements of a SQLite script, split where :func:`sqlite3.complete_statement`
    says one ends (so a ``;`` inside a string or a trigger body does not split)."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip().strip(";").strip() and not buffer.lstrip().startswith("--"):
        raise ValueError("migration ends inside a statement (missing ';')")
