"""EVM consortium benchmark: DID operations anchored through the ``evm`` backend on anvil,
and the rate at which a fresh node rebuilds its index from the chain plus a peer.

Run with ``make bench`` (second part; needs ``node_modules/.bin/anvil``: ``make node_modules/.stamp``).
Results are printed beside the raw PyNaCl Ed25519 sign/verify rates of the same run.

1. anvil (automine) starts on a free port; the anchor contract is deployed with the real
   CLI; a node runs ``realdid serve --ledger evm --confirmations 0``;
2. ``--creates`` create operations are submitted in bulk requests; the clock stops when the
   last one is anchored on the chain and resolvable;
3. a second node with an empty data directory and no anchorer key (a follower) starts with
   the first as its only peer; the clock stops when its index has applied every anchor:
   the rebuild rate is operations applied per second (chain scan + peer fetch + replay).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_node import (
    REALDID,
    free_port,
    generate_creates,
    raw_crypto_limit,
    submit_all,
    wait_until,
)
from realdid.did import ParsedOperation

REPO = Path(__file__).resolve().parent.parent
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
# anvil's first two dev accounts (public test keys from the "test ... junk" mnemonic).
ADMIN_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANCHORER_KEY = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REALDID_RATE_LIMITS__EXEMPT": "127.0.0.1"}  # the one load client
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=100_000)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    if not ANVIL.exists():
        sys.exit("error: anvil missing; run 'make node_modules/.stamp'")

    sign_rate, verify_rate = raw_crypto_limit()
    print(
        f"raw limit   PyNaCl Ed25519: {sign_rate:,.0f} signs/s, {verify_rate:,.0f} verifies/s (one core)"
    )
    creates = generate_creates(args.creates)
    last_hash = ParsedOperation.from_canonical(creates[-1]).hash

    with tempfile.TemporaryDirectory(prefix="realdid-bench-evm-") as tmp_dir:
        tmp = Path(tmp_dir)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            chain_port = free_port()
            procs.append(
                start([str(ANVIL), "--port", str(chain_port), "--silent"], tmp / "anvil.log")
            )
            evm_url = f"http://127.0.0.1:{chain_port}"
            wait_http(evm_url)
            (tmp / "admin.key").write_text(ADMIN_KEY)
            (tmp / "anchorer.key").write_text(ANCHORER_KEY)
            anchorer = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"from eth_account import Account; print(Account.from_key('0x{ANCHORER_KEY}').address)",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            contract = subprocess.run(
                [
                    str(REALDID),
                    "ledger",
                    "deploy",
                    "--evm-url",
                    evm_url,
                    "--admin-key-file",
                    str(tmp / "admin.key"),
                    "--anchorer",
                    anchorer,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            evm = [
                "--ledger",
                "evm",
                "--evm-url",
                evm_url,
                "--anchor-contract",
                contract,
                "--confirmations",
                "0",
            ]

            port = free_port()
            procs.append(
                start(
                    [
                        str(REALDID),
                        "serve",
                        "--authority-port",
                        "0",
                        "--data-dir",
                        str(tmp / "a"),
                        "--port",
                        str(port),
                        "--batch-interval",
                        "0.2",
                        *evm,
                        "--anchorer-key-file",
                        str(tmp / "anchorer.key"),
                    ],
                    tmp / "a.log",
                )
            )
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/healthz")
            started = time.perf_counter()
            submit_all(url, creates, args.bulk, args.clients)
            wait_until(url, last_hash)
            elapsed = time.perf_counter() - started
            anchors = httpx.get(f"{url}/healthz").json()["anchorSequence"] + 1
            print(
                f"evm anchor  {len(creates) / elapsed:,.0f} DID creations/s submitted -> anchored on anvil and resolvable "
                f"({len(creates):,} ops in {anchors} anchor transactions, {elapsed:.2f} s) | raw limit {verify_rate:,.0f} verifies/s"
            )

            follower_port = free_port()
            started = time.perf_counter()
            procs.append(
                start(
                    [
                        str(REALDID),
                        "serve",
                        "--authority-port",
                        "0",
                        "--data-dir",
                        str(tmp / "b"),
                        "--port",
                        str(follower_port),
                        *evm,
                        "--peers",
                        url,
                    ],
                    tmp / "b.log",
                )
            )
            follower = f"http://127.0.0.1:{follower_port}"
            wait_http(f"{follower}/healthz")
            wait_until(follower, last_hash)
            rebuilt = time.perf_counter() - started
            print(
                f"rebuild     {len(creates) / rebuilt:,.0f} operations/s: a fresh follower rebuilt its index from chain + peer "
                f"({len(creates):,} ops, {anchors} anchors, {rebuilt:.2f} s incl. process start) | raw limit {verify_rate:,.0f} verifies/s"
            )
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)


if __name__ == "__main__":
    main()
