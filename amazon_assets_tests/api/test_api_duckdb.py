"""The API on the embedded DuckDB mart, without Redis: it reads the snapshot the mart IO manager
publishes, so it keeps serving while another process's Dagster run rewrites the mart."""

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from amazon_assets.settings import Settings
from amazon_assets_tests.api.conftest import ISSUER, SECRET, bearer
from amazon_assets_tests.api.market import (
    ACME,
    CHANGING,
    FIRST_DAY,
    market_tables,
    plant_mart,
    yesterday,
)
from amazon_assets_tests.api.server import ApiServer, clean_environment

# The writer: Dagster runs in their own process rewriting every mart table, twice.
WRITER = """
from amazon_assets.settings import Settings
from amazon_assets_tests.api.market import FIRST_DAY, market_tables, plant_mart, yesterday
settings = Settings.from_env()
for changed in (False, True):
    assert plant_mart(settings, market_tables(changed), FIRST_DAY, yesterday()).success
"""


@pytest.fixture(scope="module")
def duck_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("api-duck-home")
    env = {
        "AMAZON_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "AMAZON_ASSETS_JWT_SECRET": SECRET,
        "AMAZON_ASSETS_JWT_ISSUER": ISSUER,
        "AMAZON_ASSETS_API_POLL_SECONDS": "0.25",
        "AMAZON_ASSETS_API_CACHE_TTL": "1",
        "AMAZON_ASSETS_API_RATE_LIMIT": "100000/minute",
    }
    assert plant_mart(Settings.from_env(env), market_tables(), FIRST_DAY, yesterday()).success
    return env


@pytest.fixture(scope="module")
def duck_api(duck_env, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(duck_env, tmp_path_factory.mktemp("api-duck-log") / "api.log") as server:
        yield server


def test_serves_while_a_dagster_run_rewrites_the_mart(duck_api, duck_env, token) -> None:
    headers = bearer(token("analyst", "acme"))
    product = f"/v1/products/{CHANGING}"
    first = httpx.get(f"{duck_api.url}{product}", headers=headers, timeout=30).json()
    assert first["data"]["price"] == "27.99" and first["meta"]["source"]["store"] == "duckdb"

    statuses: Counter[int] = Counter()
    done = threading.Event()

    def read_all_the_time() -> None:
        offset = 0
        with httpx.Client(base_url=duck_api.url, headers=headers, timeout=30) as client:
            while not done.is_set():
                offset += 1
                since = (yesterday() - timedelta(days=offset % 300)).isoformat()
                for path in (
                    product,
                    f"/v1/products/{ACME[offset % 4]}/metrics?from={since}",  # uncached
                    "/v1/alerts",
                    f"/v1/competitions/{ACME[0]}?from={since}",
                ):
                    statuses[client.get(path).status_code] += 1
                batch = {"asins": [*ACME, "B0NOSUCH01"], "from": since}
                statuses[client.post("/v1/products/metrics:batch", json=batch).status_code] += 1
                time.sleep(0.01)  # leave the writer a core

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        writer = subprocess.run(
            [sys.executable, "-c", WRITER],
            env=clean_environment(duck_env),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        done.set()
        reader.join()
    assert writer.returncode == 0, writer.stderr[-3000:]
    assert set(statuses) == {200}, statuses
    assert statuses[200] >= 20

    deadline = time.monotonic() + 60
    while (now := httpx.get(f"{duck_api.url}{product}", headers=headers, timeout=30).json())[
        "data"
    ]["price"] != "32.99":
        assert time.monotonic() < deadline, now
        time.sleep(0.05)
    assert now["meta"]["source"]["change_id"] > first["meta"]["source"]["change_id"]
    assert now["meta"]["source"]["run_id"] != first["meta"]["source"]["run_id"]


def test_cached_answers_outlive_a_lost_snapshot(duck_api, duck_env, token) -> None:
    headers = bearer(token("viewer", "acme"))
    product = f"{duck_api.url}/v1/products/{ACME[1]}"
    kept = httpx.get(product, headers=headers, timeout=30)
    assert kept.status_code == 200
    serving = Settings.from_env(duck_env).serving_path
    for path in serving.glob("*.parquet"):
        path.unlink()
    time.sleep(1.2)  # the answer is now older than AMAZON_ASSETS_API_CACHE_TTL=1
    stale = httpx.get(product, headers=headers, timeout=30)
    assert stale.status_code == 200 and stale.headers["x-cache"] == "STALE"
    assert stale.content == kept.content
    # No other test asks for `to`, so this answer was never cached.
    window = f"from={yesterday() - timedelta(days=9)}&to={yesterday() - timedelta(days=2)}"
    uncached = httpx.get(f"{product}/metrics?{window}", headers=headers, timeout=30)
    assert uncached.status_code == 503 and int(uncached.headers["retry-after"]) > 0
    health = httpx.get(f"{duck_api.url}/health", timeout=30)
    assert health.status_code == 503 and not health.json()["mart"]["reachable"]
