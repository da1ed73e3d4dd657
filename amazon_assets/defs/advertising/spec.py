"""The Amazon Ads API documents' specs: one Sponsored Products v3 daily report per report type,
account and day, and the entity listings an entity snapshot holds.

Where the rest of it lives: parsers and silver schemas `amazon_assets/parsers/ads_reports.py` and
`parsers/ads_entities.py`, the client (the columns each report requests, the listing calls)
`resources/ads_api.py`, assets `defs/advertising/assets.py`, checks `defs/advertising/checks.py`,
test `amazon_assets_tests/defs/test_advertising.py`.
"""

from __future__ import annotations

from amazon_assets.ingestion.spec import DocumentSpec
from amazon_assets.parsers.ads_entities import (
    AD_ENTITIES,
    AD_GROUPS,
    CAMPAIGNS,
    KEYWORDS,
    PROFILES,
    TARGETS,
    history_schema,
)
from amazon_assets.parsers.ads_reports import AD_REPORT_TYPES, QUARANTINE_SOURCE_PREFIX

# "Most report types support 95 days" (Ads API reporting v3): older days are never requested,
# the lake keeps them.
ADS_REPORT_RETENTION_DAYS = 95

REPORTS_QUARANTINE_TABLE = "quarantine_ads_reports"
ENTITIES_QUARANTINE_TABLE = "quarantine_ads_entities"

# One spec per reportTypeId, keyed by it (spCampaigns, spTargeting, spSearchTerm,
# spAdvertisedProduct): bronze `ads_reports_<id>`, one silver fact table each.
ADS_REPORTS: dict[str, DocumentSpec] = {
    report_type.report_type_id: DocumentSpec(
        name=QUARANTINE_SOURCE_PREFIX + report_type.report_type_id,  # "ads_reports_<id>"
        api="Amazon Ads API reporting v3 (Sponsored Products, DAILY, GZIP_JSON)",
        report_type=report_type.report_type_id,
        # A v3 report echoes no configuration: the rows carry the columns the client asks for
        # (`resources/ads_api.ADS_REPORT_COLUMNS`), and the parser reads them by name.
        report_options={},
        window_days=1,
        # Amazon revises ad metrics for up to ~28 days (attribution windows close, invalid
        # clicks are credited back): the daily refresh re-pulls this many days by default
        # (AMAZON_ASSETS_ADS_LOOKBACK_DAYS, at most the retention).
        lookback_days=30,
        lake_family="ads/reports",
        lake_name=report_type.report_type_id,
        silver_table=report_type.table,
        quarantine_table=REPORTS_QUARANTINE_TABLE,
        schema=report_type.schema,
        natural_key=report_type.key_columns,
        cluster_by=("account", "campaign_id"),
    )
    for report_type in AD_REPORT_TYPES.values()
}

# The Ads API lists entities as they are now. One snapshot document (bronze `ads_entities`) holds
# every listing of an account, each merged into its dimension's history (a change of a tracked
# column opens a version): one spec per listing, keyed by its name.
_LISTING_OPERATIONS = {
    PROFILES.name: "listProfiles (GET /v2/profiles)",
    CAMPAIGNS.name: "ListSponsoredProductsCampaigns (POST /sp/campaigns/list)",
    AD_GROUPS.name: "ListSponsoredProductsAdGroups (POST /sp/adGroups/list)",
    KEYWORDS.name: "ListSponsoredProductsKeywords (POST /sp/keywords/list)",
    TARGETS.name: "ListSponsoredProductsTargetingClauses (POST /sp/targets/list)",
}
ADS_ENTITIES: dict[str, DocumentSpec] = {
    entity.name: DocumentSpec(
        name="ads_entities",
        api="Amazon Ads API v2 profiles and Sponsored Products v3",
        report_type=_LISTING_OPERATIONS[entity.name],
        report_options={},
        window_days=1,
        # The present state only: a snapshot is final the moment it is taken.
        lookback_days=0,
        lake_family="ads",
        lake_name="entities",
        silver_table=entity.table,
        quarantine_table=ENTITIES_QUARANTINE_TABLE,
        schema=history_schema(entity.schema),
        # Every version of an entity: one current at a time (check one_current_version_per_key).
        natural_key=(*entity.key_columns, "valid_from"),
        cluster_by=("account",),
    )
    for entity in AD_ENTITIES.values()
}
# The snapshot document itself: its bronze asset and lake layout (the same for every listing).
ENTITY_SNAPSHOT = ADS_ENTITIES[PROFILES.name]
