"""Amazon flat-file (TSV) reports -> typed polars frames plus quarantined rows, vectorised.

Every seller-history report except the Finances API is a tab-separated file with a header line of
Amazon's column names. One module per report declares its `Field`s (Amazon's name, our snake_case
column, a kind); this module does the rest for all of them:

- bytes are gunzipped when needed and decoded with the charset the download announced (recorded in
  bronze metadata); without one, UTF-8, else Windows-1252 (what Amazon's US/EU files use);
- fields may be bare or double-quoted (the inventory ledger quotes every field; a quoted field may
  hold tabs, newlines and doubled quotes); header names match case-insensitively; columns no field
  names (e.g. the ledger's trailing `Store`) stay in bronze and are ignored here;
- dates and timestamps are read in every format Amazon writes: `YYYY-MM-DD`, `MM/DD/YYYY`,
  `MM/DD/YY`, `DD.MM.YYYY`, ISO 8601 with `T` or a space and an offset (`+00:00`, `-0700`, `Z`)
  or a zone name (`UTC`, `PST`, ...), or none (UTC); numbers with a decimal point or, as in
  Amazon's EU files, a decimal comma (`1.234,56`, `12,5`);
- a line with a different number of fields than the header, or a key or date field (`required`)
  that is empty or does not parse, goes to quarantine with its line number and the reason; any
  other cell that does not parse becomes null and leaves a quarantine note (`row_loaded` true)
  naming the field and the value, so one bad cell never costs the line;
- an empty cell is null; money is Decimal(18, 2) and never rounded (more decimals is a bad value).

Work is done column by column in polars, so a million-line ledger parses in seconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from amazon_assets.parsers.compression import CorruptGzipError, gunzipped
from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA, as_utc

MONEY = pl.Decimal(18, 2)
DECIMAL = pl.Decimal(18, 4)  # dimensions and weights
TIMESTAMP = pl.Datetime("us", "UTC")
_INTEGER = r"^[+-]?\d+$"
_MONEY_NUMBER = r"^[+-]?(\d+(\.\d{0,2})?|\.\d{1,2})$"
_DECIMAL_NUMBER = r"^[+-]?(\d+(\.\d{0,4})?|\.\d{1,4})$"

# kind -> polars dtype of the typed column
KINDS: dict[str, pl.DataType] = {
    "text": pl.Utf8(),
    "int": pl.Int64(),
    "money": MONEY,
    "decimal": DECIMAL,
    "bool": pl.Boolean(),
    "date": pl.Date(),  # 2026-01-05, 01/05/2026, 01/05/26, 05.01.2026 (or an ISO timestamp's day)
    "timestamp": TIMESTAMP,  # any of those dates with a time and an offset or zone, else UTC
}
_KIND_LABELS = {
    "text": "text",
    "int": "a whole number",
    "money": "an amount with at most two decimals",
    "decimal": "a number with at most four decimals",
    "bool": "true or false",
    "date": "a date",
    "timestamp": "a date and time",
}
# Zone names Amazon's flat files write instead of an offset.
ZONE_OFFSETS = {
    "Z": "+00:00", "UTC": "+00:00", "GMT": "+00:00", "BST": "+01:00", "CET": "+01:00",
    "CEST": "+02:00", "IST": "+05:30", "JST": "+09:00", "AEST": "+10:00", "AEDT": "+11:00",
    "PST": "-08:00", "PDT": "-07:00", "MST": "-07:00", "MDT": "-06:00", "CST": "-06:00",
    "CDT": "-05:00", "EST": "-05:00", "EDT": "-04:00",
}  # fmt: skip
# Day formats, two-digit years first: chrono's %Y would read "26" as the year 26.
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%y", "%m/%d/%Y", "%d.%m.%y", "%d.%m.%Y")
TIMESTAMP_FORMATS = tuple(
    day + time
    for day in DATE_FORMATS
    for time in (" %H:%M:%S%.f%z", " %H:%M:%S%.f", " %H:%M%z", " %H:%M", "")
)


class MalformedDocumentError(ValueError):
    """The document as a whole cannot be read (not gzip, no header, a required column missing)."""


@dataclass(frozen=True)
class Field:
    """One column of a flat file: Amazon's header name, our column name, its kind."""

    amazon: str
    column: str
    kind: str = "text"
    required: bool = False  # a key or the row's date: the line is refused without it

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Field {self.amazon!r}: unknown kind {self.kind!r}.")


