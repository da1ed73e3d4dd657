"""`amazon-assets ingest business-reports` and the business-reports part of the demo."""

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
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings

BUSINESS_REPORTS_JOB = "business_reports_job"


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    source = ingest.add_parser(
        "business-reports", help="GET_SALES_AND_TRAFFIC_REPORT, one per account and day"
    )
    add_day_range_options(source)
    source.add_argument("--account", default=DEFAULT_ACCOUNT, help="seller account name")
    source.set_defaults(handler=ingest_business_reports)


def ingest_business_reports(settings: Settings, args: argparse.Namespace) -> int:
    """Fetch and load an account's days; documents stored by an interrupted run are reused."""
    first, last = days_from_arguments(args)  # bad arguments fail before the code loads
    from amazon_assets.definitions import defs

    started = time.monotonic()
    with embedded_sandbox(settings, accounts=(args.account,)):
        result = run_account_job(defs, BUSINESS_REPORTS_JOB, args.account, first, last)
    print(
        f"business-reports: {args.account} {first}..{last} loaded in "
        f"{time.monotonic() - started:.1f}s from {settings.source_label}; {check_summary(result)}"
    )
    return 0


def demo(context: DemoContext) -> list[str]:
    """Business reports for the demo days, and what landed in silver."""
    from amazon_assets.resources.warehouse import warehouse_from_settings

    settings = context.settings
    started = time.monotonic()
    result = run_account_job(
        context.defs, BUSINESS_REPORTS_JOB, DEFAULT_ACCOUNT, context.first, context.last
    )
    _, warehouse = warehouse_from_settings(settings)
    table = warehouse.table(settings.bigquery_dataset, "fact_business_reports_us")
    summary = warehouse.query(
        f"select count(*) as rows, count(distinct msku) as skus, sum(units_ordered) as units, "
        f"sum(ordered_product_sales) as sales from {table} "
        f"where report_date between '{context.first}' and '{context.last}'"
    ).row(0, named=True)
    return [
        f"business reports: {summary['rows']} rows for {summary['skus']} SKUs into {table}: "
        f"{summary['units']} units, ${summary['sales']} ordered product sales "
        f"({time.monotonic() - started:.1f}s); {check_summary(result)}"
    ]
