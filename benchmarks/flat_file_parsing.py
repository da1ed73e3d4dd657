"""How fast the flat-file parser reads a large inventory ledger, bare and double-quoted.

Builds a GET_LEDGER_DETAIL_VIEW_DATA document of `--lines` lines in Amazon's two shapes (every
field bare, and every field double-quoted with a trailing Store column, as the Reports API serves
the ledger) and times `INVENTORY_LEDGER.parse` on each, best of `--repeat`. Prints lines, rows
loaded, seconds and lines per second.

    python benchmarks/flat_file_parsing.py --lines 1000000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime

from amazon_assets.parsers.seller_history.inventory_ledger import INVENTORY_LEDGER

HEADER = [
    "Date", "FNSKU", "ASIN", "MSKU", "Title", "Event Type", "Reference ID", "Quantity",
    "Fulfillment Center", "Disposition", "Reason", "Country", "Reconciled Quantity",
    "Unreconciled Quantity", "Date and Time", "Store",
]  # fmt: skip


def document(lines: int, quoted: bool) -> bytes:
    def cell(value: str) -> str:
        return f'"{value}"' if quoted else value

    rows = [
        "\t".join(cell(c) for c in (
            f"{1 + i % 12:02d}/{1 + i % 28:02d}/2026", f"X00{i % 99999:07d}", f"B0{i % 9999:08d}",
            f"SKU-{i % 5000}", 'Frying Pan 12" Nonstick' if not quoted else "Frying Pan",
            ("Shipments", "Receipts", "CustomerReturns")[i % 3], f"D{i:09d}", str(-1 - i % 3),
            "PHX7", "SELLABLE", "", "US", "", "",
            f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:15:00-0700", "Shop",
        ))
        for i in range(lines)
    ]  # fmt: skip
    header = "\t".join(cell(name) for name in HEADER)
    return ("\n".join([header, *rows]) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    for quoted in (False, True):
        body = document(args.lines, quoted)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            parsed = INVENTORY_LEDGER.parse(
                body,
                account="bench",
                report_id="1",
                charset="utf-8",
                fallback_date=date(2026, 1, 1),
                ingested_at=datetime.now(UTC),
            )
            best = min(best, time.perf_counter() - started)
        shape = "double-quoted + Store" if quoted else "bare"
        print(
            f"{shape:<22} {args.lines:>9,} lines  {parsed.facts.height:>9,} rows  "
            f"{best:6.1f} s  {args.lines / best:>9,.0f} lines/s  "
            f"({len(body) / 2**20:.0f} MiB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
