"""Response documents as the OpenAPI schema describes them (the routes return JSON bytes built
by the services; these models document and contract-test them, they are not re-validated).

Money is a string holding an exact decimal ("19.99"); dates are ISO days. Series rows carry the
mart columns that were asked for, so new mart columns reach clients without an API change.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from amazon_assets.api.params import ACCOUNT_PATTERN, Asin, Day

Money = str | None


class Source(BaseModel):
    """The mart materialization behind the answer (find its run in the Dagster UI)."""

    store: Literal["postgres", "duckdb"]
    table: str
    change_id: int = Field(description="mart.table_changes id: the table's version.")
    run_id: str | None
    written_at: datetime | None


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow")

    as_of: date | None = Field(description="The newest day in the answer.")
    settled_through: date | None = Field(
        description="The newest day Amazon no longer restates; later days are provisional."
    )
    source: Source


class Score(BaseModel):
    report_date: date
    score: float | None
    category_rank: int | None = Field(description="Among the ASINs of your accounts.")


class Prediction(Score):
    model_version: str | None


class ProductData(BaseModel):
    model_config = ConfigDict(extra="allow")

    account: str
    asin: str
    marketplace_id: str | None
    price: Money = None
    buy_box_price: Money = None
    has_buy_box: bool | None = None
    buy_box_percentage: float | None = None
    offer_count: int | None = None
    bsr: int | None = None
    category: str | None = None
    rating: float | None = None
    review_count: int | None = None
    in_stock: bool | None = None
    sessions: int | None = None
    units_ordered: int | None = None
    ordered_product_sales: Money = None
    observed_on: dict[str, date] = Field(description="The day each value was observed.")
    explosive_score: Score | None
    prediction: Prediction | None


class ProductAnswer(BaseModel):
    data: ProductData
    meta: Meta


class SeriesData(BaseModel):
    account: str
    asin: str
    from_: date = Field(alias="from")
    to: date
    series: list[dict[str, Any]] = Field(
        description="One row per day: report_date and the requested mart columns."
    )


class SeriesAnswer(BaseModel):
    data: SeriesData
    meta: Meta


class BatchRequest(BaseModel):
    """Up to 100 ASINs, one range, the same fields."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    asins: list[Asin] = Field(min_length=1, max_length=100)
    from_: Day | None = Field(None, alias="from")
    to: Day | None = None
    fields: list[str] | None = Field(
        None,
        min_length=1,
        max_length=100,
        json_schema_extra={"items": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}},
    )
    account: str | None = Field(None, pattern=ACCOUNT_PATTERN)


class BatchAnswer(BaseModel):
    data: list[SeriesData]
    not_found: list[str] = Field(description="ASINs none of your accounts has.")
    meta: Meta


class CompetitorState(BaseModel):
    model_config = ConfigDict(extra="allow")

    asin: str
    observed_on: dict[str, date]


class CompetitorsData(BaseModel):
    account: str
    own: CompetitorState
    competitors: list[CompetitorState]
    latest_gaps: dict[str, Any] | None


class CompetitorsAnswer(BaseModel):
    data: CompetitorsData
    meta: Meta


class CompetitionData(SeriesData):
    competitors: list[str]


class CompetitionAnswer(BaseModel):
    data: CompetitionData
    meta: Meta


class YoyValue(BaseModel):
    value: Any
    year_ago: Any
    change: float | None = Field(description="value / year_ago - 1.")


class YoyData(BaseModel):
    account: str
    asin: str
    align: Literal["weekday", "date"]
    from_: date = Field(alias="from")
    to: date
    series: list[dict[str, Any]] = Field(
        description="report_date, year_ago_date and, per field, a YoyValue."
    )


class YoyMeta(Meta):
    provisional_days_left_out: int


class YoyAnswer(BaseModel):
    data: YoyData
    meta: YoyMeta


class AlertsMeta(Meta):
    since: date


class AlertsAnswer(BaseModel):
    data: list[dict[str, Any]]
    truncated: bool
    meta: AlertsMeta


class PredictionsMeta(BaseModel):
    date: date
    k: int
    settled_through: date
    source: Source


class PredictionsAnswer(BaseModel):
    data: list[dict[str, Any]]
    meta: PredictionsMeta


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


class Caller(BaseModel):
    subject: str
    role: Literal["viewer", "analyst", "admin"]
    accounts: list[str] | None = Field(description="null: every account.")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    mart: dict[str, Any]
    cache: dict[str, Any]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problem statuses a route may answer (and 422, which
    replaces FastAPI's own validation error document: every error is a problem document)."""
    statuses = tuple(sorted({*statuses, 422}))
    titles = {
        304: "Not modified: the If-None-Match ETag is current.",
        400: "The body is not JSON.",
        401: "No valid bearer token.",
        403: "The token's role is too low.",
        404: "Not in your accounts, or not materialized yet.",
        409: "The ASIN is in several of your accounts: add ?account=.",
        422: "A parameter is invalid.",
        429: "Rate limit reached; see Retry-After.",
        502: "The LLM provider refused or could not be reached.",
        503: "The mart is unreachable and no earlier answer is cached.",
    }
    problem_json = {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    return {
        status: {"description": titles[status]}
        if status == 304
        else {"model": Problem, "description": titles[status], "content": problem_json}
        for status in statuses
    }
