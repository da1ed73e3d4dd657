"""GET_FBA_ESTIMATED_FBA_FEES_TXT_DATA -> fact_fee_preview, one row per SKU and snapshot date.

Amazon refreshes the fee preview about every 72 hours and the file carries no date, so each row is
dated with the snapshot day the pipeline observed it (the request's last day); a day's snapshot
replaces that day's rows.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from amazon_assets.parsers.seller_history.tsv import Field, FlatFile

REPORT_TYPE = "GET_FBA_ESTIMATED_FBA_FEES_TXT_DATA"


def fee_preview(snapshot_date: date) -> FlatFile:
    """The fee-preview layout with every row dated `snapshot_date`."""
    return FlatFile(
        source="fee_preview",
        report_type=REPORT_TYPE,
        fields=(
            Field("sku", "sku", required=True),
            Field("fnsku", "fnsku"),
            Field("asin", "asin"),
            Field("amazon-store", "amazon_store"),
            Field("product-name", "product_name"),
            Field("product-group", "product_group"),
            Field("brand", "brand"),
            Field("fulfilled-by", "fulfilled_by"),
            Field("your-price", "your_price", "money"),
            Field("sales-price", "sales_price", "money"),
            Field("longest-side", "longest_side", "decimal"),
            Field("median-side", "median_side", "decimal"),
            Field("shortest-side", "shortest_side", "decimal"),
            Field("length-and-girth", "length_and_girth", "decimal"),
            Field("unit-of-dimension", "unit_of_dimension"),
            Field("item-package-weight", "item_package_weight", "decimal"),
            Field("unit-of-weight", "unit_of_weight"),
            Field("product-size-tier", "product_size_tier"),
            Field("currency", "currency"),
            Field("estimated-fee-total", "estimated_fee_total", "money"),
            Field("estimated-referral-fee-per-unit", "estimated_referral_fee_per_unit", "money"),
            Field("estimated-variable-closing-fee", "estimated_variable_closing_fee", "money"),
            Field(
                "estimated-order-handling-fee-per-order",
                "estimated_order_handling_fee_per_order",
                "money",
            ),
            Field("estimated-pick-pack-fee-per-unit", "estimated_pick_pack_fee_per_unit", "money"),
            Field(
                "estimated-weight-handling-fee-per-unit",
                "estimated_weight_handling_fee_per_unit",
                "money",
            ),
            Field(
                "expected-fulfillment-fee-per-unit", "expected_fulfillment_fee_per_unit", "money"
            ),
        ),
        day=pl.lit(snapshot_date, dtype=pl.Date),
        natural_key=("account", "report_date", "sku"),
    )


FEE_PREVIEW_SCHEMA = fee_preview(date(2000, 1, 1)).schema
