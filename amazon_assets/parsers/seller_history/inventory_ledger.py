"""GET_LEDGER_DETAIL_VIEW_DATA -> fact_inventory_ledger, one row per ledger event.

Amazon's inventory ledger (detailed view): every field double-quoted, a trailing `Store` column
(ignored here, kept in bronze), `Date` MM/DD/YYYY, `Date and Time` an ISO timestamp with an
offset (`2026-07-06T00:00:00-0700`),
Event Type one of Shipments, CustomerReturns, Receipts, Adjustments, WhseTransfers, VendorReturns;
shipments carry a negative quantity. Amazon keeps 18 months of it. A ledger event has no id of
its own: it is its moment, item, event type, reference and place.
"""

from __future__ import annotations

import polars as pl

from amazon_assets.parsers.seller_history.tsv import Field, FlatFile

REPORT_TYPE = "GET_LEDGER_DETAIL_VIEW_DATA"

INVENTORY_LEDGER = FlatFile(
    source="inventory_ledger",
    report_type=REPORT_TYPE,
    fields=(
        Field("Date", "event_date", "date", required=True),
        Field("FNSKU", "fnsku"),
        Field("ASIN", "asin"),
        Field("MSKU", "msku", required=True),
        Field("Title", "title"),
        Field("Event Type", "event_type", required=True),
        Field("Reference ID", "reference_id"),
        Field("Quantity", "quantity", "int"),
        Field("Fulfillment Center", "fulfillment_center"),
        Field("Disposition", "disposition"),
        Field("Reason", "reason"),
        Field("Country", "country"),
        Field("Reconciled Quantity", "reconciled_quantity", "int"),
        Field("Unreconciled Quantity", "unreconciled_quantity", "int"),
        Field("Date and Time", "event_time", "timestamp"),
    ),
    day=pl.col("event_date"),
    natural_key=(
        "account",
        "event_date",
        "event_time",
        "msku",
        "fnsku",
        "event_type",
        "reference_id",
        "fulfillment_center",
        "disposition",
        "reason",
    ),
)
INVENTORY_LEDGER_SCHEMA = INVENTORY_LEDGER.schema
