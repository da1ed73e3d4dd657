"""A failed command ends in one sentence naming the innermost cause; --verbose adds the chain."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest

from amazon_assets.commands import (
    CommandError,
    add_day_range_options,
    day_range,
    days_from_arguments,
    failure_errors,
    failure_reasons,
)
from amazon_assets.errors import PermanentError, cause_sentence
from amazon_assets_tests.test_cli import amazon_assets, clean_env


def one_line(stderr: str) -> str:
    """The single line a failed command prints (asserting there is only one)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith("amazon-assets: ")
    return lines[0]


# -- the innermost cause, through Dagster's wrappers ------------------------------------------


def test_retried_step_reports_its_own_error_not_exceeded_max_retries() -> None:
    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    def flaky() -> None:
        try:
            raise OSError("disk on fire")
        except OSError as error:
            raise ValueError("report GET_X for 2026-01-05 could not be parsed") from error

    result = dg.materialize([flaky], raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_failure_data.error.message.startswith("Exceeded max_retries of 2")
    assert failure_reasons(result) == [
        "flaky: ValueError: report GET_X for 2026-01-05 could not be parsed"
    ]


def test_a_permanent_error_is_not_retried_and_reads_as_a_sentence() -> None:
    attempts = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    def damaged() -> None:
        attempts.append(1)
        raise PermanentError("The file x.db is corrupt (file is not a database).")

    result = dg.materialize([damaged], raise_on_error=False)
    assert len(attempts) == 1
    assert failure_reasons(result) == [
        "damaged: The file x.db is corrupt (file is not a database)."
    ]


def test_steps_failing_of_one_cause_say_it_once() -> None:
    refusal = "Login with Amazon refused the refresh token in ADS_API_REFRESH_TOKEN."

    def refused(name: str) -> dg.AssetsDefinition:
        @dg.asset(name=name)
        def compute() -> None:
            raise PermanentError(refusal)

        return compute

    @dg.asset
    def other() -> None:
        raise PermanentError("The file x.db is corrupt.")

    result = dg.materialize(
        [refused("campaigns"), refused("targeting"), other], raise_on_error=False
    )
    reasons = [reason.split(": ", 1) for reason in failure_reasons(result)]
    causes = {cause: steps for steps, cause in reasons}
    assert len(causes) == len(reasons) == 2
    assert set(causes) == {refusal, "The file x.db is corrupt."}
    assert sorted(causes[refusal].split(", ")) == ["campaigns", "targeting"]
    assert causes["The file x.db is corrupt."] == "other"


class _Unreachable(dg.ConfigurableResource):
    def setup_for_execution(self, context) -> None:
        raise ConnectionError("warehouse at db:5432 refused the connection")


def test_resource_errors_are_dug_out_of_dagsters_wrappers() -> None:
    @dg.asset
    def needs_it(unreachable: _Unreachable) -> None:
        return None

    result = dg.materialize(
        [needs_it], resources={"unreachable": _Unreachable()}, raise_on_error=False
    )
    [(_, error)] = failure_errors(result)  # no step ran: the run itself failed
    assert error.cls_name.startswith("Dagster")  # the wrapper the user used to see last
    assert cause_sentence(error) == "ConnectionError: warehouse at db:5432 refused the connection"
    assert failure_reasons(result) == [
        "run: ConnectionError: warehouse at db:5432 refused the connection"
    ]


# -- through the command line ------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with yesterday's business reports loaded (copied by each test that needs one)."""
    home = tmp_path_factory.mktemp("loaded") / "home"
    env = clean_env(home, AMAZON_ASSETS_SANDBOX_PORT=str(_free_port()))
    done = amazon_assets("ingest", "business-reports", "--days", "1", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return home


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy(home: Path, tmp_path: Path) -> Path:
    target = tmp_path / "home"
    shutil.copytree(home, target)
    return target


def test_days_zero_is_an_error_not_seven_days(tmp_path: Path) -> None:
    done = amazon_assets("ingest", "mart", "--days", "0", env=clean_env(tmp_path / "home"))
    assert done.returncode == 2
    assert one_line(done.stderr) == "amazon-assets: --days must be at least 1."
    # Every command's day range goes through the same function.
    parser = argparse.ArgumentParser()
    add_day_range_options(parser)
    for days in ("0", "-3"):
        with pytest.raises(CommandError, match="--days must be at least 1"):
            days_from_arguments(parser.parse_args(["--days", days]))
    assert days_from_arguments(parser.parse_args([])) == day_range(7, None)


def test_corrupt_state_file_is_named_at_once(tmp_path: Path, free_port: int) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "state.sqlite").write_bytes(b"not a database " * 300)
    env = clean_env(home, AMAZON_ASSETS_SANDBOX_PORT=str(free_port))
    done = amazon_assets("ingest", "business-reports", "--days", "2", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = one_line(done.stderr)
    assert f"The state file {home / 'state.sqlite'} is corrupt (file is not a database)" in line
    assert "bronze/business_reports" in line and "Exceeded max_retries" not in line

    verbose = amazon_assets("--verbose", "ingest", "business-reports", "--days", "2", env=env)
    assert verbose.returncode == 1
    assert "sqlite3.DatabaseError: file is not a database" in verbose.stderr
    assert "Stack Trace" in verbose.stderr  # the whole chain, then the same sentence last
    assert verbose.stderr.strip().splitlines()[-1].split(" (run ")[0] == line.split(" (run ")[0]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_warehouse_is_named_at_once_not_waited_on_as_a_lock(
    loaded_home: Path, tmp_path: Path, damage: str
) -> None:
    home = _copy(loaded_home, tmp_path)
    warehouse = home / "warehouse.duckdb"
    if damage == "truncate":
        with warehouse.open("r+b") as handle:
            handle.truncate(warehouse.stat().st_size // 3)
    else:
        warehouse.write_bytes(b"garbage" * 1000)
    done = amazon_assets("ingest", "mart", "--days", "1", env=clean_env(home))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = one_line(done.stderr)
    assert f"The DuckDB warehouse {warehouse} is corrupt or not a DuckDB file" in line


def test_unreachable_database_url_is_named(loaded_home: Path, tmp_path: Path, free_port: int):
    home = _copy(loaded_home, tmp_path)
    url = f"postgresql://mart:s3cret@127.0.0.1:{free_port}/amazon"
    done = amazon_assets("ingest", "mart", "--days", "1", env=clean_env(home, DATABASE_URL=url))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = one_line(done.stderr)
    assert (
        f"Cannot connect to the PostgreSQL database of DATABASE_URL "
        f"(mart@127.0.0.1:{free_port}/amazon)" in line
    )
    assert "s3cret" not in done.stderr


def test_missing_gcs_bucket_is_named(tmp_path: Path, free_port: int, gcs_emulator) -> None:
    env = clean_env(
        tmp_path / "home",
        AMAZON_ASSETS_SANDBOX_PORT=str(free_port),
        GCS_BUCKET="no-such-bucket-here",
    )
    done = amazon_assets("ingest", "business-reports", "--days", "1", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = one_line(done.stderr)
    assert "The GCS bucket 'no-such-bucket-here' (GCS_BUCKET) does not exist" in line


def test_fatal_reports_name_the_report_type_and_days(sandbox_factory, tmp_path: Path) -> None:
    sandbox = sandbox_factory(speed=3600.0)
    sandbox.faults.next_report_outcome(
        "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL", "FATAL", times=4
    )
    env = clean_env(
        tmp_path / "home",
        AMAZON_ASSETS_SANDBOX_PORT=sandbox.url.rsplit(":", 1)[1],
        AMAZON_ASSETS_SANDBOX_SPEED="3600",
    )
    done = amazon_assets("ingest", "orders", "--days", "2", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = one_line(done.stderr)
    assert re.search(
        r"Amazon ended GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL for "
        r"\d{4}-\d\d-\d\d( to \d{4}-\d\d-\d\d)? FATAL twice",
        line,
    ), line
