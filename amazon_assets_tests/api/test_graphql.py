"""POST /graphql over real HTTP: persisted queries only, batched loading, cached like REST.

A catalogue of 60 ASINs (10 days each) is planted in a DuckDB mart of its own, so a page of 50
products is a real page of 50.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import polars as pl
import pytest
from graphql import parse, validate

from amazon_assets.analytics.mart import MART_ASIN_DAILY_SCHEMA
from amazon_assets.api.graphql.persisted import safelist
from amazon_assets.api.graphql.schema import schema
from amazon_assets.defs.mart.tracked import MART_TRACKED_SCHEMA
from amazon_assets.settings import Settings
from amazon_assets_tests.api.conftest import ISSUER, SECRET, bearer
from amazon_assets_tests.api.market import FIRST_DAY, plant_mart, yesterday
from amazon_assets_tests.api.server import ApiServer

QUERIES = Path(__file__).parents[2] / "amazon_assets" / "api" / "graphql" / "queries"
CATALOGUE = [f"B0PAGE{i:04d}" for i in range(60)]
DAYS = 10


def query_id(name: str) -> str:
    return hashlib.sha256((QUERIES / name).read_bytes()).hexdigest()


PAGE = query_id("product_page.graphql")


def catalogue_tables() -> dict[str, pl.DataFrame]:
    days = [yesterday() - timedelta(days=i) for i in range(DAYS)]
    rows = [
        {
            "account": "acme",
            "asin": asin,
            "report_date": day,
            "marketplace_id": "ATVPDKIKX0DER",
            "currency_code": "USD",
            "category": "Kitchen",
            "sessions": 100 + number,
            "units_ordered": number + day.day,
            "ordered_product_sales": Decimal("10.00") * (number + day.day),
            "price": Decimal("10.00") + number,
            "bsr": 1000 + number * 10 + day.day,
            "in_stock": True,
        }
        for number, asin in enumerate(CATALOGUE)
        for day in days
    ]
    mart = pl.DataFrame(rows, schema=MART_ASIN_DAILY_SCHEMA, orient="row", infer_schema_length=None)
    tracked = pl.DataFrame(
        [
            {"account": "acme", "asin": asin, "role": "own", "competitor_of": None}
            for asin in CATALOGUE
        ]
        + [
            {"account": "acme", "asin": rival, "role": "competitor", "competitor_of": CATALOGUE[0]}
            for rival in CATALOGUE[50:53]
        ],
        schema=MART_TRACKED_SCHEMA,
    )
    return {"mart.mart_asin_daily": mart, "mart.tracked_asins": tracked}


@pytest.fixture(scope="module")
def catalogue_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    home = tmp_path_factory.mktemp("graphql-home")
    env = {
        "AMAZON_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "AMAZON_ASSETS_JWT_SECRET": SECRET,
        "AMAZON_ASSETS_JWT_ISSUER": ISSUER,
        "AMAZON_ASSETS_API_RATE_LIMIT": "100000/minute",
    }
    assert plant_mart(Settings.from_env(env), catalogue_tables(), FIRST_DAY, yesterday()).success
    with ApiServer(env, home / "api.log") as server:
        yield server


def ask(server: ApiServer, token: str, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/graphql", json=body, headers=bearer(token), timeout=60)


def page(asins: list[str]) -> dict:
    first = (yesterday() - timedelta(days=DAYS - 1)).isoformat()
    return {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": PAGE}},
        "variables": {"asins": asins, "from": first, "to": yesterday().isoformat()},
    }


def test_every_safelisted_query_is_valid_against_the_schema() -> None:
    files = sorted(QUERIES.glob("*.graphql"))
    assert len(safelist()) == len(files) >= 4
    for path in files:
        text = path.read_text()
        assert safelist()[hashlib.sha256(path.read_bytes()).hexdigest()] == text
        assert validate(schema._schema, parse(text)) == [], path.name


def test_a_page_of_50_products_costs_the_queries_of_a_page_of_5(catalogue_api, token) -> None:
    analyst = token("analyst", "acme")
    small = ask(catalogue_api, analyst, page(CATALOGUE[:5]))
    large = ask(catalogue_api, analyst, page(CATALOGUE[:50]))
    assert small.status_code == large.status_code == 200, large.text
    products = large.json()["data"]["products"]
    assert [p["asin"] for p in products] == CATALOGUE[:50]
    assert all(len(p["series"]["reportDate"]) == DAYS for p in products)
    assert products[0]["competitors"] == CATALOGUE[50:53]
    # Batched: the count does not grow with the page (one query per product would be 50+).
    queries = large.json()["extensions"]["mart_queries"]
    assert queries == small.json()["extensions"]["mart_queries"] <= 5

    # The numbers are the REST batch's.
    rest = httpx.post(
        f"{catalogue_api.url}/v1/products/metrics:batch",
        json={
            "asins": CATALOGUE[:50],
            "from": page([])["variables"]["from"],
            "to": yesterday().isoformat(),
            "fields": ["price", "units_ordered", "bsr"],
        },
        headers=bearer(analyst),
        timeout=60,
    ).json()
    for graph, entry in zip(products, rest["data"], strict=True):
        assert graph["asin"] == entry["asin"]
        assert graph["series"]["price"] == [row["price"] for row in entry["series"]]
        assert graph["series"]["unitsOrdered"] == [row["units_ordered"] for row in entry["series"]]

    again = ask(catalogue_api, analyst, page(CATALOGUE[:50]))
    assert again.headers["x-cache"] == "HIT" and again.content == large.content


def test_only_persisted_queries_are_answered(catalogue_api, token) -> None:
    viewer = token("viewer", "acme")
    text = (QUERIES / "me.graphql").read_text()
    arbitrary = ask(catalogue_api, viewer, {"query": text})
    assert arbitrary.status_code == 400
    assert arbitrary.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    unknown = ask(catalogue_api, viewer, {"id": hashlib.sha256(b"{ me { role } }").hexdigest()})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    me = ask(catalogue_api, viewer, {"id": query_id("me.graphql")})
    assert me.json()["data"]["me"] == {"subject": "tester", "role": "viewer", "accounts": ["acme"]}
    anonymous = httpx.post(f"{catalogue_api.url}/graphql", json={"id": PAGE}, timeout=30)
    assert anonymous.status_code == 401


def test_another_accounts_products_are_not_there(catalogue_api, token) -> None:
    stranger = ask(catalogue_api, token("viewer", "globex"), page(CATALOGUE[:3]))
    assert stranger.status_code == 200 and stranger.json()["data"]["products"] == []
    state = ask(
        catalogue_api,
        token("viewer", "globex"),
        {"id": query_id("product.graphql"), "variables": {"asin": CATALOGUE[0]}},
    ).json()
    assert state["data"] is None and "not in your accounts" in state["errors"][0]["message"]
