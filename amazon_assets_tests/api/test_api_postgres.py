"""The product API over real HTTP: `amazon-assets api` (two workers) on a PostgreSQL mart written
by the mart IO manager, with the real Redis as cache, rate limiter and change channel."""

import concurrent.futures
import json
import re
import time
from datetime import date, timedelta

import httpx
import pytest

from amazon_assets.settings import Settings
from amazon_assets_tests.api.conftest import RATE_LIMIT_PER_MINUTE, SECRET, bearer
from amazon_assets_tests.api.market import (
    ACME,
    CHANGING,
    GLOBEX,
    RIVALS,
    SHARED,
    bsr,
    market_tables,
    plant_mart,
    rated_day,
    units,
    yesterday,
)

INVALIDATION_DEADLINE_SECONDS = 60.0


def get(server, path: str, token: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", headers={**bearer(token), **headers}, timeout=30)


def metric(server, name: str, **labels: str) -> float:
    """Sum of a Prometheus sample over every worker (0 when absent)."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_product_state_is_the_marts_newest_values(pg_api, token) -> None:
    response = get(pg_api, "/v1/products/b0acme0002", token("viewer", "acme"))
    assert response.status_code == 200, response.text
    body = response.json()
    data, meta = body["data"], body["meta"]
    assert (data["account"], data["asin"]) == ("acme", ACME[1])
    assert data["price"] == "20.99"  # money stays an exact decimal string
    assert data["bsr"] == bsr(1, yesterday())
    assert data["units_ordered"] == units(1, yesterday())
    # Rated once, ten days ago: the current state carries it, with the day it was seen.
    assert data["rating"] == 4.5 and data["observed_on"]["rating"] == rated_day().isoformat()
    # Ranked among acme's 9 ASINs (scores 0..8), not among globex's higher ones too (rank 11).
    assert data["explosive_score"] == {
        "report_date": yesterday().isoformat(),
        "score": 1.0,
        "category_rank": 8,
    }
    assert data["prediction"]["model_version"] == "test-model"
    assert data["prediction"]["category_rank"] == 8
    assert meta["as_of"] == yesterday().isoformat()
    assert meta["settled_through"] == yesterday().isoformat()  # AMAZON_ASSETS_SETTLE_DAYS=0
    source = meta["source"]
    assert source["store"] == "postgres" and source["table"] == "mart.mart_asin_daily"
    assert source["change_id"] > 0 and source["run_id"]
    assert response.headers["etag"] and response.headers["x-request-id"]


def test_another_accounts_asin_answers_404_like_an_unknown_one(pg_api, token) -> None:
    acme = token("viewer", "acme")
    theirs = get(pg_api, f"/v1/products/{GLOBEX[0]}", acme)
    unknown = get(pg_api, "/v1/products/B0NOSUCH01", acme)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"].replace(GLOBEX[0], "X") == unknown.json()["detail"].replace(
        "B0NOSUCH01", "X"
    )
    assert get(pg_api, f"/v1/products/{GLOBEX[0]}?account=globex", acme).status_code == 404
    for path in ("metrics", "yoy", "competitors"):
        assert get(pg_api, f"/v1/products/{GLOBEX[0]}/{path}", acme).status_code == 404
    assert get(pg_api, f"/v1/competitions/{GLOBEX[0]}", acme).status_code == 404
    # The ASIN both track: each account sees its own numbers.
    assert get(pg_api, f"/v1/products/{SHARED}", acme).json()["data"]["price"] == "26.99"
    globex = token("viewer", "globex")
    assert get(pg_api, f"/v1/products/{SHARED}", globex).json()["data"]["price"] == "41.99"
    admin = token("admin", "*")
    ambiguous = get(pg_api, f"/v1/products/{SHARED}", admin)
    assert ambiguous.status_code == 409 and ambiguous.json()["accounts"] == ["acme", "globex"]
    chosen = get(pg_api, f"/v1/products/{SHARED}?account=globex", admin)
    assert chosen.json()["data"]["price"] == "41.99"


def test_cache_hit_etag_and_304(pg_api, token) -> None:
    viewer = token("viewer", "acme")
    path = f"/v1/products/{ACME[2]}/metrics?from=2026-11-01&to=2026-11-30&fields=units_ordered"
    first = get(pg_api, path, viewer)
    second = get(pg_api, path, viewer)
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert first.content == second.content
    assert [row["units_ordered"] for row in first.json()["data"]["series"]] == [
        units(2, date(2026, 11, 1) + timedelta(days=i)) for i in range(30)
    ]
    etag = first.headers["etag"]
    assert second.headers["etag"] == etag
    assert first.headers["cache-control"] == "private, no-cache"
    not_modified = get(pg_api, path, viewer, **{"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    # Another token of the same accounts shares the answer; other accounts never do.
    assert get(pg_api, path, token("viewer", "acme", subject="other")).headers["x-cache"] == "HIT"
    assert metric(pg_api, "amazon_assets_api_not_modified_total", resource="metrics") >= 1


def test_stale_is_served_while_one_worker_revalidates(pg_api, token) -> None:
    viewer = token("viewer", "acme")
    path = f"/v1/products/{ACME[3]}/metrics?from=2026-11-02&to=2026-11-03"
    first = get(pg_api, path, viewer)
    assert first.headers["x-cache"] == "MISS"
    time.sleep(2.5)  # past AMAZON_ASSETS_API_CACHE_TTL=2
    stale = get(pg_api, path, viewer)
    assert stale.headers["x-cache"] == "STALE" and stale.content == first.content
    deadline = time.monotonic() + 30
    while (again := get(pg_api, path, viewer)).headers["x-cache"] != "HIT":
        assert time.monotonic() < deadline, again.headers["x-cache"]
        time.sleep(0.05)
    assert again.content == first.content


def test_a_stampede_computes_once_across_workers(pg_api, token) -> None:
    viewer = token("viewer", "acme")
    path = f"/v1/products/{ACME[0]}/metrics?from=2026-11-05&to=2026-11-20&fields=price,bsr"
    before = metric(pg_api, "amazon_assets_api_mart_query_seconds_count", resource="metrics")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: get(pg_api, path, viewer), range(32)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
    assert [answer.headers["x-cache"] for answer in answers].count("MISS") == 1
    after = metric(pg_api, "amazon_assets_api_mart_query_seconds_count", resource="metrics")
    # One computation answered the stampede; at most a background revalidation or two more
    # if the machine is so slow that the answer aged past the 2 s TTL meanwhile.
    assert 1 <= after - before <= 3


def test_batch_lists_the_asins_not_found(pg_api, token) -> None:
    body = {
        "asins": [ACME[0], ACME[1].lower(), "B0NOSUCH01", GLOBEX[0]],
        "from": "2026-11-25",
        "to": "2026-11-26",
        "fields": ["units_ordered"],
    }
    url = f"{pg_api.url}/v1/products/metrics:batch"
    response = httpx.post(url, json=body, headers=bearer(token("analyst", "acme")), timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [entry["asin"] for entry in answer["data"]] == [ACME[0], ACME[1]]
    assert answer["data"][1]["series"] == [
        {"report_date": "2026-11-25", "units_ordered": units(1, date(2026, 11, 25))},
        {"report_date": "2026-11-26", "units_ordered": units(1, date(2026, 11, 26))},
    ]
    assert answer["not_found"] == ["B0NOSUCH01", GLOBEX[0]]
    viewer = httpx.post(url, json=body, headers=bearer(token("viewer", "acme")), timeout=30)
    assert viewer.status_code == 403
    too_many = {"asins": [f"B0{i:08d}" for i in range(101)]}
    refused = httpx.post(url, json=too_many, headers=bearer(token("analyst", "acme")), timeout=30)
    assert (
        refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    )


@pytest.mark.parametrize(
    ("align", "year_ago"), [("weekday", date(2025, 11, 27)), ("date", date(2025, 11, 26))]
)
def test_year_over_year_on_known_dates(pg_api, token, align: str, year_ago: date) -> None:
    path = f"/v1/products/{ACME[0]}/yoy?from=2026-11-26&to=2026-11-26&align={align}"
    response = get(pg_api, path + "&fields=units_ordered", token("viewer", "acme"))
    assert response.status_code == 200, response.text
    [day] = response.json()["data"]["series"]
    assert day["report_date"] == "2026-11-26" and day["year_ago_date"] == year_ago.isoformat()
    now, then = units(0, date(2026, 11, 26)), units(0, year_ago)
    assert day["units_ordered"] == {"value": now, "year_ago": then, "change": now / then - 1}


def test_year_over_year_leaves_out_provisional_days(pg_api, token) -> None:
    today = yesterday() + timedelta(days=1)
    path = f"/v1/products/{ACME[0]}/yoy?from={yesterday()}&to={today}"
    answer = get(pg_api, path, token("viewer", "acme")).json()
    assert [row["report_date"] for row in answer["data"]["series"]] == [yesterday().isoformat()]
    assert answer["meta"]["provisional_days_left_out"] == 1


def test_competitors_and_daily_gaps(pg_api, token) -> None:
    viewer = token("viewer", "acme")
    answer = get(pg_api, f"/v1/products/{ACME[0]}/competitors", viewer).json()["data"]
    assert [rival["asin"] for rival in answer["competitors"]] == RIVALS
    assert [rival["price"] for rival in answer["competitors"]] == ["23.99", "24.99", "25.99"]
    assert answer["own"]["price"] == "19.99"
    assert answer["latest_gaps"]["report_date"] == yesterday().isoformat()
    gaps = get(pg_api, f"/v1/competitions/{ACME[0]}?from=2026-11-28&to=2026-11-30", viewer).json()
    assert gaps["data"]["competitors"] == RIVALS
    assert [row["report_date"] for row in gaps["data"]["series"]] == [
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
    ]
    assert gaps["data"]["series"][0]["estimated_sales_share"] == 0.4


def test_alerts_are_the_callers_own(pg_api, token) -> None:
    acme = token("viewer", "acme")
    recent = get(pg_api, "/v1/alerts", acme).json()
    assert [alert["alert_id"] for alert in recent["data"]] == ["a1", "a2"]
    since = (yesterday() - timedelta(days=20)).isoformat()
    older = get(pg_api, f"/v1/alerts?since={since}&kind=stock_out,bsr_change", acme).json()
    assert [alert["alert_id"] for alert in older["data"]] == ["a2", "a3"]
    globex = get(pg_api, "/v1/alerts", token("viewer", "globex")).json()
    assert [alert["alert_id"] for alert in globex["data"]] == ["g1"]
    limited = get(pg_api, f"/v1/alerts?since={since}&limit=1", acme).json()
    assert limited["truncated"] and len(limited["data"]) == 1


def test_top_predictions_rank_within_the_callers_accounts(pg_api, token) -> None:
    response = get(pg_api, "/v1/predictions/top?k=2", token("analyst", "acme"))
    assert response.status_code == 200, response.text
    top = response.json()
    assert [(row["asin"], row["category_rank"]) for row in top["data"]] == [
        (CHANGING, 1),
        (SHARED, 2),
    ]
    assert top["meta"]["date"] == yesterday().isoformat()
    assert get(pg_api, "/v1/predictions/top", token("viewer", "acme")).status_code == 403
    # PostgreSQL refuses NUL in a parameter: such a category is invalid input, not a 500.
    nul = get(pg_api, "/v1/predictions/top?category=a%00b", token("analyst", "acme"))
    assert nul.status_code == 422, nul.text


def test_rate_limit_answers_429_with_retry_after(pg_api, token) -> None:
    busy, calm = token("viewer", "acme"), token("viewer", "acme")
    with httpx.Client(base_url=pg_api.url, headers=bearer(busy), timeout=30) as client:
        statuses = [client.get("/v1/me") for _ in range(RATE_LIMIT_PER_MINUTE + 20)]
    refused = [response for response in statuses if response.status_code == 429]
    assert refused, "no request was refused"
    assert int(refused[0].headers["retry-after"]) >= 1
    assert "rate limit" in refused[0].json()["detail"]
    assert get(pg_api, "/v1/me", calm).status_code == 200
    assert metric(pg_api, "amazon_assets_api_rate_limited_total") >= 1


def test_wrong_or_missing_tokens(pg_api, token) -> None:
    assert httpx.get(f"{pg_api.url}/v1/products/{ACME[0]}").status_code == 401
    forged = token("viewer", "acme")[:-4] + "AAAA"
    refused = get(pg_api, f"/v1/products/{ACME[0]}", forged)
    assert refused.status_code == 401 and "invalid_token" in refused.headers["www-authenticate"]
    assert forged not in refused.text


def test_a_mart_rewrite_invalidates_within_seconds(pg_api, pg_env, token) -> None:
    viewer = token("viewer", "acme")
    product = f"/v1/products/{CHANGING}"
    last_year = f"/v1/products/{CHANGING}/metrics?from=2025-11-01&to=2025-11-30"
    before = get(pg_api, product, viewer)
    assert before.json()["data"]["price"] == "27.99"
    get(pg_api, last_year, viewer)
    # From the cache: fresh, or past its 2-second TTL on a slow machine (then served stale).
    assert get(pg_api, last_year, viewer).headers["x-cache"] in ("HIT", "STALE")

    # A run rewrites this month's mart partition (the price of CHANGING moved).
    changed = {"mart.mart_asin_daily": market_tables(changed=True)["mart.mart_asin_daily"]}
    assert plant_mart(Settings.from_env(pg_env), changed, yesterday(), yesterday()).success
    written = time.monotonic()
    deadline = written + INVALIDATION_DEADLINE_SECONDS
    while (after := get(pg_api, product, viewer)).json()["data"]["price"] != "32.99":
        assert time.monotonic() < deadline, "the rewrite never reached the API"
        time.sleep(0.02)
    print(f"invalidation delay: {time.monotonic() - written:.3f}s")
    assert after.headers["etag"] != before.headers["etag"]
    assert (
        after.json()["meta"]["source"]["change_id"] > before.json()["meta"]["source"]["change_id"]
    )
    stale_tag = get(pg_api, product, viewer, **{"If-None-Match": before.headers["etag"]})
    assert stale_tag.status_code == 200
    # Last year's days were not rewritten: that answer is still served from the cache.
    assert get(pg_api, last_year, viewer).headers["x-cache"] in ("HIT", "STALE")


def test_metrics_health_and_openapi(pg_api) -> None:
    health = httpx.get(f"{pg_api.url}/health", timeout=30).json()
    assert health["status"] == "ok" and health["mart"]["reachable"]
    assert health["cache"] == {"backend": "redis", "reachable": True}
    text = httpx.get(f"{pg_api.url}/metrics", timeout=30).text
    assert 'http_requests_total{handler="/v1/products/{asin}"' in text
    assert "http_request_duration_seconds_bucket{" in text
    assert 'amazon_assets_api_cache_results_total{resource="product",result="HIT"}' in text
    assert 'amazon_assets_api_mart_query_seconds_bucket{le="0.01",resource="product"}' in text
    spec = httpx.get(f"{pg_api.url}/openapi.json", timeout=30).json()
    assert "/v1/products/metrics:batch" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_logs_are_json_lines_without_tokens_or_secrets(pg_api, token, pg_env) -> None:
    used = token("viewer", "acme")
    get(pg_api, f"/v1/products/{ACME[0]}?access_token={used}", used, **{"X-Request-ID": "trace-42"})
    get(pg_api, "/v1/products/B0NOSUCH01", used + "x")
    time.sleep(0.5)  # the access record is written as the response completes
    log = pg_api.log()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert records and len(records) == len([line for line in log.splitlines() if line.strip()])
    traced = [r for r in records if r.get("request_id") == "trace-42"]
    assert (
        traced
        and traced[-1]["route"] == "/v1/products/{asin}"
        and traced[-1]["subject"] == "tester"
    )
    for secret in (used, used.split(".")[2], SECRET, pg_env["DATABASE_URL"]):
        assert secret not in log
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", log)
