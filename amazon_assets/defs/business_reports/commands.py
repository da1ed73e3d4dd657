"""`amazon-assets ingest business-reports` and the business-reports part of the demo."""

from __future__ import annotations

import argparse
import time

from amazon_assets.commands import (
    DemoContext,
    add_day_range_options,
    check_summary,
    ingest_days_handler,
    run_job,
)

BUSINESS_REPORTS_JOB = "business_reports_job"


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    source = ingest.add_parser("business-reports", help="GET_SALES_AND_TRAFFIC_REPORT, one per day")
    add_day_range_options(source)
    source.set_defaults(handler=ingest_days_handler(BUSINESS_REPORTS_JOB, "business-reports"))


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
