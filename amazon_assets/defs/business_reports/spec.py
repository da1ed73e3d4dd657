"""The business reports' specs: GET_SALES_AND_TRAFFIC_REPORT at SKU granularity, one report per
day, and Data Kiosk's salesAndTrafficTrends (child ASIN by day) for the history.

Where the rest of it lives: parser and silver schema `amazon_assets/parsers/sales_and_traffic.py`,
assets `defs/business_reports/assets.py`, checks `defs/business_reports/checks.py`, test
`amazon_assets_tests/defs/test_business_reports.py`.
"""

from __future__ import annotations

from amazon_assets.ingestion.spec import DocumentSpec
from amazon_assets.parsers.data_kiosk import QUARANTINE_SOURCE as KIOSK_QUARANTINE_SOURCE
from amazon_assets.parsers.sales_and_traffic import (
    QUARANTINE_SOURCE,
    REPORT_TYPE,
    SALES_AND_TRAFFIC_SCHEMA,
)
from amazon_assets.resources.data_kiosk import MAX_DAYS_PER_QUERY

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
    legacy_prefix="amazon/reports/business/us",
)

# Data Kiosk (where the app has the Brand Analytics role, `Settings.data_kiosk`): the history
# beyond the settling window at child-ASIN level, outside the reports' 96-a-day budget. Query and
# client `resources/data_kiosk.py`, parser `parsers/data_kiosk.py` (into the same silver table,
# msku null), test `amazon_assets_tests/defs/test_business_reports_data_kiosk.py`.
DATA_KIOSK_TRENDS = DocumentSpec(
    name=KIOSK_QUARANTINE_SOURCE,  # "business_reports_data_kiosk"
    api="Data Kiosk 2023-11-15, analytics_salesAndTraffic_2024_04_24",
    report_type="salesAndTrafficTrends",
    report_options={"dateAggregation": "DAY", "asinAggregation": "CHILD"},
    window_days=MAX_DAYS_PER_QUERY,  # and at most 30 child ASINs per query
    lookback_days=BUSINESS_REPORTS.lookback_days,
    lake_family="data_kiosk",
    lake_name="sales_and_traffic_trends",
    silver_table=BUSINESS_REPORTS.silver_table,
    quarantine_table=BUSINESS_REPORTS.quarantine_table,
    schema=SALES_AND_TRAFFIC_SCHEMA,
    natural_key=BUSINESS_REPORTS.natural_key,
    file_extension="jsonl",
)

# Which child ASINs the account sold over a history range: the filters of the trends queries.
# Stored so a resumed backfill asks again for nothing; no silver rows of its own.
DATA_KIOSK_ASINS = DocumentSpec(
    name="business_reports_data_kiosk_asins",
    api=DATA_KIOSK_TRENDS.api,
    report_type="salesAndTrafficByAsin",
    report_options={"aggregateBy": "CHILD"},
    window_days=MAX_DAYS_PER_QUERY,
    lookback_days=BUSINESS_REPORTS.lookback_days,
    lake_family="data_kiosk",
    lake_name="sales_and_traffic_by_asin",
    silver_table=BUSINESS_REPORTS.silver_table,
    quarantine_table=BUSINESS_REPORTS.quarantine_table,
    schema=SALES_AND_TRAFFIC_SCHEMA,
    natural_key=BUSINESS_REPORTS.natural_key,
    file_extension="jsonl",
)

# Each (account, day) silver holds: provisional (Amazon may still restate it; an empty day is not
# a zero) or settled, and its rows. Schema `parsers/data_kiosk.py` DAY_STATUS_SCHEMA.
DAY_STATUS_TABLE = "business_reports_day_status_us"
