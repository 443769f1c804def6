"""I-JSON parsing cost (``realdid.ijson``): what refusing duplicate members adds to orjson.

Run with ``.venv/bin/python bench/bench_ijson.py`` (also part of ``make bench``). Prints,
for one DID create operation and for a bulk submission of 100 of them, microseconds per
parse with orjson alone (which keeps the last of two equal names) and with
:func:`realdid.ijson.loads` (orjson, then the standard library's parser reporting every
member to a hook), next to the PyNaCl Ed25519 verify rate measured in the same run: every
operation's signature is verified right after it is parsed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from bench_node import _make_creates, raw_crypto_limit
from realdid import ijson


def per_parse_us(parse: Callable[[bytes], object], data: bytes, repeat: int) -> list[float]:
    """``repeat`` timings of one parse, in µs; each run parses ~200 kB in all."""
    number = max(1, 200_000 // len(data))
    runs = timeit.repeat(lambda: parse(data), number=number, repeat=repeat)
    return [run / number * 1e6 for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (spread)")
    args = parser.parse_args()
    _, verifies = raw_crypto_limit()
    ops = _make_creates((7, 100))
    cases = {"one operation": ops[0], "100 operations": b"[" + b",".join(ops) + b"]"}
    print(f"raw limit: PyNaCl Ed25519 {verifies:,.0f} verifies/s = {1e6 / verifies:.1f} µs each")
    print(f"{'case':16} {'bytes':>7} {'orjson µs':>10} {'ijson µs':>9} {'extra per op µs':>16}")
    for name, data in cases.items():
        count = 1 if name == "one operation" else len(ops)
        fast = statistics.median(per_parse_us(orjson.loads, data, args.repeat))
        strict_runs = per_parse_us(ijson.loads, data, args.repeat)
        strict = statistics.median(strict_runs)
        spread = (max(strict_runs) - min(strict_runs)) / strict * 100
        extra = (strict - fast) / count
        print(
            f"{name:16} {len(data):7} {fast:10.1f} {strict:9.1f} {extra:16.2f}  (±{spread:.0f} %)"
        )


if __name__ == "__main__":
    main()
