"""The daily mart and what is computed from it: quality, features, score, alerts, competition.

Every asset is daily-partitioned with single-run backfills and written through `mart_io_manager`
(PostgreSQL when DATABASE_URL is set, else the DuckDB warehouse). The mart reads silver through the
`warehouse` resource (sources.py); assets downstream read the mart through the IO manager, with a
lookback partition mapping where a day needs the days before it. They compute over the loaded
range and return only the run's own days, so a day's features use data up to that day only.

Resources: `warehouse` (silver WarehouseResource), `mart_io_manager`, `mart_warehouse` (query
resource of the mart database: WarehouseResource or PostgresResource) and `alert_notifier`.
"""

from collections.abc import Collection
from datetime import UTC, date, datetime

import dagster as dg
import duckdb
import polars as pl

from amazon_assets.analytics.alerts import ALERT_KINDS, AlertThresholds, detect_alerts
from amazon_assets.analytics.competition import (
    COMPETITOR_COMPARISON_SCHEMA,
    MAX_COMPETITORS,
    MIN_COMPETITORS,
    competitor_comparison_daily,
)
from amazon_assets.analytics.features import LOOKBACK_DAYS, features_asin_daily
from amazon_assets.analytics.mart import KEYS as MART_KEYS
from amazon_assets.analytics.score import ScoreConfig, score_baseline_daily
from amazon_assets.asset_keys import silver_key
from amazon_assets.automation import follows_inputs, waits_for_sources
from amazon_assets.defs.mart.checks import (
    MART_KEY,
    data_quality_daily,
    mart_check_specs,
    money_has_one_currency,
    quality_metadata,
)
from amazon_assets.defs.mart.sources import (
    OPTIONAL_SOURCES,
    SOURCES,
    MissingBusinessReportsError,
    build_mart_for_days,
    competitor_pairs,
    read_tracked,
)
from amazon_assets.defs.mart.tracked import build_tracked_asins_asset
from amazon_assets.defs.product_signals.spec import TRACKED_ASINS_KEY
from amazon_assets.notifiers import AlertNotifierResource
from amazon_assets.partitions import PLANNED_PER_ASSET_TAGS
from amazon_assets.quality import keys_not_null_and_unique
from amazon_assets.resources.postgres import connect, copy_frame, create_if_missing
from amazon_assets.resources.warehouse import WarehouseResource, _duckdb_connection, quote
from amazon_assets.run_metadata import add_run_summary

QUALITY_KEY = dg.AssetKey(["mart", "data_quality_daily"])
FEATURES_KEY = dg.AssetKey(["features", "features_asin_daily"])
SCORE_KEY = dg.AssetKey(["features", "score_baseline_daily"])
ALERTS_KEY = dg.AssetKey(["features", "alerts"])
COMPARISON_KEY = dg.AssetKey(["features", "competitor_comparison_daily"])
ALERTS_SENT_TABLE = ("features", "alerts_sent")
MART_JOB = "mart_job"


class ScoreSettings(dg.Config):
    """Run config of score_baseline_daily: feature weights (default: analytics.score's) and z bound."""

    weights: dict[str, float] | None = None
    clip_z: float = 5.0

    def score_config(self) -> ScoreConfig:
        if self.weights is None:
            return ScoreConfig(clip_z=self.clip_z)
        return ScoreConfig(weights=self.weights, clip_z=self.clip_z)


class AlertSettings(dg.Config):
    """Run config of alerts: the move sizes that count, how long an episode must last (or how
    large it must be) to alert, and the quiet period per ASIN and kind (see analytics.alerts)."""

    price_change: float = AlertThresholds.price_change
    bsr_change: float = AlertThresholds.bsr_change
    rating_drop: float = AlertThresholds.rating_drop
    persist_days: int = AlertThresholds.persist_days
    size_multiple: float = AlertThresholds.size_multiple
    cooldown_days: int = AlertThresholds.cooldown_days

    def thresholds(self) -> AlertThresholds:
        return AlertThresholds(
            price_change=self.price_change,
            bsr_change=self.bsr_change,
            rating_drop=self.rating_drop,
            persist_days=self.persist_days,
            size_multiple=self.size_multiple,
            cooldown_days=self.cooldown_days,
        )


