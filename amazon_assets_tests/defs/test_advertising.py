"""Advertising end to end: the real Ads client, the sandbox over HTTP, the lake and DuckDB."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.definitions import build_definitions
from amazon_assets.defs.advertising import (
    ADS_ENTITIES_JOB,
    ADS_REPORTS_JOB,
)
from amazon_assets.defs.advertising import assets as advertising_assets
from amazon_assets.defs.advertising.checks import (
    clicks_not_above_impressions,
    cost_not_negative,
    reconciles_with_advertised_products,
)
from amazon_assets.defs.advertising.schedules import check_lookback_days
from amazon_assets.defs.advertising.spec import ADS_REPORTS, ENTITY_SNAPSHOT
from amazon_assets.parsers.ads_reports import AD_REPORT_TYPES
from amazon_assets.partitions import ACCOUNTS, partition_key
from amazon_assets.quality import keys_not_null_and_unique
from amazon_assets.resources.lake import BronzeDocument, LocalLake, write_document
from amazon_assets.sandbox.advertising import profile_id
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings

TODAY = date.today()
YESTERDAY = TODAY - timedelta(days=1)
DAYS = [YESTERDAY - timedelta(days=offset) for offset in (3, 2, 1)]
ACCOUNT_NAMES = (DEFAULT_ACCOUNT, "eu")


def definitions(settings: Settings) -> dg.Definitions:
    """The code location's definitions, as amazon_assets.definitions wires them."""
    return build_definitions(settings)


@pytest.fixture
def point_at(amazon_home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable:
    """Settings and definitions aimed at a given sandbox (the same home for every sandbox), with
    the seller accounts ACCOUNT_NAMES registered."""
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", (TODAY - timedelta(days=130)).isoformat())
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(ACCOUNTS.name, list(ACCOUNT_NAMES))

    def point(sandbox) -> tuple[Settings, dg.Definitions]:
        monkeypatch.setenv("ADS_API_ENDPOINT", sandbox.url)
        monkeypatch.setenv("ADS_API_LWA_TOKEN_URL", sandbox.token_url)
        monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(sandbox.config.speed))
        settings = Settings.from_env()
        return settings, definitions(settings)

    return point


def run_reports(
    defs: dg.Definitions, first: date, last: date, account: str = DEFAULT_ACCOUNT
) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.get() as instance:
        return defs.resolve_job_def(ADS_REPORTS_JOB).execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: partition_key(account, first),
                ASSET_PARTITION_RANGE_END_TAG: partition_key(account, last),
            },
        )


def run_entities(defs: dg.Definitions, account: str = DEFAULT_ACCOUNT) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.get() as instance:
        return defs.resolve_job_def(ADS_ENTITIES_JOB).execute_in_process(
            instance=instance, partition_key=account
        )


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def silver_by_day(
    settings: Settings, table: str, account: str = DEFAULT_ACCOUNT
) -> dict[date, tuple[int, Decimal, int, int]]:
    rows = query(
        settings,
        f"select report_date, count(*), sum(cost), sum(clicks), sum(impressions) "
        f"from amazon_econ.{table} where account = '{account}' group by 1 order by 1",
    )
    return {day: tuple(rest) for day, *rest in rows}


def bronze_rows(
    settings: Settings, report_type_id: str, day: date, account: str = DEFAULT_ACCOUNT
) -> list[list[dict]]:
    """Every bronze document kept for an account's report type and day, oldest first, as its rows."""
    prefix = ADS_REPORTS[report_type_id].lake_prefix(account)
    folder = settings.lake_root / prefix / f"run_date={day.isoformat()}"
    metas = [
        (json.loads(path.read_text()), path.parent)
        for path in folder.glob("report_id=*/_meta.json")
    ]
    return [
        json.loads(gzip.decompress((parent / meta["file_name"]).read_bytes()))
        for meta, parent in sorted(metas, key=lambda item: item[0]["fetched_at"])
    ]


def totals(rows: list[dict]) -> tuple[int, Decimal, int, int]:
    return (
        len(rows),
        sum((Decimal(str(r["cost"])) for r in rows), Decimal("0")),
        sum(r["clicks"] for r in rows),
        sum(r["impressions"] for r in rows),
    )


