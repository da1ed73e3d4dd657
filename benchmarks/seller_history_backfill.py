"""Seller-history backfill against the sandbox: requests, simulated time vs the quota bound.

One account, all seven sources, `--months` of history (default 18) on the sandbox's accelerated
clock, with Amazon's default quotas on. The sandbox runs in its own process (as `amazon-assets
sandbox`), so its document generation does not share this process's interpreter. The account's
plan is fetched by `AccountFetcher` (every request at once, buckets shared) into a temporary
lake, then every source's silver is parsed from it. Prints: requests per operation, simulated
Amazon wall time next to the lower bound the quotas impose on those requests, 429s, real wall
time and peak memory.

The clock speed trades real time for fidelity: every real second the sandbox and the client
spend building, sending and parsing documents is `speed` simulated seconds, so too fast a clock
measures this machine's CPU, not Amazon's quotas. At x30 an 18-month, 1,000-SKU history (about
8.5 simulated hours, bound by the Finances API's 0.5 pages a second) takes about 17 real minutes.

    python benchmarks/seller_history_backfill.py --skus 1000 --speed 30
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from amazon_assets.defs.seller_history.bronze import AccountFetcher
from amazon_assets.defs.seller_history.silver import load_silver
from amazon_assets.defs.seller_history.spec import SPECS
from amazon_assets.partitions import history_start
from amazon_assets.resources.lake import LocalLake
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.settings import (
    DEFAULT_ACCOUNT,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
)
from amazon_assets.sources import planner
from amazon_assets.sources.quotas import SP_API_QUOTAS, Clock


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_sandbox(port: int, skus: int, speed: float, home: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "AMAZON_ASSETS_HOME": str(home),
        "AMAZON_ASSETS_SANDBOX_SPEED": str(speed),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amazon_assets.cli",
            "sandbox",
            "--port",
            str(port),
            "--asins",
            str(skus),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=1.0)
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the sandbox did not start within 60 seconds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=1000, help="SKUs in the sandbox account")
    parser.add_argument("--months", type=int, default=18, help="months of history")
    parser.add_argument(
        "--speed", type=float, default=30.0, help="simulated seconds per real second"
    )
    args = parser.parse_args(argv)

    today = date.today()
    first, last = history_start(today, args.months), today - timedelta(days=1)
    plan = planner.plan_requests(SPECS.values(), first, last)
    with tempfile.TemporaryDirectory(prefix="seller-bench-") as directory:
        home = Path(directory)
        port = _free_port()
        sandbox = _start_sandbox(port, args.skus, args.speed, home / "sandbox")
        url = f"http://127.0.0.1:{port}"
        try:
            sp_api = SpApiResource(
                endpoint=url,
                lwa_token_url=f"{url}/auth/o2/token",
                refresh_token=SANDBOX_REFRESH_TOKEN_PREFIX + DEFAULT_ACCOUNT,
                client_id=SANDBOX_CLIENT_ID,
                client_secret=SANDBOX_CLIENT_SECRET,
                state_path=str(home / "state.sqlite"),
                clock_speed=args.speed,
                source_label="sandbox",
            )
            lake = LocalLake(home / "lake")
            clock = Clock(args.speed)
            started_real, started_sim = time.monotonic(), clock.now()
            AccountFetcher(sp_api, lake, skip_stored=True).run(plan)
            simulated = clock.now() - started_sim
            fetched_real = time.monotonic() - started_real
            stats = httpx.get(f"{url}/_sandbox/stats", timeout=10).json()
            rows = {}
            for source in SPECS:
                batch = load_silver(lake, source, DEFAULT_ACCOUNT, first, last, datetime.now(UTC))
                rows[source] = batch.facts.height
            real = time.monotonic() - started_real
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)

    calls = {op: n for op, n in stats["calls"].items() if op in SP_API_QUOTAS}
    bound = planner.quota_lower_bound(calls)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"seller-history backfill: 1 account, {args.skus} SKUs, {first}..{last}, speed {args.speed:g}x"
    )
    print(
        f"planned requests: {len(plan)} ({', '.join(f'{s} {sum(r.source == s for r in plan)}' for s in SPECS)})"
    )
    print("requests sent: " + ", ".join(f"{op} {n}" for op, n in sorted(stats["calls"].items())))
    print(
        f"simulated Amazon wall time: {simulated / 3600:.2f} h; lower bound from the quotas: "
        f"{bound / 3600:.2f} h ({simulated / bound:.1%} of it)"
        if bound
        else f"simulated Amazon wall time: {simulated / 3600:.2f} h; lower bound from the quotas: 0 (bursts cover it)"
    )
    throttled = {op: n for op, n in stats["throttled"].items() if n}
    print(
        f"429s: {sum(throttled.values())}"
        + (
            f" ({', '.join(f'{op} {n}' for op, n in sorted(throttled.items()))})"
            if throttled
            else ""
        )
    )
    print("silver rows: " + ", ".join(f"{s} {n}" for s, n in rows.items()))
    print(f"real wall time: {real:.1f}s (fetch {fetched_real:.1f}s); peak memory: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
