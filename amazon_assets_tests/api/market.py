"""A small, exactly known mart for the API tests, written through the real mart IO manager.

Two seller accounts (acme, globex) and an ASIN both track; acme's first ASIN has three tracked
competitors. Rows exist on 2025-11-01..2025-12-05 (the year-ago days), 2026-11-01..2026-11-30
and the 14 days ending yesterday, so year-over-year pairs on known dates can be checked. Every
value is a function of (ASIN, day), so a test computes what the API must answer.
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import polars as pl

from amazon_assets.analytics.alerts import ALERTS_SCHEMA
from amazon_assets.analytics.competition import COMPETITOR_COMPARISON_SCHEMA
from amazon_assets.analytics.mart import MART_ASIN_DAILY_SCHEMA
from amazon_assets.analytics.score import SCORE_BASELINE_DAILY_SCHEMA
from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.defs.mart.tracked import MART_TRACKED_SCHEMA
from amazon_assets.ml.predictions import PREDICTIONS_SCHEMA
from amazon_assets.resources.postgres import mart_warehouse_from_settings
from amazon_assets.settings import Settings

MARKETPLACE = "ATVPDKIKX0DER"
ACME = ["B0ACME0001", "B0ACME0002", "B0ACME0003", "B0ACME0004"]
RIVALS = ["B0RIVAL001", "B0RIVAL002", "B0RIVAL003"]
GLOBEX = ["B0GLOBEX01", "B0GLOBEX02"]
SHARED = "B0SHARED01"  # tracked by both accounts
CHANGING = "B0CHANGE01"  # acme's; the invalidation tests rewrite its price
FIRST_DAY = date(2025, 11, 1)


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def market_days() -> list[date]:
    """The days that have rows."""
    spans = [
        (date(2025, 11, 1), date(2025, 12, 5)),
        (date(2026, 11, 1), date(2026, 11, 30)),
        (yesterday() - timedelta(days=13), yesterday()),
    ]
    days = {
        first + timedelta(days=i) for first, last in spans for i in range((last - first).days + 1)
    }
    return sorted(days)


def listing() -> list[tuple[str, str, int]]:
    """(account, asin, number) of every ASIN in the mart; the number drives its values."""
    acme = [*ACME, *RIVALS, SHARED, CHANGING]
    return [("acme", asin, i) for i, asin in enumerate(acme)] + [
        ("globex", asin, 20 + i) for i, asin in enumerate([*GLOBEX, SHARED])
    ]


def units(number: int, day: date) -> int:
    return day.toordinal() % 89 + 10 * number


def price(number: int, day: date, changed: bool = False) -> Decimal:
    return Decimal("19.99") + number + (Decimal("5.00") if changed else 0)


def bsr(number: int, day: date) -> int:
    return 1000 + 100 * number + day.toordinal() % 50


def rated_day() -> date:
    """The one day ratings were observed: the current state carries it to later days."""
    return yesterday() - timedelta(days=10)


def mart_frame(changed: bool = False) -> pl.DataFrame:
    rows = []
    rated = rated_day()
    for account, asin, number in listing():
        for day in market_days():
            is_rival = asin in RIVALS
            rows.append(
                {
                    "account": account,
                    "asin": asin,
                    "report_date": day,
                    "marketplace_id": MARKETPLACE,
                    "category": "Kitchen",
                    "sessions": None if is_rival else 100 + number,
                    "page_views": None if is_rival else 150 + number,
                    "buy_box_percentage": None if is_rival else 95.0,
                    "units_ordered": None if is_rival else units(number, day),
                    "ordered_product_sales": None
                    if is_rival
                    else price(number, day) * units(number, day),
                    "conversion": None if is_rival else 0.1,
                    "price": price(number, day, changed and asin == CHANGING),
                    "buy_box_price": price(number, day),
                    "offer_count": 3,
                    "has_buy_box": True,
                    "bsr": bsr(number, day),
                    "rating": 4.5 if day == rated else None,
                    "review_count": 100 + number,
                    "in_stock": True,
                }
            )
    return pl.DataFrame(rows, schema=MART_ASIN_DAILY_SCHEMA, orient="row", infer_schema_length=None)


def score_frame() -> pl.DataFrame:
    rows = [
        {
            "account": account,
            "asin": asin,
            "report_date": day,
            "marketplace_id": MARKETPLACE,
            "category": "Kitchen",
            "explosive_score": float(number),
        }
        for account, asin, number in listing()
        for day in market_days()[-3:]
    ]
    frame = pl.DataFrame(rows)
    ranked = frame.with_columns(
        pl.col("explosive_score")
        .rank("ordinal", descending=True)
        .over("report_date", "marketplace_id", "category")
        .cast(pl.UInt32)
        .alias("category_rank")
    )
    return ranked.select(pl.col(n).cast(t) for n, t in SCORE_BASELINE_DAILY_SCHEMA.items())


def predictions_frame() -> pl.DataFrame:
    # Globex's ASINs score highest: acme's stored ranks start below them.
    rows = [
        {
            "account": account,
            "asin": asin,
            "report_date": day,
            "marketplace_id": MARKETPLACE,
            "category": "Kitchen",
            "score": float(number),
            "model_version": "test-model",
        }
        for account, asin, number in listing()
        for day in market_days()[-3:]
    ]
    frame = pl.DataFrame(rows).with_columns(
        pl.col("score")
        .rank("ordinal", descending=True)
        .over("report_date", "marketplace_id", "category")
        .cast(pl.UInt32)
        .alias("category_rank")
    )
    return frame.select(pl.col(n).cast(t) for n, t in PREDICTIONS_SCHEMA.items())


def alerts_frame() -> pl.DataFrame:
    day = yesterday()
    rows = [
        ("a1", "acme", ACME[0], day, "price_change", "19.99", "24.99"),
        ("a2", "acme", ACME[1], day - timedelta(days=2), "bsr_change", "1000", "1600"),
        ("a3", "acme", ACME[2], day - timedelta(days=12), "stock_out", "1", "0"),
        ("g1", "globex", GLOBEX[0], day, "price_change", "10.00", "12.00"),
    ]
    return pl.DataFrame(
        [
            {
                "alert_id": alert_id,
                "account": account,
                "asin": asin,
                "report_date": when,
                "kind": kind,
                "before": Decimal(before),
                "after": Decimal(after),
            }
            for alert_id, account, asin, when, kind, before, after in rows
        ],
        schema=ALERTS_SCHEMA,
    )


def comparison_frame() -> pl.DataFrame:
    rows = [
        {
            "account": "acme",
            "asin": ACME[0],
            "report_date": day,
            "competitors_observed": 3,
            "price": price(0, day),
            "competitor_median_price": 21.99,
            "price_gap": float(price(0, day)) / 21.99 - 1,
            "bsr": bsr(0, day),
            "competitor_median_bsr": 1500.0,
            "bsr_gap": -0.3,
            "rating": 4.5,
            "competitor_mean_rating": 4.2,
            "rating_gap": 0.3,
            "review_count": 100,
            "competitor_median_reviews": 105.0,
            "review_gap": -5.0,
            "estimated_sales_share": 0.4,
        }
        for day in market_days()
    ]
    return pl.DataFrame(rows).select(
        pl.col(n).cast(t) for n, t in COMPETITOR_COMPARISON_SCHEMA.items()
    )


def tracked_frame() -> pl.DataFrame:
    rows = [
        {"account": account, "asin": asin, "role": "own", "competitor_of": None}
        for account, asin, _ in listing()
        if asin not in RIVALS
    ] + [
        {"account": "acme", "asin": rival, "role": "competitor", "competitor_of": ACME[0]}
        for rival in RIVALS
    ]
    return pl.DataFrame(rows, schema=MART_TRACKED_SCHEMA)


def market_tables(changed: bool = False) -> dict[str, pl.DataFrame]:
    return {
        "mart.mart_asin_daily": mart_frame(changed),
        "mart.tracked_asins": tracked_frame(),
        "features.score_baseline_daily": score_frame(),
        "features.alerts": alerts_frame(),
        "features.competitor_comparison_daily": comparison_frame(),
        "ml.predictions_daily": predictions_frame(),
    }


def _asset(table: str, frame: pl.DataFrame, partitions: dg.PartitionsDefinition):
    schema, name = table.split(".")
    partitioned = "report_date" in frame.columns

    @dg.asset(
        key=[schema, name],
        io_manager_key="mart_io_manager",
        partitions_def=partitions if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        metadata={"partition_expr": "report_date"} if partitioned else None,
    )
    def plant(context: dg.AssetExecutionContext) -> pl.DataFrame:
        if not partitioned:
            return frame
        window = context.partition_time_window
        first, end = window.start.date(), window.end.date()
        return frame.filter(pl.col("report_date").is_between(first, end, closed="left"))

    return plant


def plant_mart(
    settings: Settings, tables: Mapping[str, pl.DataFrame], first: date, last: date
) -> dg.ExecuteInProcessResult:
    """Write `tables` for the months of [first, last] with the mart IO manager of `settings`,
    as one Dagster run (what a mart run's writes do: change records, snapshot, Redis message).

    Monthly partitions: the IO manager replaces time windows of any length, and a few months
    make a few Dagster events where days would make thousands (seconds of test time).
    """
    partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), end_offset=1)
    first, last = first.replace(day=1), last.replace(day=1)
    io_manager, _ = mart_warehouse_from_settings(settings, secret_from_env=False)
    assets = [_asset(table, frame, partitions) for table, frame in tables.items()]
    job = dg.define_asset_job("plant_mart", partitions_def=partitions)
    defs = dg.Definitions(assets=assets, jobs=[job], resources={"mart_io_manager": io_manager})
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("plant_mart").execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
            },
        )
    return result
