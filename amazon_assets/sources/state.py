"""Persistent client state: quota buckets, the ledger of requested reports, Finances pages.

Both survive process restarts and are shared by every process that points at the same store:
a SQLite file (the embedded default, `StateStore`, one machine) or a PostgreSQL database
(`PostgresStateStore`, `AMAZON_ASSETS_STATE_URL`), which runs on several machines share so that
together they stay within Amazon's quotas. `open_state_store` picks one from a location.

Quota takes are serialized per store: SQLite's `BEGIN IMMEDIATE` takes the write lock before
reading; PostgreSQL takes a transaction-scoped advisory lock per bucket. Either way two processes
can never both spend the last token. `report_lock` makes the ledger's check-then-create atomic:
while one process looks for an open report of a request and creates it if there is none, every
other process asking for the same report waits, then resumes the one created.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from amazon_assets.errors import PermanentError
from amazon_assets.sources.quotas import Clock, Quota

_SCHEMA = """
CREATE TABLE IF NOT EXISTS quota_buckets (
    key TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated REAL NOT NULL,
    clock_speed REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS report_ledger (
    report_id TEXT NOT NULL,
    ledger_key TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    account TEXT NOT NULL,
    marketplace_id TEXT NOT NULL,
    report_type TEXT NOT NULL,
    data_start TEXT NOT NULL,
    data_end TEXT NOT NULL,
    report_options TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    clock_speed REAL NOT NULL,
    finished_at REAL,
    document_id TEXT,
    PRIMARY KEY (endpoint, report_id)
);
CREATE INDEX IF NOT EXISTS report_ledger_key ON report_ledger (ledger_key, status);
CREATE TABLE IF NOT EXISTS sales_and_traffic_budget (
    application TEXT NOT NULL,
    day TEXT NOT NULL,
    account TEXT NOT NULL,
    purpose TEXT NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (application, day, account, purpose)
);
CREATE TABLE IF NOT EXISTS finance_pages (
    window_key TEXT NOT NULL,
    page INTEGER NOT NULL,
    payload TEXT NOT NULL,
    next_token TEXT,
    fetched_at REAL NOT NULL,
    PRIMARY KEY (window_key, page)
);
CREATE TABLE IF NOT EXISTS provider_spend (
    provider TEXT NOT NULL,
    day TEXT NOT NULL,
    spent REAL NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (provider, day)
);
CREATE TABLE IF NOT EXISTS competitive_reports (
    report_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    asin TEXT NOT NULL,
    created_at REAL NOT NULL,
    writer TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    inputs TEXT NOT NULL,
    prompt TEXT,
    body TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS competitive_reports_asin ON competitive_reports (account, asin, created_at);
CREATE TABLE IF NOT EXISTS vault_credentials (
    account TEXT NOT NULL,
    api TEXT NOT NULL,
    token TEXT NOT NULL,
    partner_id TEXT,
    authorized_at REAL NOT NULL,
    status TEXT NOT NULL,
    status_detail TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (account, api)
);
CREATE TABLE IF NOT EXISTS vault_oauth_states (
    state_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    api TEXT NOT NULL,
    created_at REAL NOT NULL,
    used_at REAL
);
CREATE TABLE IF NOT EXISTS vault_disabled_accounts (
    account TEXT PRIMARY KEY,
    disabled_at REAL NOT NULL
);
"""


class CorruptStateError(PermanentError):
    """The state file is not a readable SQLite database; retrying cannot help."""


def _is_corruption(error: sqlite3.DatabaseError) -> bool:
    # OperationalError (locked, busy, I/O) is a subclass; only these two mean a damaged file.
    return type(error) is sqlite3.DatabaseError or str(error) in (
        "file is not a database",
        "database disk image is malformed",
    )


# Ledger statuses: REQUESTED until the outcome is known; the others are final.
REQUESTED = "REQUESTED"
COMPLETED = "COMPLETED"  # document downloaded (DONE) or nothing to download (CANCELLED)
FATAL = "FATAL"
FORGOTTEN = "FORGOTTEN"  # past Amazon's retention or unknown to the server


@dataclass(frozen=True)
class ReportRequest:
    """What identifies one report request: the same request resumes the same report."""

    endpoint: str
    account: str
    marketplace_id: str
    report_type: str
    data_start: str
    data_end: str
    report_options: Mapping[str, str]

    @property
    def key(self) -> str:
        return json.dumps(
            [
                self.endpoint,
                self.account,
                self.marketplace_id,
                self.report_type,
                self.data_start,
                self.data_end,
                sorted(self.report_options.items()),
            ],
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class LedgerEntry:
    """One report Amazon created for us."""

    report_id: str
    status: str
    created_at: float  # simulated seconds on the clock that requested it
    clock_speed: float
    finished_at: float | None
    document_id: str | None


def open_state_store(location: str | Path) -> StateStore:
    """The state store at `location`: a postgresql:// URL, else the path of a SQLite file."""
    if str(location).startswith(("postgresql://", "postgres://")):
        return PostgresStateStore(str(location))
    return StateStore(location)


def _lock_offset(key: str) -> int:
    """A stable number for a ledger key (a byte of the SQLite lock file, a PostgreSQL lock id)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "big")


class StateStore:
    """Quota buckets and the report ledger in the SQLite file at `path`."""

    # The column that orders ledger rows written in the same simulated instant.
    _SEQUENCE: ClassVar[str] = "rowid"
    # Byte-range locks on one open file per process and path: POSIX drops every lock a process
    # holds on a file when any descriptor of it closes, so the descriptor is never closed.
    _lock_files: ClassVar[dict[str, int]] = {}
    _thread_locks: ClassVar[dict[tuple[str, int], threading.Lock]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            # WAL lets readers go on while one process holds the write lock.
            connection.execute("PRAGMA journal_mode = WAL")
            connection.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # Autocommit mode: every transaction below is explicit. The busy timeout lets concurrent
        # processes queue for the write lock instead of failing.
        connection = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            connection.execute("PRAGMA busy_timeout = 60000")
            # WAL + NORMAL: a commit survives a crash of the process (not of the machine) without
            # an fsync per quota token.
            connection.execute("PRAGMA synchronous = NORMAL")
            yield connection
        except sqlite3.DatabaseError as error:
            if _is_corruption(error):
                raise CorruptStateError(
                    f"The state file {self.path} is corrupt ({error}); it holds the quota buckets "
                    "and the ledger of requested reports: move it away and run again (a new one "
                    "starts empty; reports still in flight are requested once more)."
                ) from error
            raise
        finally:
            connection.close()

    @contextmanager
    def _write(self, bucket_keys: Sequence[str] = ()) -> Iterator[Any]:
        """One write transaction; the whole file is locked, so `bucket_keys` need no more."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction for other tables of the store (the credential vault)."""
        with self._write() as connection:
            yield connection

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection reading other tables of the store (`?` placeholders either way)."""
        with self._connect() as connection:
            yield connection

    @contextmanager
    def report_lock(self, request: ReportRequest) -> Iterator[None]:
        """Hold the request's lock: no other thread or process checks or creates its report.

        A byte of `<state file>.locks` per request (the operating system frees it if the process
        dies), plus a thread lock, since byte-range locks do not exclude threads of one process.
        """
        offset = _lock_offset(request.key) % (1 << 40)
        path = f"{self.path}.locks"
        with StateStore._registry_lock:
            descriptor = StateStore._lock_files.get(path)
            if descriptor is None:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                StateStore._lock_files[path] = descriptor
            thread_lock = StateStore._thread_locks.setdefault((path, offset), threading.Lock())
        with thread_lock:
            fcntl.lockf(descriptor, fcntl.LOCK_EX, 1, offset)
            try:
                yield
            finally:
                fcntl.lockf(descriptor, fcntl.LOCK_UN, 1, offset)

    # -- quota buckets -------------------------------------------------------------------------

    def try_take(self, buckets: Sequence[tuple[str, Quota]], clock: Clock) -> float:
        """Take one token from every bucket if all hold one and return 0, else the seconds to wait.

        All or nothing: a createReport needs both its operation token and its report-type token.
        """
        return self._try_take(buckets, clock)[0]

    def take(self, buckets: Sequence[tuple[str, Quota]], clock: Clock) -> float:
        """Block (in simulated time) until a token of every bucket is taken; return when it was.

        The moment returned is the one the token was counted at, before the commit: `settle`
        measures from it, so a slow disk cannot make the next request early.
        """
        while True:
            wait, taken_at = self._try_take(buckets, clock)
            if wait == 0:
                return taken_at
            clock.sleep(wait)

    def _try_take(self, buckets: Sequence[tuple[str, Quota]], clock: Clock) -> tuple[float, float]:
        with self._write(sorted(key for key, _ in buckets)) as connection:
            now = clock.now()
            states = [
                (key, quota, self._refilled(connection, key, quota, clock, now))
                for key, quota in buckets
            ]
            wait = max((quota.wait_for_token(tokens) for _, quota, tokens in states), default=0.0)
            for key, _, tokens in states:
                self._store(connection, key, tokens - 1 if wait == 0 else tokens, now, clock)
            return wait, now

    def settle(self, buckets: Sequence[tuple[str, Quota]], elapsed: float) -> None:
        """Charge the last take for the time its answer took beyond the bucket's tolerance.

        The server took its token somewhere between our take and its answer, `elapsed` seconds
        later. Up to `tolerance` seconds of that are covered by the burst the client leaves
        unused (`client_quota`); a slower request (a login before the call, a pause) is counted
        as if taken `elapsed - tolerance` seconds later, so it cannot earn a 429 next time.
        """
        with self._write(sorted(key for key, _ in buckets)) as connection:
            for key, quota in buckets:
                late = elapsed - quota.tolerance
                if late > 0:
                    connection.execute(
                        "UPDATE quota_buckets SET tokens = tokens - ? WHERE key = ?",
                        (quota.rate * late, key),
                    )

    def drain(self, keys: Sequence[str], clock: Clock) -> None:
        """Empty buckets now: the server said 429, so its bucket is empty whatever we counted."""
        with self._write(sorted(keys)) as connection:
            now = clock.now()
            for key in keys:
                self._store(connection, key, 0.0, now, clock)

    def tokens(self, key: str, quota: Quota, clock: Clock) -> float:
        """Tokens a bucket holds now (a full bucket if it was never used)."""
        with self._connect() as connection:
            return self._refilled(connection, key, quota, clock, clock.now())

    @staticmethod
    def _refilled(connection: Any, key: str, quota: Quota, clock: Clock, now: float) -> float:
        row = connection.execute(
            "SELECT tokens, updated, clock_speed FROM quota_buckets WHERE key = ?", (key,)
        ).fetchone()
        # A bucket written on another clock (another sandbox speed) means nothing on this one.
        if row is None or row[2] != clock.speed:
            return float(quota.burst)
        tokens, updated, _ = row
        return quota.refill(min(tokens, quota.burst), now - updated)

    @staticmethod
    def _store(connection: Any, key: str, tokens: float, now: float, clock: Clock) -> None:
        connection.execute(
            "INSERT INTO quota_buckets (key, tokens, updated, clock_speed) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated, "
            "clock_speed = excluded.clock_speed",
            (key, tokens, now, clock.speed),
        )

    # -- report ledger -------------------------------------------------------------------------

    def record_report(self, request: ReportRequest, report_id: str, clock: Clock) -> None:
        """Remember a report right after createReport returned its id."""
        with self._write() as connection:
            connection.execute(
                "INSERT INTO report_ledger (report_id, ledger_key, endpoint, account, "
                "marketplace_id, report_type, data_start, data_end, report_options, status, "
                "created_at, clock_speed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (endpoint, report_id) DO UPDATE SET ledger_key = excluded.ledger_key, "
                "account = excluded.account, marketplace_id = excluded.marketplace_id, "
                "report_type = excluded.report_type, data_start = excluded.data_start, "
                "data_end = excluded.data_end, report_options = excluded.report_options, "
                "status = excluded.status, created_at = excluded.created_at, "
                "clock_speed = excluded.clock_speed, finished_at = NULL, document_id = NULL",
                (
                    report_id,
                    request.key,
                    request.endpoint,
                    request.account,
                    request.marketplace_id,
                    request.report_type,
                    request.data_start,
                    request.data_end,
                    json.dumps(dict(sorted(request.report_options.items()))),
                    REQUESTED,
                    clock.now(),
                    clock.speed,
                ),
            )

    def open_report(self, request: ReportRequest) -> LedgerEntry | None:
        """The newest report of this request whose outcome is still unknown, if any."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT report_id, status, created_at, clock_speed, finished_at, document_id "
                "FROM report_ledger WHERE ledger_key = ? AND status = ? "
                f"ORDER BY created_at DESC, {self._SEQUENCE} DESC LIMIT 1",
                (request.key, REQUESTED),
            ).fetchone()
        return LedgerEntry(*row) if row else None

    def finish_report(
        self,
        request: ReportRequest,
        report_id: str,
        status: str,
        clock: Clock,
        document_id: str | None = None,
    ) -> None:
        """Close a ledger entry: COMPLETED, FATAL or FORGOTTEN."""
        if status == REQUESTED:
            raise ValueError("finish_report needs a final status, not REQUESTED.")
        with self._write() as connection:
            connection.execute(
                "UPDATE report_ledger SET status = ?, finished_at = ?, document_id = ? "
                "WHERE endpoint = ? AND report_id = ?",
                (status, clock.now(), document_id, request.endpoint, report_id),
            )

    def complete_reports(self, endpoint: str, report_ids: Sequence[str], clock: Clock) -> int:
        """Close the still-open entries of reports whose documents are now safely stored."""
        with self._write() as connection:
            now = clock.now()
            return sum(
                connection.execute(
                    "UPDATE report_ledger SET status = ?, finished_at = ? "
                    "WHERE endpoint = ? AND report_id = ? AND status = ?",
                    (COMPLETED, now, endpoint, report_id, REQUESTED),
                ).rowcount
                for report_id in report_ids
            )

    def recent_report(
        self, request: ReportRequest, since: float, clock: Clock
    ) -> LedgerEntry | None:
        """The newest report of this request completed at `since` (simulated seconds) or later:
        a run after a crash reuses its document instead of requesting the report again."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT report_id, status, created_at, clock_speed, finished_at, document_id "
                "FROM report_ledger WHERE ledger_key = ? AND status = ? AND finished_at >= ? "
                f"AND clock_speed = ? ORDER BY finished_at DESC, {self._SEQUENCE} DESC LIMIT 1",
                (request.key, COMPLETED, since, clock.speed),
            ).fetchone()
        return LedgerEntry(*row) if row else None

    def report_history(self, request: ReportRequest) -> list[LedgerEntry]:
        """Every report ever requested for this request, oldest first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT report_id, status, created_at, clock_speed, finished_at, document_id "
                f"FROM report_ledger WHERE ledger_key = ? ORDER BY created_at, {self._SEQUENCE}",
                (request.key,),
            ).fetchall()
        return [LedgerEntry(*row) for row in rows]

    # -- the app-wide GET_SALES_AND_TRAFFIC_REPORT budget (sources/sales_and_traffic_budget) ---

    def budget_spend(
        self, application: str, day: str, account: str, purpose: str, limit: int
    ) -> int | None:
        """Count one request of `account` against `application`'s `day` if fewer than `limit`
        were counted: the day's total after it, or None (nothing counted) when it is spent."""
        with self._write([f"budget|{application}"]) as connection:
            row = connection.execute(
                "SELECT COALESCE(SUM(requests), 0) FROM sales_and_traffic_budget "
                "WHERE application = ? AND day = ?",
                (application, day),
            ).fetchone()
            used = int(row[0])
            if used >= limit:
                return None
            connection.execute(
                "INSERT INTO sales_and_traffic_budget (application, day, account, purpose, "
                "requests) VALUES (?, ?, ?, ?, 1) ON CONFLICT (application, day, account, purpose) "
                "DO UPDATE SET requests = sales_and_traffic_budget.requests + 1",
                (application, day, account, purpose),
            )
        return used + 1

    def budget_used(self, application: str, day: str) -> dict[tuple[str, str], int]:
        """(account, purpose) -> requests counted on `application`'s `day`."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT account, purpose, requests FROM sales_and_traffic_budget "
                "WHERE application = ? AND day = ?",
                (application, day),
            ).fetchall()
        return {(account, purpose): int(n) for account, purpose, n in rows}

    # -- Finances pages of a window still being listed ---------------------------------------

    def record_page(
        self, window_key: str, page: int, payload: Mapping[str, Any], next_token: str | None
    ) -> None:
        """Keep one listFinancialEvents page and the token of the next the moment it arrives."""
        with self._write() as connection:
            connection.execute(
                "INSERT INTO finance_pages (window_key, page, payload, next_token, fetched_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (window_key, page) DO UPDATE SET "
                "payload = excluded.payload, next_token = excluded.next_token, "
                "fetched_at = excluded.fetched_at",
                (
                    window_key,
                    page,
                    json.dumps(payload, separators=(",", ":")),
                    next_token,
                    time.time(),
                ),
            )

    def recorded_pages(
        self, window_key: str, since: float
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The window's pages in order and the token of the page after them, when the last one
        was fetched at `since` (wall seconds) or later; older pages are dropped (the listing
        starts over). ([], None) when there are none."""
        with self._write() as connection:
            rows = connection.execute(
                "SELECT payload, next_token, fetched_at FROM finance_pages WHERE window_key = ? "
                "ORDER BY page",
                (window_key,),
            ).fetchall()
            if rows and rows[-1][2] >= since:
                return [json.loads(payload) for payload, _, _ in rows], rows[-1][1]
            connection.execute("DELETE FROM finance_pages WHERE window_key = ?", (window_key,))
        return [], None

    def forget_pages(self, window_key: str) -> None:
        """Drop a window's pages once the document holding them is stored."""
        with self._write() as connection:
            connection.execute("DELETE FROM finance_pages WHERE window_key = ?", (window_key,))

    # -- providers' daily spending and competitive reports ------------------------------------

    def spent(self, provider: str, day: str) -> float:
        """What `provider` has been charged on `day` (YYYY-MM-DD, UTC)."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT spent FROM provider_spend WHERE provider = ? AND day = ?", (provider, day)
            ).fetchone()
        return float(row[0]) if row else 0.0

    def add_spending(self, provider: str, day: str, cost: float) -> float:
        """Add one call's cost to `provider`'s day; returns the day's total."""
        with self._write() as connection:
            connection.execute(
                "INSERT INTO provider_spend (provider, day, spent, calls) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (provider, day) DO UPDATE SET spent = provider_spend.spent + "
                "excluded.spent, calls = provider_spend.calls + 1",
                (provider, day, cost),
            )
            row = connection.execute(
                "SELECT spent FROM provider_spend WHERE provider = ? AND day = ?", (provider, day)
            ).fetchone()
        return float(row[0])

    def save_competitive_report(self, report: Mapping[str, Any]) -> None:
        """Keep a written report with its inputs, writer, model, tokens and cost."""
        columns = list(_COMPETITIVE_REPORT_COLUMNS)
        with self._write() as connection:
            connection.execute(
                f"INSERT INTO competitive_reports ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                tuple(report[name] for name in columns),
            )

    def competitive_reports(self, account: str, asin: str, limit: int = 1) -> list[dict[str, Any]]:
        """The newest reports of an ASIN, newest first."""
        columns = list(_COMPETITIVE_REPORT_COLUMNS)
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT {', '.join(columns)} FROM competitive_reports WHERE account = ? AND "
                f"asin = ? ORDER BY created_at DESC LIMIT {int(limit)}",
                (account, asin),
            ).fetchall()
        return [dict(zip(columns, row, strict=True)) for row in rows]


