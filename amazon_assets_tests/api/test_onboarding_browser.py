"""Done when: in Debian's chromium (playwright), the accounts page connects an account through the
sandbox's consent page and shows its history reach 100 %, while the backfill runs in a real
Dagster daemon, launched through the webserver's GraphQL API; a WebSocket client sees the same
progress; no log, event log or database holds a token in clear afterwards."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from amazon_assets.onboarding import ONBOARDING_SENSOR
from amazon_assets.sandbox import SandboxConfig, SandboxServer
from amazon_assets.sources.vault import CredentialVault
from amazon_assets_tests.api.onboarding import (
    Platform,
    platform_environment,
    start_dagster,
    stop_sensor,
)
from amazon_assets_tests.api.server import ApiServer, free_port

CHROMIUM = "/usr/bin/chromium"
PROGRESS_TIMEOUT_MS = 300_000


@pytest.fixture
def running_platform(tmp_path: Path, processes) -> Iterator[Platform]:
    config = SandboxConfig(seed=7, accounts=("default", "acme"), skus_per_account=8, speed=3600.0)
    with SandboxServer(config, port=0) as sandbox:
        webserver_port = free_port()
        env = platform_environment(tmp_path, sandbox, webserver_port)
        platform = Platform(tmp_path, sandbox, env)
        with ApiServer(env, tmp_path / "api.log") as api:  # prepares the Dagster home first
            platform.api = api
            platform.logs.append(api.log_path)
            start_dagster(platform, processes, webserver_port)
            yield platform


def collect_progress(platform: Platform, account: str, events: list[dict]) -> threading.Thread:
    """A WebSocket client recording every progress event of `account` until the stream ends."""
    url = platform.api.url.replace("http://", "ws://") + f"/v1/accounts/{account}/progress/ws"

    def listen() -> None:
        with connect(url, additional_headers=platform.headers(), open_timeout=30) as socket:
            for message in socket:
                events.append(json.loads(message))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.timeout(600)  # three servers to start and a run in the daemon on a busy machine
def test_connect_account_in_the_browser_and_watch_its_history_arrive(
    running_platform: Platform,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # CI installs chromium (.ci/run); a missing browser is a failure, never a skip.
    assert shutil.which("chromium") or Path(CHROMIUM).exists(), "chromium is not installed"
    platform = running_platform
    api = platform.api.url
    # This test launches the account's backfill itself, over the API (a small one); the
    # onboarding sensor's own backfill of every source would otherwise run beside it.
    stop_sensor(platform, ONBOARDING_SENSOR)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{api}/accounts")
        page.fill("input[name=token]", platform.token("admin"))
        page.click("button:has-text('Sign in')")
        page.fill("input[name=account]", "acme")
        page.click("button:has-text('Connect Amazon account')")
        expect(page.locator("h1")).to_contain_text("Authorize this application")
        page.select_option("select[name=seller]", "acme")
        page.click("button[value=allow]")
        page.wait_for_url(f"{api}/accounts?connected=acme&api=sp")
        expect(page.locator(".notice")).to_contain_text("Connected acme")

        # The backfill, launched over Dagster's GraphQL API, runs in the daemon.
        events: list[dict] = []
        listener = collect_progress(platform, "acme", events)
        launched = httpx.post(
            f"{api}/v1/accounts/acme/backfill",
            headers=platform.headers(),
            json={"sources": ["orders"]},  # one source keeps the run to two steps
            timeout=60,
        )
        assert launched.status_code == 202, launched.text
        job = launched.json()
        assert job["account"] == "acme" and job["operation"] == "backfill"

        page.reload()
        progress = page.locator('tr[data-account="acme"] .progress')
        expect(progress).to_contain_text("100 % (done)", timeout=PROGRESS_TIMEOUT_MS)
        expect(page.locator('tr[data-account="acme"] .sources')).to_contain_text("orders 6/6 done")
        browser.close()

    listener.join(timeout=60)
    kinds = [event["event"] for event in events]
    assert kinds[-1] == "complete", kinds
    final = events[-1]["data"]
    assert final["percentage"] == 100.0 and final["status"] == "done"
    for source in final["sources"]:
        assert source["current"] == source["total"] == 6
        assert set(source) >= {"source", "report_type", "current", "total", "status", "percentage"}
    assert [s["report_type"] for s in final["sources"]] == [
        "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
    ]

    # The daemon closes the backfill on its next pass after the last run.
    deadline = time.monotonic() + 120
    while True:
        jobs = httpx.get(f"{api}/v1/jobs", params={"account": "acme"}, headers=platform.headers())
        (finished,) = [j for j in jobs.json()["jobs"] if j["id"] == job["id"]]
        if finished["status"] != "REQUESTED" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert finished["status"] == "COMPLETED_SUCCESS", finished
    assert (
        finished["runs"] == {"SUCCESS": 1}
        and finished["days"] == final["first_day"] + ".." + final["last_day"]
    )

    # The token is in the vault; nowhere else in clear.
    vault = CredentialVault.at(platform.state_path, (platform.secret_key,))
    token, _ = vault.refresh_token("acme", "SP_API")
    files = [*platform.logs, *(p for p in platform.root.rglob("*") if p.is_file())]
    assert len(files) > 10
    leaks = [str(p) for p in files if token.encode() in _bytes_of(p)]
    assert leaks == []


def _bytes_of(path: Path) -> bytes:
    """A file's bytes; nothing for one the running daemon removed meanwhile (a SQLite WAL,
    checkpointed into its database file, which is read too)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
