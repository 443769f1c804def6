"""Enrollment benchmark (issue 4): residents enrolled per second, end to end.

PLACEHOLDER - register cache builder only (full benchmark below is filled in later).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import random
import sys
import time
from pathlib import Path

from realdid.authority import SqliteRegister
from realdid.authority._register import CSV_COLUMNS, encode_face
from realdid.authority._synthetic import generate_residents

CACHE = Path(__file__).resolve().parent / ".cache"


def _generate_part(args: tuple[int, int, str]) -> int:
    seed, count, prefix = args
    n = 0
    start = time.perf_counter()
    with (
        open(prefix + ".csv", "w", encoding="utf-8", newline="") as rows,
        open(prefix + ".captures", "w", encoding="ascii", newline="") as caps,
    ):
        writer = csv.writer(rows, lineterminator="\n")
        for resident, capture in generate_residents(count, random.Random(seed)):
            writer.writerow(resident.to_row())
            caps.write(f"{resident.id_number},{encode_face(capture)}\n")
            n += 1
            if n % 50_000 == 0:
                rate = n / (time.perf_counter() - start)
                print(f"  part {seed}: {n:,}/{count:,} residents ({rate:,.0f}/s)", flush=True)
    return n


def register_cache(residents: int, workers: int = 2) -> Path:
    """Build (once) and return ``bench/.cache/register-<N>/`` with register.db + captures."""
    folder = CACHE / f"register-{residents}"
    done = folder / "complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    per = residents // workers + 1000  # a few spare: parts may collide on an ID number
    prefixes = [str(folder / f"part-{i}") for i in range(workers)]
    print(f"generating {residents:,} synthetic residents with {workers} processes ...", flush=True)
    with multiprocessing.Pool(workers) as pool:
        pool.map(_generate_part, [(1 + i, per, prefixes[i]) for i in range(workers)])
    print(f"  generated in {time.perf_counter() - start:.0f} s; merging", flush=True)
    seen: set[str] = set()
    with (
        open(folder / "register.csv", "w", encoding="utf-8", newline="") as out,
        open(folder / "captures.txt", "w", encoding="ascii", newline="") as caps_out,
    ):
        out.write(",".join(CSV_COLUMNS) + "\n")
        for prefix in prefixes:
            with (
                open(prefix + ".csv", encoding="utf-8") as rows,
                open(prefix + ".captures", encoding="ascii") as caps,
            ):
                for row, cap in zip(rows, caps, strict=True):
                    if len(seen) >= residents:
                        break
                    id_number = row[:18]
                    if id_number in seen:
                        continue
                    seen.add(id_number)
                    out.write(row)
                    caps_out.write(cap)
    for prefix in prefixes:
        Path(prefix + ".csv").unlink()
        Path(prefix + ".captures").unlink()
    print(f"  importing {len(seen):,} residents into register.db (SqliteRegister.import_csv)", flush=True)
    t0 = time.perf_counter()
    db = folder / "register.db"
    db.unlink(missing_ok=True)
    with SqliteRegister(db) as register:
        imported = register.import_csv(folder / "register.csv")
    (folder / "register.csv").unlink()
    print(f"  imported {imported:,} in {time.perf_counter() - t0:.0f} s", flush=True)
    done.write_text(f"{imported}\n")
    print(f"register cache ready in {time.perf_counter() - start:.0f} s: {folder}", flush=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    args = parser.parse_args()
    register_cache(args.residents)


if __name__ == "__main__":
    sys.exit(main())
