"""The one settings object: every environment variable in DESIGN.md, validated once.

Bad configuration raises `ConfigError` whose message is one sentence naming the variable; the
CLI prints that sentence and exits non-zero, and the code location refuses to load with it.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

from amazon_assets.sources.marketplaces import MARKETPLACES, REGION_DEFAULT

# Amazon's SP-API hosts per AWS region (public SP-API documentation, "SP-API endpoints").
SP_API_REGION_ENDPOINTS = {
    "us-east-1": "https://sellingpartnerapi-na.amazon.com",
    "eu-west-1": "https://sellingpartnerapi-eu.amazon.com",
    "us-west-2": "https://sellingpartnerapi-fe.amazon.com",
}
# Amazon Ads API hosts per region.
ADS_API_REGION_ENDPOINTS = {
    "us-east-1": "https://advertising-api.amazon.com",
    "eu-west-1": "https://advertising-api-eu.amazon.com",
    "us-west-2": "https://advertising-api-fe.amazon.com",
}
AMAZON_LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
# Where a seller authorizes an app: Seller Central's consent page (SP-API website authorization
# workflow) and Login with Amazon's authorization page (Ads API), per region.
SP_API_CONSENT_URLS = {
    "us-east-1": "https://sellercentral.amazon.com/apps/authorize/consent",
    "eu-west-1": "https://sellercentral-europe.amazon.com/apps/authorize/consent",
    "us-west-2": "https://sellercentral.amazon.co.jp/apps/authorize/consent",
}
ADS_API_CONSENT_URLS = {
    "us-east-1": "https://www.amazon.com/ap/oa",
    "eu-west-1": "https://eu.account.amazon.com/ap/oa",
    "us-west-2": "https://apac.account.amazon.com/ap/oa",
}
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
US_MARKETPLACE_ID = "ATVPDKIKX0DER"

# Credentials the sandbox accepts; used whenever no real credentials are configured.
SANDBOX_CLIENT_ID = "amzn1.application-oa2-client.sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"
SANDBOX_REFRESH_TOKEN_PREFIX = "Atzr|sandbox-"
SANDBOX_APPLICATION_ID = "amzn1.sp.solution.sandbox"  # the SP-API app id of its consent page
DEFAULT_ACCOUNT = "default"
DEFAULT_SANDBOX_PORT = 8765
DEFAULT_SANDBOX_SPEED = 900.0  # 15 Amazon minutes per real second: the demo takes minutes
# A re-run by hand reuses documents fetched this many real minutes ago (`sources.reuse`): time to
# notice a crash and launch again; one sales-and-traffic report per 15 minutes makes re-requesting
# costly, while Amazon restates days over days, not within the hour.
DEFAULT_REUSE_MINUTES = 60.0
# Amazon's GET_SALES_AND_TRAFFIC_REPORT limit per application: one request per 15 minutes.
SALES_AND_TRAFFIC_DAILY = 96
EXECUTORS = ("default", "in_process", "celery", "k8s")
# When the ranker retrains (UTC), once that day's labels and features have landed: Mondays.
DEFAULT_RANKER_RETRAIN_CRON = "0 6 * * 1"
DEFAULT_CELERY_BROKER = "pyamqp://guest@localhost:5672//"


DEFAULT_API_RATE_LIMIT = "20/second;1200/minute"
JWT_SECRET_FILE = "api_jwt_secret"
_MIN_JWT_SECRET_LENGTH = 32  # HS256 wants a key at least as long as its 256-bit hash
_REDIS_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class ConfigError(ValueError):
    """Configuration is invalid; the message is one sentence naming the variable."""


def env_suffix(account: str) -> str:
    """The environment-variable suffix of an account name: "eu shop" -> "EU_SHOP"."""
    return re.sub(r"[^A-Za-z0-9]", "_", account).upper()


@dataclass(frozen=True)
class AccountMarket:
    """Where one seller account sells: its SP-API region and endpoint, its marketplaces."""

    region: str
    endpoint: str
    marketplace_ids: tuple[str, ...]  # the first is the account's home marketplace

    @property
    def currency(self) -> str:
        """The home marketplace's currency."""
        return MARKETPLACES[self.marketplace_ids[0]].currency


