"""Benchmark: the product API (`amazon-assets api`) driven over loopback by a second process.

    python benchmarks/api.py --mart synthetic [--asins 5000 --days 90] [--workers 1]
    python benchmarks/api.py --mart demo      (runs `amazon-assets demo` first: a few minutes)
        [--database-url postgresql://...]  [--no-redis]  [--port 24100]

Steps: build a mart in a private AMAZON_ASSETS_HOME (the demo's whole graph against the sandbox,
or a synthetic one of ASINs x days written through the mart IO manager), start the API as a user
does, then, from a separate load-generator process (asyncio + httpx, keep-alive connections):

1. cold start, a Zipf mix of ASINs (s=1.1) on GET /v1/products/{asin}: hit ratio;
2. cached GETs of that mix at rising concurrency: throughput and P50/P95/P99 per level, the
   highest sustained rate is the top of the sweep;
3. 304 (If-None-Match with the current ETag) against 200 from the cache;
4. uncached GETs (keys never asked before): P50/P95/P99;
5. POST metrics:batch of 100 ASINs against one GET of one ASIN's series (both uncached, 30 days);
6. invalidation delay: a Dagster run rewrites the mart; from each write's commit (written_at of
   its mart.table_changes row) to the first answer carrying it, polled every 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from amazon_assets.analytics.mart import MART_ASIN_DAILY_SCHEMA  # noqa: E402
from amazon_assets.analytics.score import SCORE_BASELINE_DAILY_SCHEMA  # noqa: E402
from amazon_assets.api.auth import mint_token  # noqa: E402
from amazon_assets.ml.predictions import PREDICTIONS_SCHEMA  # noqa: E402
from amazon_assets.settings import Settings  # noqa: E402
from amazon_assets_tests.api.market import plant_mart  # noqa: E402  (frames -> mart IO manager)

MARKETPLACE = "ATVPDKIKX0DER"
CATEGORIES = 20
ZIPF_S = 1.1


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def synthetic_tables(
    n_asins: int, n_days: int, seed: int, bump: int = 0
) -> dict[str, pl.DataFrame]:
    """mart_asin_daily, score_baseline_daily and predictions_daily for n_asins x n_days."""
    rng = np.random.default_rng(seed)
    last = _yesterday()
    days = pl.date_range(last - timedelta(days=n_days - 1), last, eager=True).alias("report_date")
    asins = pl.DataFrame({"asin": [f"B0{i:08d}" for i in range(n_asins)], "n": range(n_asins)})
    grid = asins.join(days.to_frame(), how="cross")
    rows = grid.height
    price = (rng.uniform(5, 80, n_asins)[grid["n"].to_numpy()] * 100).round() / 100 + bump
    mart = grid.with_columns(
        pl.lit("default").alias("account"),
        pl.lit(MARKETPLACE).alias("marketplace_id"),
        ("Category " + (pl.col("n") % CATEGORIES).cast(pl.String)).alias("category"),
        pl.Series("sessions", rng.integers(0, 500, rows)),
        pl.Series("page_views", rng.integers(0, 800, rows)),
        pl.Series("buy_box_percentage", rng.uniform(50, 100, rows)),
        pl.Series("units_ordered", rng.integers(0, 40, rows)),
        pl.Series("price", price).cast(pl.Decimal(18, 2)),
        pl.Series("bsr", rng.integers(1, 200_000, rows)),
        pl.Series("rating", rng.uniform(3, 5, rows)).round(1),
        pl.Series("review_count", rng.integers(0, 5000, rows)),
        pl.lit(True).alias("in_stock"),
        pl.lit(True).alias("has_buy_box"),
        pl.lit(3).alias("offer_count"),
    )
    mart = mart.with_columns(
        (pl.col("price") * pl.col("units_ordered"))
        .cast(pl.Decimal(18, 2))
        .alias("ordered_product_sales"),
        pl.col("price").alias("buy_box_price"),
    )
    mart = mart.select(
        pl.col(name).cast(dtype) if name in mart.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in MART_ASIN_DAILY_SCHEMA.items()
    )
    scored = mart.select(
        "account", "asin", "report_date", "marketplace_id", "category"
    ).with_columns(pl.Series("explosive_score", rng.normal(0, 1, rows)))
    group = ["report_date", "marketplace_id", "category"]
    rank = pl.col("explosive_score").rank("ordinal", descending=True).over(group).cast(pl.UInt32)
    score = scored.with_columns(rank.alias("category_rank")).select(
        pl.col(n).cast(t) for n, t in SCORE_BASELINE_DAILY_SCHEMA.items()
    )
    predictions = (
        score.rename({"explosive_score": "score"})
        .with_columns(pl.lit("benchmark").alias("model_version"))
        .select(pl.col(n).cast(t) for n, t in PREDICTIONS_SCHEMA.items())
    )
    return {
        "mart.mart_asin_daily": mart,
        "features.score_baseline_daily": score,
        "ml.predictions_daily": predictions,
    }


# ---------------------------------------------------------------------------------------------
# Load generator (its own process)
# ---------------------------------------------------------------------------------------------


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.array(values) * 1000
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(array, 50)), 2),
        "p95_ms": round(float(np.percentile(array, 95)), 2),
        "p99_ms": round(float(np.percentile(array, 99)), 2),
    }


async def _drive(
    client, requests, concurrency: int
) -> tuple[list[float], list[httpx.Response], float]:
    """Send `requests` (method, path, headers, body) with `concurrency` in flight."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    responses: list[httpx.Response] = []

    async def worker() -> None:
        while queue:
            method, path, headers, body = queue.pop()
            started = time.perf_counter()
            try:
                response = await client.request(method, path, headers=headers, json=body)
            except httpx.TransportError:
                # A keep-alive connection the server closed as it was reused: send it again.
                response = await client.request(method, path, headers=headers, json=body)
            latencies.append(time.perf_counter() - started)
            responses.append(response)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, responses, time.perf_counter() - started


