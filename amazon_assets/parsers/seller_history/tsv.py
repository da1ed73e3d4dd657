"""Amazon flat-file (TSV) reports -> typed polars frames plus quarantined rows, vectorised.

Every seller-history report except the Finances API is a tab-separated file with a header line of
Amazon's column names. One module per report declares its `Field`s (Amazon's name, our snake_case
column, a kind); this module does the rest for all of them:

- bytes are gunzipped when needed and decoded with the charset the download announced (recorded in
  bronze metadata); without one, UTF-8, else Windows-1252 (what Amazon's US/EU files use);
- a line with a different number of fields than the header, a number that is not a number or a
  date that does not parse goes to quarantine with its line number and the reason; the rest load;
- an empty cell is null; money is Decimal(18, 2).

Work is done column by column in polars, so a million-line ledger parses in seconds.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA, as_utc

MONEY = pl.Decimal(18, 2)
DECIMAL = pl.Decimal(18, 4)  # dimensions and weights
TIMESTAMP = pl.Datetime("us", "UTC")
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)$"
_INTEGER = r"^[+-]?\d+$"

# kind -> polars dtype of the typed column
KINDS: dict[str, pl.DataType] = {
    "text": pl.Utf8(),
    "int": pl.Int64(),
    "money": MONEY,
    "decimal": DECIMAL,
    "bool": pl.Boolean(),
    "date_mdy": pl.Date(),  # 01/05/2026 (ledger)
    "date": pl.Date(),  # 2026-01-05
    "iso_datetime": TIMESTAMP,  # 2026-01-05T14:03:11+00:00 (orders, returns, reimbursements)
    "utc_datetime": TIMESTAMP,  # 2026-01-05 14:03:11 UTC (settlements)
    "mdy_datetime": TIMESTAMP,  # 01/05/2026 14:03:11 or ISO (ledger "Date and Time")
}
_KIND_LABELS = {
    "text": "text",
    "int": "a whole number",
    "money": "an amount",
    "decimal": "a number",
    "bool": "true or false",
    "date_mdy": "a date written MM/DD/YYYY",
    "date": "a date written YYYY-MM-DD",
    "iso_datetime": "an ISO 8601 timestamp",
    "utc_datetime": "a timestamp written YYYY-MM-DD HH:MM:SS UTC",
    "mdy_datetime": "a timestamp",
}


class MalformedDocumentError(ValueError):
    """The document as a whole cannot be read (not gzip, no header, a required column missing)."""


@dataclass(frozen=True)
class Field:
    """One column of a flat file: Amazon's header name, our column name, its kind."""

    amazon: str
    column: str
    kind: str = "text"
    required: bool = False  # the header must carry it (a key or the row's date)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Field {self.amazon!r}: unknown kind {self.kind!r}.")


@dataclass(frozen=True)
class TsvDocument:
    """A decoded flat file: its typed rows and the rows it refused."""

    rows: pl.DataFrame  # the fields' columns typed, plus `line_number`
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA
    document_rows: int  # data lines in the document (typed + quarantined)


def decode(document: bytes, charset: str | None) -> str:
    """The document's text: gunzipped if needed, decoded with its charset (or UTF-8, else cp1252)."""
    data = bytes(document)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as error:
            raise MalformedDocumentError(
                f"the gzip document does not decompress ({error}); re-download it."
            ) from error
    if charset:
        try:
            return data.decode(_codec(charset))
        except (LookupError, UnicodeDecodeError) as error:
            raise MalformedDocumentError(
                f"the document is not valid {charset} ({error})."
            ) from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _codec(charset: str) -> str:
    # Amazon labels Japanese files "Shift_JIS" or "Windows-31J"; both mean cp932 in practice.
    name = charset.strip().strip('"').lower()
    return {"shift_jis": "cp932", "windows-31j": "cp932", "x-sjis": "cp932"}.get(name, name)


