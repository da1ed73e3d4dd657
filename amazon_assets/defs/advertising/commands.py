"""`amazon-assets ingest ads-entities | ads-reports [--account NAME]` and the advertising part of
the demo (the default account)."""

from __future__ import annotations

import argparse
import time

from amazon_assets.commands import (
    DemoContext,
    add_day_range_options,
    check_summary,
    days_from_arguments,
    embedded_sandbox,
    run_account_job,
)
from amazon_assets.defs.advertising import ADS_ENTITIES_JOB, ADS_REPORTS_JOB
from amazon_assets.defs.advertising.assets import oldest_requestable_day, utc_today
from amazon_assets.defs.advertising.spec import ADS_REPORTS
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    entities = ingest.add_parser(
        "ads-entities", help="snapshot Ads API profiles, campaigns, ad groups, keywords, targets"
    )
    entities.add_argument("--account", default=DEFAULT_ACCOUNT, help="seller account name")
    entities.set_defaults(handler=ingest_ads_entities)
    reports = ingest.add_parser(
        "ads-reports", help="Sponsored Products daily v3 reports (campaigns, targeting, ...)"
    )
    add_day_range_options(reports)
    reports.add_argument("--account", default=DEFAULT_ACCOUNT, help="seller account name")
    reports.set_defaults(handler=ingest_ads_reports)


def ingest_ads_entities(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import defs

    started = time.monotonic()
    with embedded_sandbox(settings, accounts=[args.account]):
        result = run_account_job(defs, ADS_ENTITIES_JOB, args.account)
    print(
        f"ads-entities: {args.account} snapshot merged in {time.monotonic() - started:.1f}s "
        f"from {settings.ads_api.source_label}; {check_summary(result)}"
    )
    return 0


def ingest_ads_reports(settings: Settings, args: argparse.Namespace) -> int:
    first, last = days_from_arguments(args)  # bad arguments fail before the code loads
    from amazon_assets.definitions import defs

    started = time.monotonic()
    with embedded_sandbox(settings, accounts=[args.account]):
        result = run_account_job(defs, ADS_REPORTS_JOB, args.account, first, last)
    print(
        f"ads-reports: {args.account} {first}..{last} loaded in "
        f"{time.monotonic() - started:.1f}s from {settings.ads_api.source_label}; {check_summary(result)}"
    )
    return 0


def demo(context: DemoContext) -> list[str]:
    """Ads entities and the four daily reports of the default account for the demo days (within
    the API's retention)."""
    from amazon_assets.resources.warehouse import warehouse_from_settings

    settings = context.settings
    first = max(context.first, oldest_requestable_day(utc_today()))
    started = time.monotonic()
    entities = run_account_job(context.defs, ADS_ENTITIES_JOB, DEFAULT_ACCOUNT)
    reports = run_account_job(context.defs, ADS_REPORTS_JOB, DEFAULT_ACCOUNT, first, context.last)
    _, warehouse = warehouse_from_settings(settings)
    products = ADS_REPORTS["spAdvertisedProduct"].silver_table
    table = warehouse.table(settings.bigquery_dataset, products)
    totals = warehouse.query(
        f"select count(*) as rows, sum(cost) as cost, sum(sales_7d) as sales from {table} "
        f"where account = '{DEFAULT_ACCOUNT}' and report_date between '{first}' and '{context.last}'"
    ).row(0, named=True)
    return [
        f"advertising: entities {check_summary(entities)}",
        f"advertising: {totals['rows']} advertised-product rows, ${totals['cost']} spend, "
        f"${totals['sales']} 7-day attributed sales ({time.monotonic() - started:.1f}s); "
        f"{check_summary(reports)}",
    ]