def _zipf_asins(asins: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(asins) + 1) ** ZIPF_S
    order = rng.permutation(len(asins))  # popularity is not alphabetical
    picks = rng.choice(len(asins), size=n, p=weights / weights.sum())
    return [asins[order[i]] for i in picks]


async def _load(url: str, token: str, asins: list[str], args: dict, results) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    # Idle connections expire before uvicorn closes them (5 s): no reuse of a closed socket.
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        out: dict = {}

        # 1. Cold start: a Zipf mix from an empty cache.
        mix = _zipf_asins(asins, args["requests"], seed=1)
        requests = [("GET", f"/v1/products/{a}", auth, None) for a in mix]
        latencies, responses, elapsed = await _drive(client, requests, 16)
        caches = [r.headers.get("x-cache") for r in responses]
        out["cold_zipf"] = {
            **_percentiles(latencies),
            "rate_per_s": round(len(requests) / elapsed),
            "hit_ratio": round(sum(c in ("HIT", "STALE") for c in caches) / len(caches), 3),
            "distinct_asins": len(set(mix)),
            "statuses": sorted({r.status_code for r in responses}),
        }

        # 2. Cached GETs of the same mix at rising concurrency.
        sweep = []
        hot = _zipf_asins(asins, args["requests"], seed=2)
        for concurrency in (1, 4, 16, 64):
            requests = [("GET", f"/v1/products/{a}", auth, None) for a in hot]
            latencies, responses, elapsed = await _drive(client, requests, concurrency)
            caches = [r.headers.get("x-cache") for r in responses]
            sweep.append(
                {
                    "concurrency": concurrency,
                    "rate_per_s": round(len(requests) / elapsed),
                    **_percentiles(latencies),
                    "hit_ratio": round(sum(c in ("HIT", "STALE") for c in caches) / len(caches), 3),
                }
            )
        out["cached_sweep"] = sweep

        # 3. 304 against 200, same hot keys, concurrency 4.
        top = list(dict.fromkeys(hot))[:200]
        etags = {}
        for asin in top:
            etags[asin] = (await client.get(f"/v1/products/{asin}", headers=auth)).headers["etag"]
        ok = [("GET", f"/v1/products/{a}", auth, None) for a in top * 5]
        revalidate = [
            ("GET", f"/v1/products/{a}", {**auth, "If-None-Match": etags[a]}, None) for a in top * 5
        ]
        lat_200, res_200, _ = await _drive(client, ok, 4)
        lat_304, res_304, _ = await _drive(client, revalidate, 4)
        out["etag"] = {
            "200_cached": _percentiles(lat_200),
            "304": _percentiles(lat_304),
            "304_share": round(sum(r.status_code == 304 for r in res_304) / len(res_304), 3),
            "bytes_200": len(res_200[0].content),
        }

        # 4. Uncached GETs: keys never asked before (the same answer under ?account=default).
        cold = [a for a in asins if a not in set(mix) | set(hot)][: args["uncached"]]
        if len(cold) < args["uncached"]:
            cold = asins[: args["uncached"]]
        requests = [("GET", f"/v1/products/{a}?account=default", auth, None) for a in cold]
        latencies, responses, elapsed = await _drive(client, requests, 4)
        out["uncached"] = {
            **_percentiles(latencies),
            "rate_per_s": round(len(requests) / elapsed),
            "misses": sum(r.headers.get("x-cache") == "MISS" for r in responses),
        }

        # 5. Batch of 100 against single GETs (uncached, 30 days each).
        last = _yesterday()
        first = last - timedelta(days=29)
        window = f"from={first}&to={last}"
        rng = np.random.default_rng(3)
        batches, singles = [], []
        for i in range(args["batches"]):
            chosen = [asins[j] for j in rng.choice(len(asins), size=100, replace=False)]
            body = {"asins": chosen, "from": str(first - timedelta(days=i)), "to": str(last)}
            started = time.perf_counter()
            response = await client.post("/v1/products/metrics:batch", headers=auth, json=body)
            batches.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
        for i in range(args["batches"] * 10):
            asin = asins[int(rng.integers(len(asins)))]
            path = f"/v1/products/{asin}/metrics?{window}&fields=units_ordered,price,bsr,sessions"
            started = time.perf_counter()
            await client.get(f"{path}&account=default" if i % 2 else path, headers=auth)
            singles.append(time.perf_counter() - started)
        out["batch"] = {
            "batch_of_100": _percentiles(batches),
            "single_series": _percentiles(singles),
            "batch_p50_per_asin_ms": round(float(np.percentile(batches, 50)) * 1000 / 100, 3),
        }
        results.put(out)