@dataclass(frozen=True)
class ApiCredentials:
    """Login-with-Amazon credentials of one application and one seller (or advertiser)."""

    refresh_token: str
    client_id: str
    client_secret: str

    def __repr__(self) -> str:  # secrets never reach logs through a repr
        return f"ApiCredentials(client_id={self.client_id[:12]}..., refresh_token=***, client_secret=***)"


@dataclass(frozen=True)
class ApiSettings:
    """Where one Amazon API lives and how to log in to it."""

    endpoint: str
    lwa_token_url: str
    region: str
    credentials: ApiCredentials
    is_sandbox: bool
    aws_access_key: str | None = field(default=None, repr=False)
    aws_secret_key: str | None = field(default=None, repr=False)

    @property
    def source_label(self) -> str:
        """What a materialization says about where this API's data came from."""
        return "sandbox" if self.is_sandbox else "amazon"


@dataclass(frozen=True)
class ServingSettings:
    """The product API: cache, tokens, rate limits (`amazon-assets api`)."""

    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    redis_prefix: str = "amazon_assets"
    jwt_secret: str | None = field(default=None, repr=False)  # unset: a key file in the home
    jwt_issuer: str = "amazon-assets"
    rate_limit: str = DEFAULT_API_RATE_LIMIT
    # Seconds an answer is fresh within its mart version (mart writes invalidate at once; this
    # only bounds how long a change recorded nowhere could go unseen), then served stale while
    # revalidated.
    cache_ttl: float = 3600.0
    cache_max_stale: float = 86_400.0  # how old an answer may be served when the mart is down
    change_poll_seconds: float = 1.0  # how often workers look for mart changes
    settle_days: int = 7  # the mart rebuilds this many recent days: they are provisional

    @property
    def mart_changes_channel(self) -> str:
        """The Redis pub/sub channel mart writers announce their changes on."""
        return f"{self.redis_prefix}:mart_changes"


@dataclass(frozen=True)
class LlmSettings:
    """The OpenAI-compatible chat provider that writes competitive reports (any compatible
    server: OpenAI, a gateway, a local model), and what it may spend a day."""

    base_url: str | None = None  # unset: deterministic template reports, no spending
    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    daily_budget: float = 5.0  # in the currency of the prices below (USD for OpenAI's)
    input_cost_per_mtok: float = 0.0  # price of a million prompt tokens
    output_cost_per_mtok: float = 0.0  # price of a million completion tokens

    @property
    def configured(self) -> bool:
        return self.base_url is not None

    @property
    def provider(self) -> str:
        """The provider a budget is kept for: the host (and port) of LLM_BASE_URL."""
        return urlparse(self.base_url).netloc if self.base_url else "template"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_cost_per_mtok + completion_tokens * self.output_cost_per_mtok
        ) / 1_000_000


@dataclass(frozen=True)
class OAuthSettings:
    """Connecting accounts: the consent pages, the app's SP-API id, the credential vault's keys."""

    sp_api_consent_url: str
    sp_api_application_id: str | None  # unset: the SP-API consent flow is not configured
    sp_api_draft: bool  # `version=beta` on the consent URL while the app is a draft
    ads_api_consent_url: str
    # Fernet keys, newest first: the first encrypts, every one decrypts (rotation).
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    public_url: str | None = None  # the API's address as the browser sees it (redirect URIs)
    webserver_url: str = DEFAULT_WEBSERVER_URL  # Dagster's webserver: GraphQL launches


