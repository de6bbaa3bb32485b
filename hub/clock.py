"""Time, injected: the system clock for the running hub, a fake one that tests advance by hand.

Everything that waits for time (command timeouts, backoff, `for:` durations, schedules) asks a
`Clock`, so a test can move an hour forward in a millisecond instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the hub needs to know about time."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    def now(self) -> datetime:
        """The wall-clock time as an aware UTC datetime."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait for `seconds` of this clock's time."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Wait until this clock's `time()` reaches `when` (returns at once if already past)."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        return time.time()

    def now(self) -> datetime:
        """The wall-clock time as an aware UTC datetime."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait for `seconds` of real time."""
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: float) -> None:
        """Wait until the wall clock reaches `when`."""
        # Sleep in slices so a wall-clock jump (NTP sync after boot on a Pi without RTC) is noticed.
        while (left := when - time.time()) > 0:  # noqa: ASYNC110 - polling the wall clock is the point
            await asyncio.sleep(min(left, 60.0))


class FakeClock:
    """A clock that only moves when a test calls `advance`; sleepers wake in deadline order."""

    def __init__(self, start: float | datetime = 1_767_225_600.0) -> None:  # 2026-01-01 00:00 UTC
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        """The fake wall-clock seconds since the epoch."""
        return self._now

    def now(self) -> datetime:
        """The fake time as an aware UTC datetime."""
        return datetime.fromtimestamp(self._now, UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait until the test has advanced the clock by `seconds`."""
        await self.sleep_until(self._now + seconds)

    async def sleep_until(self, when: float) -> None:
        """Wait until the test has advanced the clock to `when`."""
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._order), future))
        await future

    @property
    def pending(self) -> int:
        """How many sleepers are waiting (tests use it to know a task reached its wait)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline and letting it run."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            if not future.done():
                future.set_result(None)
            await _let_run()
        self._now = target
        await _let_run()

    async def set_time(self, when: float | datetime) -> None:
        """Advance to an absolute time (never backwards)."""
        target = when.timestamp() if isinstance(when, datetime) else when
        await self.advance(max(0.0, target - self._now))


async def _let_run() -> None:
    # A woken task may wake another (a timer that starts a timer); a few loop turns let chains settle.
    for _ in range(5):
        await asyncio.sleep(0)