def test_three_days_of_four_reports_then_a_rerun_without_duplicates(
    point_at, sandbox_factory
) -> None:
    # A completed report is reused for a day of Amazon's clock (ads_api.RESUME_SECONDS): at 600x
    # that is 144 real seconds, more than both runs take on a loaded machine (at the default
    # 3600x, 24 real seconds, which a loaded machine exceeded).
    sandbox = sandbox_factory(speed=600.0)
    settings, defs = point_at(sandbox)
    result = run_reports(defs, DAYS[0], DAYS[-1])
    assert result.success

    loaded = {t.table: silver_by_day(settings, t.table) for t in AD_REPORT_TYPES.values()}
    for report_type in AD_REPORT_TYPES.values():
        assert sorted(loaded[report_type.table]) == DAYS
        for day in DAYS:
            [rows] = bronze_rows(settings, report_type.report_type_id, day)
            assert loaded[report_type.table][day] == totals(rows) and rows
    # The sandbox's campaign rows are exact sums of its advertised products.
    campaigns, products = loaded["fact_ads_sp_campaigns"], loaded["fact_ads_sp_advertised_products"]
    assert {d: v[1:] for d, v in campaigns.items()} == {d: v[1:] for d, v in products.items()}

    evaluations = {
        (e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }
    quality = {key for key in evaluations if key[1] != "freshness_check"}
    assert len(quality) == 4 * 3 + 1 and all(evaluations.values())

    # Run again right after (a re-run after a crash, by hand): the reports completed minutes ago
    # are downloaded again, none is requested again (sources/reuse.py).
    created = sandbox.calls("adsCreateReport")
    assert created == len(AD_REPORT_TYPES) * len(DAYS)
    again = run_reports(defs, DAYS[1], DAYS[1])
    assert again.success
    assert sandbox.calls("adsCreateReport") == created
    for report_type in AD_REPORT_TYPES.values():
        assert silver_by_day(settings, report_type.table) == loaded[report_type.table]
        assert len(bronze_rows(settings, report_type.report_type_id, DAYS[1])) == 1
    [(duplicates,)] = query(
        settings,
        "select count(*) - count(distinct (report_date, campaign_id, ad_group_id, keyword_id, "
        "search_term)) from amazon_econ.fact_ads_sp_search_terms",
    )
    assert duplicates == 0


@pytest.mark.slow
def test_two_accounts_on_the_same_days_keep_their_own_rows(point_at, sandbox_factory) -> None:
    sandbox = sandbox_factory(accounts=ACCOUNT_NAMES)
    settings, defs = point_at(sandbox)
    assert run_reports(defs, DAYS[0], DAYS[-1]).success
    default = {t.table: silver_by_day(settings, t.table) for t in AD_REPORT_TYPES.values()}

    result = run_reports(defs, DAYS[0], DAYS[-1], account="eu")
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    eu = {t.table: silver_by_day(settings, t.table, "eu") for t in AD_REPORT_TYPES.values()}
    for report_type in AD_REPORT_TYPES.values():
        # Loading eu left the default account's days exactly as they were.
        assert silver_by_day(settings, report_type.table) == default[report_type.table]
        assert sorted(eu[report_type.table]) == DAYS
        for day in DAYS:
            [rows] = bronze_rows(settings, report_type.report_type_id, day, "eu")
            assert eu[report_type.table][day] == totals(rows) and rows
        # The sandbox serves each account its own campaigns.
        assert eu[report_type.table] != default[report_type.table]
    profiles = query(
        settings,
        "select account, count(distinct profile_id), min(profile_id) "
        "from amazon_econ.fact_ads_sp_campaigns group by 1 order by 1",
    )
    assert profiles == [(a, 1, str(profile_id(sandbox.config.seed, a))) for a in ACCOUNT_NAMES]

    # Re-running a day of eu duplicates nothing, in eu or in the default account.
    assert run_reports(defs, DAYS[1], DAYS[1], account="eu").success
    for report_type in AD_REPORT_TYPES.values():
        assert silver_by_day(settings, report_type.table) == default[report_type.table]
        assert silver_by_day(settings, report_type.table, "eu") == eu[report_type.table]
        keys = ", ".join(report_type.key_columns)
        [(duplicates,)] = query(
            settings,
            f"select count(*) - count(distinct ({keys})) from amazon_econ.{report_type.table}",
        )
        assert duplicates == 0


def test_entities_of_two_accounts_keep_their_own_history(point_at, sandbox_factory) -> None:
    settings, defs = point_at(sandbox_factory(accounts=ACCOUNT_NAMES, today=TODAY))
    sql = (
        "select account, count(*), count(*) filter (where is_current), count(distinct profile_id) "
        "from amazon_econ.dim_ads_keywords group by 1 order by 1"
    )
    assert run_entities(defs).success
    [default] = query(settings, sql)
    assert run_entities(defs, "eu").success
    assert run_entities(defs, "eu").success  # nothing changed: no new version
    [kept, eu] = query(settings, sql)
    assert kept == default  # eu's snapshot closed none of the default account's versions
    assert eu[0] == "eu" and eu[1] == eu[2] > 0 and eu[3] == 1
    profiles = query(settings, "select account from amazon_econ.dim_ads_profiles order by 1")
    assert profiles == [(a,) for a in ACCOUNT_NAMES]


def test_restatement_of_a_past_day_reaches_silver(point_at, sandbox_factory) -> None:
    day = YESTERDAY - timedelta(days=2)
    settings, defs = point_at(sandbox_factory(today=TODAY))
    assert run_reports(defs, day, day).success
    before = silver_by_day(settings, "fact_ads_sp_campaigns")[day]

    # A week later Amazon has revised the day (late attributions, invalid clicks credited back).
    settings, defs = point_at(sandbox_factory(today=TODAY + timedelta(days=7)))
    assert run_reports(defs, day, day).success
    after = silver_by_day(settings, "fact_ads_sp_campaigns")[day]
    first, restated = bronze_rows(settings, "spCampaigns", day)
    assert before == totals(first) and after == totals(restated)
    assert after != before
    [(purchases,)] = query(
        settings,
        f"select sum(purchases_7d) from amazon_econ.fact_ads_sp_campaigns where report_date = '{day}'",
    )
    assert purchases == sum(r["purchases7d"] for r in restated)


@pytest.mark.slow
def test_a_day_beyond_retention_survives_a_refresh(
    point_at, sandbox_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 days ago the day was recent: fetch it then (the API and our clock both say so).
    then = TODAY - timedelta(days=100)
    old_day = then - timedelta(days=2)
    monkeypatch.setattr(advertising_assets, "utc_today", lambda: then)
    settings, defs = point_at(sandbox_factory(today=then))
    assert run_reports(defs, old_day, old_day).success
    kept = {t.table: silver_by_day(settings, t.table)[old_day] for t in AD_REPORT_TYPES.values()}

    # Today the Ads API no longer serves it; a run covering it and a recent day requests only
    # the recent one, and the old day is loaded again from the lake, unchanged.
    monkeypatch.setattr(advertising_assets, "utc_today", lambda: TODAY)
    sandbox = sandbox_factory(today=TODAY)
    settings, defs = point_at(sandbox)
    result = run_reports(defs, old_day, old_day)
    assert result.success
    assert sandbox.calls("adsCreateReport") == 0
    assert run_reports(defs, YESTERDAY, YESTERDAY).success
    assert sandbox.calls("adsCreateReport") == len(AD_REPORT_TYPES)
    for report_type in AD_REPORT_TYPES.values():
        by_day = silver_by_day(settings, report_type.table)
        assert by_day[old_day] == kept[report_type.table]
        assert YESTERDAY in by_day


def test_entity_history_keeps_every_version(point_at, sandbox_factory) -> None:
    settings, defs = point_at(sandbox_factory(today=TODAY))
    assert run_entities(defs).success
    [(first_keywords,)] = query(settings, "select count(*) from amazon_econ.dim_ads_keywords")
    assert first_keywords > 0

    # Two entity periods later some bids, budgets and states have changed.
    settings, defs = point_at(sandbox_factory(today=TODAY + timedelta(days=56)))
    result = run_entities(defs)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    for table, key in (
        ("dim_ads_keywords", "keyword_id"),
        ("dim_ads_campaigns", "campaign_id"),
        ("dim_ads_ad_groups", "ad_group_id"),
        ("dim_ads_targets", "target_id"),
    ):
        [(entities, current, versions, changed)] = query(
            settings,
            f"select count(distinct {key}), count(*) filter (where is_current), count(*), "
            f"count(*) filter (where not is_current) from amazon_econ.{table}",
        )
        assert current == entities  # one current version per entity
        assert versions == entities + changed and changed > 0, table
        # A closed version ends exactly where its successor starts.
        [(gaps,)] = query(
            settings,
            f"select count(*) from amazon_econ.{table} old join amazon_econ.{table} new "
            f"using (profile_id, {key}) where not old.is_current and new.is_current "
            f"and old.valid_to <> new.valid_from",
        )
        assert gaps == 0
    [(profiles,)] = query(settings, "select count(*) from amazon_econ.dim_ads_profiles")
    assert profiles == 1


def test_definitions_schedules_and_lookback(point_at, sandbox) -> None:
    _, defs = point_at(sandbox)
    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def("ads_reports_daily")
    with dg.DagsterInstance.get() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime.now(UTC),
            repository_def=repository,
        )
        requests = schedule.evaluate_tick(context).run_requests or []
        entities = repository.get_schedule_def("ads_entities_daily").evaluate_tick(context)
    # One run per registered account, each over its own last 30 days.
    assert [r.partition_key for r in entities.run_requests or []] == list(ACCOUNT_NAMES)
    assert len(requests) == len(ACCOUNT_NAMES)
    last = datetime.now(UTC).date() - timedelta(days=1)
    for account, request in zip(ACCOUNT_NAMES, requests, strict=True):
        assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == partition_key(
            account, last - timedelta(days=29)
        )
        assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == partition_key(account, last)
    policy = repository.asset_graph.get(
        dg.AssetKey(["silver", "fact_ads_sp_campaigns"])
    ).backfill_policy
    assert policy == dg.BackfillPolicy.single_run()
    with pytest.raises(ValueError, match="AMAZON_ASSETS_ADS_LOOKBACK_DAYS"):
        check_lookback_days(96)


def facts_frame(report_type_id: str, rows: list[dict]) -> pl.DataFrame:
    """A fact frame of `report_type_id` from a few columns; the rest null."""
    schema = AD_REPORT_TYPES[report_type_id].schema
    return pl.DataFrame(
        [{name: row.get(name) for name in schema.names()} for row in rows], schema=schema
    )


def test_checks_on_small_frames() -> None:
    day = date(2026, 3, 2)
    key = dg.AssetKey(["silver", "fact_ads_sp_campaigns"])
    row = {"report_date": day, "account": "default", "campaign_id": "1", "cost": Decimal("10.00")}
    campaigns = facts_frame(
        "spCampaigns",
        [
            {**row, "clicks": 5, "impressions": 100},
            {**row, "campaign_id": "2", "cost": Decimal("-1.00"), "clicks": 9, "impressions": 3},
            {**row, "clicks": 1, "impressions": 1},
        ],
    )
    products = facts_frame(
        "spAdvertisedProduct",
        [{**row, "ad_group_id": "9", "clicks": 15, "impressions": 110, "advertised_asin": "B0"}],
    )
    assert not keys_not_null_and_unique(key, campaigns, ("report_date", "campaign_id")).passed
    assert not cost_not_negative(key, campaigns).passed
    assert not clicks_not_above_impressions(key, campaigns).passed
    reconciled = reconciles_with_advertised_products(key, campaigns, products)
    assert not reconciled.passed and reconciled.severity == dg.AssetCheckSeverity.WARN
    differences = reconciled.metadata["differences"].value
    assert set(differences[f"default {day}"]) == {"cost", "impressions"}  # clicks agree (15)
    assert "difference 9.00" in differences[f"default {day}"]["cost"]
    # Within tolerance (0.5% or one unit) is reconciled.
    close = products.with_columns(pl.lit(104 + 1).alias("impressions"))
    close = close.with_columns(pl.lit(Decimal("19.00")).cast(pl.Decimal(18, 2)).alias("cost"))
    assert reconciles_with_advertised_products(key, campaigns, close).passed


def test_sidecars_of_an_earlier_version_are_read_where_they_lie(tmp_path: Path) -> None:
    """Documents stored before the Ads specs (same folders, sidecars without a window or options)
    are chosen by the silver loader, for any account."""
    lake = LocalLake(tmp_path)
    day, account = date(2026, 3, 2), "eu"
    profile = {"profile_id": "3546", "currency": "EUR", "account": account}
    fetched_at = datetime(2026, 3, 3, 8, tzinfo=UTC)
    row = {"date": day.isoformat(), "campaignId": 301, "impressions": 100, "clicks": 3}
    report = BronzeDocument(
        source="ads_reports_spCampaigns",
        day=day,
        report_id="r-1",
        status="DONE",
        body=gzip.compress(json.dumps([{**row, "cost": 1.25}]).encode()),
        content_type="application/gzip",
        fetched_at=fetched_at,
        metadata={"report_type_id": "spCampaigns", "source": "sandbox", **profile},
    )
    spec = ADS_REPORTS["spCampaigns"]
    write_document(lake, spec.lake_prefix(account), report, "part-000.json.gz")
    facts, quarantine, missing = advertising_assets.load_account_facts(
        lake, AD_REPORT_TYPES["spCampaigns"], account, [day], day, fetched_at
    )
    assert missing == [] and quarantine[0].height == 0
    assert facts[0].select("account", "profile_id", "currency", "cost").rows() == [
        (account, "3546", "EUR", Decimal("1.25"))
    ]

    snapshot = BronzeDocument(
        source="ads_entities",
        day=day,
        report_id="snapshot-1",
        status="DONE",
        body=gzip.compress(b'{"profiles": []}'),
        content_type="application/gzip",
        fetched_at=fetched_at,
        metadata={"source": "sandbox", **profile},
    )
    write_document(lake, ENTITY_SNAPSHOT.lake_prefix(account), snapshot, "part-000.json.gz")
    newest = advertising_assets.newest_snapshot(lake, account)
    assert newest is not None and newest.report_id == "snapshot-1"
