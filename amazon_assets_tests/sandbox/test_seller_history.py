"""Seller-history reports: formats, consistency with the marketplace, settlements, encodings."""

from __future__ import annotations

import csv
import gzip
import io
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import httpx
import polars as pl
import pytest
from sp_api.api import Reports
from sp_api.base import SellingApiBadRequestException

from amazon_assets.sandbox import Marketplace, SandboxConfig, SandboxServer
from amazon_assets.sandbox import seller_history as sh
from amazon_assets.sandbox.reports import REPORT_GENERATORS
from amazon_assets.settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
    US_MARKETPLACE_ID,
)

TODAY = date(2026, 11, 20)
DAY = date(2026, 10, 5)


def history(**overrides) -> sh.SellerHistory:
    config = SandboxConfig(**{"today": TODAY, "skus_per_account": 40, **overrides})
    return sh.SellerHistory.of(Marketplace(config))


def rows(document: bytes, encoding: str = "utf-8") -> list[list[str]]:
    text = document.decode(encoding)
    if text.startswith('"'):  # the ledger quotes every field
        return list(csv.reader(io.StringIO(text), delimiter="\t"))
    return [line.split("\t") for line in text.splitlines()]


def test_orders_match_marketplace_units_and_prices():
    h = history()
    orders = h.orders("default", DAY)
    truth = h.marketplace.sales_and_traffic("default", DAY)
    live = orders.filter(~pl.col("cancelled"))
    units = live.group_by("sku").agg(pl.col("quantity").sum())
    joined = truth.filter(pl.col("units_ordered") > 0).join(units, on="sku", how="left")
    assert (joined["units_ordered"] == joined["quantity"]).all()
    assert live.height == truth["total_order_items"].sum()
    priced = live.join(truth.select("sku", "price"), on="sku")
    assert (priced["item_price"] == priced["price"] * priced["quantity"]).all()
    document = rows(h.orders_document("default", DAY, DAY))
    assert document[0] == sh.ORDERS_COLUMNS
    assert len(document) - 1 == orders.height
    assert all(len(r) == len(sh.ORDERS_COLUMNS) for r in document)
    assert document[1][2].endswith("+00:00") and document[1][2][10] == "T"


def test_ledger_shipments_are_minus_units_and_history_is_18_months():
    h = history()
    ledger = h.ledger("default", DAY)
    shipped = ledger.filter(pl.col("event_type") == "Shipments")["quantity"].sum()
    assert shipped == -h.marketplace.sales_and_traffic("default", DAY)["units_ordered"].sum()
    assert set(ledger["event_type"]) <= {
        "Shipments", "CustomerReturns", "Receipts", "Adjustments", "WhseTransfers",
        "VendorReturns",
    }  # fmt: skip
    document = rows(h.ledger_document("default", DAY, DAY))
    assert document[0] == sh.LEDGER_COLUMNS
    assert document[1][0] == DAY.strftime("%m/%d/%Y")
    # Local time with its offset, e.g. 2026-07-06T00:00:00-0700 in Amazon.com's Pacific time.
    assert document[1][14][-5:] in ("-0700", "-0800") and document[1][15] == "default store"
    old = sh.ledger_history_start(TODAY) - timedelta(days=1)
    assert h.ledger_document("default", old - timedelta(days=10), old) is None


def test_fee_preview_reimbursements_returns_formats():
    h = history()
    snapshot = sh.fee_snapshot_date(DAY)
    assert snapshot <= DAY < snapshot + timedelta(days=3)
    fees = rows(h.fee_preview_document("default", DAY, DAY))
    assert fees[0] == sh.FEE_PREVIEW_COLUMNS
    assert len(fees) - 1 == h.fee_preview("default", DAY).height
    start, end = date(2026, 8, 1), date(2026, 9, 30)
    reimbursements = rows(h.reimbursements_document("default", start, end))
    assert reimbursements[0] == sh.REIMBURSEMENTS_COLUMNS
    truth = pl.concat([h.reimbursements("default", start + timedelta(days=i)) for i in range(61)])
    assert len(reimbursements) - 1 == truth.height
    returns = rows(h.returns_document("default", start, end))
    assert returns[0] == sh.RETURNS_COLUMNS
    returned = pl.concat([h.returns("default", start + timedelta(days=i)) for i in range(61)])
    assert sum(int(r[6]) for r in returns[1:]) == returned["quantity"].sum()


