"""run_job: planned events in proportion, failed partitions still marked failed in the UI."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from amazon_assets.commands import RunFailedError, run_job
from amazon_assets.partitions import PLANNED_PER_ASSET_TAGS

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")
SINGLE_RUN = dg.BackfillPolicy.single_run()


@dg.asset(partitions_def=DAYS, backfill_policy=SINGLE_RUN)
def upstream(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset(partitions_def=DAYS, backfill_policy=SINGLE_RUN, deps=[upstream])
def downstream(context) -> dg.MaterializeResult:
    if context.run.tags.get("fail") == "yes":
        raise ValueError("the days could not be joined")
    return dg.MaterializeResult()


def _defs(tags: dict[str, str]) -> dg.Definitions:
    job = dg.define_asset_job(
        "days_job", selection=[upstream, downstream], partitions_def=DAYS, tags=tags
    )
    return dg.Definitions(assets=[upstream, downstream], jobs=[job])


def _planned(instance: dg.DagsterInstance, run_id: str) -> list:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return [record.event_log_entry.dagster_event.event_specific_data for record in records]


def _failed_days(instance: dg.DagsterInstance, asset: dg.AssetsDefinition) -> list[str]:
    status = get_and_update_asset_status_cache_value(instance, asset.key, DAYS)
    return sorted(status.deserialize_failed_partition_subsets(DAYS).get_partition_keys())


@pytest.mark.parametrize("per_asset", [True, False])
def test_planned_events_per_asset_and_failed_days_still_marked_failed(
    amazon_home: Path, per_asset: bool
) -> None:
    defs = _defs(PLANNED_PER_ASSET_TAGS if per_asset else {})
    result = run_job(defs, "days_job", "2026-01-01", "2026-01-10")
    with dg.DagsterInstance.get() as instance:
        planned = _planned(instance, result.run_id)
        if per_asset:  # one event per asset, naming its ten days
            assert len(planned) == 2
            assert {len(p.partitions_subset.get_partition_keys()) for p in planned} == {10}
        else:  # Dagster's default: one per asset and day
            assert len(planned) == 20 and all(p.partition for p in planned)

    with pytest.raises(RunFailedError, match="downstream: ValueError: the days could not"):
        run_job(defs, "days_job", "2026-01-11", "2026-01-15", tags={"fail": "yes"})
    with dg.DagsterInstance.get() as instance:
        [failed_run] = instance.get_runs(filters=dg.RunsFilter(tags={"fail": "yes"}))
        planned = _planned(instance, failed_run.run_id)
        # The UI marks failed exactly the days the failed run did not materialize.
        assert _failed_days(instance, downstream) == [f"2026-01-{d}" for d in range(11, 16)]
        assert _failed_days(instance, upstream) == []
    if per_asset:  # 2 for the run, then one per day downstream did not materialize
        assert len(planned) == 2 + 5
