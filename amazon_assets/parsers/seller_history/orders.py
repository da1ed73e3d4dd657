"""GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL -> fact_orders, one row per order item.

Amazon's all-orders flat file: one line per order item, purchase-date as ISO 8601 with an offset
(rows are dated by the UTC day of purchase, the day Amazon's dataStartTime/dataEndTime select on),
money per line (item-price is quantity x unit price). The file has no order-item id, so an item is
(amazon_order_id, sku): Amazon writes one line per SKU of an order.
"""

from __future__ import annotations

import polars as pl

from amazon_assets.parsers.seller_history.tsv import Field, FlatFile

REPORT_TYPE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"

ORDERS = FlatFile(
    source="orders",
    report_type=REPORT_TYPE,
    fields=(
        Field("amazon-order-id", "amazon_order_id", required=True),
        Field("merchant-order-id", "merchant_order_id"),
        Field("purchase-date", "purchase_date", "timestamp", required=True),
        Field("last-updated-date", "last_updated_date", "timestamp"),
        Field("order-status", "order_status"),
        Field("fulfillment-channel", "fulfillment_channel"),
        Field("sales-channel", "sales_channel"),
        Field("order-channel", "order_channel"),
        Field("ship-service-level", "ship_service_level"),
        Field("product-name", "product_name"),
        Field("sku", "sku", required=True),
        Field("asin", "asin"),
        Field("item-status", "item_status"),
        Field("quantity", "quantity", "int"),
        Field("currency", "currency"),
        Field("item-price", "item_price", "money"),
        Field("item-tax", "item_tax", "money"),
        Field("shipping-price", "shipping_price", "money"),
        Field("shipping-tax", "shipping_tax", "money"),
        Field("gift-wrap-price", "gift_wrap_price", "money"),
        Field("gift-wrap-tax", "gift_wrap_tax", "money"),
        Field("item-promotion-discount", "item_promotion_discount", "money"),
        Field("ship-promotion-discount", "ship_promotion_discount", "money"),
        Field("ship-city", "ship_city"),
        Field("ship-state", "ship_state"),
        Field("ship-postal-code", "ship_postal_code"),
        Field("ship-country", "ship_country"),
        Field("promotion-ids", "promotion_ids"),
        Field("is-business-order", "is_business_order", "bool"),
        Field("purchase-order-number", "purchase_order_number"),
        Field("price-designation", "price_designation"),
    ),
    day=pl.col("purchase_date").dt.date(),
    natural_key=("account", "amazon_order_id", "sku"),
)
ORDERS_SCHEMA = ORDERS.schema
