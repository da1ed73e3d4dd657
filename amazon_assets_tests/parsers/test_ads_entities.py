"""Entity listings -> typed snapshots, and the SCD2 history merge on small frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest

from amazon_assets.parsers.ads_entities import (
    AD_ENTITIES,
    KEYWORDS,
    load_snapshot,
    merge_dimension_history,
    parse_entities,
    snapshot_document,
)

T1 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
T3 = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)


def keyword(keyword_id: str, bid: float | None = 0.75, state: str = "ENABLED", **extra) -> dict:
    """A keyword as POST /sp/keywords/list returns it."""
    item = {
        "keywordId": keyword_id,
        "adGroupId": "401",
        "campaignId": "301",
        "keywordText": f"text {keyword_id}",
        "matchType": "EXACT",
        "state": state,
        **extra,
    }
    if bid is not None:
        item["bid"] = bid
    return item


def snapshot(*items: dict, at: datetime = T1) -> pl.DataFrame:
    listings = load_snapshot(snapshot_document({"keywords": list(items)}))
    parsed = parse_entities(
        "keywords",
        listings["keywords"],
        account="default",
        profile_id="3546",
        snapshot_id="s",
        snapshot_time=at,
    )
    assert parsed.quarantine.height == 0
    return parsed.snapshot


def merge(history: pl.DataFrame | None, frame: pl.DataFrame, at: datetime) -> pl.DataFrame:
    return merge_dimension_history(history, frame, KEYWORDS.key_columns, KEYWORDS.tracked, at)


def versions(history: pl.DataFrame, keyword_id: str) -> list[tuple]:
    return (
        history.filter(pl.col("keyword_id") == keyword_id)
        .select("bid", "state", "valid_from", "valid_to", "is_current")
        .rows()
    )


def test_every_listing_parses_with_amounts_exact() -> None:
    listings = load_snapshot(
        json.dumps(
            {
                "profiles": [
                    {
                        "profileId": 3546,
                        "countryCode": "US",
                        "currencyCode": "USD",
                        "timezone": "America/Los_Angeles",
                        "accountInfo": {"id": "A1", "type": "seller", "name": "default"},
                    }
                ],
                "campaigns": [
                    {
                        "campaignId": "301",
                        "name": "Auto",
                        "state": "ENABLED",
                        "targetingType": "AUTO",
                        "budget": {"budget": 25.1, "budgetType": "DAILY"},
                        "startDate": "2026-01-01",
                    }
                ],
                "adGroups": [
                    {"adGroupId": "401", "campaignId": "301", "state": "ENABLED", "defaultBid": 0.3}
                ],
                "keywords": [keyword("501")],
                "targets": [
                    {
                        "targetId": "701",
                        "adGroupId": "401",
                        "campaignId": "301",
                        "expression": [{"type": "asinSameAs", "value": "B0TEST0001"}],
                        "expressionType": "MANUAL",
                        "state": "PAUSED",
                        "bid": 1.1,
                    }
                ],
            }
        ).encode()
    )
    frames = {
        name: parse_entities(
            name,
            listings[name],
            account="default",
            profile_id="3546",
            snapshot_id="s",
            snapshot_time=T1,
        ).snapshot
        for name in AD_ENTITIES
    }
    assert frames["profiles"].row(0, named=True)["account_name"] == "default"
    assert frames["profiles"]["profile_id"].to_list() == ["3546"]
    assert frames["campaigns"]["budget_amount"].to_list() == [Decimal("25.10")]
    assert frames["adGroups"]["default_bid"].to_list() == [Decimal("0.30")]
    assert frames["keywords"]["bid"].to_list() == [Decimal("0.75")]
    target = frames["targets"].row(0, named=True)
    assert json.loads(target["expression"]) == [{"type": "asinSameAs", "value": "B0TEST0001"}]
    for name, frame in frames.items():
        assert frame.schema == AD_ENTITIES[name].schema


def test_an_entry_without_its_id_is_quarantined() -> None:
    parsed = parse_entities(
        "keywords",
        [keyword("501"), {"state": "ENABLED"}],
        account="default",
        profile_id="3546",
        snapshot_id="snap-1",
        snapshot_time=T1,
    )
    assert parsed.snapshot.height == 1
    assert parsed.quarantine["reason"][0].startswith("keywordId is missing")
    assert parsed.quarantine["source"][0] == "ads_entities_keywords"


def test_first_snapshot_opens_one_current_version_per_entity() -> None:
    history = merge(None, snapshot(keyword("501"), keyword("502")), T1)
    assert history.height == 2
    assert history["is_current"].all() and history["valid_to"].is_null().all()
    assert history["valid_from"].to_list() == [T1, T1]


def test_new_changed_unchanged_and_removed() -> None:
    first = merge(None, snapshot(keyword("501"), keyword("502"), keyword("503")), T1)
    second = merge(
        first,
        snapshot(
            keyword("501", bid=0.90),  # changed bid
            keyword("502", keywordText="renamed"),  # unchanged tracked columns
            keyword("504"),  # new
            at=T2,
        ),
        T2,
    )
    # 501: old version closed at T2, new version from T2.
    assert versions(second, "501") == [
        (Decimal("0.75"), "ENABLED", T1, T2, False),
        (Decimal("0.90"), "ENABLED", T2, None, True),
    ]
    # 502: keeps its version; the name is descriptive and updates in place.
    assert versions(second, "502") == [(Decimal("0.75"), "ENABLED", T1, None, True)]
    assert second.filter(pl.col("keyword_id") == "502")["keyword_text"][0] == "renamed"
    # 503 disappeared: closed, no current version.
    assert versions(second, "503") == [(Decimal("0.75"), "ENABLED", T1, T2, False)]
    assert versions(second, "504") == [(Decimal("0.75"), "ENABLED", T2, None, True)]
    # Exactly one current version per entity still listed.
    assert second.filter("is_current")["keyword_id"].sort().to_list() == ["501", "502", "504"]


def test_state_change_and_bid_removed_are_new_versions_and_a_rerun_changes_nothing() -> None:
    first = merge(None, snapshot(keyword("501")), T1)
    second = merge(first, snapshot(keyword("501", bid=None, state="PAUSED"), at=T2), T2)
    assert [v[:2] for v in versions(second, "501")] == [
        (Decimal("0.75"), "ENABLED"),
        (None, "PAUSED"),
    ]
    again = merge(second, snapshot(keyword("501", bid=None, state="PAUSED"), at=T3), T3)
    assert again.equals(second)  # the same state again is no new version


def test_a_removed_entity_that_returns_gets_a_new_version() -> None:
    history = merge(None, snapshot(keyword("501")), T1)
    history = merge(history, snapshot(at=T2), T2)
    history = merge(history, snapshot(keyword("501"), at=T3), T3)
    assert [v[2:] for v in versions(history, "501")] == [(T1, T2, False), (T3, None, True)]


def test_an_older_snapshot_is_refused() -> None:
    history = merge(None, snapshot(keyword("501")), T2)
    with pytest.raises(ValueError, match="older than the current versions"):
        merge(history, snapshot(keyword("501")), T1)


def test_history_written_before_a_new_column_still_merges() -> None:
    history = merge(None, snapshot(keyword("501")), T1).drop("match_type")
    merged = merge(history, snapshot(keyword("501")), T2)
    assert versions(merged, "501") == [(Decimal("0.75"), "ENABLED", T1, None, True)]
