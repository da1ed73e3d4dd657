"""The ranker against the baseline score and a random ranking on the sandbox marketplace, in-process.

Reads the synthetic marketplace's daily truth directly (no HTTP, no warehouse), shapes it like the
mart, and runs the same pure functions as the assets: features -> labels -> split -> ranker ->
evaluation. It is how `amazon-assets demo`, the README figure and the benchmark get a year of
history for thousands of ASINs in about a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from amazon_assets.analytics.features import features_asin_daily
from amazon_assets.analytics.mart import build_mart_asin_daily
from amazon_assets.analytics.score import score_baseline_daily
from amazon_assets.ml.evaluation import evaluate_rankings, random_scores
from amazon_assets.ml.labels import LabelConfig, join_labels, labels_asin_daily
from amazon_assets.ml.ranker import RankerConfig, TrainedRanker, train_ranker
from amazon_assets.ml.split import DateSplit, SplitConfig, temporal_split
from amazon_assets.sandbox.config import SandboxConfig
from amazon_assets.sandbox.marketplace import Marketplace

# Rolling features look back 30 days: those days are history, not training rows.
FEATURE_WARMUP_DAYS = 30
RANDOM_SEED = 7


def sandbox_mart(marketplace: Marketplace, account: str, first: date, last: date) -> pl.DataFrame:
    """mart_asin_daily for one sandbox account from its daily truth: traffic, sales, price and BSR."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    truth = pl.concat(
        [
            marketplace.sales_and_traffic(account, day)
            for day in days
            if marketplace.has_data(account, day)
        ]
    ).rename({"date": "report_date"})
    marketplace_id = marketplace.config.marketplace_id
    business = truth.select(
        "report_date",
        "account",
        "asin",
        pl.col("sku").alias("msku"),
        "sessions",
        "page_views",
        "buy_box_percentage",
        "units_ordered",
        "ordered_product_sales",
        pl.lit(marketplace_id).alias("marketplace_id"),
    )
    # One snapshot per ASIN and day; an ASIN's second offer shares its rank and category.
    snapshot = truth.unique(
        ["account", "asin", "report_date"], keep="first", maintain_order=True
    ).select(
        "account",
        "asin",
        pl.col("report_date").alias("snapshot_date"),
        "price",
        pl.col("price").alias("buy_box_price"),
        pl.lit(1, dtype=pl.Int64).alias("offer_count"),
        (pl.col("buy_box_percentage") >= 50).alias("has_buy_box"),
        pl.col("sales_rank").alias("bsr"),
        "category",
        pl.lit(None, dtype=pl.Float64).alias("rating"),
        pl.lit(None, dtype=pl.Int64).alias("review_count"),
        pl.lit(True).alias("in_stock"),
    )
    spine = business.select("account", "asin", "report_date", "marketplace_id").unique(
        ["account", "asin", "report_date"]
    )
    return build_mart_asin_daily(
        spine.lazy(), business_reports=business.lazy(), product_snapshot=snapshot.lazy()
    ).collect()


@dataclass
class ExperimentResult:
    """What one sandbox run produced: the split, the model and the test metrics."""

    split: DateSplit
    ranker: TrainedRanker
    metrics: dict[str, float]
    asins: int
    days: int


def model_frame(mart: pl.DataFrame, label_config: LabelConfig) -> pl.DataFrame:
    """Features, baseline score and labels per (account, asin, day), for days with a label."""
    features = features_asin_daily(mart.lazy())
    score = score_baseline_daily(features).select(
        "account", "asin", "report_date", "explosive_score"
    )
    labels = labels_asin_daily(mart.lazy(), label_config)
    return (
        join_labels(features, labels)
        .join(score, on=["account", "asin", "report_date"], how="left")
        .collect()
    )


def run_sandbox_experiment(
    skus: int = 2_200,
    days: int = 365,
    *,
    seed: int = 7,
    today: date = date(2025, 1, 1),
    label_config: LabelConfig | None = None,
    ranker_config: RankerConfig | None = None,
) -> ExperimentResult:
    """Train on the first labelled days, test on the last, score all three rankings."""
    label_config = label_config or LabelConfig()
    marketplace = Marketplace(SandboxConfig(seed=seed, skus_per_account=skus, today=today))
    account = marketplace.accounts[0]
    last = marketplace.last_day(account)
    # `days` labelled days need the feature warm-up before them and the label horizon after.
    first = last - timedelta(days=days - 1 + label_config.horizon_days + FEATURE_WARMUP_DAYS)
    mart = sandbox_mart(marketplace, account, first, last)
    frame = model_frame(mart, label_config).filter(
        pl.col("report_date") >= first + timedelta(days=FEATURE_WARMUP_DAYS)
    )
    split = temporal_split(
        frame["report_date"].min(),
        frame["report_date"].max(),
        SplitConfig(embargo_days=label_config.horizon_days),
    )
    ranker = train_ranker(
        frame.filter(split.part("train")),
        frame.filter(split.part("validation")),
        ranker_config,
        split=split.as_dict(),
    )
    test = frame.filter(split.part("test"))
    test = test.with_columns(
        pl.Series("ranker_score", ranker.score(test)),
        pl.Series("random_score", random_scores(test.height, RANDOM_SEED)),
    )
    take_offs = (
        marketplace.products(account).select("account", "asin", "take_off_date").drop_nulls()
    )
    metrics = evaluate_rankings(
        test,
        {"ranker": "ranker_score", "baseline": "explosive_score", "random": "random_score"},
        take_offs=take_offs,
        horizon_days=label_config.horizon_days,
    )
    return ExperimentResult(
        split=split,
        ranker=ranker,
        metrics=metrics,
        asins=mart["asin"].n_unique(),
        days=frame["report_date"].n_unique(),
    )
