"""alerts: one row per episode of a price, BSR, buy box, stock or rating move of an ASIN.

A day is compared with a robust recent baseline, never with the day before (one noisy day would
fire twice, going and coming back):
- price and BSR: the median of the ASIN's values on the 7 days before (`baseline_days`); a day
  deviates when |value / median - 1| exceeds the threshold;
- rating: the 7-day median of stars before; a day deviates when stars fell by `rating_drop`;
- buy box and stock: held (in stock) on the day before; a day deviates while lost (out of stock).
Consecutive deviating days in one direction form an episode. An episode alerts once: on the day it
has lasted `persist_days`, or on its first day when the move is `size_multiple` times the
threshold (a stock-out alerts on its first day: it is a fact, not noise). An episode within
`cooldown_days` of the previous one of the same ASIN and kind does not alert. A BSR episode that starts while the product is out
of stock or in a price episode is explained by that move and is not alerted again.

Every alert names its baseline (`baseline`: what it was compared with, `before`: its value) and
the move (`after`, `change`). Its id hashes (account, asin, kind, episode start): re-running days
yields the same ids, so the writer and notifier drop what they have already sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

GROUP = ("account", "asin")
ALERT_KINDS = ("price_change", "bsr_change", "buy_box_lost", "stock_out", "rating_drop")

# before/after hold a price, a rank, stars or a 1/0 flag: Decimal(18, 2) keeps prices exact.
ALERTS_SCHEMA = pl.Schema(
    {
        "alert_id": pl.Utf8,
        "account": pl.Utf8,
        "asin": pl.Utf8,
        "report_date": pl.Date,
        "kind": pl.Utf8,
        "before": pl.Decimal(18, 2),
        "after": pl.Decimal(18, 2),
        "change": pl.Float64,
        "baseline": pl.Utf8,
        "episode_start": pl.Date,
        "episode_days": pl.Int32,
    }
)

# Float ratios of decimal prices land a hair above the threshold (10.00 -> 11.00 is 0.1000...09);
# without slack an exact 10 % move would count as "more than 10 %".
_SLACK = 1e-9


@dataclass(frozen=True)
class AlertThresholds:
    """When an episode alerts: the sizes of a move, how long it must last, the quiet period."""

    price_change: float = 0.10  # |price / 7-day median - 1| above this
    bsr_change: float = 0.50  # |BSR / 7-day median - 1| above this
    rating_drop: float = 0.2  # 7-day median stars - stars at least this
    persist_days: int = 3  # an episode alerts once it has lasted this many days ...
    size_multiple: float = 3.0  # ... or at once when the move is this many times the threshold
    cooldown_days: int = 14  # no second alert of one ASIN and kind within this many days
    baseline_days: int = 7

    def __post_init__(self) -> None:
        for name in ("price_change", "bsr_change", "rating_drop", "size_multiple"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"Alert threshold {name} must be positive, got {getattr(self, name)}."
                )
        for name in ("persist_days", "baseline_days"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"Alert setting {name} must be at least 1, got {getattr(self, name)}."
                )
        if self.cooldown_days < 0:
            raise ValueError(f"cooldown_days must be >= 0, got {self.cooldown_days}.")


def alert_id(account: str, asin: str, kind: str, episode_start: str) -> str:
    """The deterministic id of an alert: sha256 of its key, 32 hex characters."""
    return hashlib.sha256(f"{account}|{asin}|{kind}|{episode_start}".encode()).hexdigest()[:32]


def _ids(keys: pl.Series) -> pl.Series:
    # polars' own hash is seeded and version-dependent, so the id is computed with hashlib.
    digests = [hashlib.sha256(k.encode()).hexdigest()[:32] for k in keys.to_list()]
    return pl.Series(digests, dtype=pl.Utf8)


def _median_before(column: str, days: int) -> pl.Expr:
    """The median of the ASIN's values on the `days` days before this one (by date), once at
    least two of them are known."""
    return (
        pl.col(column)
        .cast(pl.Float64)
        .rolling_median_by("report_date", f"{days}d", closed="left", min_samples=2)
        .over(GROUP)
    )


def _episodes(
    frame: pl.LazyFrame,
    kind: str,
    direction: pl.Expr,
    size: pl.Expr,
    known: pl.Expr,
    threshold: float,
    thresholds: AlertThresholds,
    immediate: bool = False,
) -> pl.LazyFrame:
    """Each episode's alert day: runs of consecutive deviating days of one direction per ASIN.

    `direction` is +1 / -1 on a deviating day (else 0 or null); `size` the move's magnitude;
    `known` whether the day had a baseline to deviate from.
    """
    marked = frame.with_columns(
        direction.fill_null(0).alias("_dir"), size.alias("_size"), known.alias("_known")
    ).with_columns(
        # A new run starts where the direction changes from the day before.
        (pl.col("_dir") != pl.col("_dir").shift(1).over(GROUP).fill_null(0))
        .cast(pl.Int32)
        .cum_sum()
        .over(GROUP)
        .alias("_run")
    )
    runs = marked.filter(pl.col("_dir") != 0).with_columns(
        pl.col("report_date").min().over(*GROUP, "_run").alias("episode_start"),
        (pl.int_range(pl.len()).over(*GROUP, "_run") + 1).alias("episode_days"),
        # Whether the episode's first day had a baseline: a flag already off on the first day
        # seen is a state, not a change.
        pl.col("_known").first().over(*GROUP, "_run").alias("_started_known"),
        # What the product did when the episode began: what may explain it.
        pl.col("_out_days").first().over(*GROUP, "_run").alias("_start_out_days"),
        pl.col("_price_move").abs().max().over(*GROUP, "_run").alias("_episode_price_move"),
    )
    big = pl.col("_size") >= threshold * thresholds.size_multiple - _SLACK
    due = pl.col("episode_days") >= (1 if immediate else thresholds.persist_days)
    fires = (due | big).alias("_fires")
    return (
        runs.with_columns(fires)
        .filter(pl.col("_fires") & pl.col("_started_known"))
        # The episode alerts on its first qualifying day.
        .filter(pl.col("report_date") == pl.col("report_date").min().over(*GROUP, "_run"))
        .with_columns(pl.lit(kind).alias("kind"))
    )


def _cooldown(alerts: pl.DataFrame, days: int) -> pl.DataFrame:
    """Drop an episode's alert when the same ASIN and kind had an episode alert fewer than `days`
    days before (kept or not: a product whose price keeps moving stays quiet until it settles).

    Looking back one episode only keeps a day's alerts a function of a bounded past, so a daily
    run over its lookback finds the same alerts as a recompute of the whole history.
    """
    if not days or alerts.is_empty():
        return alerts
    previous = pl.col("report_date").shift(1).over("account", "asin", "kind")
    return alerts.sort("account", "asin", "kind", "report_date").filter(
        previous.is_null() | ((pl.col("report_date") - previous).dt.total_days() >= days)
    )


def detect_alerts(mart: pl.LazyFrame, thresholds: AlertThresholds | None = None) -> pl.LazyFrame:
    """Alert rows (ALERTS_SCHEMA) for every episode in the mart, one per ASIN, kind and episode."""
    t = thresholds or AlertThresholds()
    n = t.baseline_days
    median_label = f"median of the {n} days before"
    base = (
        mart.select(
            "account", "asin", "report_date", "price", "bsr", "has_buy_box", "in_stock", "rating"
        )
        .sort("account", "asin", "report_date")
        .with_columns(
            _median_before("price", n).alias("_price_base"),
            _median_before("bsr", n).alias("_bsr_base"),
            _median_before("rating", n).alias("_rating_base"),
            pl.col("has_buy_box").forward_fill().shift(1).over(GROUP).alias("_had_buy_box"),
            pl.col("in_stock").forward_fill().shift(1).over(GROUP).alias("_was_in_stock"),
            # Out of stock on any of the last `n` days: what a BSR move then is explained by.
            (pl.col("in_stock") == False)  # noqa: E712
            .cast(pl.Int32)
            .rolling_sum_by("report_date", f"{n}d")
            .over(GROUP)
            .alias("_out_days"),
        )
        .with_columns(
            pl.when(pl.col("_price_base") > 0)
            .then(pl.col("price").cast(pl.Float64) / pl.col("_price_base") - 1)
            .alias("_price_move"),
            pl.when(pl.col("_bsr_base") > 0)
            .then(pl.col("bsr").cast(pl.Float64) / pl.col("_bsr_base") - 1)
            .alias("_bsr_move"),
            (pl.col("_rating_base") - pl.col("rating").cast(pl.Float64)).alias("_rating_fall"),
        )
    )
    c = pl.col

    def signed(move: str, threshold: float) -> pl.Expr:
        return pl.when(c(move).abs() > threshold + _SLACK).then(c(move).sign().cast(pl.Int32))

    # A stock-out or lost buy box lasts until the flag comes back (an episode of "off" days).
    lost_buy_box = c("has_buy_box") == False  # noqa: E712
    out_of_stock = c("in_stock") == False  # noqa: E712
    rules = {
        "price_change": (
            signed("_price_move", t.price_change),
            c("_price_move").abs(),
            t.price_change,
            "_price_base",
            "price",
            median_label,
            False,
        ),
        "bsr_change": (
            signed("_bsr_move", t.bsr_change),
            c("_bsr_move").abs(),
            t.bsr_change,
            "_bsr_base",
            "bsr",
            median_label,
            False,
        ),
        "rating_drop": (
            pl.when(c("_rating_fall") >= t.rating_drop - _SLACK).then(pl.lit(-1)),
            c("_rating_fall"),
            t.rating_drop,
            "_rating_base",
            "rating",
            median_label,
            False,
        ),
        "buy_box_lost": (
            pl.when(lost_buy_box).then(pl.lit(-1)),
            pl.lit(0.0),
            1.0,
            "_had_buy_box",
            "has_buy_box",
            "held the day before",
            False,
        ),
        "stock_out": (
            pl.when(out_of_stock).then(pl.lit(-1)),
            pl.lit(0.0),
            1.0,
            "_was_in_stock",
            "in_stock",
            "in stock the day before",
            True,
        ),
    }
    changes = {
        "price_change": c("_price_move"),
        "bsr_change": c("_bsr_move"),
        "rating_drop": -c("_rating_fall"),
    }
    frames = []
    for kind, (direction, size, threshold, before, after, label, immediate) in rules.items():
        fired = _episodes(
            base, kind, direction, size, c(before).is_not_null(), threshold, t, immediate
        )
        frames.append(
            fired.select(
                "account",
                "asin",
                "report_date",
                "kind",
                "episode_start",
                "episode_days",
                "in_stock",
                "_start_out_days",
                "_episode_price_move",
                _value(before).alias("before"),
                _value(after).alias("after"),
                changes.get(kind, pl.lit(-1.0)).alias("change"),
                pl.lit(label).alias("baseline"),
            )
        )
    found = pl.concat(frames, how="vertical_relaxed").collect()
    found = _without_explained(found, t)
    found = _cooldown(found, t.cooldown_days)
    key = pl.concat_str(
        "account", "asin", "kind", pl.col("episode_start").dt.to_string("%Y-%m-%d"), separator="|"
    )
    return (
        found.lazy()
        .with_columns(key.map_batches(_ids, return_dtype=pl.Utf8).alias("alert_id"))
        .sort("report_date", "account", "asin", "kind")
        .select(pl.col(name).cast(dtype) for name, dtype in ALERTS_SCHEMA.items())
    )


def _without_explained(found: pl.DataFrame, t: AlertThresholds) -> pl.DataFrame:
    """BSR episodes that began while (or just after) the product was out of stock or that come
    with a price move, and a buy box lost while out of stock: the stock or price move is what
    changed."""
    bsr = (pl.col("kind") == "bsr_change") & (
        (pl.col("_start_out_days") > 0) | (pl.col("_episode_price_move") > t.price_change + _SLACK)
    )
    buy_box = (pl.col("kind") == "buy_box_lost") & (pl.col("in_stock") == False)  # noqa: E712
    return found.filter(~(bsr | buy_box).fill_null(False))


_FLAGS = ("has_buy_box", "_had_buy_box", "in_stock", "_was_in_stock")


def _value(name: str) -> pl.Expr:
    """A watched value as Decimal(18, 2); flags as 1/0 (booleans do not cast to Decimal)."""
    expr = pl.col(name).cast(pl.Int8) if name in _FLAGS else pl.col(name).cast(pl.Float64).round(2)
    return expr.cast(ALERTS_SCHEMA["before"])