@dataclass(frozen=True)
class Settings:
    """Everything the platform reads from its environment."""

    home: Path
    sp_api: ApiSettings
    ads_api: ApiSettings
    sandbox_port: int
    sandbox_speed: float
    gcp_project: str | None
    bigquery_dataset: str
    gcs_bucket: str | None
    database_url: str | None
    start_date: date | None
    ads_lookback_days: int = 30  # Amazon restates ad metrics for up to ~28 days
    # Sales-and-traffic history through Data Kiosk (the app has the Brand Analytics role);
    # off: every history day is one GET_SALES_AND_TRAFFIC_REPORT of the app's 96 a day.
    data_kiosk: bool = False
    # The app's GET_SALES_AND_TRAFFIC_REPORT requests a day, at most Amazon's 96
    # (AMAZON_ASSETS_SALES_AND_TRAFFIC_DAILY; fewer leave room for another tool on the same app).
    sales_and_traffic_daily: int = SALES_AND_TRAFFIC_DAILY
    reuse_minutes: float = DEFAULT_REUSE_MINUTES  # AMAZON_ASSETS_REUSE_MINUTES
    ranker_retrain_cron: str = DEFAULT_RANKER_RETRAIN_CRON
    alerts_webhook_url: str | None = None
    slack_webhook_url: str | None = None
    reviews_dataset_url: str | None = None  # an Apify actor's dataset items URL
    has_reviews_token: bool = False  # the token itself stays in REVIEWS_APIFY_TOKEN
    reviews_daily_budget: float | None = None  # what reading the review dataset may cost a day
    reviews_cost_per_1000_items: float = 0.0  # the provider's price of 1,000 items read
    state_url: str | None = None  # PostgreSQL for quota buckets and the report ledger
    executor: str = "default"  # "celery" or "k8s": each step a Celery task or a Kubernetes pod
    celery_broker_url: str = DEFAULT_CELERY_BROKER
    celery_backend_url: str = "rpc://"
    celery_queue: str = "dagster"
    # SP-API region and marketplaces per account ("" = the default account; else env_suffix).
    sp_api_markets: Mapping[str, AccountMarket] = field(default_factory=dict)
    serving: ServingSettings = field(default_factory=ServingSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    oauth: OAuthSettings | None = None

    @property
    def uses_sandbox(self) -> bool:
        return self.sp_api.is_sandbox

    @property
    def runs_sandbox(self) -> bool:
        """Whether any Amazon API of this environment is the sandbox (the SP-API or the Ads API)."""
        return self.sp_api.is_sandbox or self.ads_api.is_sandbox

    @property
    def source_label(self) -> str:
        """What every materialization says about where its data came from."""
        return self.sp_api.source_label

    def clock_speed_of(self, api: ApiSettings) -> float:
        """How fast an API's clock runs: the sandbox's speed for a sandbox API, else 1."""
        return self.sandbox_speed if api.is_sandbox else 1.0

    def market(self, account: str = DEFAULT_ACCOUNT) -> AccountMarket:
        """The account's SP-API region, endpoint and marketplaces (else the default account's)."""
        key = "" if account == DEFAULT_ACCOUNT else env_suffix(account)
        return self.sp_api_markets.get(key) or self.sp_api_markets[""]

    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def state_path(self) -> Path:
        """SQLite file for client-side quota buckets and the ledger of requested reports."""
        return self.home / "state.sqlite"

    @property
    def state_location(self) -> str:
        """Where quota buckets and the report ledger live: AMAZON_ASSETS_STATE_URL (PostgreSQL,
        shared by every machine that runs against the same Amazon app) or the local SQLite file."""
        return self.state_url or str(self.state_path)

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def serving_path(self) -> Path:
        """Read-only snapshot of the DuckDB mart tables the API serves (parquet + manifest)."""
        return self.home / "serving"

    def jwt_signing_key(self) -> str:
        """AMAZON_ASSETS_JWT_SECRET, else a random key kept in the home (created once, mode 600),
        so `amazon-assets token` and `amazon-assets api` agree on one machine without setup."""
        if self.serving.jwt_secret:
            return self.serving.jwt_secret
        path = self.home / JWT_SECRET_FILE
        if not path.exists():
            # Written aside, then linked into place: a concurrent reader never sees it half
            # written, and of two processes creating it at once the first link wins.
            draft = path.with_name(f".{JWT_SECRET_FILE}.{os.getpid()}")
            descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(48))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return path.read_text().strip()

    @property
    def uses_bigquery(self) -> bool:
        return self.gcp_project is not None

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def clock_speed(self) -> float:
        """How fast the SP-API's simulated time runs against real time (1 against Amazon)."""
        return self.clock_speed_of(self.sp_api)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = _home(env)
        sandbox_port = _int(env, "AMAZON_ASSETS_SANDBOX_PORT", DEFAULT_SANDBOX_PORT, 1, 65535)
        sandbox_speed = _float(env, "AMAZON_ASSETS_SANDBOX_SPEED", DEFAULT_SANDBOX_SPEED)
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        markets = _markets(env)
        sp_api = _api_settings(
            env, "SP_API", SP_API_REGION_ENDPOINTS, sandbox_url, region=markets[""].region
        )
        # An account in another region talks to that region's endpoint, unless one endpoint
        # (SP_API_ENDPOINT, or the sandbox) serves every account.
        one_endpoint = sp_api.is_sandbox or bool(env.get("SP_API_ENDPOINT"))
        markets = {
            key: replace(
                market,
                endpoint=sp_api.endpoint
                if one_endpoint
                else SP_API_REGION_ENDPOINTS[market.region],
            )
            for key, market in markets.items()
        }
        ads_api = _api_settings(env, "ADS_API", ADS_API_REGION_ENDPOINTS, sandbox_url)
        dataset = env.get("BIGQUERY_DATASET") or "amazon_econ"
        if not dataset.replace("_", "").isalnum() or dataset[0].isdigit():
            raise ConfigError(
                f"BIGQUERY_DATASET must be letters, digits and underscores, not starting with a digit; got {dataset!r}."
            )
        database_url = _postgres_url(env, "DATABASE_URL")
        state_url = _postgres_url(env, "AMAZON_ASSETS_STATE_URL")
        reviews_url, reviews_token = _reviews(env)
        return cls(
            home=home,
            sp_api=sp_api,
            ads_api=ads_api,
            sandbox_port=sandbox_port,
            sandbox_speed=sandbox_speed,
            gcp_project=env.get("GOOGLE_CLOUD_PROJECT") or None,
            bigquery_dataset=dataset,
            gcs_bucket=env.get("GCS_BUCKET") or None,
            database_url=database_url,
            start_date=_date(env, "AMAZON_ASSETS_START_DATE"),
            ads_lookback_days=_int(env, "AMAZON_ASSETS_ADS_LOOKBACK_DAYS", 30, 1, 95),
            data_kiosk=_int(env, "AMAZON_ASSETS_DATA_KIOSK", 0, 0, 1) == 1,
            sales_and_traffic_daily=_int(
                env,
                "AMAZON_ASSETS_SALES_AND_TRAFFIC_DAILY",
                SALES_AND_TRAFFIC_DAILY,
                1,
                SALES_AND_TRAFFIC_DAILY,
            ),
            reuse_minutes=_float(env, "AMAZON_ASSETS_REUSE_MINUTES", DEFAULT_REUSE_MINUTES),
            ranker_retrain_cron=_cron(
                env, "AMAZON_ASSETS_RANKER_RETRAIN_CRON", DEFAULT_RANKER_RETRAIN_CRON
            ),
            alerts_webhook_url=_optional_url(env, "ALERTS_WEBHOOK_URL"),
            slack_webhook_url=_optional_url(env, "SLACK_WEBHOOK_URL"),
            reviews_dataset_url=reviews_url,
            has_reviews_token=reviews_token,
            reviews_daily_budget=_float(env, "REVIEWS_DAILY_BUDGET", 0.0) or None,
            reviews_cost_per_1000_items=_non_negative(env, "REVIEWS_COST_PER_1000_ITEMS"),
            state_url=state_url,
            **_executor(env),
            sp_api_markets=markets,
            serving=_serving(env),
            llm=_llm(env),
            oauth=_oauth(env, sp_api, ads_api, sandbox_url),
        )


