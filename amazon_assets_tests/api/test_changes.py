"""Mart versions: the newest change touching the days an answer covers."""

from datetime import date

from amazon_assets.api.changes import Change, ChangeLog

MART, SCORES = "mart.mart_asin_daily", "features.score_baseline_daily"


def change(change_id: int, table: str, first: date | None, last: date | None) -> Change:
    return Change(change_id, table, first, last, f"run-{change_id}", None)


def test_versions_follow_the_days_rewritten() -> None:
    log = ChangeLog()
    assert log.version([MART]) == (0,)
    log.add(
        [
            change(1, MART, date(2025, 1, 1), date(2025, 12, 31)),
            change(2, SCORES, date(2025, 1, 1), date(2025, 12, 31)),
            change(3, MART, date(2026, 11, 25), date(2026, 12, 1)),  # the daily refresh
        ]
    )
    assert log.version([MART, SCORES]) == (3, 2)
    # Last year's series is untouched by this week's refresh: its cached answer stays valid.
    assert log.version([MART], date(2025, 11, 1), date(2025, 11, 30)) == (1,)
    assert log.version([MART], date(2026, 11, 1), date(2026, 11, 30)) == (3,)
    assert log.version([MART], date(2026, 12, 2), None) == (0,)
    assert log.latest(MART).run_id == "run-3"


def test_seen_changes_are_not_added_twice_and_whole_table_writes_touch_every_day() -> None:
    log = ChangeLog()
    assert log.add([change(5, "mart.tracked_asins", None, None)]) == 1
    assert log.add([change(5, "mart.tracked_asins", None, None), change(4, MART, None, None)]) == 0
    assert log.newest == 5
    assert log.version(["mart.tracked_asins"], date(2020, 1, 1), date(2020, 1, 2)) == (5,)
