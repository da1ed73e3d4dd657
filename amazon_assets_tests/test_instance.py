"""The production instance config (dagster.yaml) against the real PostgreSQL on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import psycopg
import pytest
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")


def repo_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Amazon or Dagster variables, plus `extra`."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SP_API_", "ADS_API_", "DAGSTER_"))
    }
    env.update(AMAZON_ASSETS_HOME=str(home), **extra)
    return env


def test_dagster_yaml_keeps_runs_in_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_database: str
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_database)

    @dg.asset
    def probe() -> int:
        return 1

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        result = dg.materialize([probe], instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None

    with psycopg.connect(postgres_database) as conn:
        stored = conn.execute("select count(*) from runs where run_id = %s", (result.run_id,))
        assert stored.fetchone() == (1,)


def test_definitions_validate_from_repo_root(tmp_path: Path, postgres_database: str) -> None:
    """From the repo root Dagster reads ./dagster.yaml, so it needs DAGSTER_PG_URL."""
    done = subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        env=repo_env(tmp_path, DAGSTER_PG_URL=postgres_database),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO_ROOT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Validation successful" in output


@pytest.mark.slow
def test_dagster_dev_from_repo_root_loads_the_code_location(
    tmp_path: Path, postgres_database: str, free_port: int, processes
) -> None:
    server = processes(
        [DAGSTER, "dev", "-w", "workspace.yaml", "-p", str(free_port), "-h", "127.0.0.1"],
        env=repo_env(tmp_path, DAGSTER_PG_URL=postgres_database),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
    query += "locationOrLoadError { __typename } } } } }"
    entries, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            answer = httpx.post(
                f"http://127.0.0.1:{free_port}/graphql", json={"query": query}, timeout=5
            ).json()
            entries = answer["data"]["workspaceOrError"]["locationEntries"]
            if entries and entries[0]["loadStatus"] == "LOADED":
                break
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    assert [e["name"] for e in entries] == ["amazon_assets"]
    assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"
