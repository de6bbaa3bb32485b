"""`rules.db` in the data directory: the kept traces of every rule and each rule's on / off state.

The engine writes in batches (every few seconds and at shutdown, one transaction); the CLI reads
the same file with plain sqlite3 while the hub runs (WAL mode lets both work at once).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from hub.sqlite import open_database
from rules.traces import Trace, TraceBook

FILENAME = "rules.db"
# Traces encoded between two turns of the event loop: a busy house has thousands to write per flush
# (20 ms and more of JSON), and MQTT messages must not wait that long.
ENCODE_CHUNK = 25

_SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    rule_id TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    started REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (rule_id, run_id)
);
CREATE TABLE IF NOT EXISTS rule_state (
    rule_id TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    reason TEXT,
    since REAL NOT NULL
);
"""


@dataclass(frozen=True)
class RuleState:
    """A rule switched off by an action, or suspended by the loop guard, and why."""

    enabled: bool
    reason: str | None
    since: float


class RulesDatabase:
    """Traces and rule states on disk; `flush()` writes what changed since the last flush."""

    def __init__(self, path: Path, book: TraceBook) -> None:
        self.path = path
        self.book = book
        self.states: dict[str, RuleState] = {}
        self._pending_states: dict[str, RuleState | None] = {}
        self._db: aiosqlite.Connection | None = None
        self._writing = asyncio.Lock()  # one flush at a time, so rule states are written in order

    async def __aenter__(self) -> Self:
        if self._db is not None:
            raise RuntimeError("the rules database is already open")
        self._db = await open_database(self.path, _SCHEMA)
        async with self._db.execute("SELECT body FROM traces ORDER BY rule_id, run_id") as cursor:
            async for (body,) in cursor:
                self.book.restore(Trace.from_dict(json.loads(body)))
        async with self._db.execute("SELECT rule_id, enabled, reason, since FROM rule_state") as cursor:
            async for rule_id, enabled, reason, since in cursor:
                self.states[rule_id] = RuleState(bool(enabled), reason, since)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._db is not None:
            try:
                await self.flush()
            finally:
                await self._db.close()
                self._db = None

    def set_state(self, rule_id: str, state: RuleState | None) -> None:
        """Remember that a rule was switched off / suspended (None: back to its file's setting)."""
        if state is None:
            self.states.pop(rule_id, None)
        else:
            self.states[rule_id] = state
        self._pending_states[rule_id] = state

    async def flush(self) -> None:
        """Write changed traces and rule states in one transaction; drop traces beyond the kept ones."""
        async with self._writing:
            await self._flush()

    async def _flush(self) -> None:
        if self._db is None:
            return
        written: list[Trace] = []
        oldest: list[tuple[str, int]] = []
        for rule_id, traces in self.book.take_dirty():
            written.extend(traces)
            kept = self.book.latest(rule_id)
            if kept:
                oldest.append((rule_id, kept[-1].run_id))
        states, self._pending_states = self._pending_states, {}
        if not written and not states:
            return
        try:
            await self._write(written, oldest, states)
        except BaseException:
            # Not written (the hub is stopping, the disk failed): keep it all for the next flush.
            for trace in written:
                self.book.changed(trace)
            self._pending_states = {**states, **self._pending_states}
            raise

    async def _write(
        self, traces: list[Trace], oldest: list[tuple[str, int]], states: dict[str, RuleState | None]
    ) -> None:
        assert self._db is not None
        db = self._db
        rows: list[tuple[str, int, float, str]] = []
        for trace in traces:
            rows.append((trace.rule_id, trace.run_id, trace.started, trace.to_json()))
            if len(rows) % ENCODE_CHUNK == 0:
                await asyncio.sleep(0)
        await db.executemany("INSERT OR REPLACE INTO traces VALUES (?, ?, ?, ?)", rows)
        await db.executemany("DELETE FROM traces WHERE rule_id = ? AND run_id < ?", oldest)
        await db.executemany(
            "INSERT OR REPLACE INTO rule_state VALUES (?, ?, ?, ?)",
            [(r, int(s.enabled), s.reason, s.since) for r, s in states.items() if s is not None],
        )
        await db.executemany("DELETE FROM rule_state WHERE rule_id = ?", [(r,) for r, s in states.items() if s is None])
        await db.commit()


def read_traces(data_dir: Path, rule_id: str, limit: int = 5) -> list[Trace]:
    """The latest stored traces of a rule, newest first (for the CLI; works while the hub runs)."""
    path = data_dir / FILENAME
    if not path.exists():
        return []
    with _readonly(path) as db:
        rows = db.execute(
            "SELECT body FROM traces WHERE rule_id = ? ORDER BY run_id DESC LIMIT ?", (rule_id, limit)
        ).fetchall()
    return [Trace.from_dict(json.loads(body)) for (body,) in rows]


def read_summary(data_dir: Path) -> tuple[dict[str, Trace], dict[str, RuleState]]:
    """The latest trace of every rule and the stored rule states (for `hausmeister rules list`)."""
    path = data_dir / FILENAME
    if not path.exists():
        return {}, {}
    with _readonly(path) as db:
        latest = db.execute(
            "SELECT body FROM traces t WHERE run_id = (SELECT MAX(run_id) FROM traces WHERE rule_id = t.rule_id)"
        ).fetchall()
        states = db.execute("SELECT rule_id, enabled, reason, since FROM rule_state").fetchall()
    traces = [Trace.from_dict(json.loads(body)) for (body,) in latest]
    return {t.rule_id: t for t in traces}, {r: RuleState(bool(e), why, s) for r, e, why, s in states}


class _readonly:
    """A read-only sqlite3 connection as a context manager (closed on exit, unlike sqlite3's own)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def __enter__(self) -> sqlite3.Connection:
        return self._db

    def __exit__(self, *_exc: object) -> None:
        self._db.close()
