"""Plotly figures (plain dicts for plotly.js) from the services' answers.

Pure functions: they take what the API answers and lay it out; they compute no number the API
does not serve (YoY pairs come from analytics/yoy.py through the yoy service).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

# The product page's charts: mart column, title, whether smaller is better (BSR).
PRODUCT_CHARTS: tuple[tuple[str, str, bool], ...] = (
    ("price", "Price", False),
    ("bsr", "Best Seller Rank", True),
    ("units_ordered", "Units ordered", False),
    ("sessions", "Sessions", False),
    ("conversion", "Conversion (units / sessions)", False),
    ("buy_box_percentage", "Buy box %", False),
    ("rating", "Rating", False),
    ("review_count", "Reviews", False),
)
COMPETITOR_CHARTS: tuple[tuple[str, str, bool], ...] = (
    ("price", "Price", False),
    ("bsr", "Best Seller Rank", True),
    ("rating", "Rating", False),
    ("review_count", "Reviews", False),
)
_OWN_COLOR = "#1f6feb"
_YEAR_AGO_COLOR = "#9a6700"
_LAYOUT: dict[str, Any] = {
    "height": 260,
    "margin": {"l": 56, "r": 16, "t": 36, "b": 32},
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": -0.18},
    "xaxis": {"type": "date"},
}


def number(value: Any) -> float | None:
    """A chartable number: money and counts as floats, booleans as 1/0, missing as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | Decimal):
        return float(value)
    return float(value) if isinstance(value, str) and _is_number(value) else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _date(value: date | str | None) -> date | None:
    """A day as the services return it, or as their JSON answers carry it."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _layout(title: str, reversed_axis: bool = False, **extra: Any) -> dict[str, Any]:
    layout = {**_LAYOUT, "title": {"text": title, "font": {"size": 14}}, **extra}
    layout["yaxis"] = {"autorange": "reversed"} if reversed_axis else {}
    return layout


def provisional_marks(
    settled_through: date | str | None, last: date | str | None
) -> dict[str, Any]:
    """Layout shapes and a label marking the days after `settled_through` as provisional."""
    settled_through, last = _date(settled_through), _date(last)
    if settled_through is None or last is None or last <= settled_through:
        return {"shapes": [], "annotations": []}
    # Noon of the last settled day: the line falls between its point and the next day's.
    boundary = datetime.combine(settled_through, time(12)).isoformat()
    end = _day(last + timedelta(days=1))
    return {
        "shapes": [
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": boundary,
                "x1": end,
                "y0": 0,
                "y1": 1,
                "fillcolor": "#8c959f",
                "opacity": 0.15,
                "line": {"width": 0},
                "name": "provisional",
            },
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": boundary,
                "x1": boundary,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#57606a", "dash": "dot", "width": 1},
                "name": "settled_through",
            },
        ],
        "annotations": [
            {
                "xref": "x",
                "yref": "paper",
                "x": boundary,
                "y": 1,
                "xanchor": "left",
                "yanchor": "bottom",
                "text": "provisional",
                "showarrow": False,
                "font": {"size": 10, "color": "#57606a"},
            }
        ],
    }


def product_figures(
    series: Sequence[Mapping[str, Any]],
    yoy: Sequence[Mapping[str, Any]],
    settled_through: date | str | None,
    align: str,
    last: date | str | None,
) -> list[dict[str, Any]]:
    """One figure per charted field: the daily series, last year's values aligned to the
    days they are compared with (`yoy`: the yoy service's series), the provisional days."""
    marks = provisional_marks(settled_through, last)
    figures = []
    for field, title, reversed_axis in PRODUCT_CHARTS:
        if not any(field in row for row in series):
            continue
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "this year",
                "x": [_day(row["report_date"]) for row in series],
                "y": [number(row.get(field)) for row in series],
                "line": {"color": _OWN_COLOR},
                "marker": {"size": 4},
            }
        ]
        paired = [row for row in yoy if field in row]
        if paired:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"last year (by {align})",
                    "x": [_day(row["report_date"]) for row in paired],
                    "y": [number(row[field]["year_ago"]) for row in paired],
                    "customdata": [_day(row["year_ago_date"]) for row in paired],
                    "hovertemplate": "%{y} on %{customdata}",
                    "line": {"color": _YEAR_AGO_COLOR, "dash": "dash"},
                }
            )
        figures.append(
            {"id": field, "data": data, "layout": _layout(title, reversed_axis, **marks)}
        )
    return figures


def competitor_figures(
    batch: Sequence[Mapping[str, Any]],
    own: str,
    settled_through: date | str | None,
    last: date | str | None,
) -> list[dict[str, Any]]:
    """Price, BSR, rating and reviews of the own ASIN and each competitor, one line each
    (`batch`: the batch metrics service's data)."""
    marks = provisional_marks(settled_through, last)
    ordered = sorted(batch, key=lambda entry: (entry["asin"] != own, entry["asin"]))
    figures = []
    for field, title, reversed_axis in COMPETITOR_CHARTS:
        data = []
        for entry in ordered:
            is_own = entry["asin"] == own
            # Days a signal was observed only: competitors' signals start when tracking did.
            observed = [row for row in entry["series"] if row.get(field) is not None]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{entry['asin']} (own)" if is_own else entry["asin"],
                    "x": [_day(row["report_date"]) for row in observed],
                    "y": [number(row[field]) for row in observed],
                    "line": {"width": 3, "color": _OWN_COLOR} if is_own else {"width": 1.5},
                }
            )
        figures.append(
            {"id": field, "data": data, "layout": _layout(title, reversed_axis, **marks)}
        )
    return figures


def account_figure(
    account: Mapping[str, Any], settled_through: date | str | None
) -> dict[str, Any]:
    """An account's daily sales and ad spend (bars) with TACoS on a second axis."""
    trend = account["trend"]
    days = [_day(row["report_date"]) for row in trend]
    last = trend[-1]["report_date"] if trend else None
    marks = provisional_marks(settled_through, last)
    layout = _layout(f"{account['account']}: sales, ad spend and TACoS", **marks)
    layout["yaxis2"] = {
        "overlaying": "y",
        "side": "right",
        "tickformat": ".0%",
        "rangemode": "tozero",
    }
    layout["barmode"] = "group"
    return {
        "id": f"account-{account['account']}",
        "data": [
            {
                "type": "bar",
                "name": "sales",
                "x": days,
                "y": [number(row.get("ordered_product_sales")) for row in trend],
                "marker": {"color": _OWN_COLOR},
            },
            {
                "type": "bar",
                "name": "ad spend",
                "x": days,
                "y": [number(row.get("ad_spend")) for row in trend],
                "marker": {"color": "#cf222e"},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "TACoS",
                "x": days,
                "y": [row.get("tacos") for row in trend],
                "yaxis": "y2",
                "line": {"color": _YEAR_AGO_COLOR},
            },
        ],
        "layout": layout,
    }
