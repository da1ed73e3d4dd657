"""Sales-and-traffic history continued by the `sales_and_traffic_history` sensor, as a running
deployment does it: `dagster-daemon` and `dagster-webserver` on PostgreSQL storage, driven over
Dagster's GraphQL as the UI is, the accounts added by the command a user types.

A low daily cap (AMAZON_ASSETS_SALES_AND_TRAFFIC_DAILY=16) makes a day short: two accounts'
settling windows keep 14 of it, so the sensor launches 2 history days, one per account (their
newest), and its next tick says in one sentence that the day is spent. Dagster's run queue holds
every launched run (max_concurrent_runs 0), the onboarding backfills' too: what the runs fetch
and spend is proven by the business-reports tests; here it is what the sensor launches and says.
A disabled account's share is proven on one tick evaluated in process.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from amazon_assets.account_jobs import ACCOUNT_TAG, HISTORY, OPERATION_TAG
from amazon_assets.definitions import build_definitions
from amazon_assets.defs.business_reports.sensors import HISTORY_SENSOR, HISTORY_TAG
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.partitions import partition_key, register_account
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.settings import Settings
from amazon_assets.sources.vault import vault_for
from amazon_assets_tests.test_cli import REPO_ROOT, amazon_assets, clean_env
from amazon_assets_tests.test_deployment import BIN, LOCATION, Dagster, wait_for

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
HISTORY_DAYS = 2  # per account, before its 7-day settling window
ACCOUNTS = ("acme", "zeta")


def sensor_ticks(dagster: Dagster, name: str) -> list[dict[str, Any]]:
    data = dagster.query(
        """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
            ... on Sensor { sensorState { ticks(limit: 20) { status skipReason
            error { message } } } } } }""",
        selector={
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "sensorName": name,
        },
    )
    return data["sensorOrError"]["sensorState"]["ticks"]


def history_backfills(dagster: Dagster) -> list[dict[str, Any]]:
    backfills = dagster.query(
        """{ partitionBackfillsOrError { ... on PartitionBackfills { results {
            tags { key value } assetSelection { path }
            assetBackfillData { rootTargetedPartitions { partitionKeys } } } } } }"""
    )["partitionBackfillsOrError"]["results"]
    return [b for b in backfills if HISTORY_TAG in {t["key"] for t in b["tags"]}]


def observations(dagster: Dagster) -> list[dict[str, Any]]:
    data = dagster.query(
        """{ assetOrError(assetKey: {path: ["bronze", "business_reports"]}) { ... on Asset {
            assetObservations(limit: 10) { metadataEntries { label
            ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } } } } } }"""
    )["assetOrError"]
    return [
        {
            entry["label"]: entry.get("intValue", entry.get("text"))
            for entry in observation["metadataEntries"]
        }
        for observation in data["assetObservations"]
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_sensor_spends_what_the_windows_leave_on_history_round_robin_then_says_so(
    tmp_path: Path, postgres_database: str, processes, free_port: int
) -> None:
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    dagster_home.mkdir()
    instance_config = (REPO_ROOT / "dagster.yaml").read_text()
    assert "max_concurrent_runs: 4" in instance_config
    (dagster_home / "dagster.yaml").write_text(
        instance_config.replace("max_concurrent_runs: 4", "max_concurrent_runs: 0")
    )
    first_day = YESTERDAY - timedelta(days=6 + HISTORY_DAYS)
    env = clean_env(
        home,
        DAGSTER_HOME=str(dagster_home),
        DAGSTER_PG_URL=postgres_database,
        # The budget's day is Amazon's UTC day on the sandbox's clock: a real one here.
        AMAZON_ASSETS_SANDBOX_SPEED="1",
        AMAZON_ASSETS_START_DATE=first_day.isoformat(),
        AMAZON_ASSETS_SALES_AND_TRAFFIC_DAILY="16",
    )
    # Two new accounts (the first command also creates Dagster's storage in PostgreSQL).
    for account in ACCOUNTS:
        added = amazon_assets("accounts", "add", account, env=env)
        assert added.returncode == 0, added.stderr

    def start(*command: str) -> subprocess.Popen:
        log = (tmp_path / f"{Path(command[0]).name}.log").open("w")
        return processes(list(command), env=env, cwd=REPO_ROOT, stdout=log, stderr=log)

    start(str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")
    start(
        str(BIN / "dagster-webserver"),
        *("-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(free_port)),
    )
    dagster = Dagster(free_port)
    wait_for(dagster.location_loaded, "the webserver to load the code location")

    # 16 - 2 x 7 kept for the windows = 2 history days: each account's newest, one each.
    backfills = wait_for(
        lambda: len(found := history_backfills(dagster)) == len(ACCOUNTS) and found,
        "the sensor to launch the history backfills",
    )
    newest_history = (YESTERDAY - timedelta(days=7)).isoformat()
    assert sorted(
        key
        for b in backfills
        for key in b["assetBackfillData"]["rootTargetedPartitions"]["partitionKeys"]
    ) == [f"{account}|{newest_history}" for account in ACCOUNTS]
    for backfill in backfills:
        # An accounts-API job too: /v1/jobs lists it, the account's progress follows it.
        assert {"key": OPERATION_TAG, "value": HISTORY} in backfill["tags"]
        assert {"path": ["bronze", "business_reports"]} in backfill["assetSelection"]
        assert {"path": ["silver", "fact_business_reports_us"]} in backfill["assetSelection"]
    today = datetime.now(UTC).date()
    assert {"key": HISTORY_TAG, "value": today.isoformat()} in backfills[0]["tags"]

    # The next tick: the day is spent, in one sentence; nothing more is launched.
    sentence = (
        f"The app's 16 GET_SALES_AND_TRAFFIC_REPORT requests for {today} are spent (14 kept "
        f"for the settling windows, 2 on history); 2 history days of 2 account(s) "
        f"(acme, zeta) wait for {today + timedelta(days=1)}."
    )
    wait_for(
        lambda: any(t["skipReason"] == sentence for t in sensor_ticks(dagster, HISTORY_SENSOR)),
        "the sensor to say the day is spent",
    )
    assert len(history_backfills(dagster)) == len(ACCOUNTS)
    ticks = sensor_ticks(dagster, HISTORY_SENSOR)
    assert not [t for t in ticks if t["status"] == "FAILURE"], ticks

    # Budget used and left, as the UI shows them on bronze/business_reports.
    assert {
        "sales_and_traffic_budget_day": today.isoformat(),
        "sales_and_traffic_budget_used": 0,
        "sales_and_traffic_budget_left": 16,
        "sales_and_traffic_budget_kept_for_settling": 14,
        "sales_and_traffic_budget_history_pending": 2,
        "sales_and_traffic_budget_left_for_history": 0,
        "sales_and_traffic_history_days_missing": len(ACCOUNTS) * HISTORY_DAYS,
    }.items() <= observations(dagster)[0].items()


def test_a_disabled_account_keeps_none_of_the_day_and_gets_no_history(
    amazon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One tick, as the daemon evaluates it: a cap of 9 is acme's window (7) and two history
    days; the disabled account (its runs fail at once) keeps nothing and gets nothing."""
    monkeypatch.setenv(
        "AMAZON_ASSETS_START_DATE", (YESTERDAY - timedelta(days=6 + HISTORY_DAYS)).isoformat()
    )
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", "1")
    monkeypatch.setenv("AMAZON_ASSETS_SALES_AND_TRAFFIC_DAILY", "9")
    settings = Settings.from_env()
    repository = build_definitions(settings).get_repository_def()
    vault_for(settings.state_location).set_disabled("gone", True)
    with dg.DagsterInstance.get() as instance:
        for account in ("gone", "acme"):
            register_account(instance, account)
        context = dg.build_sensor_context(
            instance=instance,
            repository_def=repository,
            resources={"sp_api": SpApiResource.from_settings(settings)},
        )
        result = repository.get_sensor_def(HISTORY_SENSOR).evaluate_tick(context)
    [request] = result.run_requests
    assert request.tags[ACCOUNT_TAG] == "acme"
    bronze = request.asset_graph_subset.get_partitions_subset(BUSINESS_REPORTS.bronze_key)
    assert set(bronze.get_partition_keys()) == {
        partition_key("acme", YESTERDAY - timedelta(days=offset)) for offset in (7, 8)
    }
