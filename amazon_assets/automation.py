"""What keeps each layer fresh once Amazon's data is in, and the checks that say it is.

Sources pull from Amazon on their daily schedules (`defs/<domain>/schedules.py`); every layer
computed from them follows its inputs through Dagster's declarative automation, never a clock
offset. The `automation` sensor (running by default) evaluates these conditions:

- mart: a day rebuilds once one of its sources has new data for it, none of its sources is still
  being written (a refresh or a backfill in progress holds it) and that day's business reports
  exist for some account; so each morning it waits for the slowest source (sales and traffic,
  91+ minutes of quota);
- data quality, features, score, alerts, competitor comparison: a day rebuilds after the days it
  reads were rewritten;
- labels: days at least a horizon old, when the mart days they read were rewritten;
- ranker: retrains at AMAZON_ASSETS_RANKER_RETRAIN_CRON (UTC), once labels and features have
  updated since that tick; its evaluation follows each new ranker;
- predictions: each rewritten features day of the last week, once a ranker exists.

Freshness checks on every layer users read run from one sensor, also running by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import dagster as dg

from amazon_assets.asset_keys import SILVER

AUTOMATION_SENSOR = "automation"
FRESHNESS_SENSOR = "freshness_checks"
# Every layer users read is rewritten daily: 30 hours leaves a morning's slack.
DAILY_FRESHNESS = timedelta(hours=30)
FRESHNESS_INTERVAL_SECONDS = 600
# Predictions are made for the days of the daily refresh (Amazon restates a week).
PREDICTED_DAYS = 7
UTC = "UTC"
_FRESHNESS_GROUPS = ("mart", "features")


def _quiet() -> dg.AutomationCondition:
    """Neither the asset nor any of its inputs is being written (a run or backfill in progress)."""
    return ~dg.AutomationCondition.in_progress() & ~dg.AutomationCondition.any_deps_in_progress()


def follows_inputs() -> dg.AutomationCondition:
    """A partition rebuilds once an input partition it reads was rewritten and all is quiet."""
    return (dg.AutomationCondition.any_deps_updated().since_last_handled() & _quiet()).with_label(
        "follows its inputs"
    )


def waits_for_sources(required: dg.AssetKey) -> dg.AutomationCondition:
    """`follows_inputs`, for days where the `required` source exists for at least one seller
    account (the mart's business reports: every other source is optional; an account connected
    later has no sales and traffic until its own backfill)."""
    required_present = dg.AutomationCondition.any_deps_match(
        ~dg.AutomationCondition.missing()
    ).allow(dg.AssetSelection.assets(required))
    return (follows_inputs() & required_present).with_label("waits for its sources")


def after_horizon(horizon_days: int) -> dg.AutomationCondition:
    """`follows_inputs`, for days at least `horizon_days` before the newest partition (their
    future is known)."""
    old_enough = ~dg.AutomationCondition.in_latest_time_window(timedelta(days=horizon_days))
    return (old_enough & follows_inputs()).with_label(f"{horizon_days} days after")


def retrains_on_cron(cron: str, ignore: Iterable[dg.AssetKey] = ()) -> dg.AutomationCondition:
    """After each tick of `cron` (UTC), once every input (but `ignore`) has updated since."""
    tick = dg.AutomationCondition.cron_tick_passed(cron, UTC)
    inputs_updated = dg.AutomationCondition.all_deps_match(
        dg.AutomationCondition.newly_updated().since(tick)
        | dg.AutomationCondition.will_be_requested()
    ).ignore(dg.AssetSelection.assets(*ignore))
    return (tick.since_last_handled() & inputs_updated & _quiet()).with_label(
        f"retrains at {cron} ({UTC})"
    )


def follows(upstream: dg.AssetKey) -> dg.AutomationCondition:
    """Runs again after each update of `upstream` (e.g. an evaluation after each new model)."""
    updated = dg.AutomationCondition.any_deps_updated().allow(dg.AssetSelection.assets(upstream))
    return (updated.since_last_handled() & _quiet()).with_label(
        f"follows {upstream.to_user_string()}"
    )


def predicts_new_days(features: dg.AssetKey, days: int = PREDICTED_DAYS) -> dg.AutomationCondition:
    """A day of the last `days` once its `features` were rewritten and every input exists."""
    updated = dg.AutomationCondition.any_deps_updated().allow(dg.AssetSelection.assets(features))
    return (
        dg.AutomationCondition.in_latest_time_window(timedelta(days=days))
        & updated.since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & _quiet()
    ).with_label(f"predicts new {features.to_user_string()} days")


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluates every asset's automation condition, every 30 seconds, from the first start."""
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Rebuilds each layer after its inputs (see amazon_assets/automation.py).",
    )


def read_by_users(key: dg.AssetKey, group: str | None) -> bool:
    """Silver facts and dimensions, and the mart and features layers (not their ASIN lists)."""
    if group == "silver":
        return key.path[0] == SILVER and key.path[-1].startswith(("fact_", "dim_"))
    return group in _FRESHNESS_GROUPS and key.path[-1] != "tracked_asins"


def freshness_definitions(
    assets: Iterable[object], also: Iterable[dg.AssetKey] = ()
) -> dg.Definitions:
    """A freshness check (written within DAILY_FRESHNESS, warns) on every asset users read
    (`read_by_users`, and `also`), and the one sensor that runs them, on by default."""
    keys = {
        spec.key
        for definition in assets
        if isinstance(definition, dg.AssetsDefinition)
        for spec in definition.specs
        if read_by_users(spec.key, spec.group_name)
    }
    checks = dg.build_last_update_freshness_checks(
        assets=sorted(keys | set(also), key=lambda key: key.to_user_string()),
        lower_bound_delta=DAILY_FRESHNESS,
    )
    return dg.Definitions(
        asset_checks=checks,
        sensors=[
            dg.build_sensor_for_freshness_checks(
                freshness_checks=checks,
                name=FRESHNESS_SENSOR,
                default_status=dg.DefaultSensorStatus.RUNNING,
                # Bounds of 30 hours need no check every 30 seconds: each launch is a run.
                minimum_interval_seconds=FRESHNESS_INTERVAL_SECONDS,
            )
        ],
    )
