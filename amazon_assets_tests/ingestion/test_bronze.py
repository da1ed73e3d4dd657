"""The bronze writer's order against the sandbox: a report is closed in the ledger only once its
document is in the lake, so a failed write resumes the report instead of requesting it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amazon_assets.defs.advertising.spec import ADS_REPORTS
from amazon_assets.ingestion.bronze import write_ads_reports
from amazon_assets.ingestion.silver import newest_documents
from amazon_assets.resources.lake import LocalLake
from amazon_assets_tests.resources.test_ads_api import _resource as ads_resource


def test_an_ads_report_whose_write_failed_is_resumed_then_closed(sandbox, tmp_path: Path) -> None:
    spec = ADS_REPORTS["spCampaigns"]
    ads_api = ads_resource(sandbox, tmp_path / "state.sqlite")
    day = sandbox.config.today - timedelta(days=2)
    profile = {"profile_id": str(ads_api.profile_id()), "currency": "USD", "account": "default"}
    blocked = tmp_path / "blocked"
    blocked.write_text("")  # a file where the lake's directory should be: every write fails

    with pytest.raises(OSError):
        write_ads_reports(
            spec, ads_api, LocalLake(blocked), [day], profile, reuse_since=datetime.now(UTC)
        )
    assert sandbox.calls("adsCreateReport") == 1

    # A scheduled run reuses no report completed before it, yet resumes the one left open.
    lake = LocalLake(tmp_path / "lake")
    progress = write_ads_reports(spec, ads_api, lake, [day], profile, reuse_since=datetime.now(UTC))
    assert progress.fetched == 1 and sandbox.calls("adsCreateReport") == 1
    chosen, uncovered = newest_documents(spec, lake, "default", [day])
    assert uncovered == [] and chosen[day].meta["metadata"]["profile_id"] == profile["profile_id"]

    # Stored, it was closed: the next refresh asks Amazon again (the day may have been restated).
    write_ads_reports(spec, ads_api, lake, [day], profile, reuse_since=datetime.now(UTC))
    assert sandbox.calls("adsCreateReport") == 2
