"""`amazon-assets ingest ads-entities | ads-reports` and the advertising part of the demo."""

from __future__ import annotations

import argparse
import time

from amazon_assets.commands import (
    DemoContext,
    add_day_range_options,
    check_summary,
    embedded_sandbox,
    ingest_days_handler,
    run_job,
)
from amazon_assets.defs.advertising import ADS_ENTITIES_JOB, ADS_REPORTS_JOB
from amazon_assets.defs.advertising.assets import oldest_requestable_day, utc_today
from amazon_assets.settings import Settings


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    entities = ingest.add_parser(
        "ads-entities", help="snapshot Ads API profiles, campaigns, ad groups, keywords, targets"
    )
    entities.set_defaults(handler=ingest_ads_entities)
    reports = ingest.add_parser(
        "ads-reports", help="Sponsored Products daily v3 reports (campaigns, targeting, ...)"
    )
    add_day_range_options(reports)
    reports.set_defaults(handler=ingest_days_handler(ADS_REPORTS_JOB, "ads-reports"))


def _run_entities(defs) -> str:
    result = run_job(defs, ADS_ENTITIES_JOB)
    return check_summary(result)


def ingest_ads_entities(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import defs

    started = time.monotonic()
    with embedded_sandbox(settings):
        summary = _run_entities(defs)
    print(f"ads-entities: snapshot merged in {time.monotonic() - started:.1f}s; {summary}")
    return 0


def demo(context: DemoContext) -> list[str]:
    """Ads entities and the four daily reports for the demo days (within the API's retention)."""
    from amazon_assets.resources.warehouse import warehouse_from_settings

    settings = context.settings
    first = max(context.first, oldest_requestable_day(utc_today()))
    started = time.monotonic()
    entities = _run_entities(context.defs)
    reports = run_job(context.defs, ADS_REPORTS_JOB, first.isoformat(), context.last.isoformat())
    _, warehouse = warehouse_from_settings(settings)
    table = warehouse.table(settings.bigquery_dataset, "fact_ads_sp_advertised_products")
    totals = warehouse.query(
        f"select count(*) as rows, sum(cost) as cost, sum(sales_7d) as sales from {table} "
        f"where report_date between '{first}' and '{context.last}'"
    ).row(0, named=True)
    return [
        f"advertising: entities {entities}",
        f"advertising: {totals['rows']} advertised-product rows, ${totals['cost']} spend, "
        f"${totals['sales']} 7-day attributed sales ({time.monotonic() - started:.1f}s); "
        f"{check_summary(reports)}",
    ]
