"""A running deployment, as a user meets it: `dagster-daemon` and `dagster-webserver` on the
production instance config (PostgreSQL storage), the sandbox beside them, driven over Dagster's
GraphQL as the UI does and through the command line.

Only the account is added by hand (a command, as a user would); everything after it is the
daemon's doing: the onboarding sensor's backfill of the new account's sources (seller history,
business reports, product signals), the mart and its layers.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from amazon_assets.account_jobs import ACCOUNT_TAG, OPERATION_TAG
from amazon_assets.automation import AUTOMATION_SENSOR, FRESHNESS_SENSOR
from amazon_assets.onboarding import ONBOARDING_SENSOR
from amazon_assets_tests.test_cli import REPO_ROOT, amazon_assets, clean_env

BIN = Path(sys.executable).parent
LOCATION = "amazon_assets"
YESTERDAY = date.today() - timedelta(days=1)
DAYS = 3
# Generous: several code-location loads and runs on a loaded 2-core machine.
DEADLINE_SECONDS = 420.0
ENDED = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


class Dagster:
    """The webserver's GraphQL API, as the UI calls it."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"

    def query(self, query: str, **variables: Any) -> dict[str, Any]:
        answer = httpx.post(self.url, json={"query": query, "variables": variables}, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def location_loaded(self) -> bool:
        entries = self.query(
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename } } } } }"
        )["workspaceOrError"]["locationEntries"]
        return any(
            e["name"] == LOCATION
            and e["loadStatus"] == "LOADED"
            and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
            for e in entries
        )

    def ticks(self, sensor: str) -> list[dict[str, Any]]:
        data = self.query(
            """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
                ... on Sensor { sensorState { status ticks(limit: 200) { status
                error { message } } } } } }""",
            selector={
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
                "sensorName": sensor,
            },
        )
        state = data["sensorOrError"]["sensorState"]
        assert state["status"] == "RUNNING", (sensor, state["status"])
        return state["ticks"]

    def backfills(self) -> list[dict[str, Any]]:
        return self.query(
            """{ partitionBackfillsOrError { ... on PartitionBackfills { results {
                id status partitionNames assetSelection { path } tags { key value } } } } }"""
        )["partitionBackfillsOrError"]["results"]

    def materializations(self, *path: str) -> list[dict[str, Any]]:
        data = self.query(
            """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
                ... on Asset { assetMaterializations(limit: 500) { partition timestamp runId } }
                } }""",
            path=list(path),
        )["assetOrError"]
        return data.get("assetMaterializations") or []

    def failed_runs(self) -> list[dict[str, Any]]:
        return self.query(
            """{ runsOrError(filter: {statuses: [FAILURE]}) { ... on Runs { results {
                runId jobName } } } }"""
        )["runsOrError"]["results"]


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """`condition()`'s first truthy value; fails naming `what` after DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            value = condition()
        except (httpx.HTTPError, duckdb.Error):  # not up yet; a writer holds the warehouse
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(2)


def partitioned_days(materializations: list[dict[str, Any]], after: float = 0.0) -> set[str]:
    """The days of materializations stored after `after` (milliseconds since the epoch)."""
    return {m["partition"] for m in materializations if float(m["timestamp"]) > after}


def another_free_port(taken: int) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != taken:
            return port


def silver_rows(home: Path, table: str, account: str) -> int:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute(
            f"select count(*) from amazon_econ.{table} where account = ?", [account]
        ).fetchone()[0]


@pytest.mark.slow
@pytest.mark.longest
@pytest.mark.timeout(900)
def test_a_running_deployment_onboards_an_account_and_keeps_every_layer_fresh(
    tmp_path: Path, postgres_database: str, processes, free_port: int
) -> None:
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    sandbox_port = another_free_port(free_port)
    first_day = YESTERDAY - timedelta(days=DAYS - 1)
    env = clean_env(
        home,
        DAGSTER_HOME=str(dagster_home),
        DAGSTER_PG_URL=postgres_database,
        AMAZON_ASSETS_SANDBOX_PORT=str(sandbox_port),
        AMAZON_ASSETS_SANDBOX_SPEED="3600",
        # The onboarding backfill covers the partitions: a few days keep the test short.
        AMAZON_ASSETS_START_DATE=first_day.isoformat(),
        # One process per run, not per step: minutes less of code loading on 2 cores.
        AMAZON_ASSETS_EXECUTOR="in_process",
    )
    # One command creates Dagster's storage in PostgreSQL before the servers share it.
    assert amazon_assets("accounts", "list", env=env).returncode == 0

    def start(*command: str) -> subprocess.Popen:
        log = (tmp_path / f"{Path(command[0]).name}.log").open("w")
        return processes(list(command), env=env, cwd=REPO_ROOT, stdout=log, stderr=log)

    start(sys.executable, "-m", "amazon_assets.cli", "sandbox", "--asins", "10")
    start(str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")
    start(
        str(BIN / "dagster-webserver"),
        *("-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(free_port)),
    )
    dagster = Dagster(free_port)
    wait_for(dagster.location_loaded, "the webserver to load the code location")

    # A new account: registered by the command, backfilled by the sensor.
    added = amazon_assets("accounts", "add", "acme", env=env)
    assert added.returncode == 0, added.stderr
    days = {(first_day + timedelta(days=i)).isoformat() for i in range(DAYS)}
    backfill = wait_for(
        lambda: next(
            (
                b
                for b in dagster.backfills()
                if {"key": ACCOUNT_TAG, "value": "acme"} in b["tags"]
                and {"key": OPERATION_TAG, "value": "onboarding"} in b["tags"]
            ),
            None,
        ),
        "the onboarding sensor to launch acme's backfill",
    )
    for path in (
        ["bronze", "orders"],
        ["bronze", "business_reports"],
        ["bronze", "product_signals"],
    ):
        assert {"path": path} in backfill["assetSelection"]
    assert {"key": "amazon_assets/seller_history_mode", "value": "backfill"} in backfill["tags"]
    final = wait_for(
        lambda: next(
            (
                b["status"]
                for b in dagster.backfills()
                if b["id"] == backfill["id"] and b["status"] in ENDED
            ),
            None,
        ),
        "acme's backfill to end",
    )
    assert final in ("COMPLETED", "COMPLETED_SUCCESS"), final
    assert silver_rows(home, "fact_orders", "acme") > 0
    assert silver_rows(home, "fact_financial_events", "acme") > 0
    # Sales and traffic too (every day of the range is in its settling window): no command.
    assert silver_rows(home, "fact_business_reports_us", "acme") > 0
    business = dagster.materializations("silver", "fact_business_reports_us")
    assert {m["partition"] for m in business} == {f"acme|{day}" for day in days}
    loaded = max(float(m["timestamp"]) for m in business)

    # ... and the mart and every layer after it follow without a launch.
    for path in (
        ("mart", "mart_asin_daily"),
        ("mart", "data_quality_daily"),
        ("features", "features_asin_daily"),
        ("features", "score_baseline_daily"),
        ("features", "alerts"),
        ("features", "competitor_comparison_daily"),
    ):
        wait_for(
            lambda path=path: partitioned_days(dagster.materializations(*path), loaded) >= days,
            f"{'/'.join(path)} to follow its inputs",
        )
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        mart_days = connection.execute(
            "select distinct report_date::varchar from mart.mart_asin_daily"
        ).fetchall()
    assert {day for (day,) in mart_days} == days

    for sensor in (ONBOARDING_SENSOR, AUTOMATION_SENSOR, FRESHNESS_SENSOR):
        ticks = dagster.ticks(sensor)
        assert ticks and not [t for t in ticks if t["status"] == "FAILURE"], (sensor, ticks)
    assert dagster.failed_runs() == []