@dataclass(frozen=True)
class TsvDocument:
    """A decoded flat file: its typed rows and the rows and cells it refused."""

    rows: pl.DataFrame  # the fields' columns typed, plus `line_number`
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA: refused lines, and notes on nulled cells
    document_rows: int  # data records in the document (typed + refused)


def decode(document: bytes, charset: str | None) -> str:
    """The document's text: gunzipped if needed, decoded with its charset (or UTF-8, else cp1252)."""
    try:
        data = gunzipped(document)
    except CorruptGzipError as error:
        raise MalformedDocumentError(f"{error}; re-download it.") from error
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


def _header(line: str) -> tuple[list[str], bool]:
    """The header's names and whether the file quotes its fields (every name quoted)."""
    cells = line.removeprefix("\ufeff").split("\t")
    quoted = all(len(c.strip()) >= 2 and c.strip()[0] == c.strip()[-1] == '"' for c in cells)
    if quoted:
        cells = next(csv.reader([line.removeprefix("\ufeff")], delimiter="\t"))
    return [cell.strip() for cell in cells], quoted


def _bare_records(lines: list[str], width: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records with one column per field, ragged lines) of an unquoted file, vectorised."""
    body = pl.DataFrame(
        {
            "__line": pl.Series(range(2, len(lines) + 1), dtype=pl.Int64),
            "__raw": pl.Series(lines[1:], dtype=pl.Utf8),
        }
    ).filter(pl.col("__raw").str.strip_chars() != "")
    body = body.with_columns(__fields=pl.col("__raw").str.count_matches("\t", literal=True) + 1)
    ragged = body.filter(pl.col("__fields") != width)
    cells = (
        body.filter(pl.col("__fields") == width)
        .select(
            "__line",
            "__raw",
            pl.col("__raw")
            .str.split_exact("\t", width - 1)
            .struct.rename_fields([f"_{i}" for i in range(width)])
            .alias("__cells"),
        )
        .unnest("__cells")
    )
    return cells, ragged.select("__line", "__raw", "__fields")


def _quoted_records(text: str, width: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The same for a file whose fields are double-quoted (they may hold tabs and newlines)."""
    physical = text.split("\n")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", strict=False)
    next(reader, None)  # the header
    good: dict[str, list] = {"__line": [], "__raw": [], **{f"_{i}": [] for i in range(width)}}
    ragged: dict[str, list] = {"__line": [], "__raw": [], "__fields": []}
    first = reader.line_num + 1
    for record in reader:
        last = reader.line_num
        raw = (
            physical[first - 1]
            if last == first
            else "\n".join(line.rstrip("\r") for line in physical[first - 1 : last])
        )
        if record and any(cell.strip() for cell in record):
            target = good if len(record) == width else ragged
            target["__line"].append(first)
            target["__raw"].append(raw)
            if len(record) == width:
                for i, cell in enumerate(record):
                    good[f"_{i}"].append(cell)
            else:
                ragged["__fields"].append(len(record))
        first = last + 1
    return (
        pl.DataFrame(good, schema={k: pl.Int64 if k == "__line" else pl.Utf8 for k in good}),
        pl.DataFrame(ragged, schema={"__line": pl.Int64, "__raw": pl.Utf8, "__fields": pl.Int64}),
    )


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
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if not lines or not lines[0].strip():
        raise MalformedDocumentError(f"document {document_id} has no header line.")
    header, quoted = _header(lines[0])
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name.lower(), index)
    missing = [f.amazon for f in fields if f.required and f.amazon.lower() not in positions]
    if missing:
        raise MalformedDocumentError(
            f"document {document_id} lacks the column(s) {', '.join(missing)}; its header is "
            f"{', '.join(header)}."
        )
    width = len(header)
    cells, ragged = (
        _quoted_records(text.replace("\r\n", "\n"), width)
        if quoted
        else _bare_records(lines, width)
    )
    ragged = ragged.with_columns(
        __reason=pl.format("the line has {} fields but the header has " + str(width), "__fields")
    )
    columns = {f.column: _position(f, positions) for f in fields}
    # Three passes, so that every expression is computed once per column: the stripped cells,
    # the text each converter reads, the typed values with the line's verdict.
    cells = cells.select(
        "__line",
        "__raw",
        *(_raw(columns[f.column]).alias(_cell(f)) for f in fields),
    ).with_columns(_prepare(f.kind, pl.col(_cell(f))).alias(_text(f)) for f in fields)
    typed = cells.with_columns(
        *(_convert(f.kind, pl.col(_text(f))).cast(KINDS[f.kind]).alias(f.column) for f in fields),
    ).with_columns(_line_problem(fields, columns).alias("__reason"))
    bad = typed.filter(pl.col("__reason").is_not_null())
    good = typed.filter(pl.col("__reason").is_null())
    bad_days = row_date(bad) if bad.height else pl.Series([], dtype=pl.Date)
    good_days = row_date(good) if good.height else pl.Series([], dtype=pl.Date)
    loaded = good.select("__line", pl.Series("__day", good_days, dtype=pl.Date))
    notes = _cell_notes(good, fields, columns).join(loaded, on="__line", how="left")
    day = pl.col("__day").fill_null(fallback_date)
    quarantine = pl.concat(
        [
            _quarantine(ragged, source, document_id, pl.lit(fallback_date), ingested_at, False),
            _quarantine(
                bad.with_columns(__day=bad_days), source, document_id, day, ingested_at, False
            ),
            _quarantine(notes, source, document_id, day, ingested_at, True),
        ]
    )
    return TsvDocument(
        rows=good.select(pl.col("__line").alias("line_number"), *(f.column for f in fields)),
        quarantine=quarantine,
        document_rows=typed.height + ragged.height,
    )


