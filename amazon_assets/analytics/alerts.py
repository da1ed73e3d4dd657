"""alerts: one row per price, BSR, buy box, stock or rating event of an ASIN on a day.

Each day is compared with the ASIN's last known value before it (the previous observation, so a day
without a snapshot neither fires nor hides the next move). An alert's id is a hash of (account,
asin, kind, day) only, so re-running a day yields the same ids and the writer or notifier can drop
what it has already sent.
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
    }
)

# Float ratios of decimal prices land a hair above the threshold (10.00 -> 11.00 is 0.1000...09);
# without slack an exact 10 % move would count as "more than 10 %".
_SLACK = 1e-9


@dataclass(frozen=True)
class AlertThresholds:
    """When an alert fires: relative price and BSR moves, and a drop in stars."""

    price_change: float = 0.10  # |after / before - 1| above this
    bsr_change: float = 0.30  # |after / before - 1| above this
    rating_drop: float = 0.2  # before - after at least this many stars

    def __post_init__(self) -> None:
        for name in ("price_change", "bsr_change", "rating_drop"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"Alert threshold {name} must be positive, got {getattr(self, name)}."
                )


def alert_id(account: str, asin: str, kind: str, day: str) -> str:
    """The deterministic id of an alert: sha256 of its key, 32 hex characters."""
    return hashlib.sha256(f"{account}|{asin}|{kind}|{day}".encode()).hexdigest()[:32]


def _ids(keys: pl.Series) -> pl.Series:
    # polars' own hash is seeded and version-dependent, so the id is computed with hashlib.
    digests = [hashlib.sha256(k.encode()).hexdigest()[:32] for k in keys.to_list()]
    return pl.Series(digests, dtype=pl.Utf8)


def _previous(column: str) -> pl.Expr:
    """The ASIN's last non-null value before this row."""
    return pl.col(column).forward_fill().shift(1).over(GROUP)


def _relative_move(column: str) -> pl.Expr:
    before = pl.col(f"_prev_{column}").cast(pl.Float64)
    after = pl.col(column).cast(pl.Float64)
    return pl.when(before > 0).then((after / before - 1).abs())


def _value(name: str, watched: str) -> pl.Expr:
    """A watched value as Decimal(18, 2); flags as 1/0 (booleans do not cast to Decimal)."""
    expr = pl.col(name)
    if watched in ("has_buy_box", "in_stock"):
        expr = expr.cast(pl.Int8)
    return expr.cast(ALERTS_SCHEMA["before"])


def detect_alerts(mart: pl.LazyFrame, thresholds: AlertThresholds | None = None) -> pl.LazyFrame:
    """Alert rows (ALERTS_SCHEMA) for every event in the mart, one per ASIN, kind and day."""
    thresholds = thresholds or AlertThresholds()
    watched = ("price", "bsr", "has_buy_box", "in_stock", "rating")
    base = (
        mart.select("account", "asin", "report_date", *watched)
        .sort("account", "asin", "report_date")
        .with_columns(_previous(c).alias(f"_prev_{c}") for c in watched)
    )
    c = pl.col
    rules: dict[str, tuple[pl.Expr, str]] = {
        "price_change": (_relative_move("price") > thresholds.price_change + _SLACK, "price"),
        "bsr_change": (_relative_move("bsr") > thresholds.bsr_change + _SLACK, "bsr"),
        "buy_box_lost": (c("_prev_has_buy_box") & ~c("has_buy_box"), "has_buy_box"),
        "stock_out": (c("_prev_in_stock") & ~c("in_stock"), "in_stock"),
        "rating_drop": (
            c("_prev_rating") - c("rating") >= thresholds.rating_drop - _SLACK,
            "rating",
        ),
    }
    alerts = pl.concat(
        base.filter(fires).select(
            "account",
            "asin",
            "report_date",
            pl.lit(kind).alias("kind"),
            _value(f"_prev_{column}", column).alias("before"),
            _value(column, column).alias("after"),
        )
        for kind, (fires, column) in rules.items()
    )
    key = pl.concat_str(
        "account", "asin", "kind", pl.col("report_date").dt.to_string("%Y-%m-%d"), separator="|"
    )
    return (
        alerts.with_columns(key.map_batches(_ids, return_dtype=pl.Utf8).alias("alert_id"))
        .sort("report_date", "account", "asin", "kind")
        .select(pl.col(name).cast(dtype) for name, dtype in ALERTS_SCHEMA.items())
    )