def load_generator(url: str, token: str, asins: list[str], args: dict, results) -> None:
    asyncio.run(_load(url, token, asins, args, results))


def watch_changes(url: str, token: str, asin: str, stop, seen) -> None:
    """Poll one product every 10 ms; report (change_id, first time seen)."""
    known: set[int] = set()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop.is_set():
            source = client.get(f"/v1/products/{asin}").json()["meta"]["source"]
            if source["change_id"] not in known:
                known.add(source["change_id"])
                seen.put((source["change_id"], time.time()))
            time.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------------


def _free_port(low: int) -> int:
    for port in range(low, low + 500):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


def _wait(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not become healthy")


def _asins(settings: Settings) -> list[str]:
    import duckdb

    if settings.database_url:
        import psycopg

        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute("SELECT DISTINCT asin FROM mart.mart_asin_daily").fetchall()
    else:
        manifest = json.loads((settings.serving_path / "manifest.json").read_text())
        path = settings.serving_path / manifest["tables"]["mart.mart_asin_daily"]
        rows = duckdb.sql(f"SELECT DISTINCT asin FROM read_parquet('{path}')").fetchall()
    return sorted(row[0] for row in rows)


def _changes_after(settings: Settings, change_id: int) -> list[tuple[int, str, float]]:
    import duckdb

    sql = (
        "SELECT change_id, table_name, written_at FROM mart.table_changes "
        f"WHERE change_id > {change_id} ORDER BY change_id"
    )
    if settings.database_url:
        import psycopg

        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute(sql).fetchall()
    else:
        manifest = json.loads((settings.serving_path / "manifest.json").read_text())
        path = settings.serving_path / manifest["tables"]["mart.table_changes"]
        rows = duckdb.sql(sql.replace("mart.table_changes", f"read_parquet('{path}')")).fetchall()
    return [(cid, table, written.timestamp()) for cid, table, written in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mart", choices=["synthetic", "demo"], default="synthetic")
    parser.add_argument("--asins", type=int, default=5000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--demo-days", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=24100)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--uncached", type=int, default=500)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rewrites", type=int, default=3)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="amazon-assets-api-bench-"))
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SP_API_", "ADS_API_", "DATABASE_URL", "REDIS_URL"))
    }
    env |= {
        "AMAZON_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "AMAZON_ASSETS_SANDBOX_PORT": str(_free_port(args.port + 100)),
        "AMAZON_ASSETS_REDIS_PREFIX": prefix,
        "AMAZON_ASSETS_API_RATE_LIMIT": "1000000/minute",
    }
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if not args.no_redis:
        env["REDIS_URL"] = args.redis_url
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    settings = Settings.from_env(env)
    print(
        f"api benchmark: mart {args.mart}, store {'postgres' if args.database_url else 'duckdb'}, "
        f"cache {'memory' if args.no_redis else 'redis'}, {args.workers} worker(s), "
        f"load average {os.getloadavg()[0]:.1f}, home {home}",
        flush=True,
    )

    started = time.monotonic()
    if args.mart == "demo":
        cli = [sys.executable, "-m", "amazon_assets.cli"]
        subprocess.run(
            [*cli, "demo", "--days", str(args.demo_days)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    else:
        tables = synthetic_tables(args.asins, args.days, seed=7)
        last = _yesterday()
        assert plant_mart(settings, tables, last - timedelta(days=args.days - 1), last).success
    asins = _asins(settings)
    print(f"mart ready in {time.monotonic() - started:.1f}s: {len(asins)} ASINs", flush=True)

    port = _free_port(args.port)
    url = f"http://127.0.0.1:{port}"
    log = home / "api.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "amazon_assets.cli",
                "api",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(url, server, log)
        token = mint_token(
            settings.jwt_signing_key(),
            settings.serving.jwt_issuer,
            "bench",
            "analyst",
            ["default"],
            86400,
        )
        results = multiprocessing.Queue()
        options = {"requests": args.requests, "uncached": args.uncached, "batches": args.batches}
        generator = multiprocessing.Process(
            target=load_generator, args=(url, token, asins, options, results)
        )
        generator.start()
        while True:
            try:
                figures = results.get(timeout=5)
                break
            except queue.Empty:
                if not generator.is_alive():
                    raise RuntimeError("the load generator failed (see above)") from None
        generator.join()

        # 6. Invalidation delay: rewrite the mart while a second process polls one product.
        stop, seen = multiprocessing.Event(), multiprocessing.Queue()
        watched = asins[0]
        watcher = multiprocessing.Process(
            target=watch_changes, args=(url, token, watched, stop, seen)
        )
        watcher.start()
        time.sleep(1.0)
        newest = max(cid for cid, _, _ in _changes_after(settings, 0))
        delays = []
        for i in range(args.rewrites):
            if args.mart == "demo":
                cli = [sys.executable, "-m", "amazon_assets.cli", "ingest", "mart", "--days", "1"]
                subprocess.run(cli, env=env, check=True, stdout=subprocess.DEVNULL)
            else:
                last = _yesterday()
                tables = synthetic_tables(args.asins, args.days, seed=7, bump=i + 1)
                mart = {"mart.mart_asin_daily": tables["mart.mart_asin_daily"]}
                assert plant_mart(settings, mart, last, last).success
            changes = [
                c for c in _changes_after(settings, newest) if c[1] == "mart.mart_asin_daily"
            ]
            target_id, _, written = changes[-1]
            newest = max(cid for cid, _, _ in _changes_after(settings, newest))
            deadline = time.time() + 60
            while time.time() < deadline:
                change_id, when = seen.get(timeout=60)
                if change_id >= target_id:
                    delays.append(when - written)
                    break
        stop.set()
        watcher.join()
        figures["invalidation_delay_s"] = [round(d, 3) for d in delays]
        figures["load_average_end"] = round(os.getloadavg()[0], 1)
        print(json.dumps(figures, indent=2))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        if not args.no_redis:
            import redis

            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)


if __name__ == "__main__":
    main()
