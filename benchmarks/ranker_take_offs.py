"""Does the ranker find take-offs? Ranker, baseline score and random on the sandbox marketplace.

The sandbox marketplace with stock-outs switched on (and deals, spikes, ad pushes, declines,
launches), 2,200 SKUs over 420 days, built in-process from the marketplace's truth with every
source the features read (traffic, sales, price, BSR, buy box, stock, rating, reviews, ads). Then
the functions the assets run: features_asin_daily -> score_baseline_daily -> labels_asin_daily ->
temporal_split -> train_ranker -> evaluate_rankings, with recall of the marketplace's planted
take-offs (within 14 days of onset) and 95 % bootstrap intervals over test days.

    .venv/bin/python benchmarks/ranker_take_offs.py [--skus 2200] [--days 420] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import polars as pl

from amazon_assets.analytics.features import LOOKBACK_DAYS
from amazon_assets.defs.ml.assets import evaluation_table
from amazon_assets.ml.dataset import model_frame
from amazon_assets.ml.evaluation import evaluate_rankings, random_scores, take_off_hits
from amazon_assets.ml.labels import LabelConfig
from amazon_assets.ml.ranker import train_ranker
from amazon_assets.ml.split import SplitConfig, temporal_split
from amazon_assets.sandbox.config import SandboxConfig
from amazon_assets.sandbox.marketplace import Marketplace
from amazon_assets.sandbox.truth_mart import truth_mart

RANDOM_SEED = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=2_200)
    parser.add_argument("--days", type=int, default=420)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.monotonic()
    marketplace = Marketplace(
        SandboxConfig(seed=args.seed, skus_per_account=args.skus, today=date(2025, 1, 1))
    )
    account = marketplace.accounts[0]
    last = marketplace.last_day(account)
    mart = truth_mart(marketplace, account, last - timedelta(days=args.days - 1), last)
    built = time.monotonic()
    label_config = LabelConfig()
    frame = model_frame(mart, label_config).filter(
        pl.col("report_date") >= mart["report_date"].min() + timedelta(days=LOOKBACK_DAYS)
    )
    split = temporal_split(
        frame["report_date"].min(),
        frame["report_date"].max(),
        SplitConfig(embargo_days=label_config.horizon_days),
    )
    ranker = train_ranker(
        frame.filter(split.part("train")),
        frame.filter(split.part("validation")),
        split=split.as_dict(),
        label_definition=label_config.describe(),
    )
    test = frame.filter(split.part("test"))
    test = test.with_columns(
        pl.Series("ranker_score", ranker.score(test)),
        pl.Series("random_score", random_scores(test.height, RANDOM_SEED)),
    )
    take_offs = marketplace.products(account).select("account", "asin", "take_off_date")
    metrics = evaluate_rankings(
        test,
        {"ranker": "ranker_score", "baseline": "explosive_score", "random": "random_score"},
        take_offs=take_offs.drop_nulls(),
        horizon_days=label_config.horizon_days,
        intervals=True,
    )
    done = time.monotonic()

    in_stock = mart["in_stock"].mean() or 0.0
    print(
        f"marketplace: {mart['asin'].n_unique()} ASINs x {mart['report_date'].n_unique()} days, "
        f"{1 - in_stock:.1%} of ASIN-days out of stock; mart built in {built - started:.0f}s"
    )
    print(
        f"labelled rows {frame.height:,} (take-off share {frame['takes_off'].mean():.2%}); "
        f"test {split.test[0]}..{split.test[1]}: {int(metrics['test_groups'])} category-days, "
        f"{int(metrics['take_off_days_in_test'])} (take-off, day) pairs within 14 days of onset"
    )
    print(evaluation_table(metrics))
    for k in (10, 20):
        ranker_recall = metrics[f"ranker_take_off_recall_at_{k}"]
        print(
            f"recall@{k}: ranker / baseline {ranker_recall / metrics[f'baseline_take_off_recall_at_{k}']:.2f}x, "
            f"ranker / random {ranker_recall / metrics[f'random_take_off_recall_at_{k}']:.2f}x"
        )
    # Where the rankings differ: a take-off's first days (its growth has barely begun) against
    # its later ones (any momentum score sees it).
    by_onset = {
        name: take_off_hits(test, column, 10, take_offs.drop_nulls(), label_config.horizon_days)
        .group_by(pl.col("days_since_onset").clip(upper_bound=3))
        .agg(pl.col("hit").mean(), pl.len())
        .sort("days_since_onset")
        for name, column in (("ranker", "ranker_score"), ("baseline", "explosive_score"))
    }
    print(
        "recall@10 by days since onset (0, 1, 2, 3+): "
        + "; ".join(
            f"{name} "
            + ", ".join(f"{row['hit']:.2f} ({row['len']})" for row in frame.iter_rows(named=True))
            for name, frame in by_onset.items()
        )
    )
    gains = ranker.manifest["feature_importance_gain"]
    total = sum(gains.values()) or 1.0
    top = sorted(gains.items(), key=lambda item: -item[1])[:8]
    print("feature importance (gain share): " + ", ".join(f"{n} {g / total:.0%}" for n, g in top))
    print(
        f"model {ranker.version}, best iteration {ranker.manifest['best_iteration']}; "
        f"features to metrics in {done - built:.0f}s"
    )


if __name__ == "__main__":
    main()
