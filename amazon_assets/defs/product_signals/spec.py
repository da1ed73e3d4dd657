"""The product-signals document's spec: one document per account and day, holding the Catalog
Items, Product Pricing and review answers for the account's tracked ASINs.

Where the rest of it lives: parser and silver schema `amazon_assets/parsers/product_signals.py`,
assets `defs/product_signals/assets.py`, checks `defs/product_signals/checks.py`, test
`amazon_assets_tests/defs/test_product_signals.py`.
"""

from __future__ import annotations

from amazon_assets.asset_keys import silver_key
from amazon_assets.ingestion.spec import DocumentSpec
from amazon_assets.parsers.product_signals import PRODUCT_SNAPSHOT_SCHEMA, QUARANTINE_SOURCE
from amazon_assets.tracking import TRACKED_TABLE

PRODUCT_SIGNALS = DocumentSpec(
    name=QUARANTINE_SOURCE,  # "product_signals"
    api="SP-API Catalog Items 2022-04-01 searchCatalogItems + Product Pricing v0 "
    "getItemOffersBatch + a review dataset",
    report_type="searchCatalogItems+getItemOffersBatch",
    report_options={},
    window_days=1,
    # Amazon serves the present state only: each morning's answer stands for yesterday.
    lookback_days=1,
    lake_family="catalog",
    lake_name="signals",
    silver_table="fact_product_snapshot",
    quarantine_table="quarantine_product_signals",
    schema=PRODUCT_SNAPSHOT_SCHEMA,
    natural_key=("account", "asin", "snapshot_date"),
    cluster_by=("account", "asin"),
    # One document a day holding every tracked account's section.
    legacy_prefix="amazon/catalog/us",
)

# The ASINs each account tracks (own and competitors'), edited with `amazon-assets track`: the
# product-signal requests' input, observed as a silver source asset.
TRACKED_ASINS_KEY = silver_key(TRACKED_TABLE)