def _position(field: Field, positions: dict[str, int]) -> int | None:
    return positions.get(field.amazon.lower())


def _cell(field: Field) -> str:
    return f"__cell_{field.column}"


def _text(field: Field) -> str:
    return f"__text_{field.column}"


def _raw(position: int | None) -> pl.Expr:
    if position is None:
        return pl.lit(None, dtype=pl.Utf8)
    cell = pl.col(f"_{position}").str.strip_chars()
    return pl.when(cell == "").then(None).otherwise(cell)


def _prepare(kind: str, raw: pl.Expr) -> pl.Expr:
    """The text a kind's converter reads: numbers and timestamps normalised, the rest as is."""
    if kind in ("money", "decimal"):
        return _number_text(raw)
    if kind == "timestamp":
        return _timestamp_text(raw)
    return raw


def _number_text(raw: pl.Expr) -> pl.Expr:
    """A number as text with a decimal point and no grouping, whichever convention it used."""
    text = raw.str.replace_all(r"[\s\u00a0']", "")
    comma_decimal = (
        # both marks: the last one is the decimal mark (1.234,56 / 1,234.56)
        (text.str.contains(",") & text.str.contains(r"\.") & text.str.contains(r",\d*$"))
        # a comma alone is a decimal comma unless it groups thousands (12,5 / 1,234,567)
        | (~text.str.contains(r"\.") & text.str.contains(",")
           & ~text.str.contains(r"^[+-]?\d{1,3}(,\d{3})+$"))
    )  # fmt: skip
    return (
        pl.when(comma_decimal)
        .then(text.str.replace_all(r"\.", "").str.replace(",", "."))
        .otherwise(text.str.replace_all(",", ""))
    )


def _date(raw: pl.Expr) -> pl.Expr:
    """A date in any of Amazon's day formats, or the day of an ISO timestamp (else null)."""
    return pl.coalesce(
        *(raw.str.to_date(fmt, strict=False) for fmt in DATE_FORMATS),
        raw.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
    )


def _timestamp_text(raw: pl.Expr) -> pl.Expr:
    """A date-time as `day time offset`: zone names become offsets, `T` a space (an unknown
    zone name gives null: a bad value)."""
    name = raw.str.extract(r"([A-Za-z]{1,4})$", 1).str.to_uppercase()
    offset = name.replace_strict(ZONE_OFFSETS, default=None, return_dtype=pl.Utf8)
    return (
        pl.when(name.is_null())
        .then(raw)
        .when(offset.is_not_null())
        .then(pl.concat_str(raw.str.replace(r"\s*[A-Za-z]{1,4}$", ""), offset))
        .str.replace("T", " ", literal=True)
        .str.replace(r"\s+([+-]\d{2}:?\d{2})$", "$1")
    )