def _home(env: Mapping[str, str]) -> Path:
    home = Path(env.get("AMAZON_ASSETS_HOME") or ".amazon_assets").expanduser().resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        # A probe of its own: processes starting together (two commands, test workers) removed
        # each other's shared probe file and read that as "not writable".
        with tempfile.NamedTemporaryFile(dir=home, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise ConfigError(
            f"AMAZON_ASSETS_HOME is not a writable directory: {home} ({error.strerror or error})."
        ) from None
    return home


def _markets(env: Mapping[str, str]) -> dict[str, AccountMarket]:
    """The default account's market and every account's named by SP_API_REGION_<ACCOUNT> or
    SP_API_MARKETPLACE_IDS_<ACCOUNT>."""
    suffixes = {
        match.group(2)
        for name in env
        if (match := re.fullmatch(r"SP_API_(REGION|MARKETPLACE_IDS)_([A-Z0-9_]+)", name))
    }
    markets = {"": _market(env, "", None)}
    for suffix in sorted(suffixes):
        markets[suffix] = _market(env, f"_{suffix}", markets[""].region)
    return markets


def _market(env: Mapping[str, str], suffix: str, inherited_region: str | None) -> AccountMarket:
    """Region and marketplaces of one account (its endpoint is filled in by the caller)."""
    region_name, ids_name = f"SP_API_REGION{suffix}", f"SP_API_MARKETPLACE_IDS{suffix}"
    region = env.get(region_name) or None
    if region is not None and region not in SP_API_REGION_ENDPOINTS:
        raise ConfigError(
            f"{region_name} must be one of {', '.join(sorted(SP_API_REGION_ENDPOINTS))}; "
            f"got {region!r}."
        )
    ids = tuple(part.strip() for part in (env.get(ids_name) or "").split(",") if part.strip())
    for marketplace_id in ids:
        if marketplace_id not in MARKETPLACES:
            raise ConfigError(
                f"{ids_name} names {marketplace_id!r}, which is not an Amazon marketplace id "
                "(e.g. ATVPDKIKX0DER for Amazon.com, A1PA6795UKMFR9 for Amazon.de)."
            )
    regions = {MARKETPLACES[m].region for m in ids}
    if len(regions) > 1:
        raise ConfigError(
            f"{ids_name} mixes regions ({', '.join(sorted(regions))}): one account sells in one "
            "SP-API region; register the other marketplaces as another account."
        )
    if region is None:
        region = regions.pop() if regions else inherited_region or "us-east-1"
    elif regions and regions != {region}:
        names = ", ".join(MARKETPLACES[m].name for m in ids if MARKETPLACES[m].region != region)
        raise ConfigError(
            f"{ids_name} names {names}, which is not in {region_name}={region}; set the region "
            "the marketplaces belong to."
        )
    if not ids:
        if region not in REGION_DEFAULT:
            raise ConfigError(
                f"{ids_name} is not set: name the marketplaces the {region} account sells in "
                "(comma-separated ids, e.g. A1PA6795UKMFR9,A13V1IB3VIYZZH for Amazon.de and .fr)."
            )
        ids = (REGION_DEFAULT[region],)
    return AccountMarket(region=region, endpoint="", marketplace_ids=ids)


def _api_settings(
    env: Mapping[str, str],
    prefix: str,
    region_endpoints: Mapping[str, str],
    sandbox_url: str,
    region: str | None = None,
) -> ApiSettings:
    region = region or env.get(f"{prefix}_REGION") or "us-east-1"
    if region not in region_endpoints:
        raise ConfigError(
            f"{prefix}_REGION must be one of {', '.join(sorted(region_endpoints))}; got {region!r}."
        )
    names = [f"{prefix}_REFRESH_TOKEN", f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET"]
    present = [name for name in names if env.get(name)]
    # The app's id and secret without a refresh token: the sellers' tokens come from the
    # credential vault (accounts connected through the consent flow).
    app_only = present == names[1:]
    if present and len(present) < len(names) and not app_only:
        missing = ", ".join(name for name in names if name not in present)
        raise ConfigError(
            f"{', '.join(present)} is set but {missing} is not: set all three, the client id and secret alone (sellers' tokens then come from the credential vault), or none (the sandbox)."
        )
    is_sandbox = not present
    aws_keys = [env.get(f"{prefix}_AWS_ACCESS_KEY"), env.get(f"{prefix}_AWS_SECRET_KEY")]
    if any(aws_keys) and not all(aws_keys):
        raise ConfigError(
            f"{prefix}_AWS_ACCESS_KEY and {prefix}_AWS_SECRET_KEY go together: set both or neither."
        )
    if is_sandbox:
        credentials = ApiCredentials(
            refresh_token=SANDBOX_REFRESH_TOKEN_PREFIX + DEFAULT_ACCOUNT,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
        )
        default_endpoint, default_token_url = sandbox_url, f"{sandbox_url}/auth/o2/token"
    else:
        credentials = ApiCredentials(*(env.get(name, "") for name in names))
        default_endpoint, default_token_url = region_endpoints[region], AMAZON_LWA_TOKEN_URL
    return ApiSettings(
        endpoint=_url(env, f"{prefix}_ENDPOINT", default_endpoint).rstrip("/"),
        lwa_token_url=_url(env, f"{prefix}_LWA_TOKEN_URL", default_token_url),
        region=region,
        credentials=credentials,
        is_sandbox=is_sandbox,
        aws_access_key=aws_keys[0],
        aws_secret_key=aws_keys[1],
    )


def secret_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """AMAZON_ASSETS_SECRET_KEY: Fernet keys, comma-separated, newest first (may be unset)."""
    from cryptography.fernet import Fernet

    keys = tuple(
        k.strip() for k in (env.get("AMAZON_ASSETS_SECRET_KEY") or "").split(",") if k.strip()
    )
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"AMAZON_ASSETS_SECRET_KEY key {position} is not a Fernet key (32 url-safe "
                "base64-encoded bytes; make one with `amazon-assets vault new-key`)."
            ) from None
    return keys


def _oauth(
    env: Mapping[str, str], sp_api: ApiSettings, ads_api: ApiSettings, sandbox_url: str
) -> OAuthSettings:
    draft = (env.get("SP_API_APP_DRAFT") or "false").lower()
    if draft not in ("true", "false", "1", "0"):
        raise ConfigError(f"SP_API_APP_DRAFT must be true or false; got {draft!r}.")
    sp_consent = (
        f"{sandbox_url}/apps/authorize/consent"
        if sp_api.is_sandbox
        else SP_API_CONSENT_URLS[sp_api.region]
    )
    ads_consent = (
        f"{sandbox_url}/ap/oa" if ads_api.is_sandbox else ADS_API_CONSENT_URLS[ads_api.region]
    )
    public_url = _optional_url(env, "AMAZON_ASSETS_PUBLIC_URL")
    return OAuthSettings(
        sp_api_consent_url=_url(env, "SP_API_CONSENT_URL", sp_consent),
        sp_api_application_id=env.get("SP_API_APP_ID")
        or (SANDBOX_APPLICATION_ID if sp_api.is_sandbox else None),
        sp_api_draft=draft in ("true", "1"),
        ads_api_consent_url=_url(env, "ADS_API_CONSENT_URL", ads_consent),
        secret_keys=secret_keys(env),
        public_url=public_url.rstrip("/") if public_url else None,
        webserver_url=_url(env, "DAGSTER_WEBSERVER_URL", DEFAULT_WEBSERVER_URL).rstrip("/"),
    )


def _reviews(env: Mapping[str, str]) -> tuple[str | None, bool]:
    """The review provider's dataset URL, and whether its token is set (both or neither)."""
    url, token = env.get("REVIEWS_APIFY_DATASET_URL"), env.get("REVIEWS_APIFY_TOKEN")
    if bool(url) != bool(token):
        raise ConfigError(
            "REVIEWS_APIFY_DATASET_URL and REVIEWS_APIFY_TOKEN go together: set both or neither."
        )
    return _optional_url(env, "REVIEWS_APIFY_DATASET_URL"), bool(token)


def _executor(env: Mapping[str, str]) -> dict[str, str]:
    """AMAZON_ASSETS_EXECUTOR and, for celery, where its broker, results and queue are."""
    executor = env.get("AMAZON_ASSETS_EXECUTOR") or "default"
    if executor not in EXECUTORS:
        raise ConfigError(
            f"AMAZON_ASSETS_EXECUTOR must be one of {', '.join(EXECUTORS)}; got {executor!r}."
        )
    queue = env.get("AMAZON_ASSETS_CELERY_QUEUE") or "dagster"
    if not queue.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(
            f"AMAZON_ASSETS_CELERY_QUEUE must be letters, digits, '-', '_' or '.'; got {queue!r}."
        )
    return {
        "executor": executor,
        "celery_broker_url": env.get("CELERY_BROKER_URL") or DEFAULT_CELERY_BROKER,
        "celery_backend_url": env.get("CELERY_RESULT_BACKEND") or "rpc://",
        "celery_queue": queue,
    }


def _postgres_url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name) or None
    if value and urlparse(value).scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"{name} must be a postgresql:// URL.")
    return value


