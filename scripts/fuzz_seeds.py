"""Rebuild the fuzz seed corpus under ``tests/fuzz/corpus/<target>/`` (deterministic).

Usage: ``.venv/bin/python scripts/fuzz_seeds.py [--check]``. The seeds are real inputs made
by the project's own code (``tests/fuzz/seeds.py``); running this twice writes the same
bytes. Generated files no longer built are removed; reproducers of fixed findings
(``regress-*``) are kept. ``--check`` writes nothing and exits 1 if the corpus is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz.seeds import REGRESSION_PREFIX, build_seeds  # noqa: E402
from tests.fuzz.targets import CORPUS  # noqa: E402


def _stale(seeds: dict[str, dict[str, bytes]]) -> list[str]:
    """Corpus files that differ from, or are missing in, or are not in ``seeds``."""
    stale: list[str] = []
    for target, files in seeds.items():
        folder = CORPUS / target
        for name, data in files.items():
            path = folder / name
            if not path.is_file() or path.read_bytes() != data:
                stale.append(f"{target}/{name}")
        if folder.is_dir():
            stale.extend(
                f"{target}/{path.name}"
                for path in folder.iterdir()
                if path.name not in files and not path.name.startswith(REGRESSION_PREFIX)
            )
    return sorted(stale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report a stale corpus")
    args = parser.parse_args(argv)
    seeds = build_seeds()
    stale = _stale(seeds)
    if args.check:
        for name in stale:
            print(f"stale: {name}")
        return 1 if stale else 0
    for target, files in seeds.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            if path.name not in files and not path.name.startswith(REGRESSION_PREFIX):
                path.unlink()
        for name, data in files.items():
            (folder / name).write_bytes(data)
    total = sum(len(d) for files in seeds.values() for d in files.values())
    count = sum(len(files) for files in seeds.values())
    print(f"{count} seeds, {total:,} bytes, in {CORPUS.relative_to(ROOT)} ({len(stale)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
