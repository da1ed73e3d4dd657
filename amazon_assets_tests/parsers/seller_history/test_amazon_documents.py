"""The seller-history parsers on Amazon's own published models and examples (documents/README.md).

Finances: every event list of Amazon's Finances v0 model, each with an example event built from
the model's definitions (every field present, every amount distinct), and Amazon's three
sandbox example answers verbatim; every amount must come out as a row, nothing quarantined.
Flat files: one document per family in Amazon's formats (quoted ledger with a Store column,
settlement V2 with MM/DD/YY posted dates, an EU account's Latin-1 documents with decimal commas).
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA, refused_rows
from amazon_assets.parsers.seller_history.financial_events import (
    EVENT_LISTS,
    FINANCIAL_EVENTS_SCHEMA,
    NATURAL_KEY,
    load_financial_events,
    page_counts,
    parse_financial_events,
)
from amazon_assets.parsers.seller_history.inventory_ledger import INVENTORY_LEDGER
from amazon_assets.parsers.seller_history.orders import ORDERS
from amazon_assets.parsers.seller_history.reimbursements import REIMBURSEMENTS
from amazon_assets.parsers.seller_history.settlements import parse_settlement

DOCUMENTS = Path(__file__).resolve().parent.parent / "documents"
MODEL = json.loads((DOCUMENTS / "finances_v0_model.json").read_text())
DEFINITIONS = MODEL["definitions"]
NOW = datetime(2026, 8, 1, tzinfo=UTC)
WINDOW = {"PostedAfter": "2020-01-01T00:00:00+00:00", "PostedBefore": "2026-08-01T00:00:00+00:00"}


def stored(*payloads: dict) -> bytes:
    """A bronze window document holding Amazon's answers as pages."""
    return gzip.compress(json.dumps({**WINDOW, "pages": list(payloads)}).encode())


def parse(document: bytes):
    return parse_financial_events(document, account="acme", report_id="fe-1", ingested_at=NOW)


# -- the model ----------------------------------------------------------------------------------


def _name(reference: str) -> str:
    return reference.rsplit("/", 1)[-1]


def model_example(name: str, amounts: Iterator[int], field_name: str = "") -> Any:
    """An instance of a model definition with every property present and distinct amounts."""
    definition = DEFINITIONS[name]
    if name == "Currency":
        n = next(amounts)
        return {"CurrencyCode": "USD", "CurrencyAmount": f"{n}.{n:02d}"}
    if name == "Date":
        return "2026-01-05T10:00:00.363Z"
    if definition.get("type") == "array":
        return [_value(definition["items"], amounts, field_name)]
    return {
        key: _value(schema, amounts, key)
        for key, schema in (definition.get("properties") or {}).items()
    }


def _value(schema: dict, amounts: Iterator[int], field_name: str) -> Any:
    if "$ref" in schema:
        return model_example(_name(schema["$ref"]), amounts, field_name)
    if schema.get("type") == "array":
        return [_value(schema["items"], amounts, field_name)]
    if schema.get("type") == "integer" or "quantity" in field_name.lower():
        return 3 if schema.get("type") == "integer" else "3"
    return f"{field_name}-1"


def amounts_in(value: Any) -> list[Decimal]:
    """Every CurrencyAmount anywhere in an event, as Decimal."""
    if isinstance(value, dict):
        own = [Decimal(str(value["CurrencyAmount"]))] if "CurrencyAmount" in value else []
        return own + [a for v in value.values() for a in amounts_in(v)]
    if isinstance(value, list):
        return [a for v in value for a in amounts_in(v)]
    return []


def model_lists() -> dict[str, str]:
    """Event list name -> its event definition, from FinancialEvents in the model."""
    lists = {}
    for key, schema in DEFINITIONS["FinancialEvents"]["properties"].items():
        list_definition = DEFINITIONS[_name(schema["$ref"])]
        lists[key] = _name(list_definition["items"]["$ref"])
    return lists


def test_the_parser_knows_exactly_the_event_lists_of_amazons_model() -> None:
    assert set(EVENT_LISTS) == set(model_lists())
    assert len(EVENT_LISTS) == 34


