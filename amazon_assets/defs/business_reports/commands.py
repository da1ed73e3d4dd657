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
    run_job,
)
from amazon_assets.settings import Settings

BUSINESS_REPORTS_JOB = "business_reports_job"


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    source = ingest.add_parser("business-reports", help="GET_SALES_AND_TRAFFIC_REPORT, one per day")
    add_day_range_options(source)
    source.set_defaults(handler=ingest_business_reports)


def ingest_business_reports(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import defs

    first, last = days_from_arguments(args)
    started = time.monotonic()
    with embedded_sandbox(settings):
        result = run_job(defs, BUSINESS_REPORTS_JOB, first.isoformat(), last.isoformat())
    print(
        f"business-reports: {first}..{last} loaded in {time.monotonic() - started:.1f}s "
        f"from {settings.source_label}; {check_summary(result)}"
    )
    return 0


def demo(context: DemoContext) -> list[str]:
    """Business reports for the demo days, and what landed in silver."""
    from amazon_assets.resources.warehouse import warehouse_from_settings

    settings = context.settings
    started = time.monotonic()
    result = run_job(
        context.defs, BUSINESS_REPORTS_JOB, context.first.isoformat(), context.last.isoformat()
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
