"""Configuration of the sandbox: marketplace shape, clock speed, quotas and random fault storms."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from amazon_assets.settings import (
    DEFAULT_ACCOUNT,
    DEFAULT_SANDBOX_SPEED,
    SANDBOX_APPLICATION_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    US_MARKETPLACE_ID,
)
from amazon_assets.sources.marketplaces import MARKETPLACES, Marketplace


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes one sandbox: same config (and seed) -> same documents."""

    seed: int = 7
    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
    # Serve any account a client names (`Atzr|sandbox-<name>`), not only `accounts`: the sandbox
    # the commands start admits accounts registered after it started.
    admit_any_account: bool = False
    skus_per_account: int = 40
    speed: float = DEFAULT_SANDBOX_SPEED
    quotas: bool = True
    # The data calendar: days strictly before `today` have data; it does not move with the clock.
    today: date = field(default_factory=date.today)
    # First day of data of the first account (later accounts start up to ~6 months later);
    # default: three years before `today`, so Amazon's two-year rule is what cancels old ranges.
    start_date: date | None = None
    take_off_share: float = 0.05
    # Stock-out episodes (and the restock rebounds after them); off, every product is in stock.
    stock_outs: bool = True
    b2b: bool = True  # B2B sellers' documents carry the *B2B fields of Amazon's schema
    marketplace_id: str = US_MARKETPLACE_ID
    currency: str = "USD"
    # Accounts that sell in other marketplaces than `marketplace_id`: (account, marketplace ids),
    # the first the account's home, e.g. ("eu", ("A1PA6795UKMFR9", "A13V1IB3VIYZZH")). Their
    # documents are in those marketplaces' currencies, names and (EU) number and date formats.
    account_marketplaces: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Report lifecycle in simulated seconds.
    queue_seconds: float = 30.0
    processing_seconds: float = 60.0
    document_url_seconds: float = 300.0
    # ... but never shorter than this many real seconds: at speed 3600 five Amazon minutes are
    # 83 ms, which would expire links between getReportDocument and the download itself.
    document_url_min_real_seconds: float = 2.0
    # Random storms (each SP-API call independently): a 429 or a 500/503.
    throttle_probability: float = 0.0
    error_probability: float = 0.0
    # Extra login-with-Amazon applications besides the sandbox one: (client_id, client_secret).
    extra_clients: tuple[tuple[str, str], ...] = ()
    # Real seconds an authorization code from a consent page may be exchanged in (Amazon: 5 min).
    authorization_code_seconds: float = 300.0
    # Seller history: (account, charset) pairs for documents not in UTF-8, e.g. ("jp", "shift_jis")
    # or ("eu", "cp1252"); Amazon's settlement period in days; finance pages on heavy days
    # (holiday season) answer 400 InvalidInput when MaxResultsPerPage is above the limit.
    encodings: tuple[tuple[str, str], ...] = ()
    settlement_days: int = 14
    finances_heavy_page_limit: int = 50
    # Ads: keywords in each ad group (one ad group per campaign of ~5 ASINs); ids allow < 100.
    ads_keywords_per_ad_group: int = 5

    def __post_init__(self) -> None:
        if not self.accounts:
            raise ValueError("SandboxConfig.accounts needs at least one account name.")
        if self.skus_per_account < 1:
            raise ValueError("SandboxConfig.skus_per_account must be at least 1.")
        if self.speed <= 0:
            raise ValueError("SandboxConfig.speed must be greater than zero.")
        for account, charset in self.encodings:
            try:
                "".encode(charset)
            except LookupError:
                raise ValueError(
                    f"SandboxConfig.encodings: unknown charset {charset!r} for {account!r}."
                ) from None
        if self.settlement_days < 1:
            raise ValueError("SandboxConfig.settlement_days must be at least 1.")
        for account, marketplace_ids in self.account_marketplaces:
            unknown = [m for m in marketplace_ids if m not in MARKETPLACES]
            if not marketplace_ids or unknown:
                raise ValueError(
                    f"SandboxConfig.account_marketplaces: {account!r} needs known marketplace "
                    f"ids; got {marketplace_ids!r}."
                )
        if not 1 <= self.ads_keywords_per_ad_group <= 99:
            raise ValueError("SandboxConfig.ads_keywords_per_ad_group must be from 1 to 99.")

    def marketplaces_of(self, account: str) -> tuple[str, ...]:
        """The account's marketplace ids, its home first."""
        return dict(self.account_marketplaces).get(account) or (self.marketplace_id,)

    def home_of(self, account: str) -> Marketplace:
        """The account's home marketplace (with this config's currency for `marketplace_id`)."""
        home = self.marketplaces_of(account)[0]
        known = MARKETPLACES.get(home) or MARKETPLACES[US_MARKETPLACE_ID]
        if account in dict(self.account_marketplaces):
            return known
        return replace(known, marketplace_id=home, currency=self.currency)

    def encoding_of(self, account: str) -> str:
        """The charset of the account's TSV documents (utf-8 unless set in `encodings`)."""
        return dict(self.encodings).get(account, "utf-8")

    @property
    def applications(self) -> dict[str, str]:
        """SP-API application ids (what the consent page is opened with) -> their LWA client id."""
        return {SANDBOX_APPLICATION_ID: SANDBOX_CLIENT_ID}

    @property
    def clients(self) -> dict[str, str]:
        """Known applications: client_id -> client_secret."""
        return {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET, **dict(self.extra_clients)}

    def __repr__(self) -> str:  # client secrets of extra apps never reach logs
        return (
            f"SandboxConfig(seed={self.seed}, accounts={self.accounts}, "
            f"skus_per_account={self.skus_per_account}, speed={self.speed}, quotas={self.quotas}, "
            f"today={self.today}, start_date={self.start_date})"
        )