@pytest.mark.parametrize("list_name", sorted(model_lists()))
def test_every_amount_of_every_event_type_in_the_model_is_a_row(list_name: str) -> None:
    event = model_example(model_lists()[list_name], itertools.count(1))
    parsed = parse(stored({"FinancialEvents": {list_name: [event]}}))
    facts = parsed.facts
    assert parsed.quarantine.height == 0, parsed.quarantine["reason"].to_list()
    assert facts.schema == FINANCIAL_EVENTS_SCHEMA
    expected = amounts_in(event)
    assert expected, f"the model example of {list_name} holds no amount"
    assert Counter(facts["amount"].to_list()) == Counter(expected)
    assert set(facts["event_type"]) == {list_name.removesuffix("EventList")}
    assert set(facts["currency"]) == {"USD"} and facts["amount_role"].null_count() == 0
    assert facts["page_number"].to_list() == [1] * facts.height
    assert facts["event_number"].to_list() == [1] * facts.height
    if list_name != "ServiceFeeEventList" and "Debt" not in list_name and "Loan" not in list_name:
        assert facts["report_date"].unique().to_list() == [date(2026, 1, 5)]


def test_amazons_example_answers_load_every_event() -> None:
    answers = [
        json.loads((DOCUMENTS / name).read_text())["payload"]
        for name in (
            "finances_v0_list_financial_events.json",
            "finances_v0_list_financial_events_by_order_id.json",
            "finances_v0_list_financial_events_by_group_id.json",
        )
    ]
    parsed = parse(stored(*answers))
    facts = parsed.facts
    assert parsed.quarantine.height == 0 and parsed.document_rows == 4 + 4 + 6
    assert facts.select("page_number", "event_number").unique().height == 14
    assert facts.group_by("event_type").agg(pl.col("event_number").n_unique()).sort(
        "event_type"
    ).rows() == sorted(
        [
            ("PayWithAmazon", 1),
            ("ServiceProviderCredit", 1),
            ("RentalTransaction", 2),
            ("ProductAdsPayment", 2),
            ("Retrocharge", 1),
            ("ServiceFee", 1),
            ("Chargeback", 1),
            ("ImagingServicesFee", 1),
            ("NetworkComminglingTransaction", 1),
            ("AffordabilityExpenseReversal", 1),
            ("TrialShipment", 1),
            ("TaxWithholding", 1),
        ]
    )
    # Every amount of Amazon's examples is a row.
    every_amount = [a for answer in answers for a in amounts_in(answer)]
    assert facts.height == len(every_amount) and facts["amount"].sum() == sum(every_amount)
    # The cases: PayWithAmazon's single Charge; ProductAdsPayment with its total.
    pay = facts.filter(pl.col("event_type") == "PayWithAmazon")
    assert sorted(pay["component_kind"].to_list()) == ["Charge", "Fee"]
    assert pay["seller_order_id"].to_list() == ["454645645656456"] * 2
    ads = facts.filter(pl.col("event_type") == "ProductAdsPayment", pl.col("page_number") == 1)
    assert ads["component_type"].to_list() == ["baseValue", "taxValue", "transactionValue"]
    assert ads["amount_role"].to_list() == ["part", "part", "total"]
    assert set(ads["reference_id"]) == {"3454535453"}
    credit = facts.filter(pl.col("event_type") == "ServiceProviderCredit").row(0, named=True)
    assert credit["posted_date"] == datetime(2020, 2, 5, 13, 56, 0, 363000, tzinfo=UTC)
    assert credit["amount"] == Decimal("25.37") and credit["marketplace_id"] == "1"
    retro = facts.filter(pl.col("event_type") == "Retrocharge")
    assert sorted(retro["component_kind"].to_list()) == ["Tax", "Tax", "TaxWithheld"]
    withholding = facts.filter(pl.col("event_type") == "TaxWithholding")
    assert sorted(withholding["amount_role"].to_list()) == ["memo", "part"]
    # The page accounting the blocking check uses: events served per page.
    counts = page_counts(load_financial_events(stored(*answers), "fe-1"))
    assert [(c.page_number, c.first_event, c.events) for c in counts] == [
        (1, 1, 4),
        (2, 5, 4),
        (3, 9, 6),
    ]
    assert facts.select(NATURAL_KEY).unique().height == facts.height


def test_an_unknown_event_list_is_quarantined_with_its_name() -> None:
    page = {
        "FinancialEvents": {
            "ShinyNewEventList": [{"PostedDate": "2026-01-05T10:00:00Z", "Foo": "bar"}],
            "ServiceFeeEventList": [
                {"FeeList": [{"FeeType": "Subscription", "FeeAmount": {"CurrencyCode": "USD", "CurrencyAmount": -39.99}}]}
            ],
        }
    }  # fmt: skip
    parsed = parse(stored(page))
    assert parsed.facts["amount"].to_list() == [Decimal("-39.99")]
    [record] = parsed.quarantine.rows(named=True)
    assert "ShinyNewEventList" in record["reason"] and record["row_loaded"] is False
    assert record["report_date"] == date(2026, 1, 5) and record["line_number"] == 1


