"""The synthetic marketplace: deterministic, internally consistent, with known take-offs."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from amazon_assets.sandbox import Marketplace, SandboxConfig

TODAY = date(2025, 6, 1)


def market(**overrides) -> Marketplace:
    return Marketplace(
        SandboxConfig(**{"seed": 7, "skus_per_account": 200, "today": TODAY, **overrides})
    )


def test_same_seed_same_day_same_frame_and_days_are_independent():
    day = date(2025, 3, 14)
    first, second = market(), market()
    assert first.sales_and_traffic("default", day).equals(second.sales_and_traffic("default", day))
    # Computing other days first changes nothing: every day stands on its own.
    second.sales_and_traffic("default", day - timedelta(days=100))
    assert first.sales_and_traffic("default", day).equals(second.sales_and_traffic("default", day))
    assert not first.sales_and_traffic("default", day).equals(
        market(seed=8).sales_and_traffic("default", day)
    )


def test_catalogue_shape():
    products = market().products("default")
    assert products.height == 200
    assert products["sku"].n_unique() == 200
    assert products["asin"].n_unique() < 200  # some ASINs carry a second offer
    assert products["parent_asin"].n_unique() < products["asin"].n_unique()
    assert products["category"].n_unique() > 3
    assert products["asin"].str.contains(r"^B0[0-9A-Z]{8}$").all()


def test_daily_truth_is_internally_consistent_over_several_days():
    mk = market()
    frames = [
        mk.sales_and_traffic("default", date(2025, 5, 1) + timedelta(days=i)) for i in range(10)
    ]
    facts = pl.concat(frames)
    assert (facts["units_ordered"] <= 3 * facts["sessions"]).all()
    assert (facts["total_order_items"] <= facts["sessions"]).all()
    assert (facts["total_order_items"] <= facts["units_ordered"]).all()
    assert (
        facts["ordered_product_sales_cents"] == facts["units_ordered"] * facts["price_cents"]
    ).all()
    assert (facts["ordered_product_sales"] == facts["units_ordered"] * facts["price"]).all()
    assert (facts["sessions"] == facts["browser_sessions"] + facts["mobile_app_sessions"]).all()
    assert (facts["page_views"] >= facts["sessions"]).all()
    assert facts["buy_box_percentage"].is_between(0, 100).all()
    assert (facts["units_ordered_b2b"] <= facts["units_ordered"]).all()
    assert (facts["sessions_b2b"] <= facts["sessions"]).all()
    assert facts["sessions"].sum() > 0 and facts["units_ordered"].sum() > 0


def test_one_session_can_order_several_units_sometimes():
    mk = market(skus_per_account=400)
    facts = pl.concat(
        [mk.sales_and_traffic("default", date(2025, 4, 1) + timedelta(days=i)) for i in range(30)]
    )
    over = facts.filter(pl.col("units_ordered") > pl.col("sessions"))
    assert 0 < over.height < facts.height * 0.05


def test_take_offs_are_known_and_grow_sharply():
    mk = market(skus_per_account=400)
    take_offs = mk.take_offs("default")
    asins = mk.products("default")["asin"].n_unique()
    assert len(take_offs) == round(0.05 * asins)
    products = mk.products("default")
    for asin, start in take_offs:
        assert products.filter(pl.col("asin") == asin)["take_off_date"].to_list()[0] == start

    def sessions(asin: str, first: date, days: int) -> int:
        total = 0
        for offset in range(days):
            frame = mk.sales_and_traffic("default", first + timedelta(days=offset))
            total += frame.filter(pl.col("asin") == asin)["sessions"].sum()
        return total

    grew = 0
    for asin, start in take_offs[:6]:
        if start + timedelta(days=60) >= TODAY:
            continue
        before = sessions(asin, start - timedelta(days=28), 14)
        after = sessions(asin, start + timedelta(days=40), 14)
        grew += after > 2.5 * max(before, 1)
    assert grew >= 1


def test_products_launched_later_are_not_listed_before_launch():
    mk = market()
    products = mk.products("default")
    late = products.sort("launch_date", descending=True).row(0, named=True)
    before = mk.sales_and_traffic("default", late["launch_date"] - timedelta(days=1))
    on = mk.sales_and_traffic("default", late["launch_date"])
    assert late["sku"] not in before["sku"].to_list()
    assert late["sku"] in on["sku"].to_list()


def test_each_account_has_its_own_catalogue_and_first_day():
    mk = market(accounts=("default", "second"))
    assert set(mk.products("default")["asin"]).isdisjoint(set(mk.products("second")["asin"]))
    assert mk.first_day("default") == TODAY - timedelta(days=3 * 365)
    assert mk.first_day("second") >= mk.first_day("default")
    assert not mk.has_data("default", TODAY)
    assert mk.has_data("default", TODAY - timedelta(days=1))
