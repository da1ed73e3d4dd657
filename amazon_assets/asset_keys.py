"""Asset key prefixes: fixed per layer, whatever the environment.

Silver tables are `["silver", table]` wherever they are stored: the warehouse IO managers put the
silver prefix in the configured dataset (`BIGQUERY_DATASET`, also the DuckDB schema), so a key
names one asset in every environment and a search for a table's name finds where it is declared.
Bronze is `["bronze", name]` (the lake), and the mart's layers are `mart`, `features` and `ml`
(their PostgreSQL or DuckDB schemas).
"""

from __future__ import annotations

import dagster as dg

SILVER = "silver"


def silver_key(table: str) -> dg.AssetKey:
    """The asset key of a silver table."""
    return dg.AssetKey([SILVER, table])
