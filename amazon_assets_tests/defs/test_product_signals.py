"""Product signals end to end: real python-amazon-sp-api and httpx over HTTP to the sandbox."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.definitions import build_definitions
from amazon_assets.defs.product_signals.commands import demo_tracking
from amazon_assets.defs.product_signals.definitions import (
    PRODUCT_SIGNALS_JOB,
)
from amazon_assets.defs.product_signals.spec import PRODUCT_SIGNALS
from amazon_assets.parsers.product_signals import parse_product_signals
from amazon_assets.partitions import partition_key, register_account
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.sandbox.catalog import competitors
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings
from amazon_assets.sources.reviews import ApifyDatasetReviews, ReviewsError
from amazon_assets.sources.state import open_state_store
from amazon_assets.tracking import (
    TrackingError,
    add_tracked,
    list_tracked,
    remove_tracked,
    track,
)

YESTERDAY = date.today() - timedelta(days=1)
DAYS = [YESTERDAY - timedelta(days=2), YESTERDAY - timedelta(days=1)]


@pytest.fixture
def settings(amazon_home: Path, sandbox, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointed at the test's sandbox (no credentials: sandbox mode)."""
    monkeypatch.setenv("SP_API_ENDPOINT", sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_PORT", str(sandbox.port))
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(sandbox.config.speed))
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", (YESTERDAY - timedelta(days=20)).isoformat())
    return Settings.from_env()


@pytest.fixture
def sp_api(settings: Settings) -> SpApiResource:
    return SpApiResource.from_settings(settings)


def own_asins(sandbox) -> list[str]:
    return sandbox.marketplace.products("default")["asin"].unique(maintain_order=True).to_list()