def run_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's first day and the day after its last (its time window, as dates)."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def in_days(frame: pl.DataFrame, first: date, end: date) -> pl.DataFrame:
    """Rows of the run's own days: the IO manager replaces exactly those."""
    return frame.filter(pl.col("report_date").is_between(first, end, closed="left"))


def _preview(frame: pl.DataFrame, rows: int = 5) -> dg.MetadataValue:
    text = frame.head(rows).to_pandas().to_markdown(index=False) if frame.height else "(no rows)"
    return dg.MetadataValue.md(text)


def _typed_empty(schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


_ALERTS_SENT_COLUMNS = ("alert_id", "account", "asin", "kind", "report_date", "sent_at")
_ALERTS_SENT_DDL = (
    "(alert_id VARCHAR PRIMARY KEY, account VARCHAR, asin VARCHAR, kind VARCHAR, "
    "report_date DATE, sent_at TIMESTAMPTZ)"
)


def claim_alerts(mart_warehouse, alerts: pl.DataFrame) -> pl.DataFrame:
    """Record alerts in features.alerts_sent; returns those not recorded before (to send now).

    The alerts travel as data, never as SQL text: COPY into a temporary table on PostgreSQL, a
    registered Arrow frame on DuckDB, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING
    RETURNING. Recording first makes two overlapping runs split the alerts between them instead
    of both sending them.
    """
    if alerts.is_empty():
        return alerts
    schema, name = ALERTS_SENT_TABLE
    table = mart_warehouse.table(schema, name)
    rows = alerts.select(_ALERTS_SENT_COLUMNS[:-1]).with_columns(
        pl.lit(datetime.now(UTC)).alias("sent_at")
    )
    columns = ", ".join(_ALERTS_SENT_COLUMNS)
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM claimed_alerts "
        "ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id"
    )
    if mart_warehouse.kind == "postgres":
        with connect(mart_warehouse.database_url) as connection:
            create_if_missing(
                connection, f"CREATE SCHEMA IF NOT EXISTS {quote(schema, 'postgres')}"
            )
            create_if_missing(connection, f"CREATE TABLE IF NOT EXISTS {table} {_ALERTS_SENT_DDL}")
            connection.execute(
                f"CREATE TEMPORARY TABLE claimed_alerts (LIKE {table}) ON COMMIT DROP"
            )
            copy_frame(connection, "claimed_alerts", rows)
            claimed = [row[0] for row in connection.execute(insert).fetchall()]
    else:
        with _duckdb_connection(mart_warehouse.database, read_only=False) as connection:
            for statement in (
                f"CREATE SCHEMA IF NOT EXISTS {schema}",
                f"CREATE TABLE IF NOT EXISTS {table} {_ALERTS_SENT_DDL}",
            ):
                try:
                    connection.execute(statement)
                except duckdb.TransactionException:
                    # A concurrent step (the features IO manager creating the same schema) won
                    # the race: the second attempt sees its object and does nothing.
                    connection.execute(statement)
            connection.register("claimed_alerts", rows.to_arrow())
            claimed = [row[0] for row in connection.execute(insert).fetchall()]
    return alerts.filter(pl.col("alert_id").is_in(claimed))


def release_alerts(mart_warehouse, alert_ids: list[str]) -> None:
    """Forget claimed alerts that could not be delivered, so the next run sends them again."""
    if not alert_ids:
        return
    table = mart_warehouse.table(*ALERTS_SENT_TABLE)
    if mart_warehouse.kind == "postgres":
        with connect(mart_warehouse.database_url) as connection:
            connection.execute(f"DELETE FROM {table} WHERE alert_id = ANY(%s)", [alert_ids])
    else:
        with _duckdb_connection(mart_warehouse.database, read_only=False) as connection:
            connection.execute(f"DELETE FROM {table} WHERE list_contains(?, alert_id)", [alert_ids])