def test_settlement_total_is_sum_of_amounts():
    h = history()
    settlement_id, start, end = h.settlement_periods("default")[-1]
    frame = h.settlement_rows("default", start, end)
    document = rows(h.settlement_document("default", start, end))
    header, summary, body = document[0], document[1], document[2:]
    assert header == sh.SETTLEMENT_COLUMNS
    assert summary[0] == settlement_id and summary[1] == f"{start} 00:00:00 UTC"
    amount = header.index("amount")
    assert sum(Decimal(r[amount]) for r in body) == Decimal(summary[4])
    assert Decimal(summary[4]) == frame["amount"].sum()
    assert len(body) == frame.height
    assert (end - start).days + 1 == 14


def test_documents_are_deterministic():
    first, second = history(), history()
    for method in ("orders_document", "ledger_document", "returns_document"):
        a = getattr(first, method)("default", DAY, DAY + timedelta(days=2))
        b = getattr(second, method)("default", DAY, DAY + timedelta(days=2))
        assert a == b


@pytest.mark.parametrize(("charset", "marker"), [("cp1252", "™"), ("shift_jis", "ステ")])
def test_encodings_round_trip(charset, marker):
    h = history(accounts=("default", "other"), encodings=(("other", charset),))
    document = h.orders_document("other", DAY, DAY + timedelta(days=3))
    names = set(h.products("other")["title"])
    decoded = {r[10] for r in rows(document, charset)[1:]}
    assert decoded <= names
    assert any(marker in name or "é" in name for name in decoded) or charset == "shift_jis"
    if charset == "shift_jis":
        assert any(any("\u3040" <= ch <= "\u30ff" for ch in name) for name in decoded)
    with pytest.raises(UnicodeDecodeError):
        document.decode("ascii")


def test_malform_breaks_three_rows():
    h = history()
    document = h.orders_document("default", DAY, DAY)
    broken = REPORT_GENERATORS[sh.ORDERS].malform(document)
    table = rows(broken)
    width = len(table[0])
    assert len(table[1]) == width - 1
    assert table[2][table[0].index("quantity")] == "12,5x"
    assert table[3][table[0].index("purchase-date")] == "31/31/2026 25:61"
    assert all(len(r) == width for r in table[2:])


# -- over HTTP with python-amazon-sp-api ----------------------------------------------------


@dataclass
class Where:
    endpoint: str
    marketplace_id: str = US_MARKETPLACE_ID
    region: str = "us-east-1"


def reports_client(sandbox: SandboxServer, account: str = "default") -> Reports:
    from sp_api.auth import AccessTokenClient

    class SandboxLogin(AccessTokenClient):
        scheme = "http://"
        host = sandbox.url.removeprefix("http://")

    credentials = {
        "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + account,
        "lwa_app_id": SANDBOX_CLIENT_ID,
        "lwa_client_secret": SANDBOX_CLIENT_SECRET,
    }
    return Reports(
        Where(sandbox.url), credentials=credentials, auth_token_client_class=SandboxLogin
    )


def fetch(client: Reports, report_type: str, start: date, end: date) -> tuple[str, str]:
    created = client.create_report(
        reportType=report_type, dataStartTime=start.isoformat(), dataEndTime=end.isoformat()
    )
    return download(client, created.payload["reportId"])


def download(client: Reports, report_id: str) -> tuple[str, str]:
    deadline = time.monotonic() + 20
    while (report := client.get_report(report_id).payload)["processingStatus"] != "DONE":
        assert report["processingStatus"] in ("IN_QUEUE", "IN_PROGRESS"), report
        assert time.monotonic() < deadline
        time.sleep(0.02)
    response = client.get_report_document(report["reportDocumentId"], download=True)
    return response.payload["document"], response.character_code