_COMPETITIVE_REPORT_COLUMNS = (
    "report_id",
    "account",
    "asin",
    "created_at",
    "writer",
    "provider",
    "model",
    "inputs",
    "prompt",
    "body",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "note",
)
_POSTGRES_SCHEMA = "amazon_assets_state"
_POSTGRES_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {_POSTGRES_SCHEMA};
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.quota_buckets (
    key TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    clock_speed DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.report_ledger (
    report_id TEXT NOT NULL,
    ledger_key TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    account TEXT NOT NULL,
    marketplace_id TEXT NOT NULL,
    report_type TEXT NOT NULL,
    data_start TEXT NOT NULL,
    data_end TEXT NOT NULL,
    report_options TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    clock_speed DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    document_id TEXT,
    seq BIGSERIAL,
    PRIMARY KEY (endpoint, report_id)
);
CREATE INDEX IF NOT EXISTS report_ledger_key ON {_POSTGRES_SCHEMA}.report_ledger (ledger_key, status);
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.sales_and_traffic_budget (
    application TEXT NOT NULL,
    day TEXT NOT NULL,
    account TEXT NOT NULL,
    purpose TEXT NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (application, day, account, purpose)
);
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.finance_pages (
    window_key TEXT NOT NULL,
    page INTEGER NOT NULL,
    payload TEXT NOT NULL,
    next_token TEXT,
    fetched_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (window_key, page)
);
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.provider_spend (
    provider TEXT NOT NULL,
    day TEXT NOT NULL,
    spent DOUBLE PRECISION NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (provider, day)
);
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.competitive_reports (
    report_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    asin TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    writer TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    inputs TEXT NOT NULL,
    prompt TEXT,
    body TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS competitive_reports_asin ON {_POSTGRES_SCHEMA}.competitive_reports (account, asin, created_at);
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.vault_credentials (
    account TEXT NOT NULL,
    api TEXT NOT NULL,
    token TEXT NOT NULL,
    partner_id TEXT,
    authorized_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    status_detail TEXT,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (account, api)
);
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.vault_oauth_states (
    state_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    api TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    used_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS {_POSTGRES_SCHEMA}.vault_disabled_accounts (
    account TEXT PRIMARY KEY,
    disabled_at DOUBLE PRECISION NOT NULL
);
"""
# Advisory lock ids: the schema creation, and the namespaces of bucket and report locks.
_DDL_LOCK = 0x616D7A6E
_BUCKET_LOCKS, _REPORT_LOCKS = 1, 2


class _QmarkConnection:
    """A psycopg connection taking the `?` placeholders the shared SQL is written with."""

    def __init__(self, connection: Any) -> None:
        self.raw = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(sql.replace("?", "%s"), params)


class PostgresStateStore(StateStore):
    """Quota buckets and the report ledger in PostgreSQL (schema `amazon_assets_state`), shared
    by every machine whose runs point at the same database."""

    _SEQUENCE: ClassVar[str] = "seq"

    def __init__(self, url: str) -> None:
        self.url = url
        with self._connect() as connection, connection.raw.transaction():
            # Concurrent CREATE ... IF NOT EXISTS can still collide: one creator at a time.
            connection.execute("SELECT pg_advisory_xact_lock(?)", (_DDL_LOCK,))
            connection.raw.execute(_POSTGRES_DDL)

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        from amazon_assets.resources.postgres import connect

        with connect(self.url, variable="AMAZON_ASSETS_STATE_URL") as connection:
            connection.commit()  # `connect` set the time zone in a transaction
            connection.autocommit = True
            connection.execute(f"SET search_path TO {_POSTGRES_SCHEMA}")
            yield _QmarkConnection(connection)

    @contextmanager
    def _write(self, bucket_keys: Sequence[str] = ()) -> Iterator[Any]:
        """One transaction holding the advisory lock of each bucket (in sorted order: no
        deadlock between two takes of overlapping buckets)."""
        with self._connect() as connection, connection.raw.transaction():
            for key in bucket_keys:
                connection.execute(
                    "SELECT pg_advisory_xact_lock(?, ?)",
                    (_BUCKET_LOCKS, _lock_offset(key) % (1 << 31)),
                )
            yield connection

    @contextmanager
    def report_lock(self, request: ReportRequest) -> Iterator[None]:
        """A session advisory lock per request; the server frees it if this process dies."""
        with self._connect() as connection:
            lock = (_REPORT_LOCKS, _lock_offset(request.key) % (1 << 31))
            connection.execute("SELECT pg_advisory_lock(?, ?)", lock)
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(?, ?)", lock)
