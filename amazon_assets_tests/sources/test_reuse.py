"""Which earlier fetches a run may reuse: its own, and a few minutes' worth unless scheduled."""

from datetime import UTC, datetime, timedelta

from amazon_assets.settings import Settings
from amazon_assets.sources.reuse import reuse_since

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


def test_a_run_started_by_hand_reuses_the_last_minutes() -> None:
    started = NOW - timedelta(minutes=2)
    assert reuse_since(started, {}, 10.0, NOW) == NOW - timedelta(minutes=10)
    long_ago = NOW - timedelta(hours=3)  # a step retried late in a long run: its own fetches
    assert reuse_since(long_ago, {}, 10.0, NOW) == long_ago


def test_a_scheduled_or_sensor_run_reuses_only_its_own_fetches() -> None:
    started = NOW - timedelta(minutes=2)
    for tag in ("dagster/schedule_name", "dagster/sensor_name"):
        assert reuse_since(started, {tag: "daily_refresh"}, 10.0, NOW) == started


def test_reuse_minutes_comes_from_the_environment(amazon_home) -> None:
    assert Settings.from_env().reuse_minutes == 10.0
    settings = Settings.from_env(
        {"AMAZON_ASSETS_HOME": str(amazon_home), "AMAZON_ASSETS_REUSE_MINUTES": "2.5"}
    )
    assert settings.reuse_minutes == 2.5
