"""The mart's versions as the API sees them: mart.table_changes, kept current in every worker.

Every write of a mart table appends a change (table, days, run) with an increasing id
(resources/mart_changes.py). The version of an answer is, for each table it reads, the newest
change that touched the days it covers; cache entries and ETags are keyed on it, so a rewrite
of last week leaves last year's cached series valid, and every worker computes the same ETag.

`ChangeWatcher` keeps the log current: a Redis pub/sub message from the writer wakes it at once;
without Redis (or if a message is lost) it polls every AMAZON_ASSETS_API_POLL_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from amazon_assets.api.mart import MartReader, MartUnavailable, MissingTable
from amazon_assets.resources.mart_changes import CHANGES_KEY

log = logging.getLogger("amazon_assets.api")


@dataclass(frozen=True)
class Change:
    """One write of one mart table (a row of mart.table_changes)."""

    change_id: int
    table: str
    first_day: date | None
    last_day: date | None
    run_id: str | None
    written_at: datetime | None

    def overlaps(self, first: date | None, last: date | None) -> bool:
        """Whether the write touched any day of [first, last] (None: unbounded)."""
        if self.first_day is None or self.last_day is None:
            return True  # an unpartitioned table is replaced whole
        return (first is None or self.last_day >= first) and (
            last is None or self.first_day <= last
        )


Version = tuple[int, ...]


class ChangeLog:
    """All changes seen so far, newest first per table."""

    def __init__(self) -> None:
        self._by_table: dict[str, list[Change]] = {}
        self.newest = 0

    def add(self, changes: Iterable[Change]) -> int:
        """Add changes (ignoring ones already seen); returns how many were new."""
        added = 0
        for change in sorted(changes, key=lambda c: c.change_id):
            if change.change_id <= self.newest:
                continue
            self._by_table.setdefault(change.table, []).insert(0, change)
            self.newest = change.change_id
            added += 1
        return added

    def latest(
        self, table: str, first: date | None = None, last: date | None = None
    ) -> Change | None:
        """The newest change of `table` touching [first, last]."""
        for change in self._by_table.get(table, ()):
            if change.overlaps(first, last):
                return change
        return None

    def version(
        self, tables: Sequence[str], first: date | None = None, last: date | None = None
    ) -> Version:
        """For each table, the id of the newest change touching [first, last] (0: none)."""
        return tuple(
            change.change_id if (change := self.latest(table, first, last)) else 0
            for table in tables
        )


def _change(row: Mapping[str, Any]) -> Change:
    return Change(
        change_id=int(row["change_id"]),
        table=row["table_name"],
        first_day=row["first_day"],
        last_day=row["last_day"],
        run_id=row["run_id"],
        written_at=row["written_at"],
    )


def read_changes(reader: MartReader, after: int) -> list[Change]:
    """Changes with an id above `after`; [] before the first mart write recorded one."""
    try:
        rows = reader.rows(
            "SELECT change_id, table_name, first_day, last_day, run_id, written_at "
            f"FROM {CHANGES_KEY} WHERE change_id > %(after)s ORDER BY change_id",
            {"after": after},
        )
    except MissingTable:
        return []
    return [_change(row) for row in rows]


class ChangeWatcher:
    """Keeps a ChangeLog current from the mart; calls `on_change` with each batch of news."""

    def __init__(
        self,
        reader: MartReader,
        changes: ChangeLog,
        poll_seconds: float,
        redis_url: str | None = None,
        channel: str | None = None,
        on_change: Callable[[list[Change]], None] | None = None,
    ) -> None:
        self.reader = reader
        self.changes = changes
        self.poll_seconds = poll_seconds
        self.redis_url = redis_url
        self.channel = channel
        self.on_change = on_change
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def refresh(self) -> list[Change]:
        """Read what is new (re-pointing the DuckDB snapshot first) and add it to the log."""

        def read() -> list[Change]:
            self.reader.refresh()
            return read_changes(self.reader, self.changes.newest)

        news = await asyncio.to_thread(read)
        if self.changes.add(news) and self.on_change:
            self.on_change(news)
        return news

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll(), name="mart-changes-poll"))
        if self.redis_url and self.channel:
            self._tasks.append(asyncio.create_task(self._listen(), name="mart-changes-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()
            try:
                await self.refresh()
            except MartUnavailable as error:
                log.warning("mart changes could not be read", extra={"error": str(error)})
            except Exception:
                log.exception("mart changes could not be read")

    async def _listen(self) -> None:
        import redis.asyncio as redis

        while True:
            client = redis.Redis.from_url(self.redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    # Subscribed: a change committed while we were away is caught by this read.
                    self._wake.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "mart change announcements unavailable; polling only",
                    extra={"error": type(error).__name__},
                )
                await asyncio.sleep(min(5.0, self.poll_seconds * 5))
            finally:
                await client.aclose()
