"""Commands as processes: started together, killed, stopped by SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from amazon_assets.commands import RUN_PID_TAG
from amazon_assets_tests.test_cli import REPO_ROOT, amazon_assets, clean_env

SALES_AND_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
# Slow enough that the second day's sales-and-traffic report waits minutes on Amazon's
# one-per-15-minutes quota: a command that stops within the test's deadline was interrupted.
SLOW_CLOCK = 6.0
DEADLINE_SECONDS = 120.0


def _command(processes, home: Path, *args: str, **env: str) -> subprocess.Popen:
    return processes(
        [sys.executable, "-m", "amazon_assets.cli", *args],
        env=clean_env(home, **env),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return list(instance.get_runs())


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_commands_started_together_on_a_new_home_share_one_instance(
    tmp_path: Path, processes
) -> None:
    home = tmp_path / "home"
    started = [_command(processes, home, "accounts", "list") for _ in range(4)]
    outcomes = [(p.wait(timeout=DEADLINE_SECONDS), p.stderr.read()) for p in started]
    assert all(code == 0 for code, _ in outcomes), outcomes
    for database in (home / "dagster").rglob("*.db"):
        with sqlite3.connect(database) as connection:
            tables = {r[0] for r in connection.execute("select name from sqlite_master")}
            if "alembic_version" in tables:
                versions = connection.execute("select version_num from alembic_version").fetchall()
                assert len(versions) == 1, (database, versions)
    # and the instance works afterwards
    assert amazon_assets("accounts", "add", "eu", env=clean_env(home)).returncode == 0
    listed = amazon_assets("accounts", "list", env=clean_env(home))
    assert listed.returncode == 0 and listed.stdout.split() == ["eu"]


@pytest.fixture
def slow_sandbox(sandbox_factory):
    """Amazon's quotas on a clock 6x real time: the second day's report waits ~2.5 minutes."""
    return sandbox_factory(speed=SLOW_CLOCK)


def _start_slow_ingest(processes, home: Path, sandbox) -> subprocess.Popen:
    command = _command(
        processes,
        home,
        "ingest",
        "business-reports",
        "--days",
        "3",
        AMAZON_ASSETS_SANDBOX_PORT=sandbox.url.rsplit(":", 1)[1],
        AMAZON_ASSETS_SANDBOX_SPEED=str(SLOW_CLOCK),
    )
    # The first report is requested at once; the second waits on the quota from then on.
    _wait_for(lambda: sandbox.calls("createReport") >= 1 or command.poll() is not None, "a report")
    assert command.poll() is None, command.communicate()
    return command


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_a_command_waiting_on_a_quota(
    tmp_path: Path, processes, slow_sandbox, signum: int, exit_code: int
) -> None:
    home = tmp_path / "home"
    command = _start_slow_ingest(processes, home, slow_sandbox)
    command.send_signal(signum)
    code = command.wait(timeout=DEADLINE_SECONDS)
    stderr = command.stderr.read()
    assert code == exit_code, stderr
    assert "Traceback" not in stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith(f"amazon-assets: stopped by {signal.Signals(signum).name}; run ")
    # Stopped before the quota let the next report be requested, and the run says so.
    assert slow_sandbox.calls("createReport") == 1
    [run] = _runs(home)
    assert run.status == dg.DagsterRunStatus.CANCELED
    assert line.endswith(f"run {run.run_id[:8]} marked canceled")


@pytest.mark.slow
def test_a_killed_commands_run_is_marked_failed_by_the_next_command(
    tmp_path: Path, processes, slow_sandbox
) -> None:
    home = tmp_path / "home"
    command = _start_slow_ingest(processes, home, slow_sandbox)
    command.send_signal(signal.SIGKILL)
    assert command.wait(timeout=DEADLINE_SECONDS) == -signal.SIGKILL
    [run] = _runs(home)
    assert run.status == dg.DagsterRunStatus.STARTED
    assert run.tags[RUN_PID_TAG] == str(command.pid)

    listed = amazon_assets("accounts", "list", env=clean_env(home))
    assert listed.returncode == 0
    assert f"run {run.run_id[:8]} of a command that was killed is marked failed" in listed.stderr
    [run] = _runs(home)
    assert run.status == dg.DagsterRunStatus.FAILURE
    # A live command's run is left alone.
    live = _command(
        processes,
        home,
        "ingest",
        "business-reports",
        "--days",
        "3",
        AMAZON_ASSETS_SANDBOX_PORT=slow_sandbox.url.rsplit(":", 1)[1],
        AMAZON_ASSETS_SANDBOX_SPEED=str(SLOW_CLOCK),
    )
    _wait_for(lambda: any(r.tags.get(RUN_PID_TAG) == str(live.pid) for r in _runs(home)), "its run")
    again = amazon_assets("accounts", "list", env=clean_env(home))
    assert again.returncode == 0 and "marked failed" not in again.stderr
    statuses = {r.tags[RUN_PID_TAG]: r.status for r in _runs(home)}
    assert statuses[str(live.pid)] == dg.DagsterRunStatus.STARTED