def charset_of(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, if any."""
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def parse_tsv(
    document: bytes,
    *,
    fields: Sequence[Field],
    source: str,
    document_id: str,
    charset: str | None,
    row_date: Callable[[pl.DataFrame], pl.Series],
    fallback_date: date,
    ingested_at: datetime,
) -> TsvDocument:
    """Typed rows of a flat file; `row_date` gives each typed row's day (for quarantine records)."""
    ingested_at = as_utc(ingested_at)
    text = decode(document, charset)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise MalformedDocumentError(f"document {document_id} has no header line.")
    header = [name.strip() for name in lines[0].split("\t")]
    positions = {name: index for index, name in enumerate(header)}
    missing = [f.amazon for f in fields if f.required and f.amazon not in positions]
    if missing:
        raise MalformedDocumentError(
            f"document {document_id} lacks the column(s) {', '.join(missing)}; its header is "
            f"{', '.join(header)}."
        )
    body = pl.DataFrame(
        {
            "__line": pl.Series(range(2, len(lines) + 1), dtype=pl.Int64),
            "__raw": pl.Series(lines[1:], dtype=pl.Utf8),
        }
    ).filter(pl.col("__raw").str.strip_chars() != "")
    width = len(header)
    body = body.with_columns(__fields=pl.col("__raw").str.count_matches("\t", literal=True) + 1)
    ragged = body.filter(pl.col("__fields") != width).with_columns(
        __reason=pl.format(
            "the line has {} fields but the header has " + str(width),
            pl.col("__fields"),
        )
    )
    body = body.filter(pl.col("__fields") == width)
    cells = body.select(
        "__line",
        "__raw",
        pl.col("__raw")
        .str.split_exact("\t", width - 1)
        .struct.rename_fields([f"_{i}" for i in range(width)])
        .alias("__cells"),
    ).unnest("__cells")
    typed = cells.select(
        "__line",
        "__raw",
        *(_typed_column(f, positions) for f in fields),
        _first_problem(fields, positions).alias("__reason"),
    )
    bad = typed.filter(pl.col("__reason").is_not_null())
    good = typed.filter(pl.col("__reason").is_null())
    bad_days = (
        row_date(bad).fill_null(fallback_date) if bad.height else pl.Series([], dtype=pl.Date)
    )
    quarantine = pl.concat(
        [
            _quarantine(ragged, source, document_id, pl.lit(fallback_date), ingested_at),
            _quarantine(bad, source, document_id, pl.lit(bad_days), ingested_at),
        ]
    )
    return TsvDocument(
        rows=good.select(pl.col("__line").alias("line_number"), *(f.column for f in fields)),
        quarantine=quarantine,
        document_rows=typed.height + ragged.height,
    )


def _raw(field: Field, positions: dict[str, int]) -> pl.Expr:
    if field.amazon not in positions:
        return pl.lit(None, dtype=pl.Utf8)
    cell = pl.col(f"_{positions[field.amazon]}").str.strip_chars()
    return pl.when(cell == "").then(None).otherwise(cell)


def _convert(kind: str, raw: pl.Expr) -> pl.Expr:
    if kind == "text":
        return raw
    if kind in ("int", "money", "decimal"):
        pattern = _INTEGER if kind == "int" else _NUMBER
        dtype = KINDS[kind]
        return pl.when(raw.str.contains(pattern)).then(raw.cast(dtype, strict=False))
    if kind == "bool":
        lowered = raw.str.to_lowercase()
        return (
            pl.when(lowered.is_in(["true", "yes", "y", "1"]))
            .then(True)
            .when(lowered.is_in(["false", "no", "n", "0"]))
            .then(False)
        )
    if kind == "date_mdy":
        return raw.str.to_date("%m/%d/%Y", strict=False)
    if kind == "date":
        return raw.str.to_date("%Y-%m-%d", strict=False)
    iso = raw.str.replace(r"Z$", "+00:00")
    iso_formats = [
        iso.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
        for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%.f%z")
    ]
    if kind == "iso_datetime":
        return pl.coalesce(iso_formats)
    if kind == "utc_datetime":
        plain = raw.str.replace(r" UTC$", "")
        return pl.coalesce(
            plain.str.to_datetime(
                "%Y-%m-%d %H:%M:%S", strict=False, time_unit="us", time_zone="UTC"
            ),
            plain.str.to_date("%Y-%m-%d", strict=False).cast(TIMESTAMP),
            *iso_formats,
        )
    # mdy_datetime: the ledger writes either an ISO timestamp or MM/DD/YYYY HH:MM:SS (UTC)
    return pl.coalesce(
        *iso_formats,
        raw.str.to_datetime("%m/%d/%Y %H:%M:%S", strict=False, time_unit="us", time_zone="UTC"),
    )


def _typed_column(field: Field, positions: dict[str, int]) -> pl.Expr:
    return _convert(field.kind, _raw(field, positions)).cast(KINDS[field.kind]).alias(field.column)


def _first_problem(fields: Sequence[Field], positions: dict[str, int]) -> pl.Expr:
    """The reason for the first cell of a line that does not type, else null."""
    reason: pl.Expr | None = None
    for field in fields:
        if (field.kind == "text" and not field.required) or field.amazon not in positions:
            continue
        raw = _raw(field, positions)
        problems = [
            (
                raw.is_not_null() & _convert(field.kind, raw).is_null(),
                pl.concat_str(
                    pl.lit(f"{field.amazon}: '"),
                    raw,
                    pl.lit(f"' is not {_KIND_LABELS[field.kind]}"),
                ),
            )
        ]
        if field.required:
            problems.append((raw.is_null(), pl.lit(f"{field.amazon} is empty")))
        for bad, text in problems:
            reason = pl.when(bad).then(text) if reason is None else reason.when(bad).then(text)
    if reason is None:
        return pl.lit(None, dtype=pl.Utf8)
    return reason.otherwise(None)


def _quarantine(
    rows: pl.DataFrame, source: str, document_id: str, day: pl.Expr, ingested_at: datetime
) -> pl.DataFrame:
    return rows.select(
        pl.lit(source, dtype=pl.Utf8).alias("source"),
        day.cast(pl.Date).alias("report_date"),
        pl.lit(document_id, dtype=pl.Utf8).alias("document_id"),
        pl.col("__line").alias("line_number").cast(pl.Int64),
        pl.col("__reason").alias("reason").cast(pl.Utf8),
        pl.col("__raw").alias("raw_row"),
        pl.lit(ingested_at, dtype=QUARANTINE_SCHEMA["quarantined_at"]).alias("quarantined_at"),
    ).cast(dict(QUARANTINE_SCHEMA))


def empty_frame(fields: Sequence[Field]) -> pl.DataFrame:
    """No rows, the fields' typed columns."""
    return pl.DataFrame(
        schema={"line_number": pl.Int64, **{f.column: KINDS[f.kind] for f in fields}}
    )


@dataclass(frozen=True)
class ParsedDocument:
    """Silver rows of one document, the rows it refused, and how many data rows it had."""

    facts: pl.DataFrame  # exactly the report's silver schema
    quarantine: pl.DataFrame  # exactly QUARANTINE_SCHEMA
    document_rows: int


@dataclass(frozen=True)
class FlatFile:
    """One flat-file report: its fields, the day each row belongs to, its natural key."""

    source: str  # names the silver table (fact_<source>) and the quarantine records
    report_type: str
    fields: tuple[Field, ...]
    day: pl.Expr  # the row's report_date, from the typed columns
    # Columns identifying a row; `occurrence` (appended) numbers rows repeating them within one
    # document (0 for the first), so identical lines Amazon writes twice both load, while a second
    # document covering the same rows replaces them instead of adding to them.
    natural_key: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        """The natural key including `occurrence`."""
        return (*self.natural_key, "occurrence")

    @property
    def schema(self) -> pl.Schema:
        """The silver table's columns: report_date and account first, lineage last."""
        return pl.Schema(
            {
                "report_date": pl.Date(),
                "account": pl.Utf8(),
                **{f.column: KINDS[f.kind] for f in self.fields},
                "occurrence": pl.Int64(),
                "report_id": pl.Utf8(),
                "ingested_at": TIMESTAMP,
            }
        )

    def parse(
        self,
        document: bytes,
        *,
        account: str,
        report_id: str,
        charset: str | None,
        fallback_date: date,
        ingested_at: datetime,
    ) -> ParsedDocument:
        """Silver rows of one document of this report; bad rows quarantined."""
        parsed = parse_tsv(
            document,
            fields=self.fields,
            source=self.source,
            document_id=report_id,
            charset=charset,
            row_date=lambda rows: rows.select(self.day).to_series(),
            fallback_date=fallback_date,
            ingested_at=ingested_at,
        )
        facts = parsed.rows.with_columns(report_date=self.day, account=pl.lit(account))
        facts = facts.with_columns(
            occurrence=occurrence([c for c in self.natural_key if c != "account"]),
            report_id=pl.lit(report_id),
            ingested_at=pl.lit(as_utc(ingested_at), dtype=TIMESTAMP),
        )
        return ParsedDocument(
            facts=facts.select(self.schema.names()).cast(dict(self.schema)),
            quarantine=parsed.quarantine,
            document_rows=parsed.document_rows,
        )

    def empty(self) -> pl.DataFrame:
        """The silver table's schema with no rows."""
        return pl.DataFrame(schema=self.schema)


def occurrence(key: Sequence[str]) -> pl.Expr:
    """0 for a row's first appearance of `key` in its frame, 1 for the second, ..."""
    return pl.int_range(pl.len(), dtype=pl.Int64).over(list(key))
