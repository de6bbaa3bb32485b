"""Persisted deadlines: timers that survive a restart of the hub (SQLite in the data directory).

Rules keep their `for:` deadlines, delays and waits here; drivers keep safety deadlines here (the
irrigation watchdog that must close a valve even after a restart). A timer is a key, an owner, a
deadline in epoch seconds and a small JSON payload; the owner reloads its timers at start and
decides what to do with the ones that passed while the hub was down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from hub.sqlite import open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS timers (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    deadline REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_owner ON timers(owner);
"""


@dataclass(frozen=True)
class TimerRecord:
    """One persisted deadline."""

    key: str
    owner: str
    deadline: float
    payload: dict[str, Any]


class TimerStore:
    """An SQLite table of deadlines; every write is committed at once (they are rare and precious)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        if self._closed or self._db is not None:
            raise RuntimeError("a TimerStore is opened once; create a new one")
        self._db = await open_database(self.path, _SCHEMA)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
        self._closed = True

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the timer store is not open")
        return self._db

    async def save(self, key: str, owner: str, deadline: float, payload: dict[str, Any] | None = None) -> None:
        """Create or replace the timer `key`."""
        await self._conn.execute(
            "INSERT OR REPLACE INTO timers (key, owner, deadline, payload) VALUES (?, ?, ?, ?)",
            (key, owner, deadline, json.dumps(payload or {}, separators=(",", ":"), default=str)),
        )
        await self._conn.commit()

    async def delete(self, key: str) -> None:
        """Forget the timer `key` (no error if it does not exist)."""
        await self._conn.execute("DELETE FROM timers WHERE key = ?", (key,))
        await self._conn.commit()

    async def delete_owner(self, owner: str) -> None:
        """Forget every timer of `owner`."""
        await self._conn.execute("DELETE FROM timers WHERE owner = ?", (owner,))
        await self._conn.commit()

    async def load(self, owner: str | None = None) -> list[TimerRecord]:
        """The timers of `owner` (or all), soonest first."""
        query = "SELECT key, owner, deadline, payload FROM timers"
        params: tuple[str, ...] = ()
        if owner is not None:
            query += " WHERE owner = ?"
            params = (owner,)
        async with self._conn.execute(query + " ORDER BY deadline", params) as cursor:
            rows = await cursor.fetchall()
        return [TimerRecord(row[0], row[1], row[2], json.loads(row[3])) for row in rows]
