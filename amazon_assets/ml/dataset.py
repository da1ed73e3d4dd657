"""The ranker's rows: features, the baseline score and labels per (account, asin, day).

The assets compute the three layers separately (features and score in the mart domain, labels in
ml); this joins them the same way from a mart, for tests and the ranker benchmark.
"""

from __future__ import annotations

import polars as pl

from amazon_assets.analytics.features import features_asin_daily
from amazon_assets.analytics.score import score_baseline_daily
from amazon_assets.ml.labels import LabelConfig, join_labels, labels_asin_daily

KEYS = ["account", "asin", "report_date"]


def model_frame(mart: pl.DataFrame, label_config: LabelConfig | None = None) -> pl.DataFrame:
    """Features, baseline score and labels per (account, asin, day), for days with a label."""
    features = features_asin_daily(mart.lazy())
    score = score_baseline_daily(features).select(*KEYS, "explosive_score")
    labels = labels_asin_daily(mart.lazy(), label_config)
    return join_labels(features, labels).join(score, on=KEYS, how="left").collect()