def build_mart_assets(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    dataset: str,
    warehouse_kind: str,
    mart_kind: str = "duckdb",
    available_sources: Collection[dg.AssetKey] = (),
) -> list[dg.AssetsDefinition]:
    """The mart, its quality report, features, score, alerts and competitor comparison."""
    common = {
        "partitions_def": partitions_def,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "io_manager_key": "mart_io_manager",
        "metadata": {"partition_expr": "report_date"},
        # Each layer rebuilds the days its inputs rewrote (amazon_assets.automation).
        "automation_condition": follows_inputs(),
    }
    lookback = dg.TimeWindowPartitionMapping(
        start_offset=-LOOKBACK_DAYS, allow_nonexistent_upstream_partitions=True
    )
    # Lineage to the silver tables this code location defines; the others are simply absent.
    business_reports = silver_key(SOURCES["business_reports"].table)
    silver_keys = [business_reports] + [
        key
        for key in (silver_key(SOURCES[name].table) for name in OPTIONAL_SOURCES)
        if key in available_sources
    ]
    mart_deps = silver_keys + (
        [TRACKED_ASINS_KEY] if TRACKED_ASINS_KEY in available_sources else []
    )

    @dg.asset(
        key=MART_KEY,
        group_name="mart",
        kinds={"polars", mart_kind},
        deps=mart_deps,
        check_specs=mart_check_specs(),
        **{
            **common,
            "metadata": {**common["metadata"], "silver_warehouse": warehouse_kind},
            "automation_condition": waits_for_sources(business_reports),
        },
    )
    def mart_asin_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """One row per tracked ASIN and day: traffic, sales, ads, fees, returns, signals."""
        first, end = run_days(context)
        try:
            built = build_mart_for_days(warehouse, dataset, first, end)
        except MissingBusinessReportsError as error:
            raise dg.Failure(str(error)) from None
        mart, tracked = built.mart, built.tracked
        add_run_summary(
            context,
            {
                "rows": mart.height,
                "asins": mart.select("account", "asin").n_unique(),
                "tracked_asins": 0
                if tracked is None
                else tracked.select("account", "asin").n_unique(),
                "missing_sources": dg.MetadataValue.text(
                    ", ".join(built.missing_sources) or "none"
                ),
                "preview": _preview(mart),
            },
        )
        yield dg.Output(mart)
        yield keys_not_null_and_unique(MART_KEY, mart, MART_KEYS, "keys_unique")
        yield money_has_one_currency(mart)

    @dg.asset(
        key=QUALITY_KEY,
        group_name="mart",
        kinds={"polars", mart_kind},
        ins={"mart": dg.AssetIn(MART_KEY)},
        **common,
    )
    def mart_data_quality_daily(
        context: dg.AssetExecutionContext, mart: pl.DataFrame
    ) -> pl.DataFrame:
        """Coverage per source (ASINs with data / tracked ASINs) and anomalies, per day and account."""
        quality = data_quality_daily(mart)
        add_run_summary(
            context,
            {**quality_metadata(quality), "rows": quality.height, "preview": _preview(quality, 12)},
        )
        return quality

    @dg.asset(
        key=FEATURES_KEY,
        group_name="features",
        kinds={"polars", mart_kind},
        ins={"mart": dg.AssetIn(MART_KEY, partition_mapping=lookback)},
        **common,
    )
    def features_asin_daily_asset(
        context: dg.AssetExecutionContext, mart: pl.DataFrame
    ) -> pl.DataFrame:
        """Rolling features per ASIN and day (BSR trend, price volatility, review velocity...)."""
        first, end = run_days(context)
        features = in_days(features_asin_daily(mart.lazy()).collect(), first, end)
        add_run_summary(
            context,
            {"rows": features.height, "mart_rows_read": mart.height, "preview": _preview(features)},
        )
        return features

    @dg.asset(
        key=SCORE_KEY,
        group_name="features",
        kinds={"polars", mart_kind},
        ins={"features": dg.AssetIn(FEATURES_KEY)},
        **common,
    )
    def score_baseline_daily_asset(
        context: dg.AssetExecutionContext, config: ScoreSettings, features: pl.DataFrame
    ) -> pl.DataFrame:
        """Explosive score (weighted robust z-scores) and rank within category, per day."""
        scores = score_baseline_daily(features.lazy(), config.score_config()).collect()
        top = scores.sort("explosive_score", descending=True, nulls_last=True).head(10)
        add_run_summary(context, {"rows": scores.height, "top_10": _preview(top, 10)})
        return scores

    @dg.asset(
        key=ALERTS_KEY,
        group_name="features",
        kinds={"polars", mart_kind},
        ins={"mart": dg.AssetIn(MART_KEY, partition_mapping=lookback)},
        required_resource_keys={"mart_warehouse", "alert_notifier"},
        **common,
    )
    def alerts(
        context: dg.AssetExecutionContext, config: AlertSettings, mart: pl.DataFrame
    ) -> pl.DataFrame:
        """Price, BSR, buy box, stock and rating episodes against a 7-day baseline; each alert
        is notified once, ever, in a digest per account."""
        first, end = run_days(context)
        found = in_days(detect_alerts(mart.lazy(), config.thresholds()).collect(), first, end)
        mart_warehouse = context.resources.mart_warehouse
        notifier_resource: AlertNotifierResource = context.resources.alert_notifier
        new = claim_alerts(mart_warehouse, found)
        try:
            notifier_resource.notifier(context.log).send(new)
        except Exception as error:
            release_alerts(mart_warehouse, new["alert_id"].to_list())
            raise dg.Failure(
                f"{new.height} new alert(s) could not be delivered ({error}); they will be sent "
                "by the next run of these days."
            ) from error
        by_kind = dict(found.group_by("kind").len().rows())
        asin_days = in_days(mart, first, end).height
        add_run_summary(
            context,
            {
                "alerts": found.height,
                "notified": new.height,
                "already_sent": found.height - new.height,
                "asin_days": asin_days,
                "asin_days_per_alert": float(asin_days / found.height) if found.height else 0.0,
                "channels": dg.MetadataValue.text(", ".join(notifier_resource.targets)),
                **{f"alerts_{kind}": by_kind.get(kind, 0) for kind in ALERT_KINDS},
                "preview": _preview(found, 10),
            },
        )
        return found

    @dg.asset(
        key=COMPARISON_KEY,
        group_name="features",
        kinds={"polars", mart_kind},
        ins={"mart": dg.AssetIn(MART_KEY)},
        **common,
    )
    def competitor_comparison(
        context: dg.AssetExecutionContext, mart: pl.DataFrame, warehouse: WarehouseResource
    ) -> pl.DataFrame:
        """Each own ASIN against its 3 to 5 competitors: price, BSR, rating, review gaps, share."""
        pairs = competitor_pairs(read_tracked(warehouse, dataset))
        sizes = pairs.group_by("account", "own_asin").len()
        valid = sizes.filter(pl.col("len").is_between(MIN_COMPETITORS, MAX_COMPETITORS))
        skipped = sizes.join(valid, on=["account", "own_asin"], how="anti").sort("own_asin")
        if skipped.height:
            context.log.warning(
                f"{skipped.height} own ASIN(s) are not compared: each needs {MIN_COMPETITORS} "
                f"to {MAX_COMPETITORS} competitors (e.g. {skipped['own_asin'][0]} has "
                f"{skipped['len'][0]}); `amazon-assets track add ASIN --competitor-of OWN`."
            )
        pairs = pairs.join(valid.select("account", "own_asin"), on=["account", "own_asin"])
        if pairs.is_empty():
            comparison = _typed_empty(COMPETITOR_COMPARISON_SCHEMA)
        else:
            comparison = competitor_comparison_daily(mart.lazy(), pairs).collect()
        add_run_summary(
            context,
            {
                "rows": comparison.height,
                "own_asins_compared": valid.height,
                "own_asins_skipped": skipped.height,
                "preview": _preview(comparison),
            },
        )
        return comparison

    return [
        mart_asin_daily,
        mart_data_quality_daily,
        features_asin_daily_asset,
        score_baseline_daily_asset,
        alerts,
        competitor_comparison,
    ]


def build_mart_definitions(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    dataset: str,
    warehouse_kind: str,
    mart_kind: str = "duckdb",
    available_sources: Collection[dg.AssetKey] = (),
) -> dg.Definitions:
    """The mart domain without resources (the code location adds them) and its job; the
    layers follow their inputs through their automation conditions (no schedule).

    `available_sources`: asset keys the code location defines, used for lineage to the optional
    silver sources and the tracked-ASIN table; the mart reads whichever tables exist either way.
    """
    assets = build_mart_assets(
        partitions_def, dataset, warehouse_kind, mart_kind, available_sources
    ) + [build_tracked_asins_asset(dataset, mart_kind, TRACKED_ASINS_KEY in available_sources)]
    job = dg.define_asset_job(
        MART_JOB,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=partitions_def,
        description="The mart, its quality report, features, score, alerts and competitor comparison.",
        # Seconds of work per day: one planned event per asset, not per asset and day.
        tags=PLANNED_PER_ASSET_TAGS,
    )
    return dg.Definitions(assets=assets, jobs=[job])
