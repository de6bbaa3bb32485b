"""Maintenance, run by the clock once an hour: aggregate raw samples, then forget what expired.

Aggregation turns each completed hour of raw samples into 5-minute and hourly min/mean/max/count
rows (the mean is the plain mean of the samples). It runs one hour per transaction and remembers
how far it got (`meta.aggregated_until`), so a hub that was off for a week catches up in bounded
steps. Raw samples are only deleted once they are aggregated.

Deletion runs per retention group (all entities with the same `keep_raw`) over the time-keyed raw
tables, at most `BATCH_ROWS` rows per transaction; aggregate tables are keyed by entity, so they
are trimmed per entity.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol, TypeVar

import aiosqlite

from hub.history.policy import Policy, Retention
from hub.history.schema import scalar

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
FIVE_MIN_MS = 300_000
BATCH_ROWS = 20_000  # raw rows looked at per deleting transaction
TRIM_ENTITIES = 200  # entities whose aggregates are trimmed per transaction

T = TypeVar("T")


class Transact(Protocol):
    """Runs `work` on the writing connection inside one transaction."""

    async def __call__(self, work: Callable[[aiosqlite.Connection], Awaitable[T]], /) -> T: ...


class Maintenance:
    """Aggregation and retention for one history database."""

    def __init__(self, transact: Transact, policy: Policy) -> None:
        self._transact = transact
        self._policy = policy
        self._deleted: dict[tuple[str, float], int] = {}  # (table, retention) → deleted up to (ms)

    async def run(self, now: float) -> None:
        """Aggregate every complete hour up to `now` (all of it must be written), then expire old rows."""
        now_ms = int(now * 1000)
        aggregated = await self.aggregate(now_ms - now_ms % HOUR_MS)
        entities = await self._transact(_entity_names)
        await self._expire_time_keyed("samples", entities, now_ms, lambda r: r.raw, limit=aggregated)
        await self._expire_time_keyed("states", entities, now_ms, lambda r: r.hourly, limit=now_ms)
        await self._expire_aggregates(entities, now_ms)

    # --- aggregation ------------------------------------------------------------------------------
    async def aggregate(self, until_ms: int) -> int:
        """Aggregate the hours before `until_ms` (hour-aligned); returns how far raw is aggregated."""
        done = await self._transact(partial(scalar, sql="SELECT value FROM meta WHERE key = 'aggregated_until'"))
        while done is None or done < until_ms:
            first = await self._transact(
                partial(scalar, sql="SELECT min(ts) FROM samples WHERE ts >= ?", params=(done or 0,))
            )
            if first is None or first >= until_ms:
                await self._transact(partial(_set_meta, key="aggregated_until", value=until_ms))
                return until_ms
            hour = first - first % HOUR_MS  # skips empty stretches in one step
            await self._transact(partial(_aggregate_hour, hour=hour))
            done = hour + HOUR_MS
        return done

    # --- retention --------------------------------------------------------------------------------
    async def _expire_time_keyed(
        self, table: str, entities: dict[int, str], now_ms: int, keep: Callable[[Retention], float], *, limit: int
    ) -> None:
        groups: dict[float, list[int]] = defaultdict(list)
        for entity, name in entities.items():
            groups[keep(self._policy.retention(name))].append(entity)
        default = keep(self._policy.default)
        groups.setdefault(default, [])
        others = [e for seconds, members in groups.items() if seconds != default for e in members]
        for seconds, members in groups.items():
            # The default group is "everyone else", so rows of entities the config no longer names expire too.
            where, params = _not_in(others) if seconds == default else _in(members)
            cutoff = min(now_ms - int(seconds * 1000), limit)
            await self._delete_before(table, seconds, cutoff, where, params)

    async def _delete_before(self, table: str, seconds: float, cutoff: int, where: str, params: list[int]) -> None:
        key = (table, seconds)
        start = self._deleted.get(key)
        if start is None:  # the first run since start-up begins at the oldest row: the config may have changed
            start = await self._transact(partial(scalar, sql=f"SELECT min(ts) FROM {table}"))
        while start is not None and start < cutoff:
            bound = await self._transact(
                partial(
                    scalar,
                    sql=f"SELECT ts FROM {table} WHERE ts >= ? AND ts < ? ORDER BY ts LIMIT 1 OFFSET {BATCH_ROWS}",
                    params=(start, cutoff),
                )
            )
            end = cutoff if bound is None else bound
            sql = f"DELETE FROM {table} WHERE ts >= ? AND ts < ? AND {where}"
            await self._transact(partial(_execute, sql=sql, params=(start, end, *params)))
            start = end
        self._deleted[key] = max(start or cutoff, cutoff)

    async def _expire_aggregates(self, entities: dict[int, str], now_ms: int) -> None:
        now = now_ms // 1000
        cuts = []
        for entity, name in entities.items():
            retention = self._policy.retention(name)
            cuts.append((now - int(retention.five_min), entity, now - int(retention.hourly), entity))
        for start in range(0, len(cuts), TRIM_ENTITIES):
            await self._transact(partial(_trim, cuts=cuts[start : start + TRIM_ENTITIES]))


async def _execute(db: aiosqlite.Connection, sql: str, params: tuple[int, ...]) -> None:
    await db.execute(sql, params)


async def _aggregate_hour(db: aiosqlite.Connection, hour: int) -> None:
    window = (hour, hour + HOUR_MS)
    await db.execute(
        "INSERT OR REPLACE INTO agg_5min (entity, bucket, min, mean, max, count) "
        "SELECT entity, (ts / 300000) * 300, min(value), avg(value), max(value), count(*) "
        "FROM samples WHERE ts >= ? AND ts < ? GROUP BY entity, ts / 300000",
        window,
    )
    await db.execute(
        "INSERT OR REPLACE INTO agg_hourly (entity, bucket, min, mean, max, count) "
        "SELECT entity, ? / 1000, min(value), avg(value), max(value), count(*) "
        "FROM samples WHERE ts >= ? AND ts < ? GROUP BY entity",
        (hour, *window),
    )
    await _set_meta(db, "aggregated_until", hour + HOUR_MS)


async def _trim(db: aiosqlite.Connection, cuts: list[tuple[int, int, int, int]]) -> None:
    # One statement per entity and table, each a seek on (entity, bucket): only expired rows are read.
    await db.executemany("DELETE FROM agg_5min WHERE bucket < ? AND entity = ?", [c[:2] for c in cuts])
    await db.executemany("DELETE FROM agg_hourly WHERE bucket < ? AND entity = ?", [c[2:] for c in cuts])


async def _set_meta(db: aiosqlite.Connection, key: str, value: int) -> None:
    await db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


async def _entity_names(db: aiosqlite.Connection) -> dict[int, str]:
    async with db.execute("SELECT id, entity_id FROM entities") as cursor:
        return {int(row[0]): str(row[1]) for row in await cursor.fetchall()}


def _in(ids: list[int]) -> tuple[str, list[int]]:
    return f"entity IN ({','.join('?' * len(ids))})", ids


def _not_in(ids: list[int]) -> tuple[str, list[int]]:
    if not ids:
        return "1", []
    return f"entity NOT IN ({','.join('?' * len(ids))})", ids
