"""The command line: one sentence on bad configuration, Dagster runs on good."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def amazon_assets(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "amazon_assets.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SP_API_", "ADS_API_", "DAGSTER_"))
    }
    env.update(AMAZON_ASSETS_HOME=str(home), **extra)
    return env


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SP_API_ENDPOINT", "sellingpartnerapi-na"),
        ("SP_API_REGION", "atlantis"),
        ("SP_API_REFRESH_TOKEN", "Atzr|only-one-of-three"),
    ],
)
def test_bad_configuration_is_one_sentence_and_nonzero(
    tmp_path: Path, variable: str, value: str
) -> None:
    done = amazon_assets("ingest", "business-reports", env=clean_env(tmp_path, **{variable: value}))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]
    assert "only-one-of-three" not in done.stderr


def test_unwritable_home_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = amazon_assets("demo", env=clean_env(blocker / "home"))
    assert (
        done.returncode == 2
        and "AMAZON_ASSETS_HOME" in done.stderr
        and "Traceback" not in done.stderr
    )


@pytest.mark.parametrize(
    ("source", "table"),
    [
        ("business-reports", "fact_business_reports_us"),
        ("ads-reports", "fact_ads_sp_advertised_products"),
    ],
)
def test_ingest_runs_dagster_against_the_embedded_sandbox(
    tmp_path: Path, free_port: int, source: str, table: str
) -> None:
    env = clean_env(
        tmp_path / "home",
        AMAZON_ASSETS_SANDBOX_PORT=str(free_port),
        AMAZON_ASSETS_SANDBOX_SPEED="3600",
    )
    done = amazon_assets("ingest", source, "--days", "2", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "from sandbox" in done.stdout and "checks passed" in done.stdout
    with duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True) as conn:
        days = conn.execute(f"select count(distinct report_date) from amazon_econ.{table}")
        assert days.fetchone()[0] == 2
    runs = list((tmp_path / "home" / "dagster").glob("storage/*"))
    assert runs, "the run was recorded in the Dagster instance under AMAZON_ASSETS_HOME"


@pytest.mark.slow
def test_account_commands_take_a_registered_account_and_name_an_unknown_one(
    tmp_path: Path, free_port: int
) -> None:
    env = clean_env(
        tmp_path / "home",
        AMAZON_ASSETS_SANDBOX_PORT=str(free_port),
        AMAZON_ASSETS_SANDBOX_SPEED="3600",
    )
    unknown = amazon_assets("ingest", "ads-reports", "--account", "nosuch", "--days", "1", env=env)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "account 'nosuch' is not registered" in unknown.stderr
    assert "amazon-assets accounts add nosuch" in unknown.stderr

    assert amazon_assets("accounts", "add", "eu", env=env).returncode == 0
    # The embedded sandbox serves the account asked for (its own login and data).
    for command in (["ads-reports", "--days", "1"], ["ads-entities"], ["orders", "--days", "2"]):
        done = amazon_assets("ingest", *command, "--account", "eu", env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"{command[0]}: eu" in done.stdout and "checks passed" in done.stdout
    with duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True) as conn:
        for table in ("fact_ads_sp_advertised_products", "dim_ads_campaigns", "fact_orders"):
            accounts = conn.execute(f"select distinct account from amazon_econ.{table}")
            assert accounts.fetchall() == [("eu",)]


def test_ingest_refuses_days_outside_the_partitions(tmp_path: Path) -> None:
    done = amazon_assets(
        "ingest",
        "business-reports",
        "--start",
        "2001-01-01",
        "--end",
        "2001-01-02",
        env=clean_env(tmp_path / "home"),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        "default|2001-01-01 and default|2001-01-02 are not partitions of business_reports_job"
        in done.stderr
    )


def test_predict_before_any_training_names_the_cause(tmp_path: Path) -> None:
    from datetime import date, timedelta

    yesterday = (date.today() - timedelta(days=1)).isoformat()
    done = amazon_assets("predict", "--date", yesterday, env=clean_env(tmp_path / "home"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "amazon-assets: no ranker trained yet: run `amazon-assets train`."
