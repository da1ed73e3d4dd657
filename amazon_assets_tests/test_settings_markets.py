"""Each seller account's SP-API region and marketplaces, and which API is the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from amazon_assets.settings import ConfigError, Settings

CREDENTIALS = {
    "SP_API_REFRESH_TOKEN": "Atzr|token",
    "SP_API_CLIENT_ID": "amzn1.application-oa2-client.x",
    "SP_API_CLIENT_SECRET": "secret",
}


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"AMAZON_ASSETS_HOME": str(tmp_path), **env})


def test_each_account_has_its_region_endpoint_and_marketplaces(tmp_path: Path) -> None:
    configured = settings(
        tmp_path,
        **CREDENTIALS,
        SP_API_MARKETPLACE_IDS_EU_SHOP="A1PA6795UKMFR9, A13V1IB3VIYZZH,APJ6JRA9NG5V4",
        SP_API_REGION_JAPAN="us-west-2",
        SP_API_MARKETPLACE_IDS_JAPAN="A1VC38T7YXB528",
    )
    default = configured.market()
    assert default.region == "us-east-1" and default.marketplace_ids == ("ATVPDKIKX0DER",)
    assert default.endpoint == "https://sellingpartnerapi-na.amazon.com"
    eu = configured.market("eu shop")  # account names map to variable suffixes
    assert eu.region == "eu-west-1"  # from the marketplaces
    assert eu.marketplace_ids == ("A1PA6795UKMFR9", "A13V1IB3VIYZZH", "APJ6JRA9NG5V4")
    assert eu.endpoint == "https://sellingpartnerapi-eu.amazon.com" and eu.currency == "EUR"
    assert configured.market("japan").endpoint == "https://sellingpartnerapi-fe.amazon.com"
    assert configured.market("unlisted") == default  # other accounts: the default's market


def test_the_sandbox_or_one_endpoint_serves_every_account(tmp_path: Path) -> None:
    sandboxed = settings(tmp_path, SP_API_MARKETPLACE_IDS_EU="A1PA6795UKMFR9")
    assert sandboxed.market("eu").endpoint == sandboxed.sandbox_url
    proxied = settings(
        tmp_path,
        **CREDENTIALS,
        SP_API_ENDPOINT="https://proxy.example/",
        SP_API_MARKETPLACE_IDS_EU="A1PA6795UKMFR9",
    )
    assert proxied.market("eu").endpoint == "https://proxy.example"


@pytest.mark.parametrize(
    ("env", "variable", "said"),
    [
        ({"SP_API_REGION": "eu-west-1"}, "SP_API_MARKETPLACE_IDS", "is not set"),
        ({"SP_API_MARKETPLACE_IDS": "ATVPDKIKX0DER,A1PA6795UKMFR9"}, "SP_API_MARKETPLACE_IDS", "mixes regions"),
        ({"SP_API_MARKETPLACE_IDS_EU": "NOT-A-MARKETPLACE"}, "SP_API_MARKETPLACE_IDS_EU", "not an Amazon marketplace id"),
        ({"SP_API_REGION_EU": "us-east-1", "SP_API_MARKETPLACE_IDS_EU": "A1PA6795UKMFR9"}, "SP_API_MARKETPLACE_IDS_EU", "Amazon.de"),
        ({"SP_API_REGION_EU": "mars-1"}, "SP_API_REGION_EU", "must be one of"),
    ],
)  # fmt: skip
def test_a_wrong_market_is_one_sentence_naming_the_variable(
    tmp_path: Path, env: dict, variable: str, said: str
) -> None:
    with pytest.raises(ConfigError) as error:
        settings(tmp_path, **env)
    assert str(error.value).startswith(variable) and said in str(error.value)


def test_the_ads_api_is_the_sandbox_by_its_own_settings(tmp_path: Path) -> None:
    ads_only = settings(
        tmp_path,
        ADS_API_REFRESH_TOKEN="Atzr|ads",
        ADS_API_CLIENT_ID="amzn1.application-oa2-client.ads",
        ADS_API_CLIENT_SECRET="ads-secret",
    )
    assert ads_only.uses_sandbox and not ads_only.ads_api.is_sandbox
    assert ads_only.clock_speed_of(ads_only.ads_api) == 1.0  # Amazon's clock, never the sandbox's
    assert ads_only.ads_api.source_label == "amazon" and ads_only.source_label == "sandbox"
    sp_only = settings(tmp_path, **CREDENTIALS)
    assert sp_only.clock_speed_of(sp_only.ads_api) == sp_only.sandbox_speed
    assert sp_only.runs_sandbox and not settings(tmp_path, **CREDENTIALS, **{
        "ADS_API_REFRESH_TOKEN": "a", "ADS_API_CLIENT_ID": "b", "ADS_API_CLIENT_SECRET": "c"
    }).runs_sandbox  # fmt: skip
