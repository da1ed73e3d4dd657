"""Benchmark: 90 days of the four Sponsored Products reports for 200 campaigns and 5,000 keywords.

    python benchmarks/advertising.py [--skus 1100] [--keywords-per-ad-group 25] [--days 90]
                                     [--speed 1e6] [--timeout 1800] [--keep]

What it does, all in a temporary directory (removed at the end unless --keep):
1. starts the sandbox in this process, quotas off (the sandbox's Ads API enforces none anyway:
   Amazon publishes no Ads API quotas; the client still paces itself on its own buckets), its
   clock at `--speed` simulated seconds per real second so report processing and polling cost
   next to nothing. The account has `--skus` SKUs (1,100 -> 1,000 ASINs -> 200 campaigns of five
   ASINs, one ad group each) and `--keywords-per-ad-group` keywords (25 -> 5,000 keywords) plus
   two product targets per ad group;
2. in a child process whose settings point at it (ADS_API_ENDPOINT, ADS_API_LWA_TOKEN_URL,
   AMAZON_ASSETS_SANDBOX_SPEED, AMAZON_ASSETS_START_DATE in a temporary AMAZON_ASSETS_HOME), runs
   `ads_entities_job`, then `ads_reports_job` over the `--days` days ending yesterday (UTC) as one
   run, both for the default account (`amazon_assets.commands.run_account_job`, as
   `amazon-assets ingest ads-entities|ads-reports` do). The bronze assets request one report per type and day: 4 x 90 = 360 reports;
3. prints the entity counts loaded, rows per fact table, wall time of each job, peak RSS of the
   run process (its own getrusage) and of the sandbox process, and the load average around it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASET = "amazon_econ"
# Variables that would point the child away from the sandbox or the embedded defaults.
FOREIGN_VARIABLES = (
    "ADS_API_REFRESH_TOKEN",
    "ADS_API_CLIENT_ID",
    "ADS_API_CLIENT_SECRET",
    "ADS_API_REGION",
    "SP_API_REFRESH_TOKEN",
    "SP_API_CLIENT_ID",
    "SP_API_CLIENT_SECRET",
    "GOOGLE_CLOUD_PROJECT",
    "BIGQUERY_DATASET",
    "GCS_BUCKET",
    "DATABASE_URL",
    "DAGSTER_PG_URL",
    "AMAZON_ASSETS_ADS_LOOKBACK_DAYS",
)
INSTANCE_YAML = "telemetry:\n  enabled: false\n"
ENTITY_KINDS = ("campaigns", "adGroups", "keywords", "targets")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _self_peak_kib() -> int:
    """VmHWM of this process (KiB), else ru_maxrss (KiB on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(first: str, last: str) -> int:
    """In the child process: both jobs as in-process runs, then the figures as one JSON line."""
    import duckdb

    from amazon_assets.commands import run_account_job
    from amazon_assets.definitions import defs
    from amazon_assets.defs.advertising import ADS_ENTITIES_JOB, ADS_REPORTS_JOB
    from amazon_assets.parsers.ads_entities import AD_ENTITIES
    from amazon_assets.parsers.ads_reports import AD_REPORT_TYPES
    from amazon_assets.settings import DEFAULT_ACCOUNT, Settings

    started = time.monotonic()
    run_account_job(defs, ADS_ENTITIES_JOB, DEFAULT_ACCOUNT)
    entities_wall = time.monotonic() - started
    entities_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    run_account_job(
        defs, ADS_REPORTS_JOB, DEFAULT_ACCOUNT, date.fromisoformat(first), date.fromisoformat(last)
    )
    reports_wall = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    warehouse = Settings.from_env().warehouse_path
    with duckdb.connect(str(warehouse), read_only=True) as connection:

        def scalar(sql: str, *params: object) -> int:
            return connection.execute(sql, list(params)).fetchone()[0]

        entities = {
            kind: scalar(
                f'select count(*) from "{DATASET}"."{AD_ENTITIES[kind].table}" where is_current'
            )
            for kind in ENTITY_KINDS
        }
        facts = {
            t.table: (
                scalar(
                    f'select count(*) from "{DATASET}"."{t.table}" '
                    "where report_date between ? and ?",
                    first,
                    last,
                ),
                scalar(
                    f'select count(distinct report_date) from "{DATASET}"."{t.table}" '
                    "where report_date between ? and ?",
                    first,
                    last,
                ),
            )
            for t in AD_REPORT_TYPES.values()
        }
    print(
        json.dumps(
            {
                "entities_wall": entities_wall,
                "reports_wall": reports_wall,
                "entities_peak_kib": entities_peak,
                "peak_kib": peak_kib,
                "entities": entities,
                "facts": facts,
            }
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=1100, help="SKUs (1,100 -> 200 campaigns)")
    parser.add_argument(
        "--keywords-per-ad-group", type=int, default=25, help="25 x 200 ad groups = 5,000"
    )
    parser.add_argument("--days", type=int, default=90, help="days ending yesterday (UTC)")
    parser.add_argument(
        "--speed", type=float, default=1e6, help="sandbox clock: simulated seconds per second"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="give up after (seconds)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    parser.add_argument("--last", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.first, args.last)

    from amazon_assets.sandbox import SandboxConfig, SandboxServer
    from amazon_assets.settings import DEFAULT_ACCOUNT

    print(f"load average at start:                  {_load()}", flush=True)
    today = datetime.now(UTC).date()
    last = today - timedelta(days=1)
    first = last - timedelta(days=args.days - 1)
    root = Path(tempfile.mkdtemp(prefix="amazon-assets-bench-ads-"))
    home = root / "home"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text(INSTANCE_YAML)
    config = SandboxConfig(
        skus_per_account=args.skus,
        quotas=False,
        speed=args.speed,
        today=today,
        ads_keywords_per_ad_group=args.keywords_per_ad_group,
    )
    try:
        with SandboxServer(config, port=_free_port()) as sandbox:
            ads = sandbox.app.ads.account(DEFAULT_ACCOUNT)
            expected = {kind: len(ads.entities(kind, today)) for kind in ENTITY_KINDS}
            print(
                f"advertising: {args.skus} SKUs, {expected['campaigns']} campaigns, "
                f"{expected['keywords']} keywords, {args.days} days ({first}..{last}); "
                f"sandbox in-process, quotas off, clock x{args.speed:g}; one run per job",
                flush=True,
            )
            env = {k: v for k, v in os.environ.items() if k not in FOREIGN_VARIABLES}
            env.update(
                AMAZON_ASSETS_HOME=str(home),
                DAGSTER_HOME=str(home / "dagster"),
                ADS_API_ENDPOINT=sandbox.url,
                ADS_API_LWA_TOKEN_URL=sandbox.token_url,
                SP_API_ENDPOINT=sandbox.url,
                SP_API_LWA_TOKEN_URL=sandbox.token_url,
                AMAZON_ASSETS_SANDBOX_PORT=str(sandbox.port),
                AMAZON_ASSETS_SANDBOX_SPEED=repr(args.speed),
                AMAZON_ASSETS_START_DATE=first.isoformat(),
                PYTHONUNBUFFERED="1",
            )
            command = [sys.executable, str(Path(__file__).resolve()), "--child"]
            command += ["--first", first.isoformat(), "--last", last.isoformat()]
            started = time.monotonic()
            try:
                run = subprocess.run(
                    command,
                    cwd=REPO_ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=args.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                print(f"benchmark failed: no result within {args.timeout:g} s", file=sys.stderr)
                return 1
            total_wall = time.monotonic() - started
            children_peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            sandbox_peak_kib = _self_peak_kib()
            reports_created = sandbox.calls("adsCreateReport")
            downloads = sandbox.calls("adsDownload")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        print(f"benchmark failed:\n{run.stderr[-3000:]}", file=sys.stderr)
        return 1
    result = json.loads(lines[-1])
    loaded = result["entities"]
    print(f"campaigns:                              {loaded['campaigns']:,}")
    print(f"ad groups:                              {loaded['adGroups']:,}")
    print(f"keywords:                               {loaded['keywords']:,}")
    print(f"targets:                                {loaded['targets']:,}")
    print(f"days:                                   {args.days}")
    print(f"reports created / downloaded:           {reports_created} / {downloads}")
    for table, (rows, days) in result["facts"].items():
        print(f"{'rows, ' + table + ':':<40}{rows:,} ({days} days)")
    print(
        f"rows, all four fact tables:             {sum(r for r, _ in result['facts'].values()):,}"
    )
    print(f"wall time, ads_entities_job:            {result['entities_wall']:.1f} s")
    print(f"wall time, ads_reports_job:             {result['reports_wall']:.1f} s")
    print(f"wall time, child process:               {total_wall:.1f} s (imports and both runs)")
    print(
        f"peak RSS, run process:                  {_mib(result['peak_kib'])} "
        f"(after entities {_mib(result['entities_peak_kib'])}; "
        f"ru_maxrss of children {_mib(children_peak_kib)})"
    )
    print(f"peak RSS, sandbox process:              {_mib(sandbox_peak_kib)}")
    print(f"load average at end:                    {_load()}")
    complete = all(days == args.days for _, days in result["facts"].values())
    return 0 if complete and loaded == expected and reports_created == 4 * args.days else 1


if __name__ == "__main__":
    sys.exit(main())
