"""`amazon-assets ingest mart` and the mart part of the demo."""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

from amazon_assets.commands import (
    DemoContext,
    add_day_range_options,
    check_summary,
    days_from_arguments,
    run_account_job,
    run_job,
)
from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
from amazon_assets.defs.mart.assets import LOOKBACK_DAYS, MART_JOB
from amazon_assets.partitions import daily_partitions
from amazon_assets.resources.postgres import mart_warehouse_from_settings
from amazon_assets.resources.warehouse import warehouse_kept_open
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    mart = ingest.add_parser(
        "mart", help="rebuild the mart, its quality report, features, score, alerts, comparison"
    )
    add_day_range_options(mart)
    mart.set_defaults(handler=ingest_mart)


def ingest_mart(settings: Settings, args: argparse.Namespace) -> int:
    first, last = days_from_arguments(args)  # bad arguments fail before the code loads
    from amazon_assets.definitions import defs

    started = time.monotonic()
    # Silver only: the mart never calls Amazon, so no sandbox is needed.
    with warehouse_kept_open(settings):
        result = run_job(defs, MART_JOB, first.isoformat(), last.isoformat())
    print(
        f"mart: {first}..{last} rebuilt in {time.monotonic() - started:.1f}s into "
        f"{'postgres' if settings.database_url else 'duckdb'}; {check_summary(result)}"
    )
    for line in summary(settings, first, last):
        print(f"  {line}")
    return 0


def summary(settings: Settings, first: date, last: date) -> list[str]:
    """Mart rows, the top 3 explosive scores of the last day and the alerts of the days."""
    _, mart = mart_warehouse_from_settings(settings, secret_from_env=False)
    between = f"report_date >= '{first}' AND report_date <= '{last}'"
    counts = mart.query(
        "SELECT count(*) AS n, count(DISTINCT asin) AS asins"
        f" FROM {mart.table('mart', 'mart_asin_daily')} WHERE {between}"
    ).row(0, named=True)
    top = mart.query(
        "SELECT asin, category, explosive_score, category_rank"
        f" FROM {mart.table('features', 'score_baseline_daily')}"
        f" WHERE report_date = '{last}' AND explosive_score IS NOT NULL"
        " ORDER BY explosive_score DESC, asin LIMIT 3"
    )
    alerts = mart.query(
        f"SELECT kind, count(*) AS n FROM {mart.table('features', 'alerts')}"
        f" WHERE {between} GROUP BY kind ORDER BY kind"
    )
    best = ", ".join(
        f"{r['asin']} {r['explosive_score']:.2f} "
        f"(#{r['category_rank']} in {r['category'] or 'uncategorised'})"
        for r in top.iter_rows(named=True)
    )
    by_kind = ", ".join(f"{n} {kind}" for kind, n in alerts.iter_rows())
    return [
        f"mart: {counts['n']} rows for {counts['asins']} ASINs, {first}..{last}",
        f"top explosive scores on {last}: {best or 'none (no ranked ASINs)'}",
        f"alerts: {int(alerts['n'].sum()) if alerts.height else 0} ({by_kind or 'none'})",
    ]


def demo(context: DemoContext) -> list[str]:
    """The mart and everything computed from it, with LOOKBACK_DAYS of history for the windows."""
    settings = context.settings
    started = time.monotonic()
    partition_start = daily_partitions(settings).start.date()
    history_first = max(context.first - timedelta(days=LOOKBACK_DAYS), partition_start)
    lines = []
    if history_first < context.first:
        # Rolling windows read the month before the demo days: load its business reports too.
        history_last = context.first - timedelta(days=1)
        run_account_job(
            context.defs, BUSINESS_REPORTS_JOB, DEFAULT_ACCOUNT, history_first, history_last
        )
        lines.append(f"business reports for the windows' history: {history_first}..{history_last}")
    with warehouse_kept_open(settings):
        result = run_job(
            context.defs, MART_JOB, history_first.isoformat(), context.last.isoformat()
        )
    lines.append(
        f"mart + features + score + alerts + comparison for {history_first}..{context.last} "
        f"({time.monotonic() - started:.1f}s); {check_summary(result)}"
    )
    return lines + summary(settings, context.first, context.last)