def test_an_unknown_field_with_money_quarantines_its_event_and_without_money_is_a_note() -> None:
    fee = {"FeeType": "Commission", "FeeAmount": {"CurrencyCode": "USD", "CurrencyAmount": -1.5}}
    with_money = {
        "AmazonOrderId": "111-1",
        "PostedDate": "2026-01-05T10:00:00Z",
        "ShipmentFeeList": [fee],
        "NewSurcharge": {"CurrencyCode": "USD", "CurrencyAmount": -2.0},
    }
    with_text = {**with_money, "AmazonOrderId": "111-2", "NewSurcharge": "none"}
    parsed = parse(stored({"FinancialEvents": {"ShipmentEventList": [with_money, with_text]}}))
    assert parsed.facts["amazon_order_id"].to_list() == ["111-2"]
    refused, note = parsed.quarantine.sort("line_number").rows(named=True)
    assert "ShipmentEventList.NewSurcharge" in refused["reason"] and not refused["row_loaded"]
    assert "holds an amount" in refused["reason"]
    assert "NewSurcharge" in note["reason"] and note["row_loaded"] and note["line_number"] == 2
    assert parsed.facts.height + refused_rows(parsed.quarantine).height == parsed.document_rows


def test_an_event_without_any_amount_is_still_a_row() -> None:
    empty = {"AmazonOrderId": "111-9", "PostedDate": "2026-01-05T10:00:00Z"}
    parsed = parse(stored({"FinancialEvents": {"RefundEventList": [empty]}}))
    [row] = parsed.facts.rows(named=True)
    assert row["amazon_order_id"] == "111-9" and row["amount"] is None
    assert row["event_type"] == "Refund" and parsed.quarantine.height == 0


# -- flat files ---------------------------------------------------------------------------------


def _flat(spec, name: str, charset: str | None = None, fallback: date = date(2026, 1, 1)):
    return spec.parse(
        (DOCUMENTS / name).read_bytes(),
        account="acme",
        report_id="50000000001",
        charset=charset,
        fallback_date=fallback,
        ingested_at=NOW,
    )


def _accounted(parsed) -> None:
    assert parsed.quarantine.schema == QUARANTINE_SCHEMA
    assert parsed.facts.height + refused_rows(parsed.quarantine).height == parsed.document_rows


def test_quoted_inventory_ledger_with_a_store_column_loads() -> None:
    parsed = _flat(INVENTORY_LEDGER, "inventory_ledger_detail_quoted.tsv")
    facts = parsed.facts  # in the document's order
    _accounted(parsed)
    assert parsed.document_rows == 6 and facts.height == 5
    assert facts["event_date"].to_list() == [date(2026, 7, d) for d in (6, 6, 7, 7, 8)]
    assert facts["event_time"][0] == datetime(2026, 7, 6, 7, 0, tzinfo=UTC)  # -0700
    assert facts["title"][2] == 'Frying Pan 12" Nonstick\twith lid'
    assert facts["title"][3] == 'Frying Pan 12" Nonstick\nwith lid'
    assert facts["quantity"].to_list() == [-1, 1, 24, -2, None]
    notes = parsed.quarantine.filter(pl.col("row_loaded"))
    refused = refused_rows(parsed.quarantine)
    assert notes["reason"].to_list() == [
        "Quantity: 'one' is not a whole number; the line is loaded with it null"
    ]
    assert refused["reason"].to_list() == ["Date: '13/45/2026' is not a date"]
    # Records start on their own line: the newline inside a quoted title shifts the last one.
    assert refused["line_number"].to_list() == [8] and notes["line_number"].to_list() == [7]
    assert "Store" not in facts.columns


