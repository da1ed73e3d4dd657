"""GET_FBA_REIMBURSEMENTS_DATA -> fact_reimbursements, one row per reimbursement line.

Rows are dated by the UTC day of approval-date (ISO 8601). A reimbursement id may cover several
SKUs, so a line is (reimbursement_id, sku).
"""

from __future__ import annotations

import polars as pl

from amazon_assets.parsers.seller_history.tsv import Field, FlatFile

REPORT_TYPE = "GET_FBA_REIMBURSEMENTS_DATA"

REIMBURSEMENTS = FlatFile(
    source="reimbursements",
    report_type=REPORT_TYPE,
    fields=(
        Field("approval-date", "approval_date", "timestamp", required=True),
        Field("reimbursement-id", "reimbursement_id", required=True),
        Field("case-id", "case_id"),
        Field("amazon-order-id", "amazon_order_id"),
        Field("reason", "reason"),
        Field("sku", "sku"),
        Field("fnsku", "fnsku"),
        Field("asin", "asin"),
        Field("product-name", "product_name"),
        Field("condition", "condition"),
        Field("currency-unit", "currency"),
        Field("amount-per-unit", "amount_per_unit", "money"),
        Field("amount-total", "amount_total", "money"),
        Field("quantity-reimbursed-cash", "quantity_reimbursed_cash", "int"),
        Field("quantity-reimbursed-inventory", "quantity_reimbursed_inventory", "int"),
        Field("quantity-reimbursed-total", "quantity_reimbursed_total", "int"),
        Field("original-reimbursement-id", "original_reimbursement_id"),
        Field("original-reimbursement-type", "original_reimbursement_type"),
    ),
    day=pl.col("approval_date").dt.date(),
    natural_key=("account", "reimbursement_id", "sku"),
)
REIMBURSEMENTS_SCHEMA = REIMBURSEMENTS.schema
