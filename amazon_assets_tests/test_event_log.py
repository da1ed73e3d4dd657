"""The embedded instance's event log: a single-run backfill's materializations, stored in batches,
leave the instance in the state Dagster's own SQLite storage leaves it in."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from amazon_assets.cli import (
    _EARLIER_EMBEDDED_DAGSTER_YAML,
    embedded_dagster_yaml,
    prepare_dagster_home,
)
from amazon_assets.commands import EVENT_BATCH_SIZE, run_job
from amazon_assets.event_log import BatchedSqliteEventLogStorage, run_snapshot
from amazon_assets.settings import Settings

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")
SINGLE_RUN = dg.BackfillPolicy.single_run()


@dg.asset(partitions_def=DAYS, backfill_policy=SINGLE_RUN)
def days_upstream(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset(partitions_def=DAYS, backfill_policy=SINGLE_RUN, deps=[days_upstream])
def days_downstream() -> dg.MaterializeResult:
    return dg.MaterializeResult()


DEFS = dg.Definitions(
    assets=[days_upstream, days_downstream],
    jobs=[dg.define_asset_job("days_job", selection=[days_upstream, days_downstream])],
)


def _state(instance: dg.DagsterInstance, run_ids: list[str]) -> dict:
    """What the UI reads about the two assets: each run's materialized days, each asset's
    materialized days, its latest materialization and its row in the asset index."""
    state: dict = {}
    for run_id in run_ids:
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        state[run_id] = sorted(
            (r.event_log_entry.dagster_event.asset_key.to_user_string(), r.partition_key)
            for r in records
        )
    for asset in (days_upstream, days_downstream):
        status = get_and_update_asset_status_cache_value(instance, asset.key, DAYS)
        latest = instance.fetch_materializations(asset.key, limit=1, ascending=False).records[0]
        [record] = instance.get_asset_records([asset.key])
        last = record.asset_entry.last_materialization_record
        state[asset.key.to_user_string()] = {
            "days": sorted(instance.get_materialized_partitions(asset.key)),
            "status_days": sorted(
                status.deserialize_materialized_partition_subsets(DAYS).get_partition_keys()
            ),
            "latest": (run_ids.index(latest.run_id), latest.partition_key),
            "index_latest": (run_ids.index(last.run_id), last.partition_key),
            "index_latest_id": last.storage_id == latest.storage_id,
        }
    return state


@pytest.mark.parametrize("batched", [True, False])
def test_batched_materializations_leave_the_state_dagster_leaves(
    amazon_home: Path, monkeypatch: pytest.MonkeyPatch, batched: bool
) -> None:
    dagster_home = amazon_home / "dagster"
    if batched:
        (dagster_home / "dagster.yaml").write_text(embedded_dagster_yaml(dagster_home))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    first = run_job(DEFS, "days_job", "2026-01-01", "2026-01-10")
    second = run_job(DEFS, "days_job", "2026-01-06", "2026-01-12")

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, BatchedSqliteEventLogStorage) == batched
        assert isinstance(storage, SqliteEventLogStorage)
        state = _state(instance, [first.run_id, second.run_id])

    days = [f"2026-01-{day:02d}" for day in range(1, 13)]
    assert state[first.run_id] == sorted(
        (name, day) for name in ("days_upstream", "days_downstream") for day in days[:10]
    )
    assert state[second.run_id] == sorted(
        (name, day) for name in ("days_upstream", "days_downstream") for day in days[5:]
    )
    for name in ("days_upstream", "days_downstream"):
        assert state[name] == {
            "days": days,
            "status_days": days,
            "latest": (1, "2026-01-12"),
            "index_latest": (1, "2026-01-12"),
            "index_latest_id": True,
        }


def test_a_run_reads_dynamic_partitions_once(amazon_home: Path) -> None:
    """Within a run's snapshot another process's new account is not seen (the run's partitions
    were fixed when it started); one added through this instance is, and after the run all are."""
    dagster_home = amazon_home / "dagster"
    (dagster_home / "dagster.yaml").write_text(embedded_dagster_yaml(dagster_home))
    with dg.DagsterInstance.get() as instance, dg.DagsterInstance.get() as other_process:
        instance.add_dynamic_partitions("accounts", ["default"])
        with run_snapshot(instance):
            assert instance.get_dynamic_partitions("accounts") == ["default"]
            other_process.add_dynamic_partitions("accounts", ["acme"])
            assert instance.get_dynamic_partitions("accounts") == ["default"]
            instance.add_dynamic_partitions("accounts", ["zeta"])
            assert instance.get_dynamic_partitions("accounts") == ["default", "acme", "zeta"]
            other_process.delete_dynamic_partition("accounts", "acme")
            assert "acme" in instance.get_dynamic_partitions("accounts")
        assert instance.get_dynamic_partitions("accounts") == ["default", "zeta"]


@pytest.mark.parametrize("made", ["new", "before", "elsewhere", "edited"])
def test_the_embedded_home_gets_the_batched_event_log_unless_its_config_was_edited(
    amazon_home: Path, made: str
) -> None:
    """A new home, one made before the batched event log and one moved here get the current
    dagster.yaml; an edited one is left alone. Opened by its path, the home needs no variable."""
    dagster_home = amazon_home / "dagster"
    config = dagster_home / "dagster.yaml"
    earlier = {
        "before": _EARLIER_EMBEDDED_DAGSTER_YAML,
        "elsewhere": embedded_dagster_yaml(amazon_home / "old-place" / "dagster"),
        "edited": embedded_dagster_yaml(dagster_home) + "# my own setting\n",
    }.get(made)
    if earlier is not None:
        config.write_text(earlier)
    prepare_dagster_home(Settings.from_env())
    expected = earlier if made == "edited" else embedded_dagster_yaml(dagster_home)
    assert config.read_text() == expected
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
        instance.add_dynamic_partitions("accounts", ["acme"])
    assert (dagster_home / "history" / "runs" / "index.db").exists()
    assert not (amazon_home / "old-place").exists()
