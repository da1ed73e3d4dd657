"""A cut gzip download is named as such by every parser that reads Amazon's documents."""

import gzip
from datetime import UTC, date, datetime

import pytest

from amazon_assets.parsers import ads_reports, sales_and_traffic
from amazon_assets.parsers.compression import CorruptGzipError, gunzipped, is_gzip
from amazon_assets.parsers.seller_history import financial_events, tsv

CUT = gzip.compress(b'{"rows": []}' * 50)[:-12]


def test_plain_bytes_pass_through_and_gzip_is_unpacked() -> None:
    assert gunzipped(b"a\tb\n") == b"a\tb\n"
    assert gunzipped(gzip.compress(b"a\tb\n")) == b"a\tb\n"
    assert is_gzip(gzip.compress(b"")) and not is_gzip(b"{}")


def test_a_cut_gzip_document_is_refused_with_its_cause() -> None:
    with pytest.raises(CorruptGzipError, match="does not decompress"):
        gunzipped(CUT)


@pytest.mark.parametrize(
    "read",
    [
        lambda: sales_and_traffic.parse_sales_and_traffic(
            CUT,
            report_date=date(2026, 1, 1),
            report_id="R1",
            account="a",
            ingested_at=datetime(2026, 1, 2, tzinfo=UTC),
        ),
        lambda: ads_reports.load_report_rows(CUT, "R1"),
        lambda: financial_events.load_financial_events(CUT, "D1"),
        lambda: tsv.decode(CUT, None),
    ],
    ids=["sales_and_traffic", "ads_reports", "financial_events", "flat_file"],
)
def test_each_parser_names_a_cut_download(read) -> None:
    with pytest.raises(ValueError, match="does not decompress"):
        read()
