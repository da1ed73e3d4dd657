"""Beyond one machine: a job's steps on Celery workers, quotas and the ledger in PostgreSQL.

Real RabbitMQ (127.0.0.1:5672, guest/guest) on a queue of this test's own, two real
`dagster-celery` workers, the Dagster instance and the client state in PostgreSQL, the sandbox
playing Amazon with its quotas on. The four ad report types of a run are four steps, run at once
by the workers; they share Amazon's quotas and the report ledger through PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from amazon_assets.defs.advertising.assets import AD_REPORT_TYPES
from amazon_assets_tests.test_cli import REPO_ROOT, amazon_assets, clean_env

BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
DAYS = 3
CLOCK = 30.0
WORKER_READY_SECONDS = 120.0


def _worker_ready(log: Path) -> bool:
    return log.exists() and " ready." in log.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_job_runs_on_celery_workers_sharing_quotas_and_ledger_in_postgres(
    tmp_path: Path,
    processes,
    sandbox_factory,
    postgres_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = sandbox_factory(speed=CLOCK)
    queue = f"amazon-assets-test-{uuid.uuid4().hex[:12]}"
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    home = tmp_path / "home"
    env = clean_env(
        home,
        DAGSTER_HOME=str(dagster_home),
        DAGSTER_PG_URL=postgres_database,
        AMAZON_ASSETS_STATE_URL=postgres_database,
        AMAZON_ASSETS_EXECUTOR="celery",
        AMAZON_ASSETS_CELERY_QUEUE=queue,
        CELERY_BROKER_URL=BROKER,
        AMAZON_ASSETS_SANDBOX_PORT=sandbox.url.rsplit(":", 1)[1],
        AMAZON_ASSETS_SANDBOX_SPEED=str(CLOCK),
    )
    # `dagster-celery worker start` runs `celery` from PATH: this virtualenv's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    worker_config = tmp_path / "celery.yaml"
    worker_config.write_text(
        "execution:\n  config:\n"
        f"    broker: {BROKER}\n    backend: rpc://\n"
        f"    config_source:\n      task_default_queue: {queue}\n"
    )
    logs, workers = [], []
    for number in (1, 2):
        log = tmp_path / f"worker-{number}.log"
        logs.append(log)
        worker = processes(
            [
                "dagster-celery",
                "worker",
                "start",
                "-y",
                str(worker_config),
                "-q",
                queue,
                "-n",
                f"{queue}-{number}",
                "-A",
                "dagster_celery.app",
            ],
            env=env,
            cwd=REPO_ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        workers.append(worker)
    deadline = time.monotonic() + WORKER_READY_SECONDS
    while not all(_worker_ready(log) for log in logs):
        alive = all(worker.poll() is None for worker in workers)
        assert alive and time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
        time.sleep(0.5)

    started = time.monotonic()
    done = amazon_assets("ingest", "ads-reports", "--days", str(DAYS), env=env, timeout=480)
    print(f"ads-reports on celery: {time.monotonic() - started:.1f}s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ads-reports: default" in done.stdout and "checks passed" in done.stdout

    # Each report requested exactly once, and Amazon never had to say 429.
    assert sandbox.calls("adsCreateReport") == len(AD_REPORT_TYPES) * DAYS
    for operation in ("adsCreateReport", "adsGetReport", "adsProfiles"):
        assert sandbox.throttled(operation) == 0, operation
    with psycopg.connect(postgres_database) as connection:
        ledger = connection.execute(
            "select ledger_key, count(*), min(status) from amazon_assets_state.report_ledger "
            "group by ledger_key"
        ).fetchall()
        buckets = connection.execute(
            "select count(*) from amazon_assets_state.quota_buckets"
        ).fetchone()[0]
    assert len(ledger) == len(AD_REPORT_TYPES) * DAYS
    assert {(count, status) for _, count, status in ledger} == {(1, "COMPLETED")}
    assert buckets > 0
    assert not (home / "state.sqlite").exists()  # no machine-local state

    # The steps ran on the workers, not in the command.
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_database)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        [run] = instance.get_runs()
        submitted = [
            e.message
            for e in instance.all_logs(run.run_id)
            if e.message and "Submitting celery task for step" in e.message
        ]
    assert len(submitted) >= len(AD_REPORT_TYPES) + 1, submitted
    assert all(f'queue "{queue}"' in message for message in submitted)
    worked = "".join(log.read_text(errors="replace") for log in logs)
    assert "execute_plan" in worked
