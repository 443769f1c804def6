"""Fresh node rebuild: how fast a new node applies a whole ledger from its batch files.

Run with ``.venv/bin/python bench/bench_rebuild.py --data-dir DIR`` where ``DIR`` is a node
data directory built by bench_node.py / bench_http.py (``build_index``: solo ledger, CAS,
index). The ledger and the batch files are copied into a scratch directory beside an empty
index, and the real :class:`~realdid.ledger.Observer` applies every anchor — what a node
started on a fresh disk (or a new consortium member) does before it serves. The rate is
operations applied per second, printed next to the raw PyNaCl Ed25519 verify rate of the
same run (every operation's signature is verified again on the way) and with the share
of the time the top functions take (``--profile``). ``--processes 1,2`` measures the
observer alone and with the backlog sharded by DID over worker processes
(:class:`~realdid.ledger.ShardedEvaluator`, their start included), run after run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_node import raw_crypto_limit
from realdid.ledger import (
    FileContentStore,
    Observer,
    RegistryStore,
    ShardedEvaluator,
    SoloLedger,
)


def rebuild(
    source: Path,
    scratch: Path,
    limit: int,
    processes: int,
    *,
    ledger_database: str | None = None,
    index_database: str | None = None,
) -> tuple[int, float]:
    """Copy ledger + CAS of ``source`` to ``scratch``, apply ``limit`` anchors at most on
    ``processes`` (1: the observer alone); ``(operations applied, seconds)``.

    PostgreSQL: ``ledger_database`` is the source's database, whose solo ledger is read in
    place (as a new node reads the chain), and ``index_database`` an empty database for the
    fresh index; the batch files are still copied."""
    if ledger_database is None:
        shutil.copy(source / "ledger.db", scratch / "ledger.db")
    shutil.copytree(source / "cas", scratch / "cas")
    ledger = SoloLedger.open_readonly(ledger_database or scratch / "ledger.db")
    store = RegistryStore(index_database or scratch / "node.db")
    sharded = ShardedEvaluator(processes) if processes > 1 else None
    observer = Observer(store, FileContentStore(scratch / "cas"), ledger, sharded=sharded)
    start = time.perf_counter()
    applied = 0
    while applied < limit:
        done = observer.catch_up(max_anchors=min(100, limit - applied))
        if done == 0:
            break
        applied += done
    elapsed = time.perf_counter() - start
    observer.close()
    # The first block is at height 0: the anchors applied are those after -1.
    operations = sum(a.operation_count for a in ledger.anchors_after(-1, applied))
    store.close()
    ledger.close()
    return operations, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a built node data dir")
    parser.add_argument("--anchors", type=int, default=10**9, help="apply this many at most")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    parser.add_argument(
        "--processes", default="1,2", help="comma-separated process counts to compare"
    )
    args = parser.parse_args()
    verifies = raw_crypto_limit()[1]
    print(f"raw limit: PyNaCl Ed25519 {verifies:,.0f} verifies/s on one core")
    counts = [int(n) for n in args.processes.split(",")]
    rates: dict[int, list[float]] = {n: [] for n in counts}
    for run in range(args.repeat):
        for processes in counts:  # interleaved: the machine's noise hits each count alike
            with tempfile.TemporaryDirectory(dir=args.data_dir.parent) as scratch:
                profiler = cProfile.Profile() if args.profile and run == 0 else None
                if profiler is not None:
                    profiler.enable()
                operations, elapsed = rebuild(args.data_dir, Path(scratch), args.anchors, processes)
                if profiler is not None:
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
            rates[processes].append(operations / elapsed)
            print(
                f"run {run + 1}, {processes} process(es): {operations:,} operations in"
                f" {elapsed:.1f} s = {rates[processes][-1]:,.0f}/s"
            )
    for processes, measured in rates.items():
        measured.sort()
        median = measured[len(measured) // 2]
        print(
            f"rebuild, {processes} process(es)  {median:,.0f} operations/s median "
            f"({measured[0]:,.0f}–{measured[-1]:,.0f}) | raw limit {verifies:,.0f} verifies/s "
            f"| ratio {median / verifies:.2f}"
        )


if __name__ == "__main__":
    main()
