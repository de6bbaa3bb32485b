"""The hub's own limit on how long a zone may run: it closes the valve even if the controller's timer fails.

When the hub sees a zone open it arms a deadline (its `max_run`, or the run's planned length plus a
minute of grace when that is known, whichever comes first) and writes it to the hub's TimerStore,
so the deadline survives a restart of the hub. When the zone closes the deadline is dropped. When a
deadline passes with the zone still open, the watchdog closes it and keeps trying until the zone
reports closed: first the one station, then (if that did not help) every station.

After a restart the driver calls `restore()`: deadlines that passed while the hub was down are due
at once, the others are waited for again.

Arming happens inside MQTT handlers, which are synchronous, so `arm`/`disarm` change the deadlines
in memory and wake the watchdog task, which writes them to the store; `flush()` writes what is
still pending (the driver calls it when it stops, so nothing is lost on shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from devices.opensprinkler.durations import format_duration
from hub.clock import Clock
from hub.counters import Counters
from hub.errors import HubError
from hub.timers import TimerStore

log = logging.getLogger(__name__)

GRACE = 60.0  # a controller finishes a run a little late now and then; only a real overrun counts
RETRY = 30.0  # how often the watchdog tries again while a zone it closed still reports open

# Close the zone at `station`; `attempt` counts from 0. Returns True once the zone is confirmed closed.
Enforce = Callable[[int, int], Awaitable[bool]]


@dataclass(frozen=True)
class Deadline:
    """When the hub closes a zone, and which zone (for the log and the store)."""

    station: int
    entity_id: str
    deadline: float
    limit: float


class Watchdog:
    """Deadlines per station, kept in memory and in the TimerStore, enforced by `run()`."""

    def __init__(self, timers: TimerStore, owner: str, clock: Clock, counters: Counters, enforce: Enforce) -> None:
        self._timers = timers
        self._owner = owner
        self._clock = clock
        self._counters = counters
        self._enforce = enforce
        self._deadlines: dict[int, Deadline] = {}
        self._unsaved: dict[int, Deadline | None] = {}  # station → to save (Deadline) or to delete (None)
        self._attempts: dict[int, int] = {}  # station → closing attempts made so far
        self._retry_at: dict[int, float] = {}  # station → when to try closing again (in memory only)
        self._changed = asyncio.Event()

    def _key(self, station: int) -> str:
        return f"{self._owner}:station:{station}"

    async def restore(self) -> list[Deadline]:
        """Load the deadlines persisted by an earlier run of the hub."""
        for record in await self._timers.load(self._owner):
            station = record.payload.get("station")
            entity_id = record.payload.get("entity_id")
            if not isinstance(station, int) or not isinstance(entity_id, str):
                log.warning("Dropped a stored irrigation deadline that cannot be read (%s)", record.key)
                await self._timers.delete(record.key)
                continue
            limit = record.payload.get("limit")
            self._deadlines[station] = Deadline(
                station, entity_id, record.deadline, float(limit) if isinstance(limit, int | float) else 0.0
            )
        self._changed.set()
        return sorted(self._deadlines.values(), key=lambda d: d.deadline)

    def armed(self, station: int) -> Deadline | None:
        """The deadline of a zone, if one is armed."""
        return self._deadlines.get(station)

    def arm(self, station: int, entity_id: str, limit: float) -> Deadline:
        """Start the clock for a zone that just opened (a zone already armed keeps its deadline)."""
        existing = self._deadlines.get(station)
        if existing is not None:
            return existing
        deadline = Deadline(station, entity_id, self._clock.time() + limit, limit)
        self._deadlines[station] = deadline
        self._unsaved[station] = deadline
        self._changed.set()
        return deadline

    def disarm(self, station: int) -> None:
        """Forget the deadline of a zone that closed."""
        self._attempts.pop(station, None)
        self._retry_at.pop(station, None)
        if self._deadlines.pop(station, None) is not None:
            self._unsaved[station] = None
            self._changed.set()

    async def flush(self) -> None:
        """Write pending changes to the TimerStore."""
        while self._unsaved:
            station, deadline = next(iter(self._unsaved.items()))
            if deadline is None:
                await self._timers.delete(self._key(station))
            else:
                payload = {"station": station, "entity_id": deadline.entity_id, "limit": deadline.limit}
                await self._timers.save(self._key(station), self._owner, deadline.deadline, payload)
            # Dropped only once written: a shutdown that interrupts the write leaves it for the last flush.
            if station in self._unsaved and self._unsaved[station] is deadline:
                del self._unsaved[station]

    async def run(self) -> None:
        """Enforce deadlines until cancelled."""
        while True:
            self._changed.clear()
            await self.flush()
            due = min(self._deadlines.values(), key=self._next_try, default=None)
            if due is None:
                await self._changed.wait()
            elif self._next_try(due) > self._clock.time():
                await self._sleep_or_change(self._next_try(due))
            else:
                await self._attempt(due)

    def _next_try(self, deadline: Deadline) -> float:
        return self._retry_at.get(deadline.station, deadline.deadline)

    async def _sleep_or_change(self, when: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep_until(when))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            changed.cancel()

    async def _attempt(self, due: Deadline) -> None:
        attempt = self._attempts.get(due.station, 0)
        if attempt == 0:
            log.warning(
                "Zone '%s' has run past its limit of %s; the hub is closing it",
                due.entity_id,
                format_duration(due.limit),
            )
            self._counters.inc("opensprinkler.watchdog_closed")
        try:
            if await self._enforce(due.station, attempt):
                self.disarm(due.station)
                return
            log.error(
                "Zone '%s' still reports open after the hub closed it; trying again in %.0f s", due.entity_id, RETRY
            )
        except HubError as exc:
            log.error("Could not close zone '%s' (%s); trying again in %.0f s", due.entity_id, exc, RETRY)
        self._counters.inc("opensprinkler.watchdog_failed")
        if self._deadlines.get(due.station) == due:  # still the same run: it may have closed meanwhile
            self._attempts[due.station] = attempt + 1
            self._retry_at[due.station] = self._clock.time() + RETRY
