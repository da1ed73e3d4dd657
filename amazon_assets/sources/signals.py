"""Protocol facts of the product-signal APIs, shared by the client and the sandbox.

Catalog Items 2022-04-01 `searchCatalogItems` takes at most 20 identifiers per call; Product
Pricing v0 `getItemOffersBatch` at most 20 item requests (selling-partner-api-models:
catalogItems_2022-04-01.json, productPricingV0.json). Both answer with the current state only:
Amazon has no "as of" parameter. The sandbox adds one (`SANDBOX_AS_OF_PARAMETER`) so a backfill
of past days can be exercised; against Amazon only the current state is ever requested.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

MAX_BATCH = 20
CATALOG_INCLUDED_DATA = ("summaries", "salesRanks", "attributes", "images")
ITEM_OFFERS_URI = "/products/pricing/v0/items/{asin}/offers"
SANDBOX_AS_OF_PARAMETER = "sandboxAsOf"


def batches(asins: Sequence[str], size: int = MAX_BATCH) -> Iterator[list[str]]:
    """The distinct ASINs in order, `size` at a time."""
    unique = list(dict.fromkeys(asins))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]