def test_settlement_v2_posted_dates_and_a_bad_cell_keep_their_lines() -> None:
    document = (DOCUMENTS / "settlement_v2_us.tsv").read_bytes()
    parsed = parse_settlement(
        document,
        account="acme",
        report_id="7",
        charset=None,
        fallback_date=date(2026, 1, 1),
        ingested_at=NOW,
    )
    assert parsed.document_rows == 8 and parsed.lines.height == 7
    assert refused_rows(parsed.quarantine).height == 0
    lines = parsed.lines.sort("line_number")
    assert lines["posted_date"][0] == datetime(2026, 1, 5, tzinfo=UTC)  # 01/05/26
    assert lines["posted_date"][2] == datetime(2026, 1, 5, 10, 12, tzinfo=UTC)  # 1/5/2026 10:12
    refund = lines.filter(pl.col("transaction_type") == "Refund").row(0, named=True)
    assert refund["posted_date"] is None
    assert refund["report_date"] == date(2026, 1, 12)  # from its posted-date-time
    broken = lines.filter(pl.col("sku") == "SKU-4").row(0, named=True)
    assert broken["amount"] is None and broken["posted_date_time"] is None
    assert broken["report_date"] == date(2026, 1, 14)  # from its posted-date
    reasons = parsed.quarantine.sort("line_number")["reason"].to_list()
    assert reasons == [
        "posted-date: '13/45/26' is not a date and time; the line is loaded with it null",
        "amount: '1.2.3' is not an amount with at most two decimals; the line is loaded with it null",
        "posted-date-time: 'not a time' is not a date and time; the line is loaded with it null",
    ]
    summary = parsed.summary.row(0, named=True)
    assert summary["total_amount"] == Decimal("46.46") == lines["amount"].sum()


def test_an_eu_accounts_latin_1_documents_load_with_decimal_commas() -> None:
    parsed = parse_settlement(
        (DOCUMENTS / "settlement_v2_eu_latin1.tsv").read_bytes(),
        account="eu",
        report_id="8",
        charset="ISO-8859-1",
        fallback_date=date(2026, 2, 1),
        ingested_at=NOW,
    )
    assert parsed.quarantine.height == 0
    summary = parsed.summary.row(0, named=True)
    assert summary["total_amount"] == Decimal("1235.24") and summary["currency"] == "EUR"
    assert summary["settlement_end_date"] == datetime(2026, 2, 15, tzinfo=UTC)
    assert summary["report_date"] == date(2026, 2, 14)
    lines = parsed.lines.sort("line_number")
    assert lines["amount"].to_list()[:2] == [Decimal("1299.99"), Decimal("-195.00")]
    assert lines["amount"].sum() == summary["total_amount"]
    assert set(lines["marketplace_name"]) == {"Amazon.de", "Amazon.fr", "Amazon.it"}
    assert lines["amount_description"][1] == "Provision (Gebühr)"
    assert lines["sku"].to_list()[2] == "CRÈME-2" and set(lines["currency"]) == {"EUR"}

    orders = _flat(ORDERS, "all_orders_eu_latin1.tsv", charset="iso-8859-1")
    _accounted(orders)
    assert orders.quarantine.height == 0 and orders.facts.height == 4
    facts = orders.facts
    assert facts["sales_channel"].to_list() == [
        "Amazon.de",
        "Amazon.fr",
        "Amazon.it",
        "Amazon.co.uk",
    ]
    assert facts["item_price"].to_list() == [
        Decimal("1299.99"),
        Decimal("149.90"),
        None,
        Decimal("29.97"),
    ]
    assert facts["currency"].to_list() == ["EUR", "EUR", "EUR", "GBP"]
    assert facts["product_name"][0] == "Küchenfreund Messerblock «Größe L»"
    assert facts["ship_city"].to_list()[:3] == ["München", "Besançon", "Forlì"]
    assert facts["report_date"][0] == date(2026, 2, 3)  # 08:01 in Berlin is 07:01 UTC
    # Without the charset the Latin-1 bytes still decode (Windows-1252 fallback).
    assert _flat(ORDERS, "all_orders_eu_latin1.tsv").facts["ship_city"][0] == "München"


def test_reimbursements_with_a_zone_name_and_a_reversal() -> None:
    parsed = _flat(REIMBURSEMENTS, "reimbursements_us.tsv")
    _accounted(parsed)
    facts = parsed.facts
    assert facts["approval_date"].to_list() == [
        datetime(2026, 1, 5, 7, tzinfo=UTC),
        datetime(2026, 1, 6, 16, tzinfo=UTC),  # 08:00 PST
    ]
    assert facts["amount_total"].to_list() == [Decimal("25.00"), Decimal("-14.99")]
    assert facts["amount_per_unit"].to_list() == [Decimal("12.50"), None]
