"""Ratings and review counts from a review-data provider: the interface and an Apify adapter.

Amazon's APIs carry no rating or review count, so they come from a scraping provider. The adapter
reads an Apify actor's dataset (`GET {dataset_url}?format=json&offset=..&limit=..`, e.g.
`https://api.apify.com/v2/datasets/<id>/items`) whose items carry `asin`, `stars` and
`reviewsCount`, as Apify's Amazon product scrapers write them. The sandbox serves such a dataset,
so the same adapter, pointed at the sandbox, is the sandbox's provider.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

import dagster as dg
import httpx

from amazon_assets import interrupts
from amazon_assets.sources.retry import TRANSIENT_STATUSES, backoff_seconds, redact
from amazon_assets.sources.signals import SANDBOX_AS_OF_PARAMETER
from amazon_assets.sources.state import StateStore, open_state_store

if TYPE_CHECKING:
    from amazon_assets.settings import Settings

log = logging.getLogger(__name__)

DATASET_URL_VARIABLE = "REVIEWS_APIFY_DATASET_URL"
TOKEN_VARIABLE = "REVIEWS_APIFY_TOKEN"
# What the sandbox serves (see amazon_assets.sandbox.catalog).
SANDBOX_DATASET_ID = "sandbox-product-reviews"
SANDBOX_DATASET_PATH = f"/v2/datasets/{SANDBOX_DATASET_ID}/items"
SANDBOX_TOKEN = "apify_api_sandbox_token"


class ReviewsError(Exception):
    """The review provider could not answer; the message says what to do."""


class ReviewProvider(Protocol):
    """Anything that returns the review items (one per ASIN) it holds for some ASINs."""

    def fetch_reviews(
        self, asins: Sequence[str], as_of: date | None = None
    ) -> list[dict[str, Any]]: ...


class ApifyDatasetReviews(dg.ConfigurableResource):
    """Review items of an Apify dataset, filtered to the ASINs asked for; unset URL -> no items.

    The token travels in the Authorization header (Apify accepts it there or as `?token=`), so it
    never appears in a URL that could be logged. `as_of` is a sandbox-only parameter.
    """

    dataset_url: str | None = None
    token: str | None = None
    sandbox: bool = False
    page_size: int = 1000
    timeout_seconds: float = 60.0
    max_attempts: int = 5
    # A daily budget (REVIEWS_DAILY_BUDGET, None: none): items read are charged at
    # REVIEWS_COST_PER_1000_ITEMS to the provider's day in the state store, and once the day's
    # spending reaches the budget no more is read that day.
    state_location: str | None = None
    daily_budget: float | None = None
    cost_per_1000_items: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ApifyDatasetReviews:
        """The configured dataset; none configured and no credentials -> the sandbox's."""
        budget = {
            "state_location": settings.state_location,
            "daily_budget": settings.reviews_daily_budget,
            "cost_per_1000_items": settings.reviews_cost_per_1000_items,
        }
        if settings.reviews_dataset_url:
            return cls(
                dataset_url=settings.reviews_dataset_url, token=dg.EnvVar(TOKEN_VARIABLE), **budget
            )
        if settings.uses_sandbox:
            return cls(
                dataset_url=settings.sandbox_url + SANDBOX_DATASET_PATH,
                token=SANDBOX_TOKEN,
                sandbox=True,
                **budget,
            )
        return cls()  # no provider: ratings and review counts stay null

    @property
    def provider(self) -> str:
        """The name its spending is kept under: the dataset's host."""
        return f"reviews:{urlparse(self.dataset_url or '').netloc}"

    def _spending_day(self) -> tuple[StateStore, str] | None:
        if self.daily_budget is None or self.state_location is None:
            return None
        return open_state_store(self.state_location), datetime.now(UTC).date().isoformat()

    @property
    def configured(self) -> bool:
        return bool(self.dataset_url)

    def fetch_reviews(
        self, asins: Sequence[str], as_of: date | None = None
    ) -> list[dict[str, Any]]:
        """The dataset's items whose `asin` is one of `asins` (the newest item per ASIN wins)."""
        if not self.dataset_url:
            return []
        spending = self._spending_day()
        if spending is not None:
            store, day = spending
            spent = store.spent(self.provider, day)
            if spent >= (self.daily_budget or 0.0):
                log.warning(
                    "The review provider's daily budget of %g (REVIEWS_DAILY_BUDGET) is spent "
                    "(%.4f on %s): ratings and review counts are not read again before tomorrow "
                    "(UTC).",
                    self.daily_budget,
                    spent,
                    day,
                )
                return []
        wanted = set(asins)
        token = self.token.get_value() if isinstance(self.token, dg.EnvVar) else self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        params: dict[str, Any] = {"format": "json", "clean": "true", "limit": self.page_size}
        if as_of is not None:
            if not self.sandbox:
                raise ReviewsError(
                    f"A scraped dataset holds the current ratings only; {as_of} can be asked of "
                    "the sandbox, not of the provider."
                )
            params[SANDBOX_AS_OF_PARAMETER] = as_of.isoformat()
        found: dict[str, dict[str, Any]] = {}
        read = 0
        try:
            with httpx.Client(timeout=self.timeout_seconds, follow_redirects=True) as client:
                while True:
                    page = self._page(client, headers, {**params, "offset": read}, token)
                    read += len(page)
                    for item in page:
                        if isinstance(item, dict) and item.get("asin") in wanted:
                            found[item["asin"]] = item
                    if len(page) < self.page_size:
                        return list(found.values())
        finally:
            if spending is not None and read:
                store, day = spending
                store.add_spending(self.provider, day, read * self.cost_per_1000_items / 1000)

    def _page(
        self, client: httpx.Client, headers: dict[str, str], params: dict[str, Any], token: Any
    ) -> list[Any]:
        assert self.dataset_url is not None
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = client.get(self.dataset_url, params=params, headers=headers)
                if response.status_code == 200:
                    page = response.json()
                    if not isinstance(page, list):
                        raise ReviewsError("The review dataset did not answer with a JSON array.")
                    return page
                if response.status_code not in TRANSIENT_STATUSES:
                    raise ReviewsError(
                        f"The review dataset at {self.dataset_url} answered HTTP "
                        f"{response.status_code} ({redact(response.text[:200], [token])}); check "
                        f"{DATASET_URL_VARIABLE} and {TOKEN_VARIABLE}."
                    )
                reason = f"HTTP {response.status_code}"
            except httpx.TransportError as error:
                reason = type(error).__name__
            if attempt < self.max_attempts:
                # Real seconds: the provider runs on the wall clock, not the sandbox's.
                delay = backoff_seconds(attempt, base=1.0, cap=30.0)
                log.warning("Review dataset: %s; retry %d in %.1f s", reason, attempt, delay)
                interrupts.sleep(delay)
        raise ReviewsError(
            f"The review dataset failed {self.max_attempts} times (last: {reason}); retry later."
        )
