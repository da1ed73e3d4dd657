"""The code location: every domain's definitions, wired to the resources the environment selects."""

from __future__ import annotations

import os

import dagster as dg

from amazon_assets.automation import automation_sensor, freshness_definitions
from amazon_assets.defs.advertising import build_advertising_definitions
from amazon_assets.defs.business_reports.definitions import build_business_reports_definitions
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.defs.mart.assets import build_mart_definitions
from amazon_assets.defs.ml.assets import (
    PREDICTIONS_KEY,
    build_ml_definitions,
    sandbox_take_offs,
    study_storage_from_settings,
)
from amazon_assets.defs.product_signals.definitions import build_product_signals_definitions
from amazon_assets.defs.product_signals.spec import PRODUCT_SIGNALS
from amazon_assets.defs.seller_history import build_seller_history_definitions
from amazon_assets.defs.seller_history.assets import SOURCE_NAMES
from amazon_assets.notifiers import AlertNotifierResource
from amazon_assets.onboarding import OnboardingScope, build_onboarding_sensor
from amazon_assets.partitions import account_day_partitions, daily_partitions
from amazon_assets.resources.ads_api import AdsApiResource
from amazon_assets.resources.lake import LakeIOManager, LakeResource
from amazon_assets.resources.postgres import mart_warehouse_from_settings
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.resources.warehouse import warehouse_from_settings
from amazon_assets.settings import ConfigError, Settings
from amazon_assets.sources.reviews import ApifyDatasetReviews
from amazon_assets.sources.sales_and_traffic_budget import SETTLING_DAYS


def build_resources(settings: Settings) -> dict[str, object]:
    """Clients and IO managers for this environment: sandbox or Amazon, local or cloud."""
    warehouse_io_manager, warehouse = warehouse_from_settings(settings)
    mart_io_manager, mart_warehouse = mart_warehouse_from_settings(settings)
    return {
        "sp_api": SpApiResource.from_settings(settings),
        "ads_api": AdsApiResource.from_settings(settings),
        "reviews": ApifyDatasetReviews.from_settings(settings),
        "lake": LakeResource.from_settings(settings),
        "lake_io_manager": LakeIOManager.from_settings(settings),
        "warehouse_io_manager": warehouse_io_manager,
        "warehouse": warehouse,
        "mart_io_manager": mart_io_manager,
        "mart_warehouse": mart_warehouse,
        "alert_notifier": AlertNotifierResource(
            webhook_url=settings.alerts_webhook_url,
            slack_webhook_url=settings.slack_webhook_url,
        ),
    }


def _storage_kinds(settings: Settings) -> tuple[str, str]:
    """The `kinds` naming where bronze and silver live in this environment."""
    return (
        "gcs" if settings.gcs_bucket else "file",
        "bigquery" if settings.uses_bigquery else "duckdb",
    )


def build_source_definitions(
    settings: Settings, partitions: dg.TimeWindowPartitionsDefinition
) -> dg.Definitions:
    """The domains that pull from Amazon: bronze documents and silver facts."""
    lake_kind, warehouse_kind = _storage_kinds(settings)
    dataset = settings.bigquery_dataset
    business_reports = build_business_reports_definitions(partitions, lake_kind, warehouse_kind)
    product_signals = build_product_signals_definitions(
        partitions, dataset, lake_kind, warehouse_kind
    )
    seller_history = build_seller_history_definitions(settings, partitions)
    onboarding = build_onboarding_sensor(
        [
            OnboardingScope.of(seller_history, SOURCE_NAMES),
            # Without Data Kiosk every day is one of the app's 96 reports a day: the settling
            # window only (see amazon_assets/onboarding.py).
            OnboardingScope.of(
                business_reports,
                [BUSINESS_REPORTS.name],
                None if settings.data_kiosk else SETTLING_DAYS,
            ),
            # Amazon's catalog and prices describe the present: the newest day only.
            OnboardingScope.of(product_signals, [PRODUCT_SIGNALS.name], 1),
        ],
        account_day_partitions(partitions),
    )
    return dg.Definitions.merge(
        business_reports,
        product_signals,
        build_advertising_definitions(
            partitions, dataset, lake_kind, warehouse_kind, settings.ads_lookback_days
        ),
        seller_history,
        dg.Definitions(sensors=[onboarding]),
    )


def build_definitions(settings: Settings) -> dg.Definitions:
    """All assets, checks, jobs, schedules, sensors and resources for one environment."""
    partitions = daily_partitions(settings)
    lake_kind, warehouse_kind = _storage_kinds(settings)
    sources = build_source_definitions(settings, partitions)
    source_keys = {key for assets in sources.assets or [] for key in _keys(assets)}
    layers = dg.Definitions.merge(
        sources,
        build_mart_definitions(
            partitions,
            settings.bigquery_dataset,
            warehouse_kind,
            mart_kind="postgres" if settings.database_url else "duckdb",
            available_sources=source_keys,
        ),
        build_ml_definitions(
            partitions,
            study_storage_url=study_storage_from_settings(settings),
            # Against the sandbox, recall of its planted take-offs is part of the evaluation.
            take_offs=sandbox_take_offs(settings.sandbox_url) if settings.uses_sandbox else None,
            warehouse_kind=warehouse_kind,
            lake_kind=lake_kind,
            retrain_cron=settings.ranker_retrain_cron,
        ),
    )
    return dg.Definitions.merge(
        layers,
        freshness_definitions(layers.assets or [], [PREDICTIONS_KEY]),
        dg.Definitions(
            sensors=[automation_sensor()],
            resources=build_resources(settings),
            executor=build_executor(settings),
        ),
    )


def build_executor(settings: Settings) -> dg.ExecutorDefinition | None:
    """Dagster's default executor (every step a process), the in-process one (all steps in the
    run's process: one code load per run, for small machines), or a distributed one: Celery
    (every step a task on the queue's workers, which may run on other machines) or Kubernetes
    (every step a pod). The
    workers share the instance, the lake, the warehouse and, through AMAZON_ASSETS_STATE_URL,
    Amazon's quotas and the report ledger."""
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        def source(variable: str, value: str) -> object:
            # From the environment it stays an env reference: the UI shows a name, not a password.
            return {"env": variable} if os.environ.get(variable) else value

        return celery_executor.configured(
            {
                "broker": source("CELERY_BROKER_URL", settings.celery_broker_url),
                "backend": source("CELERY_RESULT_BACKEND", settings.celery_backend_url),
                "config_source": {"task_default_queue": settings.celery_queue},
            }
        )
    if settings.executor == "in_process":
        return dg.in_process_executor
    if settings.executor == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise ConfigError(
                "AMAZON_ASSETS_EXECUTOR=k8s needs dagster-k8s: install amazon-assets[k8s]."
            ) from None
        return k8s_job_executor
    return None


def _keys(assets: object) -> set[dg.AssetKey]:
    if isinstance(assets, dg.AssetsDefinition):
        return set(assets.keys)
    if isinstance(assets, dg.SourceAsset | dg.AssetSpec):
        return {assets.key}
    return set()


defs = build_definitions(Settings.from_env())
