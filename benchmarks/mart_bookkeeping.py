"""Benchmark: the 60-day mart job through the CLI and Dagster, against its pure functions alone.

    python benchmarks/mart_bookkeeping.py [--home DIR] [--skus 300] [--days 60] [--port 22010]
                                          [--dagster-pg postgresql://.../db]

1. builds a demo home (`amazon-assets demo --days N --asins SKUS`, the sandbox's marketplace)
   unless --home already holds one;
2. runs `amazon-assets ingest mart --days N` on it, as a user does: the whole command's wall
   time, and the run's own time from the Dagster instance (start to end of the run), with the
   number of events the run stored;
3. in this process, times the functions the mart job's assets call on the same days and the
   same silver data (read silver and join the mart, quality, features, score, alerts, competitor
   comparison), without Dagster; then writes their six outputs into a scratch copy of the
   warehouse the way the IO manager does (delete the days, insert), still without Dagster;
4. prints both and the ratios: run time / function time (the issue's goal: at most 5x), and
   run time / (functions + writes), which leaves only Dagster's own share;
5. prints the fixed cost of a command apart: the command's time before its run starts (process
   start, imports, code location load, the run's creation) and after it ends, a bare Python, an
   `import dagster` and an import of the code location, and a 1-day `ingest mart` run.

With --dagster-pg the command runs against a Dagster instance in that (empty) PostgreSQL
database, as the production `dagster.yaml` does, instead of the home's embedded SQLite one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "amazon_assets.cli"]


def _env(home: Path, port: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SP_API_", "ADS_API_", "DAGSTER_"))
    }
    env.update(AMAZON_ASSETS_HOME=str(home), AMAZON_ASSETS_SANDBOX_PORT=str(port))
    return env


def _run(command: list[str], env: dict[str, str], quiet: bool = False) -> tuple[float, float]:
    """Run a command; (wall clock when it started, seconds it took)."""
    started_at, started = time.time(), time.monotonic()
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed:\n{done.stderr[-3000:]}")
    if not quiet:
        print(done.stdout.rstrip())
    return started_at, elapsed


def build_home(home: Path, skus: int, days: int, port: int) -> None:
    if (home / "warehouse.duckdb").exists():
        print(f"reusing the demo home {home}")
        return
    print(f"building a {skus}-SKU, {days}-day demo home in {home} ...")
    _, elapsed = _run([*CLI, "demo", "--days", str(days), "--asins", str(skus)], _env(home, port))
    print(f"demo home built in {elapsed:.0f}s")


def dagster_run(home: Path, days: int, port: int, dagster_pg: str | None) -> dict[str, float]:
    """The mart job as a user runs it; the run's duration and events from the instance."""
    env = _env(home, port)
    if dagster_pg:
        instance_dir = home / "dagster-pg"
        instance_dir.mkdir(exist_ok=True)
        (instance_dir / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
        env.update(DAGSTER_HOME=str(instance_dir), DAGSTER_PG_URL=dagster_pg)
        os.environ["DAGSTER_PG_URL"] = dagster_pg
    started_at, wall = _run([*CLI, "ingest", "mart", "--days", str(days)], env, quiet=days == 1)
    os.environ["DAGSTER_HOME"] = env.get("DAGSTER_HOME", str(home / "dagster"))
    import dagster as dg

    from amazon_assets.defs.mart.assets import MART_JOB

    with dg.DagsterInstance.get() as instance:
        [record] = instance.get_run_records(filters=dg.RunsFilter(job_name=MART_JOB), limit=1)
        events = len(instance.all_logs(record.dagster_run.run_id))
        storage = type(instance.event_log_storage).__name__
    start, end = record.start_time or 0.0, record.end_time or 0.0
    return {
        "command": wall,
        "run": end - start,
        "before run": start - started_at,
        "after run": started_at + wall - end,
        "events": events,
        "storage": storage,
    }


def python_start(home: Path, port: int) -> dict[str, float]:
    """Seconds for a bare Python, `import dagster` and importing the code location."""
    env = _env(home, port) | {"DAGSTER_HOME": str(home / "dagster")}
    statements = {
        "python": "pass",
        "import dagster": "import dagster",
        "import the code location": "import amazon_assets.definitions",
    }
    return {
        name: _run([sys.executable, "-c", statement], env, quiet=True)[1]
        for name, statement in statements.items()
    }


def pure_functions(home: Path, days: int) -> dict[str, float]:
    """The same computations on the same days, timed step by step, nothing written."""
    import polars as pl

    from amazon_assets.analytics.alerts import AlertThresholds, detect_alerts
    from amazon_assets.analytics.competition import (
        MAX_COMPETITORS,
        MIN_COMPETITORS,
        competitor_comparison_daily,
    )
    from amazon_assets.analytics.features import features_asin_daily
    from amazon_assets.analytics.score import ScoreConfig, score_baseline_daily
    from amazon_assets.defs.mart.assets import LOOKBACK_DAYS, in_days
    from amazon_assets.defs.mart.checks import data_quality_daily
    from amazon_assets.defs.mart.sources import build_mart_for_days, competitor_pairs
    from amazon_assets.resources.warehouse import WarehouseResource

    warehouse = WarehouseResource(kind="duckdb", database=str(home / "warehouse.duckdb"))
    last = date.today() - timedelta(days=1)
    first, end = last - timedelta(days=days - 1), last + timedelta(days=1)
    times: dict[str, float] = {}

    def timed(name: str, compute):
        started = time.perf_counter()
        value = compute()
        times[name] = time.perf_counter() - started
        return value

    built = timed(
        "mart (read silver, join)",
        lambda: build_mart_for_days(warehouse, "amazon_econ", first, end),
    )
    history = timed(
        "mart lookback (read)",
        lambda: warehouse.query(
            "SELECT * FROM mart.mart_asin_daily WHERE report_date >= "
            f"'{first - timedelta(days=LOOKBACK_DAYS)}' AND report_date < '{first}'"
        ),
    )
    mart = built.mart
    with_history = pl.concat([history.select(mart.columns).cast(mart.schema), mart])
    timed("quality", lambda: data_quality_daily(mart))
    features = timed(
        "features",
        lambda: in_days(features_asin_daily(with_history.lazy()).collect(), first, end),
    )
    timed("score", lambda: score_baseline_daily(features.lazy(), ScoreConfig()).collect())
    timed(
        "alerts",
        lambda: in_days(
            detect_alerts(with_history.lazy(), AlertThresholds()).collect(), first, end
        ),
    )

    def comparison():
        pairs = competitor_pairs(built.tracked)
        sizes = pairs.group_by("account", "own_asin").len()
        valid = sizes.filter(pl.col("len").is_between(MIN_COMPETITORS, MAX_COMPETITORS))
        pairs = pairs.join(valid.select("account", "own_asin"), on=["account", "own_asin"])
        return competitor_comparison_daily(mart.lazy(), pairs).collect() if pairs.height else None

    comparison_frame = timed("competitor comparison", comparison)
    quality = data_quality_daily(mart)
    scores = score_baseline_daily(features.lazy(), ScoreConfig()).collect()
    alerts = in_days(detect_alerts(with_history.lazy(), AlertThresholds()).collect(), first, end)
    outputs = {
        "mart_asin_daily": mart,
        "data_quality_daily": quality,
        "features_asin_daily": features,
        "score_baseline_daily": scores,
        "alerts": alerts,
        "competitor_comparison_daily": comparison_frame,
    }
    times["writes"] = write_outputs(home, outputs, first, end)
    times["mart rows"] = mart.height
    return times


def write_outputs(home: Path, outputs: dict, first: date, end: date) -> float:
    """Seconds to replace the days of the six outputs in a scratch copy of the warehouse, with
    the statements the DuckDB IO manager runs (delete the window, insert by name)."""
    import shutil
    import tempfile

    import duckdb

    from amazon_assets.resources.warehouse import create_table_sql

    scratch = Path(tempfile.mkdtemp()) / "warehouse.duckdb"
    shutil.copy(home / "warehouse.duckdb", scratch)
    started = time.perf_counter()
    for table, frame in outputs.items():
        if frame is None:
            continue
        name = f"bench.{table}"
        with duckdb.connect(str(scratch)) as connection:
            connection.execute("CREATE SCHEMA IF NOT EXISTS bench")
            connection.execute(create_table_sql(name, frame.schema, "duckdb"))
            connection.execute(
                f"DELETE FROM {name} WHERE report_date >= '{first}' AND report_date < '{end}'"
            )
            connection.register("_frame", frame.to_arrow())
            connection.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _frame")
    elapsed = time.perf_counter() - started
    shutil.rmtree(scratch.parent)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/amazon-assets-mart-bench"))
    parser.add_argument("--skus", type=int, default=300)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--port", type=int, default=22010, help="the demo's sandbox port")
    parser.add_argument("--dagster-pg", default=None, help="an empty PostgreSQL database URL")
    args = parser.parse_args()
    home = args.home.resolve()
    build_home(home, args.skus, args.days, args.port)
    load_before = os.getloadavg()
    dagster = dagster_run(home, args.days, args.port, args.dagster_pg)
    one_day = dagster_run(home, 1, args.port, args.dagster_pg)
    starts = python_start(home, args.port)
    pure = pure_functions(home, args.days)
    rows = pure.pop("mart rows")
    writes = pure.pop("writes")
    functions = sum(pure.values())
    print()
    print(f"mart job, {args.days} days, {rows:.0f} mart rows ({args.skus} SKUs + competitors)")
    print(f"  amazon-assets ingest mart (command)   {dagster['command']:8.1f} s")
    print(
        f"  its Dagster run (start to end)        {dagster['run']:8.1f} s  ({dagster['events']:.0f} events stored)"
    )
    print(f"  the same functions alone              {functions:8.1f} s")
    for name, seconds in pure.items():
        print(f"    {name:34s} {seconds:8.2f} s")
    instance = "PostgreSQL" if args.dagster_pg else "embedded SQLite"
    run = dagster["run"]
    print(f"  writing their outputs (no Dagster)    {writes:8.1f} s")
    print(f"  Dagster instance                      {instance} ({dagster['storage']})")
    print(f"  ratio run / functions                 {run / functions:8.1f} x  (goal <= 5x)")
    print(f"  ratio run / (functions + writes)      {run / (functions + writes):8.1f} x")
    print(f"  ratio command / functions             {dagster['command'] / functions:8.1f} x")
    print()
    print("fixed cost of a command, whatever its days")
    print(f"  {args.days}-day command before its run starts  {dagster['before run']:8.1f} s")
    print(f"  {args.days}-day command after its run ends     {dagster['after run']:8.1f} s")
    for name, seconds in starts.items():
        print(f"    {name:34s} {seconds:8.2f} s")
    print(
        f"  1-day ingest mart: command {one_day['command']:.1f} s, run {one_day['run']:.1f} s "
        f"({one_day['events']:.0f} events stored)"
    )
    for when, loads in (("before the runs", load_before), ("now", os.getloadavg())):
        load = ", ".join(f"{value:.1f}" for value in loads)
        print(f"  load average {when:24s} {load} (1, 5, 15 min; {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
