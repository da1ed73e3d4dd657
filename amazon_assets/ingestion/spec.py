"""One declarative spec per Amazon document, read by the bronze writer and the silver loader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType

import dagster as dg
import polars as pl

from amazon_assets.asset_keys import silver_key


@dataclass(frozen=True)
class DocumentSpec:
    """Everything the project knows about one Amazon document, in one place.

    `report_options` are sent with each request and recorded in the document's sidecar; Amazon
    echoes them in the document (`reportSpecification.reportOptions`), and the parser refuses a
    document whose echo differs. The silver loader only chooses documents fetched with exactly
    these options.
    """

    name: str  # the bronze asset ["bronze", name] and the quarantine rows' source
    api: str  # the API and version, as Amazon names it
    report_type: str  # the report type (or the operation, for an API without reports)
    report_options: Mapping[str, str]
    window_days: int  # days one request covers
    lookback_days: int  # days Amazon restates: the daily refresh fetches them again
    lake_family: str  # amazon/<family>/<lake_name>/us/account=<account>/...
    lake_name: str
    silver_table: str
    quarantine_table: str
    schema: pl.Schema  # the silver table's columns
    natural_key: tuple[str, ...]  # unique in silver
    file_extension: str = "json"
    cluster_by: tuple[str, ...] = field(default=())
    # Where an earlier version kept this document, one folder for every account
    # (<legacy_prefix>/run_date=.../), before the lake was per account. Read where it lies, never
    # moved: its sidecars name no account (the `default` account's, the only one then) or list
    # the accounts the document has sections for, and record no options (those versions sent
    # `report_options`, unchanged since). `ingestion.bronze.account_documents` reads both.
    legacy_prefix: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "report_options", MappingProxyType(dict(self.report_options)))
        missing = [column for column in self.natural_key if column not in self.schema]
        if missing:
            raise ValueError(f"{self.name}: natural key columns {missing} are not in its schema.")

    @property
    def bronze_key(self) -> dg.AssetKey:
        return dg.AssetKey(["bronze", self.name])

    @property
    def silver_key(self) -> dg.AssetKey:
        return silver_key(self.silver_table)

    @property
    def quarantine_key(self) -> dg.AssetKey:
        return silver_key(self.quarantine_table)

    def lake_prefix(self, account: str) -> str:
        """Where an account's documents live in the lake."""
        return f"amazon/{self.lake_family}/{self.lake_name}/us/account={account}"

    def file_name(self, gzipped: bool) -> str:
        """part-000 with the extension of what the body is."""
        return f"part-000.{self.file_extension}{'.gz' if gzipped else ''}"

    def window(self, first_day: date) -> tuple[date, date]:
        """The days one request starting `first_day` covers."""
        return first_day, first_day + timedelta(days=self.window_days - 1)

    def settled(self, day: date, fetched_on: date) -> bool:
        """Whether a document of `day` fetched on `fetched_on` was fetched after Amazon stopped
        restating that day (it is then final)."""
        return fetched_on > day + timedelta(days=self.lookback_days)