def test_catalog_search_pages_20_asins_per_call_and_agrees_with_the_business_report(
    sandbox, sp_api: SpApiResource
) -> None:
    asins = own_asins(sandbox)
    assert len(asins) > 20
    day = DAYS[0]
    result = sp_api.search_catalog_items([*asins, "B0UNKNOWN1"], as_of=day)
    assert sandbox.calls("searchCatalogItems") == -(-(len(asins) + 1) // 20)
    items = {item["asin"]: item for page in result.pages for item in page["items"]}
    daily = sandbox.marketplace.sales_and_traffic("default", day)
    ranks = dict(daily.group_by("asin").agg(pl.col("sales_rank").min()).rows())
    assert set(items) == set(ranks)  # listed ASINs only; an unknown ASIN is simply absent
    for asin, item in items.items():
        [display] = item["salesRanks"][0]["displayGroupRanks"]
        assert display["rank"] == ranks[asin]
        assert item["summaries"][0]["brand"]
        assert item["attributes"]["bullet_point"]


def test_item_offers_batch_prices_own_and_competitor_asins(sandbox, sp_api: SpApiResource) -> None:
    day = DAYS[0]
    rivals = competitors(sandbox.marketplace, "default")["asin"].to_list()[:10]
    asins = own_asins(sandbox)[:15] + rivals
    result = sp_api.get_item_offers_batch(asins, as_of=day)
    assert sandbox.calls("getItemOffersBatch") == 2  # 25 ASINs, 20 per call
    assert sandbox.throttled("getItemOffersBatch") == 0  # paced to 0.1/s, burst 1
    answers = [answer for page in result.pages for answer in page["responses"]]
    assert sorted(a["request"]["Asin"] for a in answers) == sorted(asins)
    prices = dict(
        sandbox.marketplace.sales_and_traffic("default", day)
        .group_by("asin")
        .agg(pl.col("price").min())
        .rows()
    )
    for answer in answers:
        payload = answer["body"]["payload"]
        mine = [offer for offer in payload["Offers"] if offer["MyOffer"]]
        if answer["request"]["Asin"] in rivals:
            assert not mine
        elif mine:  # the seller's own offer is the price the business report shows
            amount = Decimal(str(mine[0]["ListingPrice"]["Amount"])).quantize(Decimal("0.01"))
            assert amount == prices[payload["ASIN"]]


def test_review_provider_reads_the_dataset_over_http(settings: Settings, sandbox) -> None:
    reviews = ApifyDatasetReviews.from_settings(settings).model_copy(update={"page_size": 50})
    asins = (
        own_asins(sandbox)[:5] + competitors(sandbox.marketplace, "default")["asin"][:3].to_list()
    )
    items = reviews.fetch_reviews(asins, as_of=DAYS[0])
    assert sorted(item["asin"] for item in items) == sorted(asins)
    assert all(1 <= item["stars"] <= 5 and item["reviewsCount"] >= 0 for item in items)
    assert sandbox.calls("reviewDatasetItems") > 1  # paged by 50
    wrong = reviews.model_copy(update={"token": "not-the-token", "max_attempts": 1})
    with pytest.raises(ReviewsError, match="401"):
        wrong.fetch_reviews(asins)


def test_the_review_providers_daily_budget_stops_reading(
    settings: Settings, sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REVIEWS_DAILY_BUDGET", "0.01")
    monkeypatch.setenv("REVIEWS_COST_PER_1000_ITEMS", "0.5")  # 20 items cost the budget
    reviews = ApifyDatasetReviews.from_settings(Settings.from_env())
    asins = own_asins(sandbox)[:3]
    assert len(reviews.fetch_reviews(asins, as_of=DAYS[0])) == 3
    store = open_state_store(settings.state_location)
    today = datetime.now(UTC).date().isoformat()
    spent = store.spent(reviews.provider, today)
    assert spent >= 0.01  # the dataset holds more than 20 items: the first read spends it
    calls = sandbox.calls("reviewDatasetItems")
    with caplog.at_level(logging.WARNING, logger="amazon_assets.sources.reviews"):
        assert reviews.fetch_reviews(asins, as_of=DAYS[0]) == []
    assert sandbox.calls("reviewDatasetItems") == calls  # no request, no spending
    assert store.spent(reviews.provider, today) == spent
    assert "daily budget of 0.01 (REVIEWS_DAILY_BUDGET) is spent" in caplog.text


def test_tracking_add_remove_list(tmp_path: Path) -> None:
    warehouse = WarehouseResource(kind="duckdb", database=str(tmp_path / "w.duckdb"))
    assert add_tracked(warehouse, "amazon_econ", "default", "b0aaaaaaaa") == 1
    assert add_tracked(warehouse, "amazon_econ", "default", "B0CCCCCCCC", "B0BBBBBBBB") == 2
    assert add_tracked(warehouse, "amazon_econ", "default", "B0CCCCCCCC", "B0BBBBBBBB") == 0
    assert add_tracked(warehouse, "amazon_econ", "other", "B0AAAAAAAA") == 1
    tracked = list_tracked(warehouse, "amazon_econ", "default")
    assert tracked.select("asin", "role", "competitor_of").rows() == [
        ("B0AAAAAAAA", "own", None),
        ("B0BBBBBBBB", "own", None),
        ("B0CCCCCCCC", "competitor", "B0BBBBBBBB"),
    ]
    assert remove_tracked(warehouse, "amazon_econ", "default", "B0BBBBBBBB") == 2
    assert list_tracked(warehouse, "amazon_econ")["asin"].to_list() == ["B0AAAAAAAA"] * 2
    with pytest.raises(TrackingError, match="not an ASIN"):
        add_tracked(warehouse, "amazon_econ", "default", "B0'; drop")


def run_days(
    defs: dg.Definitions, first: date, last: date, account: str = DEFAULT_ACCOUNT
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(PRODUCT_SIGNALS_JOB)
    with dg.DagsterInstance.get() as instance:
        register_account(instance, account)
        return job.execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: partition_key(account, first),
                ASSET_PARTITION_RANGE_END_TAG: partition_key(account, last),
            },
        )


def test_two_days_of_own_and_competitor_snapshots_load_once_then_reload_without_duplicates(
    settings: Settings, sandbox
) -> None:
    defs = build_definitions(settings)
    warehouse = WarehouseResource(kind="duckdb", database=str(settings.warehouse_path))
    entries = demo_tracking(settings, sandbox.config.skus_per_account)
    track(warehouse, settings.bigquery_dataset, "default", entries)
    tracked = list_tracked(warehouse, settings.bigquery_dataset)
    n_asins = tracked["asin"].n_unique()

    first = run_days(defs, DAYS[0], DAYS[1])
    assert first.success
    assert all(check.passed for check in first.get_asset_check_evaluations())
    assert sandbox.throttled("getItemOffersBatch") == 0
    second = run_days(defs, DAYS[0], DAYS[1])
    assert second.success

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        facts = conn.execute("select * from amazon_econ.fact_product_snapshot").pl()
    assert facts.height == 2 * n_asins  # every tracked ASIN, both days, once
    assert facts.select("account", "asin", "snapshot_date").is_duplicated().sum() == 0
    day = facts.filter(pl.col("snapshot_date") == DAYS[0])
    daily = sandbox.marketplace.sales_and_traffic("default", DAYS[0])
    truth = daily.group_by("asin").agg(pl.col("sales_rank").min(), pl.col("price").min())
    own = day.filter(pl.col("role") == "own").join(truth, on="asin")
    assert own.height == truth.height
    assert (own["bsr"] == own["sales_rank"]).all()
    in_stock = own.filter(pl.col("in_stock"))
    assert (in_stock["price"] == in_stock["price_right"]).all()
    rivals = day.filter(pl.col("role") == "competitor")
    assert rivals.height > own.height  # 3 to 5 competitors each
    assert rivals["rating"].is_between(1, 5).all() and (rivals["review_count"] >= 0).all()
    assert not rivals["has_buy_box"].any()

    folder = settings.lake_root / PRODUCT_SIGNALS.lake_prefix(DEFAULT_ACCOUNT)
    documents = list((folder / f"run_date={DAYS[0]}").glob("report_id=*/part-000.json.gz"))
    assert len(documents) == 2  # every fetch kept in bronze
    reparsed = parse_product_signals(documents[0].read_bytes(), DAYS[0], facts["ingested_at"][0])
    assert reparsed.facts.height == n_asins and reparsed.quarantine.is_empty()


@pytest.fixture
def two_accounts(
    amazon_home: Path, sandbox_factory, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, dg.Definitions]:
    """Settings and definitions against a sandbox of two sellers, each tracking 3 ASINs."""
    sandbox = sandbox_factory(accounts=("default", "acme"))
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_PORT", str(sandbox.port))
    monkeypatch.setenv("SP_API_ENDPOINT", sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(sandbox.config.speed))
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", (YESTERDAY - timedelta(days=20)).isoformat())
    settings = Settings.from_env()
    warehouse = WarehouseResource(kind="duckdb", database=str(settings.warehouse_path))
    for account in ("default", "acme"):
        asins = sandbox.marketplace.products(account)["asin"].unique().sort().to_list()[:3]
        track(warehouse, settings.bigquery_dataset, account, [(asin, None) for asin in asins])
    return settings, build_definitions(settings)


def test_each_account_is_its_own_partition(two_accounts) -> None:
    """A run of one account writes its (account, day) partitions and leaves the others' rows."""
    settings, defs = two_accounts
    assert run_days(defs, DAYS[1], DAYS[1], account="default").success
    assert run_days(defs, DAYS[1], DAYS[1], account="acme").success
    assert run_days(defs, DAYS[1], DAYS[1], account="acme").success  # again: replaced

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        rows = conn.execute(
            "select account, count(*) from amazon_econ.fact_product_snapshot group by 1 order by 1"
        ).fetchall()
    assert rows == [("acme", 3), ("default", 3)]
    for account in ("default", "acme"):
        folder = settings.lake_root / PRODUCT_SIGNALS.lake_prefix(account) / f"run_date={DAYS[1]}"
        assert len(list(folder.glob("report_id=*/_meta.json"))) == (2 if account == "acme" else 1)


def test_documents_of_an_earlier_version_load_each_accounts_section_where_they_lie(
    two_accounts,
) -> None:
    """Before per-account prefixes, one document a day held every account's section under
    amazon/catalog/us (its sidecar listing the accounts): silver reads it where it lies, each
    account's partition from its own section, equal to what the current layout loads."""
    settings, defs = two_accounts
    for account in ("default", "acme"):
        assert run_days(defs, DAYS[1], DAYS[1], account=account).success
    query = (
        "select account, asin, snapshot_date, role, price, bsr, rating, review_count "
        "from amazon_econ.fact_product_snapshot order by all"
    )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        loaded = conn.execute(query).pl()
    assert loaded["account"].n_unique() == 2

    sections, fetched = [], []
    for account in ("default", "acme"):
        folder = settings.lake_root / PRODUCT_SIGNALS.lake_prefix(account)
        [sidecar] = folder.glob(f"run_date={DAYS[1]}/report_id=*/_meta.json")
        meta = json.loads(sidecar.read_text())
        body = json.loads(gzip.decompress((sidecar.parent / meta["file_name"]).read_bytes()))
        sections += body["accounts"]
        fetched.append(meta["fetched_at"])
        shutil.rmtree(folder)
    body = {**body, "accounts": sections}
    document = gzip.compress(json.dumps(body).encode())
    old = settings.lake_root / "amazon/catalog/us" / f"run_date={DAYS[1]}" / "report_id=signals-1"
    old.mkdir(parents=True)
    (old / "part-000.json.gz").write_bytes(document)
    sidecar = {
        "source": "product_signals",
        "day": DAYS[1].isoformat(),
        "report_id": "signals-1",
        "status": "DONE",
        "fetched_at": max(fetched),
        "content_type": "application/gzip",
        "file_name": "part-000.json.gz",
        "sha256": hashlib.sha256(document).hexdigest(),
        "bytes": len(document),
        "metadata": {"source": "sandbox", "accounts": ["acme", "default"], "asins": 6},
    }
    (old / "_meta.json").write_text(json.dumps(sidecar))
    settings.warehouse_path.unlink()

    silver = [PRODUCT_SIGNALS.silver_key, PRODUCT_SIGNALS.quarantine_key]
    job = defs.resolve_job_def(PRODUCT_SIGNALS_JOB)
    for account in ("default", "acme"):
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(
                instance=instance,
                asset_selection=silver,
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: partition_key(account, DAYS[1]),
                    ASSET_PARTITION_RANGE_END_TAG: partition_key(account, DAYS[1]),
                },
            )
        assert result.success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        assert conn.execute(query).pl().equals(loaded)
