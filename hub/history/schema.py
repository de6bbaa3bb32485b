"""The history database: its tables, connection settings and the interning of names to integers.

Layout, chosen by measurement (see the README's History section):

- `samples (ts, entity, value)` keyed by time first, WITHOUT ROWID. Every commit appends at the
  right edge of one B-tree, so a commit rewrites a handful of pages instead of one page per entity:
  with 200 sensors every 10 s that is ~18 MB written per hour instead of ~410 MB keyed by entity
  first — the difference between an SD card that lasts and one that does not. ~25 bytes per sample.
- `states (ts, entity, text)` the same for text states (`on`, `mowing`); `text` NULL means the
  entity became unavailable. Texts and entity ids are interned in `texts` and `entities`.
- `agg_5min`, `agg_hourly (entity, bucket, min, mean, max, count)` keyed by entity first: written
  once an hour by maintenance, read per entity by charts.

Times are integer milliseconds since the epoch in raw tables, integer seconds (bucket start) in
aggregate tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import aiosqlite

from hub.errors import HubError
from hub.sqlite import apply_pragmas

VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS texts (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS samples (
    ts INTEGER NOT NULL, entity INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (ts, entity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS states (
    ts INTEGER NOT NULL, entity INTEGER NOT NULL, text INTEGER, PRIMARY KEY (ts, entity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_5min (
    entity INTEGER NOT NULL, bucket INTEGER NOT NULL,
    min REAL NOT NULL, mean REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (entity, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_hourly (
    entity INTEGER NOT NULL, bucket INTEGER NOT NULL,
    min REAL NOT NULL, mean REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (entity, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_CHUNK = 500  # names per IN (...) query, well under SQLite's variable limit


class HistoryFileError(HubError):
    """The history file cannot be used (missing, from a newer version, not a database)."""


async def connect(path: Path, *, create: bool) -> aiosqlite.Connection:
    """Open the history database in WAL mode; create the tables when `create`, else require the file."""
    _check_path(path, create=create)
    db = await aiosqlite.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT: we decide the batches
    try:
        await _prepare(db, path, create=create)
    except BaseException:
        await db.close()
        raise
    return db


def _check_path(path: Path, *, create: bool) -> None:
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise HistoryFileError(f"there is no history file at {path} (the hub has not recorded anything yet)")


async def _prepare(db: aiosqlite.Connection, path: Path, *, create: bool) -> None:
    try:
        version = await scalar(db, "PRAGMA user_version")
    except aiosqlite.DatabaseError as exc:
        raise HistoryFileError(f"{path} is not a history database ({exc})") from exc
    if version is not None and version > VERSION:
        raise HistoryFileError(f"{path} was written by a newer Hausmeister (format {version}); update Hausmeister")
    await apply_pragmas(db)
    if create:
        await db.executescript(_SCHEMA)
        await db.execute(f"PRAGMA user_version={VERSION}")


async def scalar(db: aiosqlite.Connection, sql: str, params: Iterable[object] = ()) -> int | None:
    """The first column of the first row, or None."""
    async with db.execute(sql, tuple(params)) as cursor:
        row = await cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


class Interner:
    """Maps names (entity ids, text states) to small integers stored in a two-column table.

    The cache is bounded (`limit`), so a sensor with endless distinct texts cannot grow memory.
    """

    def __init__(self, table: str, column: str, limit: int = 100_000) -> None:
        self._table = table
        self._column = column
        self._limit = limit
        self._ids: dict[str, int] = {}

    async def ids(self, db: aiosqlite.Connection, names: Iterable[str]) -> dict[str, int]:
        """The id of each name, adding the names not yet in the table (call inside a transaction)."""
        wanted = set(names)
        missing = [name for name in wanted if name not in self._ids]
        if missing:
            if len(self._ids) + len(missing) > self._limit:
                self._ids.clear()
            insert = f"INSERT OR IGNORE INTO {self._table} ({self._column}) VALUES (?)"
            await db.executemany(insert, [(name,) for name in missing])
            for start in range(0, len(missing), _CHUNK):
                chunk = missing[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT {self._column}, id FROM {self._table} WHERE {self._column} IN ({marks})"
                async with db.execute(query, chunk) as cursor:
                    self._ids.update({str(name): int(id_) for name, id_ in await cursor.fetchall()})
        return {name: self._ids[name] for name in wanted}

    def forget(self) -> None:
        """Drop the cache (after a rolled-back transaction the ids it learned may not exist)."""
        self._ids.clear()
