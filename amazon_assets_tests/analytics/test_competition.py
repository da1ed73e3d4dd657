"""competitor_comparison_daily: gaps and sales share against hand-computed values."""

from __future__ import annotations

import math
from decimal import Decimal

import polars as pl
import pytest

from amazon_assets.analytics.competition import (
    COMPETITOR_COMPARISON_SCHEMA,
    BsrSalesModel,
    competitor_comparison_daily,
    fit_bsr_sales_model,
)
from amazon_assets_tests.analytics import day, mart_frame


def _mart() -> pl.DataFrame:
    # OWN sells 10 units on day 0; units unknown on day 1. Three competitors; C3 has no day 1 row.
    rows = [
        # asin, day, price, bsr, rating, reviews, units
        ("OWN", 0, 20.0, 1000, 4.5, 300, 10),
        ("OWN", 1, 20.0, 1000, 4.5, 300, None),
        ("C1", 0, 18.0, 500, 4.0, 1000, None),
        ("C2", 0, 25.0, 2000, 4.2, 200, None),
        ("C3", 0, 22.0, 4000, 4.8, 50, None),
        ("C1", 1, 18.0, 500, 4.0, 1000, None),
        ("C2", 1, 25.0, 2000, 4.2, 200, None),
    ]
    return mart_frame(
        account=["s1"] * len(rows),
        asin=[r[0] for r in rows],
        report_date=[day(r[1]) for r in rows],
        price=[r[2] for r in rows],
        bsr=[r[3] for r in rows],
        rating=[r[4] for r in rows],
        review_count=[r[5] for r in rows],
        units_ordered=[r[6] for r in rows],
    )


COMPETITORS = pl.DataFrame(
    {"account": ["s1"] * 3, "own_asin": ["OWN"] * 3, "competitor_asin": ["C1", "C2", "C3"]}
)


def test_gaps_and_share_against_hand_computed_values() -> None:
    model = BsrSalesModel(a=1000.0, b=1.0)  # units = 1000 / bsr
    out = competitor_comparison_daily(_mart().lazy(), COMPETITORS, sales_model=model).collect()
    assert out.schema == COMPETITOR_COMPARISON_SCHEMA
    assert out["asin"].to_list() == ["OWN", "OWN"]  # competitors get no rows of their own
    d0 = out.row(0, named=True)
    assert d0["competitors_observed"] == 3
    assert d0["price"] == Decimal("20.00")
    assert d0["price_gap"] == pytest.approx(20 / 22 - 1)
    assert d0["bsr_gap"] == pytest.approx(math.log(1000) - math.log(2000))
    assert d0["rating_gap"] == pytest.approx(4.5 - (4.0 + 4.2 + 4.8) / 3)
    assert d0["review_gap"] == pytest.approx(300 - 200)
    # Own: real 10 units x 20; competitors: 1000/bsr units x price.
    own, rivals = 10 * 20.0, 2 * 18.0 + 0.5 * 25.0 + 0.25 * 22.0
    assert d0["estimated_sales_share"] == pytest.approx(own / (own + rivals))
    d1 = out.row(1, named=True)
    assert d1["competitors_observed"] == 2
    assert d1["price_gap"] == pytest.approx(20 / 21.5 - 1)
    # No units on day 1: own sales come from the curve too (1 unit x 20).
    assert d1["estimated_sales_share"] == pytest.approx(20 / (20 + 2 * 18.0 + 0.5 * 25.0))


def test_an_own_asin_needs_three_to_five_competitors() -> None:
    with pytest.raises(ValueError, match="OWN .* 2 competitors"):
        competitor_comparison_daily(_mart().lazy(), COMPETITORS.head(2))
    six = pl.DataFrame(
        {
            "account": ["s1"] * 6,
            "own_asin": ["OWN"] * 6,
            "competitor_asin": [f"C{i}" for i in range(6)],
        }
    )
    with pytest.raises(ValueError, match="6 competitors"):
        competitor_comparison_daily(_mart().lazy(), six)


def test_the_sales_curve_is_recovered_from_own_asins() -> None:
    ranks = [10, 50, 100, 500, 1000, 5000, 10000, 20000, 50000, 100000] * 4
    units = [round(3000 * r**-0.8) or 1 for r in ranks]
    mart = mart_frame(
        account=["s1"] * len(ranks),
        asin=[f"A{i}" for i in range(len(ranks))],
        report_date=[day(0)] * len(ranks),
        bsr=ranks,
        units_ordered=units,
    )
    fitted = fit_bsr_sales_model(mart.filter(pl.col("units_ordered") > 1).lazy(), min_rows=10)
    assert fitted.b == pytest.approx(0.8, abs=0.02)
    assert fitted.a == pytest.approx(3000, rel=0.1)
    with pytest.raises(ValueError, match="need 30"):
        fit_bsr_sales_model(mart.head(5).lazy())