def test_orders_report_over_http(sandbox_factory):
    sandbox = sandbox_factory(quotas=False, accounts=("default", "jp"),
                              encodings=(("jp", "shift_jis"),))  # fmt: skip
    client = reports_client(sandbox, "jp")
    day = sandbox.marketplace.last_day("jp") - timedelta(days=3)
    text, charset = fetch(client, sh.ORDERS, day, day)
    assert charset.lower() == "shift_jis"
    lines = [line.split("\t") for line in text.splitlines()]
    assert lines[0] == sh.ORDERS_COLUMNS
    truth = sandbox.seller_history.orders("jp", day)
    assert [r[0] for r in lines[1:]] == truth["amazon_order_id"].to_list()
    assert [r[10] for r in lines[1:]] == truth["product_name"].to_list()
    with pytest.raises(SellingApiBadRequestException):
        client.create_report(
            reportType=sh.ORDERS,
            dataStartTime=(day - timedelta(days=31)).isoformat(),
            dataEndTime=day.isoformat(),
        )


def test_all_report_types_over_http(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = reports_client(sandbox)
    day = sandbox.marketplace.last_day("default") - timedelta(days=10)
    expected = {
        sh.LEDGER: sh.LEDGER_COLUMNS,
        sh.FEE_PREVIEW: sh.FEE_PREVIEW_COLUMNS,
        sh.REIMBURSEMENTS: sh.REIMBURSEMENTS_COLUMNS,
        sh.CUSTOMER_RETURNS: sh.RETURNS_COLUMNS,
    }
    for report_type, columns in expected.items():
        text, charset = fetch(client, report_type, day - timedelta(days=30), day)
        assert charset.lower() == "utf-8"
        assert [c.strip('"') for c in text.splitlines()[0].split("\t")] == columns, report_type


def test_settlements_are_listed_for_90_days_and_cannot_be_requested(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = reports_client(sandbox)
    with pytest.raises(SellingApiBadRequestException, match="cannot be requested"):
        client.create_report(reportType=sh.SETTLEMENTS)
    listed = client.get_reports(reportTypes=[sh.SETTLEMENTS], pageSize=100).payload["reports"]
    today = sandbox.marketplace.today
    periods = sandbox.seller_history.settlement_periods("default")
    recent = [p for p in periods if (today - (p[2] + timedelta(days=1))).days <= 90]
    assert len(listed) == len(recent) >= 6
    assert all(r["processingStatus"] == "DONE" for r in listed)
    newest = max(listed, key=lambda r: r["dataEndTime"])
    text, _ = download(client, newest["reportId"])
    lines = [line.split("\t") for line in text.splitlines()]
    settlement_id, start, end = sandbox.seller_history.settlement_periods("default")[-1]
    frame = sandbox.seller_history.settlement_rows("default", start, end)
    assert lines[1][0] == settlement_id
    assert Decimal(lines[1][4]) == frame["amount"].sum()
    assert len(lines) - 2 == frame.height


def test_malformed_fault_over_http(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = reports_client(sandbox)
    sandbox.faults.malform_next_document()
    day = sandbox.marketplace.last_day("default") - timedelta(days=5)
    text, _ = fetch(client, sh.LEDGER, day, day)
    lines = rows(text.encode())
    assert len(lines[1]) == len(lines[0]) - 1
    assert lines[2][lines[0].index("Quantity")] == "12,5x"


def test_download_carries_charset_header(sandbox_factory):
    sandbox = sandbox_factory(quotas=False, accounts=("default", "eu"),
                              encodings=(("eu", "cp1252"),))  # fmt: skip
    client = reports_client(sandbox, "eu")
    day = sandbox.marketplace.last_day("eu") - timedelta(days=2)
    created = client.create_report(reportType=sh.ORDERS, dataStartTime=day.isoformat())
    report_id = created.payload["reportId"]
    deadline = time.monotonic() + 20
    while (report := client.get_report(report_id).payload)["processingStatus"] != "DONE":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    url = client.get_report_document(report["reportDocumentId"]).payload["url"]
    response = httpx.get(url)
    assert response.headers["content-type"] == "text/plain; charset=cp1252"
    text = gzip.decompress(response.content).decode("cp1252")
    assert "™" in text


def test_old_settlements_drop_out_of_get_reports_as_time_passes(sandbox_factory):
    sandbox = sandbox_factory(quotas=False, speed=30 * 86_400.0)  # a month per real second
    client = reports_client(sandbox)
    before = client.get_reports(reportTypes=[sh.SETTLEMENTS], pageSize=100).payload["reports"]
    time.sleep(1.2)
    after = client.get_reports(reportTypes=[sh.SETTLEMENTS], pageSize=100).payload["reports"]
    assert 0 < len(after) < len(before)
    assert {r["reportId"] for r in after} < {r["reportId"] for r in before}
