"""Where alerts go: the log always, a JSON webhook and Slack when configured.

A notifier takes the alert rows (analytics.alerts.ALERTS_SCHEMA) that have not been sent yet and
raises when it could not deliver them; the alerts asset decides what "not sent yet" means (the
`features.alerts_sent` table), so every notifier here is stateless.
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
    """One line a person reads: '2026-01-05 B000000001 (default): price_change 19.99 -> 24.99'."""
    return (
        f"{alert['report_date']} {alert['asin']} ({alert['account']}): "
        f"{alert['kind']} {alert['before']} -> {alert['after']}"
    )


@dataclass
class LogNotifier:
    """Writes one log line per alert (the Dagster run log when given the context's logger)."""

    logger: logging.Logger | Any = field(default_factory=lambda: logging.getLogger(__name__))

    def send(self, alerts: pl.DataFrame) -> None:
        for alert in alert_records(alerts):
            self.logger.info(f"alert {alert['alert_id']}: {describe(alert)}")


@dataclass
class WebhookNotifier:
    """POSTs {"alerts": [...]} as JSON to a URL; a non-2xx answer is an error."""

    url: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def send(self, alerts: pl.DataFrame) -> None:
        if alerts.is_empty():
            return
        response = httpx.post(
            self.url, json={"alerts": alert_records(alerts)}, timeout=self.timeout
        )
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
        text = f"*{len(records)} Amazon alert(s)*\n" + "\n".join(lines)
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
