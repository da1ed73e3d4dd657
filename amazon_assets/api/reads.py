"""Each answer's identity in one place: the resource, the parameters that key it in the cache,
the mart tables (and days) that version it, and the service call that computes it.

REST routes, GraphQL resolvers and dashboard pages build their reads here, so the same question
asked through any of them is the same cache entry, the same ETag and the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from amazon_assets.analytics.yoy import Alignment
from amazon_assets.api.mart import MartReader
from amazon_assets.api.services import accounts, alerts, competitors, predictions, products
from amazon_assets.api.services.common import (
    ALERTS,
    COMPARISON,
    MART,
    PREDICTIONS,
    SCORES,
    TRACKED,
    Scope,
)

Compute = Callable[[MartReader, Scope], dict[str, Any]]


@dataclass(frozen=True)
class Read:
    """One cacheable question to the mart."""

    resource: str
    params: dict[str, Any]
    tables: Sequence[str]
    compute: Compute | None = field(default=None, compare=False)  # None: the caller computes
    days: tuple[date | None, date | None] = (None, None)
    # Where the answer says which materialization it comes from: REST's `meta`, GraphQL's
    # `extensions` (a GraphQL response has no other top-level keys).
    meta_key: str = "meta"


def _both(first: date | None, last: date | None) -> tuple[date | None, date | None]:
    """The days an answer covers, for its version: only when both ends are given."""
    return (first, last) if first and last else (None, None)


def _fields(fields: Sequence[str] | None) -> str | None:
    """The cache-key form of a field list (as the REST query string carries it)."""
    return None if fields is None else ",".join(fields)


def product(asin: str, account: str | None = None) -> Read:
    return Read(
        "product",
        {"asin": asin, "account": account},
        [MART, SCORES, PREDICTIONS],
        lambda reader, scope: products.product_state(reader, scope, asin, account),
    )


def metrics(
    asin: str,
    first: date | None = None,
    last: date | None = None,
    fields: Sequence[str] | None = None,
    account: str | None = None,
) -> Read:
    return Read(
        "metrics",
        {"asin": asin, "from": first, "to": last, "fields": _fields(fields), "account": account},
        [MART],
        lambda reader, scope: products.product_metrics(
            reader, scope, asin, first, last, fields, account
        ),
        _both(first, last),
    )


def batch(
    asins: Sequence[str],
    first: date | None = None,
    last: date | None = None,
    fields: Sequence[str] | None = None,
    account: str | None = None,
) -> Read:
    return Read(
        "batch",
        {
            "asins": list(asins),
            "from": first,
            "to": last,
            "fields": None if fields is None else list(fields),
            "account": account,
        },
        [MART],
        lambda reader, scope: products.batch_metrics(
            reader, scope, asins, first, last, fields, account
        ),
        _both(first, last),
    )


def yoy(
    asin: str,
    first: date | None = None,
    last: date | None = None,
    align: Alignment = "weekday",
    fields: Sequence[str] | None = None,
    account: str | None = None,
) -> Read:
    return Read(
        "yoy",
        {
            "asin": asin,
            "from": first,
            "to": last,
            "align": align,
            "fields": _fields(fields),
            "account": account,
        },
        [MART],
        lambda reader, scope: products.product_yoy(
            reader, scope, asin, first, last, align, fields, account
        ),
    )


def product_competitors(asin: str, account: str | None = None) -> Read:
    return Read(
        "competitors",
        {"asin": asin, "account": account},
        [MART, TRACKED, COMPARISON],
        lambda reader, scope: competitors.product_competitors(reader, scope, asin, account),
    )


def competition(
    asin: str, first: date | None = None, last: date | None = None, account: str | None = None
) -> Read:
    return Read(
        "competition",
        {"asin": asin, "from": first, "to": last, "account": account},
        [COMPARISON, TRACKED],
        lambda reader, scope: competitors.competition_gaps(
            reader, scope, asin, first, last, account
        ),
        _both(first, last),
    )


def alert_list(
    since: date | None = None,
    kinds: Sequence[str] | None = None,
    asin: str | None = None,
    limit: int = 100,
) -> Read:
    return Read(
        "alerts",
        {"since": since, "kind": _fields(kinds), "asin": asin, "limit": limit},
        [ALERTS],
        lambda reader, scope: alerts.list_alerts(reader, scope, since, kinds, asin, limit),
        (since, None) if since else (None, None),
    )


def top_predictions(day: date | None = None, category: str | None = None, k: int = 20) -> Read:
    return Read(
        "predictions",
        {"date": day, "category": category, "k": k},
        [PREDICTIONS],
        lambda reader, scope: predictions.top_predictions(reader, scope, day, category, k),
        (day, day) if day else (None, None),
    )


def overview(first: date | None = None, last: date | None = None) -> Read:
    return Read(
        "overview",
        {"from": first, "to": last},
        [MART],
        lambda reader, scope: accounts.account_overview(reader, scope, first, last),
        _both(first, last),
    )