def _serving(env: Mapping[str, str]) -> ServingSettings:
    redis_url = env.get("REDIS_URL") or None
    if redis_url and urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL must be a redis://, rediss:// or unix:// URL.")
    prefix = env.get("AMAZON_ASSETS_REDIS_PREFIX") or "amazon_assets"
    if not _REDIS_PREFIX.match(prefix):
        raise ConfigError(
            "AMAZON_ASSETS_REDIS_PREFIX must be 1 to 64 letters, digits, '_', '.', ':' or '-'; "
            f"got {prefix!r}."
        )
    secret = env.get("AMAZON_ASSETS_JWT_SECRET") or None
    if secret and len(secret) < _MIN_JWT_SECRET_LENGTH:
        raise ConfigError(
            f"AMAZON_ASSETS_JWT_SECRET must be at least {_MIN_JWT_SECRET_LENGTH} characters "
            "(e.g. `openssl rand -base64 48`)."
        )
    rate_limit = env.get("AMAZON_ASSETS_API_RATE_LIMIT") or DEFAULT_API_RATE_LIMIT
    try:
        from limits import parse_many

        parse_many(rate_limit)
    except ValueError:
        raise ConfigError(
            "AMAZON_ASSETS_API_RATE_LIMIT must be limits like '20/second;1200/minute'; "
            f"got {rate_limit!r}."
        ) from None
    return ServingSettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        jwt_secret=secret,
        jwt_issuer=env.get("AMAZON_ASSETS_JWT_ISSUER") or "amazon-assets",
        rate_limit=rate_limit,
        cache_ttl=_float(env, "AMAZON_ASSETS_API_CACHE_TTL", 3600.0),
        cache_max_stale=_float(env, "AMAZON_ASSETS_API_CACHE_MAX_STALE", 86_400.0),
        change_poll_seconds=_float(env, "AMAZON_ASSETS_API_POLL_SECONDS", 1.0),
        settle_days=_int(env, "AMAZON_ASSETS_SETTLE_DAYS", 7, 0, 60),
    )


