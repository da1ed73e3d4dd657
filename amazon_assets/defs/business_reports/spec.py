"""The business report's spec: GET_SALES_AND_TRAFFIC_REPORT at SKU granularity, one report per day.

Where the rest of it lives: parser and silver schema `amazon_assets/parsers/sales_and_traffic.py`,
assets `defs/business_reports/assets.py`, checks `defs/business_reports/checks.py`, test
`amazon_assets_tests/defs/test_business_reports.py`.
"""

from __future__ import annotations

from amazon_assets.ingestion.spec import DocumentSpec
from amazon_assets.parsers.sales_and_traffic import (
    QUARANTINE_SOURCE,
    REPORT_TYPE,
    SALES_AND_TRAFFIC_SCHEMA,
)

BUSINESS_REPORTS = DocumentSpec(
    name=QUARANTINE_SOURCE,  # "business_reports"
    api="SP-API Reports 2021-06-30",
    report_type=REPORT_TYPE,
    # One day per report: the by-ASIN section sums over the whole requested range.
    report_options={"dateGranularity": "DAY", "asinGranularity": "SKU"},
    window_days=1,
    # Amazon restates sales and traffic for about a week after the day.
    lookback_days=7,
    lake_family="reports",
    lake_name="business",
    silver_table="fact_business_reports_us",
    quarantine_table="quarantine_business_reports_us",
    schema=SALES_AND_TRAFFIC_SCHEMA,
    natural_key=("account", "report_date", "msku", "asin"),
    cluster_by=("account", "msku", "asin"),
)
