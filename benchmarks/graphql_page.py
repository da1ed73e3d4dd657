"""Benchmark: a 50-product page through the persisted GraphQL query against the REST batch.

    python benchmarks/graphql_page.py [--asins 2000 --days 90] [--pages 40] [--range-days 30]
    python benchmarks/graphql_page.py --home PATH     (an existing home, e.g. after `amazon-assets demo`)

Steps: build a synthetic mart (ASINs x days, through the mart IO manager, as benchmarks/api.py
does) in a private AMAZON_ASSETS_HOME, or use the mart of `--home`; start `amazon-assets api`
(one worker, in-process cache) as a user does; then, one request at a time over loopback:

1. uncached: for each of `--pages` pages of 50 distinct ASINs, `POST /v1/products/metrics:batch`
   (the GraphQL series' fields, `--range-days` days) and `POST /graphql` with the persisted
   ProductPage query for the same ASINs and range (each page asked once: every answer computed);
2. cached: the same requests again (every answer a cache hit).

Prints P50 / P95 per kind and the ratio GraphQL / REST of the medians, and the mart queries
GraphQL reports per page (`extensions.mart_queries`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import api as api_benchmark  # noqa: E402  (the synthetic mart, ports, waiting for health)

from amazon_assets.api.auth import mint_token  # noqa: E402
from amazon_assets.api.graphql.schema import SERIES_FIELDS  # noqa: E402
from amazon_assets.settings import Settings  # noqa: E402
from amazon_assets_tests.api.market import plant_mart  # noqa: E402

PAGE_QUERY = ROOT / "amazon_assets" / "api" / "graphql" / "queries" / "product_page.graphql"
PAGE_SIZE = 50


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _summary(name: str, seconds: list[float]) -> float:
    median = statistics.median(seconds) * 1000
    print(f"  {name:<26} P50 {median:7.1f} ms   P95 {_percentile(seconds, 0.95) * 1000:7.1f} ms")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--asins", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--range-days", type=int, default=30)
    parser.add_argument("--port", type=int, default=24300)
    parser.add_argument("--home", type=Path, default=None, help="use the mart of this home")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="amazon-assets-graphql-bench-"))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SP_API_", "ADS_API_", "DATABASE_URL", "REDIS_URL"))
    }
    env |= {
        "AMAZON_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "AMAZON_ASSETS_API_RATE_LIMIT": "1000000/minute",
    }
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env(env)
    if args.home is None:
        tables = api_benchmark.synthetic_tables(args.asins, args.days, seed=7)
        last = api_benchmark._yesterday()
        assert plant_mart(settings, tables, last - timedelta(days=args.days - 1), last).success
    asins = api_benchmark._asins(settings)
    pages = [asins[i : i + PAGE_SIZE] for i in range(0, len(asins), PAGE_SIZE)]
    pages = [page for page in pages if len(page) == PAGE_SIZE][: args.pages]
    print(
        f"graphql benchmark: {len(asins)} ASINs, {len(pages)} pages of {PAGE_SIZE}, "
        f"{args.range_days} days each, DuckDB snapshot, memory cache, 1 worker, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    port = api_benchmark._free_port(args.port)
    url = f"http://127.0.0.1:{port}"
    log = home / "api.log"
    command = [sys.executable, "-m", "amazon_assets.cli", "api", "--port", str(port)]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [*command, "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        api_benchmark._wait(url, server, log)
        token = mint_token(
            settings.jwt_signing_key(), settings.serving.jwt_issuer, "bench", "admin", ["*"], 3600
        )
        query_id = hashlib.sha256(PAGE_QUERY.read_bytes()).hexdigest()
        last = api_benchmark._yesterday()
        first = last - timedelta(days=args.range_days - 1)
        fields = list(SERIES_FIELDS)
        timings: dict[str, list[float]] = {"rest": [], "graphql": []}
        cached: dict[str, list[float]] = {"rest": [], "graphql": []}
        queries: list[int] = []
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as client:
            # Warm the connection and the reader's column cache (not timed).
            client.post("/v1/products/metrics:batch", json={"asins": pages[0][:1]})

            def rest(page: list[str]) -> httpx.Response:
                body = {"asins": page, "from": str(first), "to": str(last), "fields": fields}
                return client.post("/v1/products/metrics:batch", json=body)

            def graphql(page: list[str]) -> httpx.Response:
                body = {
                    "extensions": {"persistedQuery": {"version": 1, "sha256Hash": query_id}},
                    "variables": {"asins": page, "from": str(first), "to": str(last)},
                }
                return client.post("/graphql", json=body)

            for into, expected in ((timings, "MISS"), (cached, "HIT")):
                for page in pages:
                    for kind, send in (("rest", rest), ("graphql", graphql)):
                        started = time.perf_counter()
                        response = send(page)
                        into[kind].append(time.perf_counter() - started)
                        assert response.status_code == 200, response.text[:500]
                        assert response.headers["x-cache"] == expected, (kind, response.headers)
                        if kind == "graphql" and expected == "MISS":
                            body = response.json()
                            assert len(body["data"]["products"]) == PAGE_SIZE, body
                            queries.append(body["extensions"]["mart_queries"])
        print("uncached (every answer computed):")
        rest_cold = _summary("REST metrics:batch", timings["rest"])
        graph_cold = _summary("GraphQL ProductPage", timings["graphql"])
        print(f"  ratio GraphQL / REST (P50)   {graph_cold / rest_cold:.2f}")
        print("cached (every answer a hit):")
        rest_hit = _summary("REST metrics:batch", cached["rest"])
        graph_hit = _summary("GraphQL ProductPage", cached["graphql"])
        print(f"  ratio GraphQL / REST (P50)   {graph_hit / rest_hit:.2f}")
        print(f"mart queries per GraphQL page: {sorted(set(queries))}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
