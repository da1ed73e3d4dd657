"""Notifiers over real HTTP: a local server stands in for the webhook and for Slack."""

import json
import logging
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import polars as pl
import pytest

from amazon_assets.analytics.alerts import ALERTS_SCHEMA
from amazon_assets.notifiers import (
    SLACK_MAX_LINES,
    AlertNotifierResource,
    LogNotifier,
    SlackNotifier,
    WebhookNotifier,
)


class Receiver:
    """Records every POSTed JSON body; answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(
                    json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                )
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def _alerts(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "alert_id": [f"id{i}" for i in range(n)],
            "account": ["default"] * n,
            "asin": [f"B00000000{i % 10}" for i in range(n)],
            "report_date": [date(2026, 1, 5)] * n,
            "kind": ["price_change"] * n,
            "before": [Decimal("19.99")] * n,
            "after": [Decimal("24.99")] * n,
            "change": [0.25] * n,
            "baseline": ["median of the 7 days before"] * n,
            "episode_start": [date(2026, 1, 3)] * n,
            "episode_days": [3] * n,
        },
        schema=ALERTS_SCHEMA,
    )


def test_webhook_posts_exact_json(receiver: Receiver) -> None:
    WebhookNotifier(receiver.url).send(_alerts(2))
    [body] = receiver.bodies
    assert body["alerts"][0] == {
        "alert_id": "id0",
        "account": "default",
        "asin": "B000000000",
        "report_date": "2026-01-05",
        "kind": "price_change",
        "before": "19.99",
        "after": "24.99",
        "change": 0.25,
        "baseline": "median of the 7 days before",
        "episode_start": "2026-01-03",
        "episode_days": 3,
    }
    assert body["digest"] == {"default": {"price_change": 2}}
    WebhookNotifier(receiver.url).send(_alerts(0))
    assert len(receiver.bodies) == 1  # nothing to say, nothing sent


def test_a_refused_delivery_raises(receiver: Receiver) -> None:
    receiver.status = 500
    with pytest.raises(httpx.HTTPStatusError):
        WebhookNotifier(receiver.url).send(_alerts(1))


def test_slack_message_is_capped(receiver: Receiver) -> None:
    SlackNotifier(receiver.url).send(_alerts(SLACK_MAX_LINES + 5))
    text = receiver.bodies[0]["text"]
    assert text.startswith(f"*{SLACK_MAX_LINES + 5} new alert(s) for default: ")
    assert (
        "B000000000 (default): price_change 19.99 -> 24.99 "
        "(+25.0 % vs median of the 7 days before; 3 days)" in text
    )
    assert text.endswith("… and 5 more")


def test_log_notifier_writes_one_digest_line_per_account(caplog: pytest.LogCaptureFixture) -> None:
    other = _alerts(2).with_columns(
        pl.lit("acme").alias("account"), pl.lit("stock_out").alias("kind")
    )
    # A CLI command run earlier in this process quiets the `amazon_assets` logger.
    with caplog.at_level(logging.INFO, logger="amazon_assets.notifiers"):
        LogNotifier().send(pl.concat([_alerts(30), other]))
    lines = [r.getMessage() for r in caplog.records if "new alert" in r.getMessage()]
    assert lines == [
        "2 new alert(s) for acme: 2 stock_out",
        "30 new alert(s) for default: 30 price_change",
    ]


def test_resource_sends_to_every_configured_channel(receiver: Receiver) -> None:
    resource = AlertNotifierResource(webhook_url=receiver.url, slack_webhook_url=receiver.url)
    assert resource.targets == ["log", "webhook", "slack"]
    resource.notifier().send(_alerts(1))
    assert [sorted(body) for body in receiver.bodies] == [["alerts", "digest"], ["text"]]
    assert AlertNotifierResource().targets == ["log"]
