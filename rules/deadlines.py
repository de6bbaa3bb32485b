"""Persisted deadlines of rules (`for:` holds, delays, waits, the next scheduled time) in `TimerStore`.

Saving happens off the event path: `save()` and `delete()` only note the change, and one writer
task applies them in order. Changes to the same key are coalesced, so a sensor flapping around a
threshold does not write to the SD card at every crossing. `flush()` writes what is pending (at
shutdown, before the timer store closes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.timers import TimerRecord, TimerStore

OWNER_PREFIX = "rule:"


@dataclass(frozen=True)
class _Save:
    owner: str
    deadline: float
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class _Delete:
    owner: str | None = None  # set: forget every timer of this owner


def owner_of(rule_id: str) -> str:
    """The TimerStore owner name of a rule's deadlines."""
    return f"{OWNER_PREFIX}{rule_id}"


def key_of(rule_id: str, what: str) -> str:
    """A deadline key unique in the whole timer table (drivers use it too)."""
    return f"{OWNER_PREFIX}{rule_id}:{what}"


class Deadlines:
    """The rules' view of the timer store: queued, coalesced, ordered writes."""

    def __init__(self, store: TimerStore) -> None:
        self._store = store
        self._records: dict[str, TimerRecord] = {}  # what the store holds once pending writes are done
        self._pending: dict[str, _Save | _Delete] = {}
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # two flushes at once could apply changes out of order

    async def load(self) -> None:
        """Read every stored rule deadline (once, at start)."""
        for record in await self._store.load():
            if record.owner.startswith(OWNER_PREFIX):
                self._records[record.key] = record

    def of_rule(self, rule_id: str) -> list[TimerRecord]:
        """The saved deadlines of a rule, soonest first."""
        owner = owner_of(rule_id)
        return sorted((r for r in self._records.values() if r.owner == owner), key=lambda r: r.deadline)

    def save(self, rule_id: str, key: str, deadline: float, payload: Mapping[str, Any]) -> None:
        """Remember a deadline (written soon, in order)."""
        owner = owner_of(rule_id)
        self._records[key] = TimerRecord(key, owner, deadline, dict(payload))
        self._note(key, _Save(owner, deadline, payload))

    def delete(self, key: str) -> None:
        """Forget a deadline."""
        if self._records.pop(key, None) is not None or key in self._pending:
            self._note(key, _Delete())

    def delete_rule(self, rule_id: str) -> None:
        """Forget every deadline of a rule (it was removed)."""
        owner = owner_of(rule_id)
        for key in [k for k, r in self._records.items() if r.owner == owner]:
            del self._records[key]
        for key in [k for k, op in self._pending.items() if isinstance(op, _Save) and op.owner == owner]:
            del self._pending[key]
        self._note(f"owner:{owner}", _Delete(owner))

    def _note(self, key: str, op: _Save | _Delete) -> None:
        # Re-inserting moves the key to the end, so the dict order is the order of the last changes.
        self._pending.pop(key, None)
        self._pending[key] = op
        self._wake.set()

    async def run(self) -> None:
        """Write pending changes as they come, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write every pending change now."""
        async with self._writing:
            await self._write()

    async def _write(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, {}
            for key, op in pending.items():
                if isinstance(op, _Save):
                    await self._store.save(key, op.owner, op.deadline, dict(op.payload))
                elif op.owner is not None:
                    await self._store.delete_owner(op.owner)
                else:
                    await self._store.delete(key)
