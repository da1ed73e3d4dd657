"""GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA -> fact_customer_returns, one row per return line.

Rows are dated by the UTC day of return-date (ISO 8601). A return line is the order, the SKU, the
moment and the returned unit's license plate.
"""

from __future__ import annotations

import polars as pl

from amazon_assets.parsers.seller_history.tsv import Field, FlatFile

REPORT_TYPE = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"

CUSTOMER_RETURNS = FlatFile(
    source="customer_returns",
    report_type=REPORT_TYPE,
    fields=(
        Field("return-date", "return_date", "timestamp", required=True),
        Field("order-id", "order_id", required=True),
        Field("sku", "sku", required=True),
        Field("asin", "asin"),
        Field("fnsku", "fnsku"),
        Field("product-name", "product_name"),
        Field("quantity", "quantity", "int"),
        Field("fulfillment-center-id", "fulfillment_center_id"),
        Field("detailed-disposition", "detailed_disposition"),
        Field("reason", "reason"),
        Field("status", "status"),
        Field("license-plate-number", "license_plate_number"),
        Field("customer-comments", "customer_comments"),
    ),
    day=pl.col("return_date").dt.date(),
    natural_key=("account", "order_id", "sku", "return_date", "license_plate_number"),
)
CUSTOMER_RETURNS_SCHEMA = CUSTOMER_RETURNS.schema
