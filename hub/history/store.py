"""The history store: records state changes from the bus into SQLite, in batches, and answers queries.

    async with HistoryStore(settings, path, bus, clock, counters) as history:
        async with asyncio.TaskGroup() as group:
            group.create_task(history.run())
        ...
        series = await history.series("sensor.garden_temperature", start, end)

A state change costs one list append on the device path (see `Recorder`). The writer commits the
buffered rows `commit_interval` seconds after the first of them arrived, in one transaction, so the
SD card sees one write every few seconds however busy the house is (only a buffer half full with a
burst is written at once); a crash loses at most that interval, and WAL mode means `kill -9` never
leaves a corrupt file. Once an hour, maintenance aggregates and expires (see `Maintenance`).
Closing the store writes what is still buffered. Queries use a second connection, so a chart
never waits behind a batch being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import aiosqlite

from hub.bus import EventBus
from hub.clock import Clock
from hub.counters import Counters
from hub.events import StateChanged
from hub.history.maintenance import HOUR_MS, Maintenance
from hub.history.policy import Policy
from hub.history.query import HistoryReader, Resolution, Series
from hub.history.recorder import Batch, Recorder
from hub.history.schema import Interner, connect
from hub.history.settings import HistorySettings

log = logging.getLogger(__name__)

T = TypeVar("T")

MAINTENANCE_DELAY = 60.0  # seconds after each full hour, so the hour's last rows are surely written


class HistoryStore:
    """Sensor history in one SQLite file: an async context manager with a `run()` task."""

    def __init__(
        self, settings: HistorySettings, path: Path, bus: EventBus, clock: Clock, counters: Counters | None = None
    ) -> None:
        self.settings = settings
        self.path = path
        self.policy = Policy(settings)
        self.counters = counters or bus.counters
        self._bus = bus
        self._clock = clock
        self.recorder = Recorder(self.policy, self.counters, settings.max_buffer)
        self._entities = Interner("entities", "entity_id")
        self._texts = Interner("texts", "text", limit=10_000)
        self._lock = asyncio.Lock()  # one transaction at a time on the writing connection
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._unlisten: Callable[[], None] | None = None
        self._maintenance = Maintenance(self._transact, self.policy)
        self._failing = False  # the last write failed: retry once per interval, log once
        self._state = "new"

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError("a HistoryStore is opened once; create a new one")
        self._state = "open"
        self._writer = await connect(self.path, create=True)
        try:
            self._reader = await connect(self.path, create=False)
        except BaseException:
            await self._writer.close()
            raise
        self._unlisten = self._bus.listen(StateChanged, callback=self.recorder.on_event)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._unlisten is not None:
            self._unlisten()
        try:
            if self._writer is not None:
                await self.flush()
        finally:
            for db in (self._reader, self._writer):
                if db is not None:
                    await db.close()
            self._reader = self._writer = None
            self._state = "closed"

    # --- writing ------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Write batches and run the hourly maintenance until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._write_loop(), name="history-writer")
            group.create_task(self._maintenance_loop(), name="history-maintenance")

    async def _write_loop(self) -> None:
        recorder = self.recorder
        while True:
            if self._failing:
                await self._clock.sleep(self.settings.commit_interval)
            await recorder.arrived.wait()
            first = recorder.first_at
            if first is not None and not recorder.urgent.is_set():
                await _until(self._clock, first + self.settings.commit_interval, recorder.urgent)
            await self.flush()

    async def flush(self) -> int:
        """Write everything buffered now, in one transaction; returns how many rows were written."""
        batch = self.recorder.take()
        if not batch:
            return 0
        try:
            await self._transact(lambda db: self._write(db, batch))
        except asyncio.CancelledError:
            self.recorder.put_back(batch, self._clock.time())  # written again on close
            raise
        except Exception as exc:
            # A full or failing disk must not stop the hub: keep the rows (as far as they fit) and retry.
            self.counters.inc("history.write_errors")
            if not self._failing:
                log.error("Could not write history to %s: %s; trying again every few seconds", self.path, exc)
            self._failing = True
            self.recorder.put_back(batch, self._clock.time())
            return 0
        if self._failing:
            log.warning("History is written to %s again", self.path)
            self._failing = False
        self.counters.inc("history.written", len(batch))
        return len(batch)

    async def _write(self, db: aiosqlite.Connection, batch: Batch) -> None:
        names = {row[1] for row in batch.numeric} | {row[1] for row in batch.text}
        ids = await self._entities.ids(db, names)
        if batch.numeric:
            await db.executemany(
                "INSERT OR REPLACE INTO samples (ts, entity, value) VALUES (?, ?, ?)",
                [(ms, ids[entity_id], value) for ms, entity_id, value in batch.numeric],
            )
        if batch.text:
            texts = await self._texts.ids(db, {row[2] for row in batch.text if row[2] is not None})
            await db.executemany(
                "INSERT OR REPLACE INTO states (ts, entity, text) VALUES (?, ?, ?)",
                [(ms, ids[e], None if text is None else texts[text]) for ms, e, text in batch.text],
            )

    async def _transact(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        db = self._writer
        if db is None:
            raise RuntimeError("the history store is not open")
        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                result = await work(db)
                await db.execute("COMMIT")
            except BaseException:
                # Runs after whatever is still in flight on the connection's thread (even when cancelled).
                await _rollback(db)
                self._entities.forget()
                self._texts.forget()
                raise
        return result

    # --- maintenance --------------------------------------------------------------------------------
    async def _maintenance_loop(self) -> None:
        while True:
            now_ms = int(self._clock.time() * 1000)
            next_hour = (now_ms - now_ms % HOUR_MS + HOUR_MS) / 1000
            await self._clock.sleep_until(next_hour + MAINTENANCE_DELAY)
            await self.maintain()

    async def maintain(self) -> None:
        """Write the buffer, aggregate the completed hours, delete what has expired."""
        now = self._clock.time()  # everything recorded before `now` is written by the flush below
        await self.flush()
        try:
            await self._maintenance.run(now)
        except aiosqlite.Error as exc:
            self.counters.inc("history.maintenance_errors")
            log.error("History maintenance failed on %s: %s; trying again in an hour", self.path, exc)

    # --- reading ------------------------------------------------------------------------------------
    @property
    def reader(self) -> HistoryReader:
        """Queries on the reading connection."""
        if self._reader is None:
            raise RuntimeError("the history store is not open")
        return HistoryReader(self._reader, self.policy)

    async def series(
        self, entity_id: str, start: float, end: float | None = None, resolution: Resolution = Resolution.AUTO
    ) -> Series:
        """The points of `entity_id` from `start` up to `end` (epoch seconds), for a chart.

        `end` is excluded; None means up to now, including a reading made this very millisecond.
        """
        now = self._clock.time()
        return await self.reader.series(entity_id, start, now + 0.001 if end is None else end, resolution, now=now)


async def _until(clock: Clock, when: float, event: asyncio.Event) -> None:
    """Return when `clock` reaches `when` or as soon as `event` is set, whichever comes first."""
    sleeper = asyncio.ensure_future(clock.sleep_until(when))
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((sleeper, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()
        await asyncio.gather(sleeper, waiter, return_exceptions=True)


async def _rollback(db: aiosqlite.Connection) -> None:
    # No transaction left to roll back when the COMMIT went through before a cancellation arrived.
    with contextlib.suppress(aiosqlite.OperationalError):
        await db.execute("ROLLBACK")
