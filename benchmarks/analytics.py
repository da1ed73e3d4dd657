"""Benchmark: mart + features + score + alerts with polars, against the same features in pandas.

    python benchmarks/analytics.py [--asins 5000] [--days 540] [--seed 7]

Three stages run in their own processes so each peak-memory figure (ru_maxrss) is its own:
1. generate: seeded numpy synthetic sources (business reports at SKU grain, product snapshots, ads,
   fees, returns, reimbursements) for asins x days, written as parquet to a temporary directory;
2. polars: build_mart_asin_daily from those files, then features_asin_daily, score_baseline_daily
   and detect_alerts, each collected as its Dagster asset would be;
3. pandas: the same features from the mart, written the way a user would with
   groupby().rolling("7D", on="report_date") (slopes from rolling means too, so the comparison is
   like for like rather than against a per-window polyfit), then checked against the polars output.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:  # pandas is a dev dependency, imported only by the stage that uses it
    import pandas as pd

MONEY = pl.Decimal(18, 2)
START = date(2024, 1, 1)
MARKETPLACE = "ATVPDKIKX0DER"
CATEGORIES = 20
ACCOUNTS = 4


def _peak_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _spells(
    rng: np.random.Generator, n_asins: int, n_days: int, lose: float, regain: float
) -> np.ndarray:
    """A per-ASIN on/off state (buy box held, in stock) that flips with the given daily odds."""
    state = np.ones((n_asins, n_days), dtype=bool)
    draws = rng.random((n_asins, n_days))
    for d in range(1, n_days):
        prev = state[:, d - 1]
        state[:, d] = np.where(prev, draws[:, d] >= lose, draws[:, d] < regain)
    return state.ravel()


def generate(out: Path, n_asins: int, n_days: int, seed: int) -> dict[str, int]:
    """Write seeded synthetic source tables for n_asins x n_days as parquet; return row counts."""
    rng = np.random.default_rng(seed)
    n = n_asins * n_days
    asin_ids = np.array([f"B0{i:08d}" for i in range(n_asins)])
    accounts = np.array([f"seller-{i % ACCOUNTS + 1}" for i in range(n_asins)])
    categories = np.array([f"category-{i % CATEGORIES:02d}" for i in range(n_asins)])
    days = np.arange(np.datetime64(START), np.datetime64(START) + n_days)

    asin = np.repeat(asin_ids, n_days)
    account = np.repeat(accounts, n_days)
    day = np.tile(days, n_asins)

    # BSR: a log random walk per ASIN; 5 % take off (rank falls ~2 %/day) from a random day.
    log_bsr = np.log(rng.uniform(100, 200_000, n_asins))[:, None] + np.cumsum(
        rng.normal(0, 0.05, (n_asins, n_days)), axis=1
    )
    takes_off = rng.random(n_asins) < 0.05
    launch = rng.integers(60, n_days, n_asins)
    drift = np.where(
        takes_off[:, None] & (np.arange(n_days)[None, :] >= launch[:, None]),
        -0.02,
        0.0,
    )
    log_bsr = np.clip(log_bsr + np.cumsum(drift, axis=1), 0, np.log(3_000_000))
    bsr = np.maximum(1, np.rint(np.exp(log_bsr))).astype(np.int64)

    # Price: piecewise constant, ~2 % of days move it by -20 %..+20 %.
    moves = np.where(
        rng.random((n_asins, n_days)) < 0.02, rng.uniform(0.8, 1.2, (n_asins, n_days)), 1.0
    )
    price = np.round(rng.uniform(10, 80, n_asins)[:, None] * np.cumprod(moves, axis=1), 2)

    # Traffic follows rank; conversion is per ASIN.
    sessions = rng.poisson(np.clip(20_000 / np.sqrt(bsr), 1, 5_000)).astype(np.int64)
    units = rng.binomial(sessions, rng.uniform(0.04, 0.2, n_asins)[:, None]).astype(np.int64)
    reviews = (
        np.cumsum(rng.poisson(units * 0.02), axis=1) + rng.integers(0, 2_000, n_asins)[:, None]
    )
    rating = np.clip(
        np.round(
            rng.uniform(3.4, 4.9, n_asins)[:, None]
            + np.cumsum(rng.normal(0, 0.01, (n_asins, n_days)), axis=1),
            1,
        ),
        1.0,
        5.0,
    )
    flat = {
        k: v.ravel()
        for k, v in dict(
            bsr=bsr, price=price, sessions=sessions, units=units, reviews=reviews, rating=rating
        ).items()
    }

    keys = {"account": account, "asin": asin}
    spine = pl.DataFrame({**keys, "report_date": day, "marketplace_id": np.full(n, MARKETPLACE)})
    spine = spine.with_columns(pl.col("report_date").cast(pl.Date))
    spine.write_parquet(out / "spine.parquet")

    # Business report at SKU grain: 10 % of ASINs sell under two SKUs that split the day.
    has_report = rng.random(n) > 0.005
    two_skus = np.repeat(rng.random(n_asins) < 0.10, n_days) & has_report
    first_share = np.where(two_skus, 0.5, 1.0)
    bb = np.where(rng.random(n) < 0.9, 100.0, np.round(rng.uniform(60, 100, n), 2))
    sku_a = {
        "report_date": day,
        "account": account,
        "asin": asin,
        "marketplace_id": np.full(n, MARKETPLACE),
        "msku": np.char.add(asin, "-A"),
        "sessions": np.floor(flat["sessions"] * first_share).astype(np.int64),
        "page_views": np.floor(flat["sessions"] * 1.3 * first_share).astype(np.int64),
        "buy_box_percentage": bb,
        "units_ordered": np.floor(flat["units"] * first_share).astype(np.int64),
    }
    sku_a["ordered_product_sales"] = np.round(sku_a["units_ordered"] * flat["price"], 2)
    sku_b = {k: v[two_skus] for k, v in sku_a.items()}
    sku_b["msku"] = np.char.add(asin[two_skus], "-B")
    for col, total in (("sessions", flat["sessions"]), ("units_ordered", flat["units"])):
        sku_b[col] = total[two_skus] - sku_a[col][two_skus]
    sku_b["page_views"] = np.floor(sku_b["sessions"] * 1.3).astype(np.int64)
    sku_b["ordered_product_sales"] = np.round(sku_b["units_ordered"] * flat["price"][two_skus], 2)
    business = pl.concat(
        [pl.DataFrame({k: v[has_report] for k, v in sku_a.items()}), pl.DataFrame(sku_b)]
    ).with_columns(pl.col("report_date").cast(pl.Date), pl.col("ordered_product_sales").cast(MONEY))
    business.write_parquet(out / "business_reports.parquet")

    # Product snapshots: 1 % of ASIN-days have none.
    has_snap = rng.random(n) > 0.01
    snapshot = (
        pl.DataFrame(
            {
                "account": account,
                "asin": asin,
                "snapshot_date": day,
                "price": flat["price"],
                "buy_box_price": flat["price"],
                "offer_count": rng.integers(1, 12, n),
                "has_buy_box": _spells(rng, n_asins, n_days, lose=0.01, regain=0.3),
                "bsr": flat["bsr"],
                "category": np.repeat(categories, n_days),
                "rating": flat["rating"],
                "review_count": flat["reviews"],
                "in_stock": _spells(rng, n_asins, n_days, lose=0.005, regain=0.2),
            }
        )
        .filter(pl.Series(has_snap))
        .with_columns(
            pl.col("snapshot_date").cast(pl.Date), pl.col("price", "buy_box_price").cast(MONEY)
        )
    )
    snapshot.write_parquet(out / "product_snapshot.parquet")

    # Ads: 60 % of ASINs advertise, every day.
    advertised = np.repeat(rng.random(n_asins) < 0.6, n_days)
    clicks = rng.poisson(flat["sessions"] * 0.1)
    ad_units = rng.binomial(clicks, 0.1)
    ads = (
        pl.DataFrame(
            {
                "account": account,
                "asin": asin,
                "report_date": day,
                "cost": np.round(clicks * rng.uniform(0.3, 1.5, n), 2),
                "sales_7d": np.round(ad_units * flat["price"], 2),
                "units_7d": ad_units,
                "clicks": clicks,
                "impressions": clicks * 40,
            }
        )
        .filter(pl.Series(advertised))
        .with_columns(pl.col("report_date").cast(pl.Date), pl.col("cost", "sales_7d").cast(MONEY))
    )
    ads.write_parquet(out / "ads.parquet")

    # Fees on selling days; returns and reimbursements are rare events.
    sold = flat["units"] > 0
    fees = pl.DataFrame(
        {
            "account": account,
            "asin": asin,
            "day": day,
            "amount": -np.round(flat["units"] * flat["price"] * 0.15, 2),
        }
    ).filter(pl.Series(sold))
    returned = rng.random(n) < 0.03
    returns = pl.DataFrame(
        {"account": account, "asin": asin, "day": day, "quantity": rng.integers(1, 3, n)}
    ).filter(pl.Series(returned))
    reimbursed = rng.random(n) < 0.005
    reimbursements = pl.DataFrame(
        {"account": account, "asin": asin, "day": day, "amount": np.round(rng.uniform(5, 60, n), 2)}
    ).filter(pl.Series(reimbursed))
    for name, frame in (("fees", fees), ("returns", returns), ("reimbursements", reimbursements)):
        frame = frame.with_columns(pl.col("day").cast(pl.Date))
        if "amount" in frame.columns:
            frame = frame.with_columns(pl.col("amount").cast(MONEY))
        frame.write_parquet(out / f"{name}.parquet")
    return {
        "spine": n,
        "business_reports": business.height,
        "product_snapshot": snapshot.height,
        "ads": ads.height,
        "fees": fees.height,
        "returns": returns.height,
        "reimbursements": reimbursements.height,
    }


def run_polars(data: Path) -> dict[str, float | int]:
    """Mart, features, score and alerts from the parquet sources; times per stage."""
    from amazon_assets.analytics.alerts import detect_alerts
    from amazon_assets.analytics.features import features_asin_daily
    from amazon_assets.analytics.mart import build_mart_asin_daily
    from amazon_assets.analytics.score import score_baseline_daily

    def scan(name: str) -> pl.LazyFrame:
        return pl.scan_parquet(data / f"{name}.parquet")

    times: dict[str, float | int] = {}
    start = time.perf_counter()
    mart = build_mart_asin_daily(
        scan("spine"),
        business_reports=scan("business_reports"),
        product_snapshot=scan("product_snapshot"),
        ads=scan("ads"),
        fees=scan("fees"),
        returns=scan("returns"),
        reimbursements=scan("reimbursements"),
    ).collect()
    times["mart_s"] = time.perf_counter() - start
    # Stage order and release follow the asset steps: alerts and features read the mart, score
    # reads features; a stage's input is dropped once no later stage needs it.
    t = time.perf_counter()
    alerts = detect_alerts(mart.lazy()).collect()
    times["alerts_s"] = time.perf_counter() - t
    t = time.perf_counter()
    features = features_asin_daily(mart.lazy()).collect()
    times["features_s"] = time.perf_counter() - t
    mart_rows = mart.height
    mart.write_parquet(data / "mart.parquet")  # for the pandas stage; outside the stage clocks
    del mart
    t = time.perf_counter()
    score = score_baseline_daily(features.lazy()).collect()
    times["score_s"] = time.perf_counter() - t
    times["total_s"] = sum(times[k] for k in ("mart_s", "alerts_s", "features_s", "score_s"))
    times["peak_mb"] = _peak_mb()
    times.update(mart_rows=mart_rows, score_rows=score.height, alert_rows=alerts.height)
    features.write_parquet(data / "features_polars.parquet")
    return times


def pandas_features(mart: pd.DataFrame) -> pd.DataFrame:
    """The features of features_asin_daily, written as a pandas user would."""
    import pandas as pd

    df = mart.sort_values(["account", "asin", "report_date"]).reset_index(drop=True)
    df["report_date"] = pd.to_datetime(df["report_date"])
    g = df.groupby(["account", "asin"], sort=False)
    f = df[["account", "asin", "report_date"]].copy()

    x = pd.DataFrame(index=df.index)
    x["log_bsr"] = np.log(df["bsr"].astype("float64").where(df["bsr"] > 0))
    x["price"] = df["price"].astype("float64")
    x["reviews"] = df["review_count"].astype("float64")
    x["rating"] = df["rating"].astype("float64")
    x["sessions"] = df["sessions"].astype("float64")
    x["units"] = df["units_ordered"].astype("float64")
    x["bb_pct"] = df["buy_box_percentage"].astype("float64")
    x["has_bb"] = df["has_buy_box"].astype("float64")
    x["spend"] = df["ad_spend"].astype("float64")
    x["ad_sales"] = df["ad_sales"].astype("float64")
    x["sales"] = df["ordered_product_sales"].astype("float64")
    x["out"] = 1.0 - df["in_stock"].astype("float64")
    x["t"] = (df["report_date"] - g["report_date"].transform("first")).dt.days.astype("float64")
    x["log_bsr_step"] = x["log_bsr"].groupby([df["account"], df["asin"]], sort=False).diff()
    x["new_reviews"] = (
        x["reviews"]
        .groupby([df["account"], df["asin"]], sort=False)
        .ffill()
        .groupby([df["account"], df["asin"]], sort=False)
        .diff()
    )
    x["tm"] = x["t"].where(x["log_bsr"].notna())
    x["ty"] = x["tm"] * x["log_bsr"]
    x["tt"] = x["tm"] * x["tm"]
    x[["account", "asin", "report_date"]] = df[["account", "asin", "report_date"]]
    gx = x.groupby(["account", "asin"], sort=False)

    def roll(cols: list[str], days: int, stat: str, closed: str = "right") -> pd.DataFrame:
        r = gx.rolling(f"{days}D", on="report_date", min_periods=max(3, days // 2), closed=closed)
        # Rows come back in group order, which is the frame's order: it is sorted by the keys.
        out = getattr(r[cols], stat)().reset_index(drop=True)
        out.index = x.index
        return out[cols]

    for days in (7, 14, 30):
        m = roll(["tm", "log_bsr", "ty", "tt"], days, "mean")
        var_t = m["tt"] - m["tm"] ** 2
        f[f"bsr_slope_{days}d"] = ((m["ty"] - m["tm"] * m["log_bsr"]) / var_t).where(var_t > 0)
    f["bsr_volatility_30d"] = roll(["log_bsr_step"], 30, "std")["log_bsr_step"]

    def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
        return (a / b).where(b > 0)

    for days in (7, 30):
        f[f"price_cv_{days}d"] = ratio(
            roll(["price"], days, "std")["price"], roll(["price"], days, "mean")["price"]
        )
    f["price_change_vs_median_7d"] = (
        ratio(x["price"], roll(["price"], 7, "median", "left")["price"]) - 1
    )
    s7 = roll(["new_reviews", "units", "sessions", "spend", "ad_sales", "sales", "out"], 7, "sum")
    s30 = roll(["new_reviews", "units", "sessions", "spend", "ad_sales", "sales", "out"], 30, "sum")
    m7 = roll(["sessions", "has_bb", "bb_pct"], 7, "mean")
    m30 = roll(["sessions", "bb_pct"], 30, "mean")
    f["review_velocity_7d"] = s7["new_reviews"] / 7
    f["review_velocity_30d"] = s30["new_reviews"] / 30
    f["review_acceleration"] = f["review_velocity_7d"] - f["review_velocity_30d"]
    f["rating_drift_30d"] = x["rating"] - roll(["rating"], 30, "mean", "left")["rating"]
    f["sessions_trend"] = ratio(m7["sessions"], m30["sessions"]) - 1
    f["conversion_7d"] = ratio(s7["units"], s7["sessions"])
    f["conversion_trend"] = f["conversion_7d"] - ratio(s30["units"], s30["sessions"])
    f["buy_box_share_7d"] = m7["has_bb"]
    f["buy_box_trend"] = m7["bb_pct"] - m30["bb_pct"]
    f["acos_7d"] = ratio(s7["spend"], s7["ad_sales"])
    f["acos_trend"] = f["acos_7d"] - ratio(s30["spend"], s30["ad_sales"])
    f["tacos_7d"] = ratio(s7["spend"], s7["sales"])
    f["tacos_trend"] = f["tacos_7d"] - ratio(s30["spend"], s30["sales"])
    depth = (np.log10(x["reviews"] + 1) / 4).clip(upper=1.0)
    f["listing_quality"] = pd.concat([x["rating"] / 5, depth, m7["has_bb"]], axis=1).mean(axis=1)
    f["stock_out_days_7d"] = s7["out"]
    f["stock_out_days_30d"] = s30["out"]
    return f


def run_pandas(data: Path) -> dict[str, float]:
    """The pandas reference features from the polars mart, timed, then checked against polars."""
    from amazon_assets.analytics.features import FEATURE_COLUMNS

    # Untimed preparation: decimals and nullable flags become float64 columns (NaN for null),
    # the form a pandas user would load them in.
    mart = (
        pl.read_parquet(data / "mart.parquet")
        .with_columns(pl.col(pl.Decimal, pl.Boolean).cast(pl.Float64))
        .to_pandas()
    )
    start = time.perf_counter()
    f = pandas_features(mart)
    wall = time.perf_counter() - start
    peak = _peak_mb()

    ours = pl.read_parquet(data / "features_polars.parquet").sort("account", "asin", "report_date")
    worst = 0.0
    for name in FEATURE_COLUMNS:
        a = ours[name].cast(pl.Float64).to_numpy()
        b = f[name].to_numpy(dtype="float64", na_value=np.nan)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            raise AssertionError(f"polars and pandas disagree on which rows of {name} are null")
        both = ~np.isnan(a)
        diff = np.abs(a[both] - b[both]) / np.maximum(1.0, np.abs(b[both]))
        worst = max(worst, float(diff.max(initial=0.0)))
    return {"features_s": wall, "peak_mb": peak, "max_rel_diff": worst}


def _stage(stage: str, data: Path, args: argparse.Namespace) -> dict:
    """Run one stage in a fresh interpreter and return its JSON result."""
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--data",
        str(data),
        "--asins",
        str(args.asins),
        "--days",
        str(args.days),
        "--seed",
        str(args.seed),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"benchmark stage {stage} failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Parse arguments; as the parent run the three stages and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asins", type=int, default=5000)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stage", choices=("generate", "polars", "pandas"))
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()

    if args.stage == "generate":
        print(json.dumps(generate(args.data, args.asins, args.days, args.seed)))
        return
    if args.stage == "polars":
        print(json.dumps(run_polars(args.data)))
        return
    if args.stage == "pandas":
        print(json.dumps(run_pandas(args.data)))
        return

    with tempfile.TemporaryDirectory(prefix="amazon-assets-bench-") as tmp:
        data = Path(tmp)
        rows = _stage("generate", data, args)
        print(f"synthetic sources: {args.asins:,} ASINs x {args.days} days, seed {args.seed}")
        # Other work on the machine slows every figure below; the load says how busy it was.
        print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
        print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
        p = _stage("polars", data, args)
        print(f"polars {pl.__version__}: mart + features + score + alerts")
        print(f"  mart      {p['mart_s']:7.2f} s  ({p['mart_rows']:,} rows)")
        print(f"  features  {p['features_s']:7.2f} s")
        print(f"  score     {p['score_s']:7.2f} s  ({p['score_rows']:,} rows)")
        print(f"  alerts    {p['alerts_s']:7.2f} s  ({p['alert_rows']:,} alerts)")
        print(f"  total     {p['total_s']:7.2f} s   peak memory {p['peak_mb']:,.0f} MB")
        r = _stage("pandas", data, args)
        import pandas as pd

        print(f"pandas {pd.__version__}: the same features, groupby().rolling()")
        print(f"  features  {r['features_s']:7.2f} s   peak memory {r['peak_mb']:,.0f} MB")
        print(f"  parity: same null pattern, max relative difference {r['max_rel_diff']:.2e}")
        print(
            f"speed-up on features: {r['features_s'] / p['features_s']:.1f}x "
            f"(polars whole pipeline vs pandas features alone: "
            f"{r['features_s'] / p['total_s']:.1f}x)"
        )


if __name__ == "__main__":
    main()
