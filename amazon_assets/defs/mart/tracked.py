"""mart/tracked_asins: the tracked own and competitor ASINs, copied into the mart database.

The mart is the contract between the graph and the serving layer: the product API lists an own
ASIN's competitors from this table and never reads the silver `tracked_asins` it comes from.
"""

import dagster as dg
import polars as pl

from amazon_assets.defs.mart.sources import read_tracked
from amazon_assets.defs.product_signals.spec import TRACKED_ASINS_KEY
from amazon_assets.resources.warehouse import WarehouseResource

TRACKED_KEY = dg.AssetKey(["mart", "tracked_asins"])
MART_TRACKED_SCHEMA = pl.Schema(
    {"account": pl.String, "asin": pl.String, "role": pl.String, "competitor_of": pl.String}
)


def build_tracked_asins_asset(
    dataset: str, mart_kind: str, silver_available: bool
) -> dg.AssetsDefinition:
    """The copy of `<dataset>.tracked_asins` (lineage to it when this code location defines it)."""

    @dg.asset(
        key=TRACKED_KEY,
        group_name="mart",
        kinds={"polars", mart_kind},
        io_manager_key="mart_io_manager",
        deps=[TRACKED_ASINS_KEY] if silver_available else [],
    )
    def tracked_asins(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> pl.DataFrame:
        """Tracked ASINs per account: role (own or competitor) and the own ASIN a competitor faces."""
        tracked = read_tracked(warehouse, dataset)
        frame = (
            pl.DataFrame(schema=MART_TRACKED_SCHEMA)
            if tracked is None
            else tracked.select(pl.col(n).cast(t) for n, t in MART_TRACKED_SCHEMA.items())
            .unique()
            .sort("account", "asin", "competitor_of", nulls_last=True)
        )
        context.add_output_metadata(
            {
                "rows": frame.height,
                "accounts": frame["account"].n_unique(),
                "competitor_pairs": frame["competitor_of"].is_not_null().sum(),
            }
        )
        return frame

    return tracked_asins
