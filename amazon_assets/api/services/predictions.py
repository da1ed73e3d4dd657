"""Predictions: the ranker's top candidates per category and day (ml.predictions_daily)."""

from __future__ import annotations

from datetime import date
from typing import Any

from amazon_assets.api.mart import MartReader
from amazon_assets.api.services.common import PREDICTIONS, Invalid, NotFound, Scope, rows_or_empty

MAX_K = 100


def top_predictions(
    reader: MartReader,
    scope: Scope,
    day: date | None = None,
    category: str | None = None,
    k: int = 20,
) -> dict[str, Any]:
    """The k best-scored ASINs of each category (or of `category`) on `day` (default: the
    newest day with predictions), ranked among the caller's accounts' ASINs only."""
    if not 1 <= k <= MAX_K:
        raise Invalid(f"k is 1 to {MAX_K}; got {k}.")
    params: dict[str, Any] = {}
    scoped = scope.accounts_sql(params)
    if day is None:
        newest = rows_or_empty(
            reader, f"SELECT max(report_date) AS day FROM {PREDICTIONS} WHERE true{scoped}", params
        )
        day = newest[0]["day"] if newest else None
        if day is None:
            raise NotFound("no predictions for your accounts yet (ml/predictions_daily).")
    params["day"] = day
    where = f"report_date = %(day)s{scoped}"
    if category is not None:
        params["category"] = category
        where += " AND category = %(category)s"
    rows = rows_or_empty(
        reader,
        "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY marketplace_id, category"
        " ORDER BY score DESC NULLS LAST, account, asin) AS visible_rank"
        f" FROM {PREDICTIONS} WHERE {where}) ranked WHERE visible_rank <= {k}"
        " ORDER BY category NULLS LAST, visible_rank",
        params,
    )
    for row in rows:
        # The stored rank counts every account's ASINs; the caller sees its own ranking.
        row["category_rank"] = row.pop("visible_rank")
    return {
        "data": rows,
        "meta": {"date": day, "k": k, "settled_through": scope.settled_through},
    }