def _llm(env: Mapping[str, str]) -> LlmSettings:
    base_url = _optional_url(env, "LLM_BASE_URL")
    model = env.get("LLM_MODEL") or None
    if base_url and not model:
        raise ConfigError(
            "LLM_BASE_URL is set but LLM_MODEL is not: name the model the provider should use."
        )
    return LlmSettings(
        base_url=base_url.rstrip("/") if base_url else None,
        api_key=env.get("LLM_API_KEY") or None,
        model=model,
        daily_budget=_float(env, "LLM_DAILY_BUDGET", 5.0),
        input_cost_per_mtok=_non_negative(env, "LLM_INPUT_COST_PER_MTOK"),
        output_cost_per_mtok=_non_negative(env, "LLM_OUTPUT_COST_PER_MTOK"),
    )


def _non_negative(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name)
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number; got {raw!r}.") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative; got {raw!r}.")
    return value


def _optional_url(env: Mapping[str, str], name: str) -> str | None:
    return _url(env, name, "") if env.get(name) else None


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name} is not an http(s) URL: {value!r}.")
    return value


def _cron(env: Mapping[str, str], name: str, default: str) -> str:
    from dagster._utils.schedules import is_valid_cron_string

    value = (env.get(name) or default).strip()
    if not is_valid_cron_string(value):
        raise ConfigError(
            f"{name} must be a cron schedule of five fields (UTC), e.g. {default!r}; got {value!r}."
        )
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}; got {value}.")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number; got {raw!r}.") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero; got {raw!r}.")
    return value


def _date(env: Mapping[str, str], name: str) -> date | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a date written YYYY-MM-DD; got {raw!r}.") from None