def _timestamp(text: pl.Expr) -> pl.Expr:
    """A UTC instant from `_timestamp_text` (no offset, or a bare date: UTC)."""
    return pl.coalesce(
        *(
            text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
            for fmt in TIMESTAMP_FORMATS
        )
    )


def _convert(kind: str, text: pl.Expr) -> pl.Expr:
    """The typed value of `_prepare`'s text (null when it does not parse)."""
    if kind == "text":
        return text
    if kind == "int":
        return pl.when(text.str.contains(_INTEGER)).then(text.cast(pl.Int64, strict=False))
    if kind in ("money", "decimal"):
        pattern = _MONEY_NUMBER if kind == "money" else _DECIMAL_NUMBER
        return pl.when(text.str.contains(pattern)).then(text.cast(KINDS[kind], strict=False))
    if kind == "bool":
        lowered = text.str.to_lowercase()
        return (
            pl.when(lowered.is_in(["true", "yes", "y", "1"]))
            .then(True)
            .when(lowered.is_in(["false", "no", "n", "0"]))
            .then(False)
        )
    if kind == "date":
        return _date(text)
    return _timestamp(text)


def _unreadable(field: Field) -> tuple[pl.Expr, pl.Expr]:
    """(the cell is there but does not type, the sentence saying so) for one field."""
    raw = pl.col(_cell(field))
    bad = raw.is_not_null() & pl.col(field.column).is_null()
    text = pl.concat_str(
        pl.lit(f"{field.amazon}: '"), raw, pl.lit(f"' is not {_KIND_LABELS[field.kind]}")
    )
    return bad, text


def _line_problem(fields: Sequence[Field], columns: dict[str, int | None]) -> pl.Expr:
    """Why a line is refused (its first required field empty or unreadable), else null."""
    reason: pl.Expr | None = None
    for field in fields:
        if not field.required or columns[field.column] is None:
            continue
        bad, text = _unreadable(field)
        empty = pl.col(_cell(field)).is_null()
        for problem, said in ((empty, pl.lit(f"{field.amazon} is empty")), (bad, text)):
            reason = (
                pl.when(problem).then(said) if reason is None else reason.when(problem).then(said)
            )
    if reason is None:
        return pl.lit(None, dtype=pl.Utf8)
    return reason.otherwise(None)


def _cell_notes(
    typed: pl.DataFrame, fields: Sequence[Field], columns: dict[str, int | None]
) -> pl.DataFrame:
    """One note per unreadable optional cell of the loaded lines (the cell is loaded as null)."""
    notes = []
    for field in fields:
        if field.required or field.kind == "text" or columns[field.column] is None:
            continue
        bad, text = _unreadable(field)
        notes.append(
            typed.filter(bad).select(
                "__line",
                "__raw",
                pl.concat_str(text, pl.lit("; the line is loaded with it null")).alias("__reason"),
            )
        )
    if not notes:
        return pl.DataFrame(schema={"__line": pl.Int64, "__raw": pl.Utf8, "__reason": pl.Utf8})
    return pl.concat(notes).sort("__line", maintain_order=True)


def _quarantine(
    rows: pl.DataFrame,
    source: str,
    document_id: str,
    day: pl.Expr,
    ingested_at: datetime,
    row_loaded: bool,
) -> pl.DataFrame:
    return rows.select(
        pl.lit(source, dtype=pl.Utf8).alias("source"),
        day.cast(pl.Date).alias("report_date"),
        pl.lit(document_id, dtype=pl.Utf8).alias("document_id"),
        pl.col("__line").alias("line_number").cast(pl.Int64),
        pl.col("__reason").alias("reason").cast(pl.Utf8),
        pl.col("__raw").alias("raw_row"),
        pl.lit(ingested_at, dtype=QUARANTINE_SCHEMA["quarantined_at"]).alias("quarantined_at"),
        pl.lit(row_loaded).alias("row_loaded"),
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
    # Finances: the events Amazon served on each page, in order (flat files have no pages).
    served_pages: tuple[int, ...] = ()


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
            row_date=lambda rows: rows.with_columns(__day=self.day)["__day"],
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
