"""Request parameters shared by the routes, validated before any service sees them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, Field

ASIN_PATTERN = r"^[A-Za-z0-9]{10}$"
ACCOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$"
FIELDS_PATTERN = r"^[a-z][a-z0-9_]{0,62}(,[a-z][a-z0-9_]{0,62}){0,99}$"
KINDS_PATTERN = r"^[a-z][a-z_]{0,39}(,[a-z][a-z_]{0,39}){0,19}$"
# Amazon category names are printable text; PostgreSQL rejects NUL in a parameter (a 500).
CATEGORY_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
# Days the mart can hold; keeps date arithmetic (a year back, 90 days back) in range.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)

Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]
Asin = Annotated[str, Field(pattern=ASIN_PATTERN), AfterValidator(str.upper)]
AsinPath = Annotated[
    str,
    Path(pattern=ASIN_PATTERN, description="The ASIN: ten letters and digits."),
    AfterValidator(str.upper),
]
AccountQuery = Annotated[
    str | None,
    Query(
        pattern=ACCOUNT_PATTERN,
        description="The seller account, when the ASIN is in several of yours.",
    ),
]
FromQuery = Annotated[
    date | None,
    Query(
        alias="from", ge=FIRST_DAY, le=LAST_DAY, description="First day (default: 90 days back)."
    ),
]
ToQuery = Annotated[
    date | None,
    Query(alias="to", ge=FIRST_DAY, le=LAST_DAY, description="Last day (default: yesterday)."),
]
FieldsQuery = Annotated[
    str | None,
    Query(pattern=FIELDS_PATTERN, description="Comma-separated mart columns (default: all)."),
]
Align = Literal["weekday", "date"]


def split(value: str | None) -> list[str] | None:
    """A comma-separated parameter as a list (None stays None)."""
    return None if value is None else value.split(",")
