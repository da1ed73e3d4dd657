"""The dashboard's figures from the services' answers (pure functions, no server)."""

from datetime import date

from amazon_assets.analytics.yoy import yoy_days, yoy_series
from amazon_assets.dashboard.charts import (
    account_figure,
    competitor_figures,
    product_figures,
    provisional_marks,
)


def test_provisional_days_are_shaded_after_the_last_settled_one() -> None:
    marks = provisional_marks("2026-12-03", date(2026, 12, 6))
    shade, line = marks["shapes"]
    assert shade["x0"] == line["x0"] == "2026-12-03T12:00:00"  # half a day after the settled one
    assert shade["x1"] == "2026-12-07"  # through the end of the last day
    assert marks["annotations"][0]["text"] == "provisional"
    assert provisional_marks(date(2026, 12, 6), "2026-12-06") == {"shapes": [], "annotations": []}


def test_last_years_line_is_drawn_at_the_day_it_is_compared_with() -> None:
    days = yoy_days(date(2026, 11, 25), date(2026, 11, 26), "weekday")
    rows = {
        date(2026, 11, 25): {"units_ordered": 7},
        date(2026, 11, 26): {"units_ordered": 9},
        date(2025, 11, 26): {"units_ordered": 3},
        date(2025, 11, 27): {"units_ordered": 4},
    }
    series = [{"report_date": day, "units_ordered": rows[day]["units_ordered"]} for day, _ in days]
    figures = {
        f["id"]: f
        for f in product_figures(
            series, yoy_series(days, rows, ["units_ordered"]), None, "weekday", None
        )
    }
    this_year, last_year = figures["units_ordered"]["data"]
    assert this_year["y"] == [7.0, 9.0]
    assert last_year["x"] == ["2026-11-25", "2026-11-26"]
    assert last_year["y"] == [3.0, 4.0] and last_year["customdata"] == ["2025-11-26", "2025-11-27"]
    assert set(figures) == {"units_ordered"}  # only fields the series has
    assert figures["units_ordered"]["layout"]["shapes"] == []


def test_competitor_lines_start_where_their_signal_was_observed() -> None:
    batch = [
        {
            "asin": "B0RIVAL001",
            "series": [
                {"report_date": "2026-12-01", "price": None},
                {"report_date": "2026-12-02", "price": "9.50"},
            ],
        },
        {
            "asin": "B0OWN00001",
            "series": [
                {"report_date": "2026-12-01", "price": "10.00"},
                {"report_date": "2026-12-02", "price": "10.00"},
            ],
        },
    ]
    price = competitor_figures(batch, "B0OWN00001", None, None)[0]
    own, rival = price["data"]
    assert own["name"] == "B0OWN00001 (own)" and own["y"] == [10.0, 10.0]
    assert rival["x"] == ["2026-12-02"] and rival["y"] == [9.5]
    assert price["layout"]["yaxis"] == {}
    assert competitor_figures(batch, "B0OWN00001", None, None)[1]["layout"]["yaxis"] == {
        "autorange": "reversed"  # BSR: smaller is better, drawn on top
    }


def test_account_figure_puts_tacos_on_its_own_axis() -> None:
    account = {
        "account": "acme",
        "trend": [
            {
                "report_date": "2026-12-01",
                "ordered_product_sales": "100.00",
                "ad_spend": "10.00",
                "tacos": 0.1,
            },
        ],
    }
    sales, spend, tacos = account_figure(account, "2026-12-05")["data"]
    assert (sales["y"], spend["y"], tacos["y"], tacos["yaxis"]) == ([100.0], [10.0], [0.1], "y2")
