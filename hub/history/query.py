"""Reading the history back: series for charts at raw, 5-minute or hourly resolution.

A series is the numeric values of one entity at the chosen resolution, merged in time order with
its text states and availability changes (kept raw at every resolution: they are few). With
`auto`, the resolution follows the span — raw up to a day, 5-minute up to a week, hourly beyond —
and falls back to a coarser one where the finer one has already expired. The hour not yet
aggregated by maintenance is aggregated on the fly, so a 5-minute chart reaches up to now.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiosqlite

from hub.history.policy import Policy
from hub.history.schema import scalar

RAW_SPAN = 86_400.0
FIVE_MIN_SPAN = 7 * 86_400.0
LOOKBACK_MS = 86_400_000  # how far before `start` a raw series looks for the value in effect at `start`


class Resolution(StrEnum):
    """How fine a series is."""

    AUTO = "auto"
    RAW = "raw"
    FIVE_MIN = "5min"
    HOURLY = "hour"


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a series. Raw: `value` as recorded. Aggregated: `value` is the mean of the bucket
    starting at `time`, with `min`, `max` and `count`. `value` None marks the entity unavailable;
    text states are points with a str value."""

    time: float
    value: float | str | None
    min: float | None = None
    max: float | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class Series:
    """The points of one entity between two times at one resolution."""

    entity_id: str
    resolution: Resolution
    points: tuple[Point, ...]


_RAW = """
SELECT ts, value, NULL, 0 FROM samples WHERE ts >= ? AND ts < ? AND entity = ?
UNION ALL
SELECT s.ts, NULL, t.text, 1 FROM states s LEFT JOIN texts t ON t.id = s.text
WHERE s.ts >= ? AND s.ts < ? AND s.entity = ?
ORDER BY 1
"""
_BEFORE = """
SELECT * FROM (SELECT ts, value, NULL, 0 FROM samples WHERE ts >= ? AND ts < ? AND entity = ? ORDER BY ts DESC LIMIT 1)
UNION ALL
SELECT * FROM (SELECT s.ts, NULL, t.text, 1 FROM states s LEFT JOIN texts t ON t.id = s.text
               WHERE s.ts >= ? AND s.ts < ? AND s.entity = ? ORDER BY s.ts DESC LIMIT 1)
ORDER BY 1 DESC LIMIT 1
"""
_STATES = """
SELECT s.ts, t.text FROM states s LEFT JOIN texts t ON t.id = s.text
WHERE s.ts >= ? AND s.ts < ? AND s.entity = ? ORDER BY s.ts
"""
_LIVE = """
SELECT (ts / {ms}) * {seconds}, min(value), avg(value), max(value), count(*) FROM samples
WHERE ts >= ? AND ts < ? AND entity = ? GROUP BY ts / {ms} ORDER BY 1
"""
_STORED = """
SELECT bucket, min, mean, max, count FROM {table} WHERE entity = ? AND bucket >= ? AND bucket < ? ORDER BY bucket
"""
_BUCKET = {Resolution.FIVE_MIN: 300, Resolution.HOURLY: 3600}
_TABLE = {Resolution.FIVE_MIN: "agg_5min", Resolution.HOURLY: "agg_hourly"}


class HistoryReader:
    """Queries on an open history connection (the store's reading connection, or the CLI's)."""

    def __init__(self, db: aiosqlite.Connection, policy: Policy) -> None:
        self._db = db
        self._policy = policy

    def choose(self, entity_id: str, start: float, end: float, now: float) -> Resolution:
        """The resolution `auto` picks for this span: the finest that is short enough and still kept."""
        span = end - start
        kept = self._policy.retention(entity_id)
        if span <= RAW_SPAN and start >= now - kept.raw:
            return Resolution.RAW
        if span <= FIVE_MIN_SPAN and start >= now - kept.five_min:
            return Resolution.FIVE_MIN
        return Resolution.HOURLY

    async def series(
        self, entity_id: str, start: float, end: float, resolution: Resolution = Resolution.AUTO, *, now: float
    ) -> Series:
        """The points of `entity_id` from `start` to `end` (epoch seconds); `now` decides what `auto` picks."""
        if resolution is Resolution.AUTO:
            resolution = self.choose(entity_id, start, end, now)
        points = [p async for p in self.points(entity_id, start, end, resolution)]
        return Series(entity_id, resolution, tuple(points))

    async def points(self, entity_id: str, start: float, end: float, resolution: Resolution) -> AsyncIterator[Point]:
        """The points one by one (an export of months of raw data never sits in memory at once)."""
        entity = await scalar(self._db, "SELECT id FROM entities WHERE entity_id = ?", (entity_id,))
        if entity is None:
            return
        lo, hi = int(start * 1000), int(end * 1000)
        if resolution in (Resolution.RAW, Resolution.AUTO):
            async for point in self._raw(entity, lo, hi):
                yield point
            return
        for point in await self._aggregated(entity, lo, hi, resolution):
            yield point

    async def _raw(self, entity: int, lo: int, hi: int) -> AsyncIterator[Point]:
        async with self._db.execute(_BEFORE, (lo - LOOKBACK_MS, lo, entity) * 2) as cursor:
            before = await cursor.fetchone()
        if before is not None:
            yield _raw_point(before)
        async with self._db.execute(_RAW, (lo, hi, entity) * 2) as cursor:
            async for row in cursor:
                yield _raw_point(row)

    async def _aggregated(self, entity: int, lo: int, hi: int, resolution: Resolution) -> list[Point]:
        seconds = _BUCKET[resolution]
        first = lo // 1000 // seconds * seconds
        done = await scalar(self._db, "SELECT value FROM meta WHERE key = 'aggregated_until'") or 0
        stored = _STORED.format(table=_TABLE[resolution])
        async with self._db.execute(stored, (entity, first, min(hi, done) / 1000)) as cursor:
            rows: list[Sequence[Any]] = list(await cursor.fetchall())
        if hi > done:  # the part maintenance has not reached yet, aggregated now from raw samples
            live = _LIVE.format(ms=seconds * 1000, seconds=seconds)
            async with self._db.execute(live, (max(first * 1000, done), hi, entity)) as cursor:
                rows += await cursor.fetchall()
        numbers = [Point(float(r[0]), float(r[2]), float(r[1]), float(r[3]), int(r[4])) for r in rows]
        async with self._db.execute(_STATES, (lo, hi, entity)) as cursor:
            states = [Point(row[0] / 1000, row[1]) for row in await cursor.fetchall()]
        return list(heapq.merge(numbers, states, key=lambda p: p.time))


def _raw_point(row: Sequence[Any]) -> Point:
    ts, number, text, is_state = row
    return Point(ts / 1000, text if is_state else float(number))
