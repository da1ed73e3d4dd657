"""Where alerts go: the log always, a JSON webhook and Slack when configured.

A notifier takes the alert rows (analytics.alerts.ALERTS_SCHEMA) that have not been sent yet and
raises when it could not deliver them; the alerts asset decides what "not sent yet" means (the
`features.alerts_sent` table), so every notifier here is stateless. Alerts go out as a digest per
account (counts per kind, then the alerts), never as one message or log event per alert.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import dagster as dg
import httpx
import polars as pl

# Slack truncates long messages; the rest is counted, and the webhook carries every row.
SLACK_MAX_LINES = 40
DEFAULT_TIMEOUT_SECONDS = 10.0


class Notifier(Protocol):
    """Delivers alert rows somewhere; raises when it could not."""

    def send(self, alerts: pl.DataFrame) -> None: ...


def alert_records(alerts: pl.DataFrame) -> list[dict[str, Any]]:
    """Alert rows as JSON-ready dicts: dates ISO, decimals as exact strings."""
    text = alerts.with_columns(
        pl.col(name).cast(pl.String)
        for name, dtype in alerts.schema.items()
        if isinstance(dtype, pl.Decimal | pl.Date | pl.Datetime)
    )
    return text.to_dicts()


def describe(alert: Mapping[str, Any]) -> str:
    """One line a person reads, naming the baseline: '2026-01-05 B000000001 (default):
    price_change 19.99 -> 24.99 (+25.0 % vs median of the 7 days before; 3 days)'."""
    change = alert.get("change")
    size = ""
    if change is not None and alert["kind"] in ("price_change", "bsr_change"):
        size = f"{float(change):+.1%} ".replace("%", " %")
    elif change is not None and alert["kind"] == "rating_drop":
        size = f"{float(change):+.1f} stars "
    days = alert.get("episode_days")
    lasted = f"; {days} day{'s' * (int(days) != 1)}" if days is not None else ""
    return (
        f"{alert['report_date']} {alert['asin']} ({alert['account']}): "
        f"{alert['kind']} {alert['before']} -> {alert['after']} "
        f"({size}vs {alert.get('baseline') or 'the day before'}{lasted})"
    )


def digest(alerts: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Counts per account and kind: {"default": {"price_change": 3, "stock_out": 1}}."""
    counts: dict[str, dict[str, int]] = {}
    for account, kind, n in alerts.group_by("account", "kind").len().sort("account", "kind").rows():
        counts.setdefault(account, {})[kind] = n
    return counts


def digest_lines(alerts: pl.DataFrame) -> list[str]:
    """One line per account: '7 new alerts for default: 3 price_change, 4 stock_out'."""
    return [
        f"{sum(kinds.values())} new alert(s) for {account}: "
        + ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        for account, kinds in digest(alerts).items()
    ]


@dataclass
class LogNotifier:
    """Writes the digest, one log line per account (the Dagster run log when given the context's
    logger); the alerts themselves are in the alerts table, the webhook and Slack."""

    logger: logging.Logger | Any = field(default_factory=lambda: logging.getLogger(__name__))

    def send(self, alerts: pl.DataFrame) -> None:
        for line in digest_lines(alerts):
            self.logger.info(line)


@dataclass
class WebhookNotifier:
    """POSTs {"alerts": [...]} as JSON to a URL; a non-2xx answer is an error."""

    url: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def send(self, alerts: pl.DataFrame) -> None:
        if alerts.is_empty():
            return
        body = {"digest": digest(alerts), "alerts": alert_records(alerts)}
        response = httpx.post(self.url, json=body, timeout=self.timeout)
        response.raise_for_status()


@dataclass
class SlackNotifier:
    """Posts a text message to a Slack incoming-webhook URL."""

    webhook_url: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def send(self, alerts: pl.DataFrame) -> None:
        if alerts.is_empty():
            return
        records = alert_records(alerts)
        lines = [f"• {describe(alert)}" for alert in records[:SLACK_MAX_LINES]]
        if len(records) > SLACK_MAX_LINES:
            lines.append(f"… and {len(records) - SLACK_MAX_LINES} more")
        summary = "\n".join(f"*{line}*" for line in digest_lines(alerts))
        text = summary + "\n" + "\n".join(lines)
        response = httpx.post(self.webhook_url, json={"text": text}, timeout=self.timeout)
        response.raise_for_status()


@dataclass
class AllNotifiers:
    """Sends to each notifier in turn; the first failure stops and is raised."""

    notifiers: Sequence[Notifier]

    def send(self, alerts: pl.DataFrame) -> None:
        for notifier in self.notifiers:
            notifier.send(alerts)


class AlertNotifierResource(dg.ConfigurableResource):
    """The notifiers the environment configures: ALERTS_WEBHOOK_URL and SLACK_WEBHOOK_URL."""

    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def notifier(self, logger: logging.Logger | Any = None) -> Notifier:
        """The log notifier, plus a webhook and Slack notifier for each URL set."""
        notifiers: list[Notifier] = [LogNotifier(logger) if logger else LogNotifier()]
        if self.webhook_url:
            notifiers.append(WebhookNotifier(self.webhook_url, self.timeout))
        if self.slack_webhook_url:
            notifiers.append(SlackNotifier(self.slack_webhook_url, self.timeout))
        return AllNotifiers(notifiers)

    @property
    def targets(self) -> list[str]:
        """Names of the configured channels, for run metadata (no URLs: they hold secrets)."""
        return (
            ["log"]
            + ["webhook"] * bool(self.webhook_url)
            + ["slack"] * bool(self.slack_webhook_url)
        )
