"""A refused credential ends a command in seconds with one sentence, and Dagster never retries it.

The commands run as users run them (`amazon-assets ingest ...` in a subprocess) with "real"
credentials pointed at the sandbox, so the clock runs at Amazon's speed: a retried refusal, or a
sales-and-traffic quota token spent before the login, would cost real minutes.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from amazon_assets.definitions import build_definitions
from amazon_assets.partitions import partition_key, register_account
from amazon_assets.settings import (
    DEFAULT_ACCOUNT,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    Settings,
)
from amazon_assets.sources.refusals import NO_RUN_RETRY_TAG
from amazon_assets_tests.test_cli import amazon_assets, clean_env

WILL_RETRY_TAG = "dagster/will_retry"


def _amazon_env(home: Path, sandbox, refresh_token: str = "Atzr|sandbox-default") -> dict:
    return clean_env(
        home,
        SP_API_REFRESH_TOKEN=refresh_token,
        SP_API_CLIENT_ID=SANDBOX_CLIENT_ID,
        SP_API_CLIENT_SECRET=SANDBOX_CLIENT_SECRET,
        SP_API_ENDPOINT=sandbox.url,
        SP_API_LWA_TOKEN_URL=sandbox.token_url,
    )


@pytest.mark.parametrize(
    ("command", "fault", "variable", "said"),
    # The two cases; both refusals reach both commands through the same client code
    # (resources/test_refusals.py), and benchmarks/credential_refusal.py runs all four pairs.
    [
        ("business-reports", ("refuse_login", "invalid_grant"), "SP_API_REFRESH_TOKEN", "invalid_grant"),
        ("orders", ("deny_next", "createReport"), "SP_API_REFRESH_TOKEN", "403 Unauthorized"),
    ],
)  # fmt: skip
def test_a_refused_credential_ends_the_command_with_one_sentence(
    sandbox, tmp_path: Path, command: str, fault: tuple[str, str], variable: str, said: str
) -> None:
    kind, argument = fault
    if kind == "refuse_login":
        sandbox.faults.refuse_login(argument, times=10)
    else:
        sandbox.faults.deny_next(argument, status=403, times=10)
    started = time.monotonic()
    done = amazon_assets("ingest", command, "--days", "1", env=_amazon_env(tmp_path, sandbox))
    seconds = time.monotonic() - started
    print(f"{command} with {kind} {argument}: exit {done.returncode} after {seconds:.1f} s")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr
    assert variable in lines[0] and said in lines[0]
    assert done.stdout.strip() == ""
    if kind == "refuse_login":
        assert sandbox.calls("token") == 1 and sandbox.calls("createReport") == 0
    else:
        assert sandbox.calls("createReport") == 2  # once, then once after a fresh login


def test_the_instance_does_not_retry_a_refused_run_but_retries_other_failures(
    sandbox, amazon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_PORT", str(sandbox.port))
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(sandbox.config.speed))
    defs = build_definitions(Settings.from_env())
    job = defs.resolve_job_def("business_reports_job")
    day = partition_key(DEFAULT_ACCOUNT, sandbox.config.today - timedelta(days=2))
    # The production dagster.yaml enables run retries.
    with dg.instance_for_test(
        overrides={"run_retries": {"enabled": True, "max_retries": 2}}
    ) as instance:
        register_account(instance, DEFAULT_ACCOUNT)
        sandbox.faults.refuse_login("invalid_grant")
        refused = job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
        assert not refused.success
        run = instance.get_run_by_id(refused.run_id)
        assert run.tags[NO_RUN_RETRY_TAG] == "false" and run.tags[WILL_RETRY_TAG] == "false"
        retries = [e for e in refused.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert retries == [] and sandbox.calls("token") == 1
        [failure] = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
        assert "SP_API_REFRESH_TOKEN" in failure.event_specific_data.error.message

        # Any other step failure (here: silver without its bronze document) is retried.
        silver = job.execute_in_process(
            instance=instance,
            partition_key=day,
            asset_selection=[
                dg.AssetKey(["silver", "fact_business_reports_us"]),
                dg.AssetKey(["silver", "quarantine_business_reports_us"]),
                dg.AssetKey(["silver", "business_reports_day_status_us"]),
            ],
            raise_on_error=False,
        )
        assert not silver.success
        assert instance.get_run_by_id(silver.run_id).tags[WILL_RETRY_TAG] == "true"
