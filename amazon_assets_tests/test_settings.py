"""Settings: defaults, and bad configuration named in one sentence."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import amazon_assets.settings as settings_module
from amazon_assets.settings import AMAZON_LWA_TOKEN_URL, ConfigError, Settings


def test_no_credentials_means_sandbox(tmp_path: Path) -> None:
    settings = Settings.from_env({"AMAZON_ASSETS_HOME": str(tmp_path)})
    assert settings.uses_sandbox
    assert settings.source_label == "sandbox"
    assert settings.sp_api.endpoint == settings.sandbox_url
    assert settings.sp_api.lwa_token_url == f"{settings.sandbox_url}/auth/o2/token"
    assert settings.bigquery_dataset == "amazon_econ"
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert not settings.uses_bigquery


def test_real_credentials_use_amazon_endpoints(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "AMAZON_ASSETS_HOME": str(tmp_path),
            "SP_API_REFRESH_TOKEN": "Atzr|secret-token",
            "SP_API_CLIENT_ID": "amzn1.application-oa2-client.x",
            "SP_API_CLIENT_SECRET": "very-secret",
            "SP_API_REGION": "eu-west-1",
            "SP_API_MARKETPLACE_IDS": "A1PA6795UKMFR9",
        }
    )
    assert not settings.uses_sandbox
    assert settings.sp_api.endpoint == "https://sellingpartnerapi-eu.amazon.com"
    assert settings.sp_api.lwa_token_url == AMAZON_LWA_TOKEN_URL
    assert settings.clock_speed == 1.0
    assert "very-secret" not in repr(settings)
    assert "secret-token" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SP_API_ENDPOINT": "not a url"}, "SP_API_ENDPOINT"),
        ({"SP_API_LWA_TOKEN_URL": "ftp://x"}, "SP_API_LWA_TOKEN_URL"),
        ({"SP_API_REGION": "mars-north-1"}, "SP_API_REGION"),
        ({"SP_API_REFRESH_TOKEN": "x"}, "SP_API_CLIENT_ID"),
        ({"ADS_API_CLIENT_ID": "x"}, "ADS_API_CLIENT_SECRET"),
        ({"AMAZON_ASSETS_SECRET_KEY": "not-a-fernet-key"}, "AMAZON_ASSETS_SECRET_KEY"),
        ({"SP_API_APP_DRAFT": "maybe"}, "SP_API_APP_DRAFT"),
        ({"SP_API_CONSENT_URL": "sellercentral"}, "SP_API_CONSENT_URL"),
        ({"DAGSTER_WEBSERVER_URL": "localhost:3000"}, "DAGSTER_WEBSERVER_URL"),
        ({"SP_API_AWS_ACCESS_KEY": "AKIA"}, "SP_API_AWS_SECRET_KEY"),
        ({"BIGQUERY_DATASET": "bad-name"}, "BIGQUERY_DATASET"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"AMAZON_ASSETS_SANDBOX_PORT": "99999"}, "AMAZON_ASSETS_SANDBOX_PORT"),
        ({"AMAZON_ASSETS_START_DATE": "01/02/2025"}, "AMAZON_ASSETS_START_DATE"),
        ({"AMAZON_ASSETS_ADS_LOOKBACK_DAYS": "120"}, "AMAZON_ASSETS_ADS_LOOKBACK_DAYS"),
        ({"AMAZON_ASSETS_REUSE_MINUTES": "soon"}, "AMAZON_ASSETS_REUSE_MINUTES"),
        ({"ALERTS_WEBHOOK_URL": "hooks.example.com/x"}, "ALERTS_WEBHOOK_URL"),
        ({"SLACK_WEBHOOK_URL": "slack"}, "SLACK_WEBHOOK_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"AMAZON_ASSETS_REDIS_PREFIX": "a b"}, "AMAZON_ASSETS_REDIS_PREFIX"),
        ({"AMAZON_ASSETS_JWT_SECRET": "short"}, "AMAZON_ASSETS_JWT_SECRET"),
        ({"AMAZON_ASSETS_API_RATE_LIMIT": "lots"}, "AMAZON_ASSETS_API_RATE_LIMIT"),
        ({"AMAZON_ASSETS_API_CACHE_TTL": "-1"}, "AMAZON_ASSETS_API_CACHE_TTL"),
        ({"AMAZON_ASSETS_SETTLE_DAYS": "90"}, "AMAZON_ASSETS_SETTLE_DAYS"),
    ],
)
def test_bad_configuration_names_the_variable(tmp_path: Path, env: dict, variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"AMAZON_ASSETS_HOME": str(tmp_path), **env})
    message = str(error.value)
    assert variable in message
    assert "\n" not in message


def test_unwritable_home_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="AMAZON_ASSETS_HOME"):
        Settings.from_env({"AMAZON_ASSETS_HOME": str(blocker / "home")})


def test_review_provider_variables_go_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REVIEWS_APIFY_TOKEN"):
        Settings.from_env(
            {"AMAZON_ASSETS_HOME": str(tmp_path), "REVIEWS_APIFY_DATASET_URL": "https://x/items"}
        )
    with pytest.raises(ConfigError, match="REVIEWS_APIFY_DATASET_URL"):
        Settings.from_env(
            {
                "AMAZON_ASSETS_HOME": str(tmp_path),
                "REVIEWS_APIFY_DATASET_URL": "datasets/abc",
                "REVIEWS_APIFY_TOKEN": "apify_api_secret",
            }
        )
    settings = Settings.from_env(
        {
            "AMAZON_ASSETS_HOME": str(tmp_path),
            "REVIEWS_APIFY_DATASET_URL": "https://api.apify.com/v2/datasets/abc/items",
            "REVIEWS_APIFY_TOKEN": "apify_api_secret",
        }
    )
    assert settings.reviews_dataset_url.endswith("/abc/items")
    assert "apify_api_secret" not in repr(settings)


def test_api_settings_keep_their_secrets_out_of_reprs(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "AMAZON_ASSETS_HOME": str(tmp_path),
            "REDIS_URL": "redis://:redis-password@cache:6379/0",
            "AMAZON_ASSETS_JWT_SECRET": "j" * 40,
            "AMAZON_ASSETS_API_RATE_LIMIT": "5/second",
        }
    )
    assert settings.serving.rate_limit == "5/second"
    assert settings.serving.mart_changes_channel == "amazon_assets:mart_changes"
    assert settings.jwt_signing_key() == "j" * 40
    assert "redis-password" not in repr(settings) and "j" * 40 not in repr(settings)


def test_app_credentials_alone_take_tokens_from_the_vault(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "AMAZON_ASSETS_HOME": str(tmp_path),
            "SP_API_CLIENT_ID": "amzn1.application-oa2-client.real",
            "SP_API_CLIENT_SECRET": "very-secret",
            "SP_API_APP_ID": "amzn1.sp.solution.real",
            "SP_API_APP_DRAFT": "true",
        }
    )
    assert not settings.uses_sandbox
    assert settings.sp_api.credentials.refresh_token == ""
    assert settings.oauth.sp_api_consent_url == (
        "https://sellercentral.amazon.com/apps/authorize/consent"
    )
    assert settings.oauth.sp_api_application_id == "amzn1.sp.solution.real"
    assert settings.oauth.sp_api_draft
    assert settings.oauth.ads_api_consent_url.endswith(f":{settings.sandbox_port}/ap/oa")


def _resolve_home_repeatedly(home: str) -> int:
    for _ in range(300):
        settings_module._home({"AMAZON_ASSETS_HOME": home})
    return 300


def test_processes_starting_together_each_find_the_home_writable(tmp_path: Path) -> None:
    # Test workers (and commands started together) probed the home with one shared file name
    # and removed each other's probe: "AMAZON_ASSETS_HOME is not a writable directory".
    home = str(tmp_path / "new-home")
    with ProcessPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_resolve_home_repeatedly, [home] * 4))
    assert results == [300] * 4
    assert not [p.name for p in Path(home).iterdir()]  # no probe left behind
