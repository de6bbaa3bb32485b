"""Schedule triggers: a time of day, a cron expression, an interval, sunrise / sunset with an offset.

Each attached schedule is one task that sleeps on the injected clock until its next time. Time,
cron and sun triggers save their next time, so a time that passes while the hub is down is
noticed at start and handled as the rule's `late:` says (run late, skip, or run if not too late).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from datetime import timedelta

from croniter import croniter

from rules import schema
from rules.deadlines import key_of
from rules.durations import format_duration, format_offset
from rules.guard import NO_CHAIN
from rules.location import Location
from rules.schema import WEEKDAYS
from rules.triggers import Detach, Trigger, TriggerEnv


class ScheduleTrigger(Trigger):
    """A trigger that fires at computed times."""

    persistent = True  # save the next time (an interval's missed ticks are not worth a disk write)

    @abstractmethod
    def next_after(self, location: Location, after: float) -> float:
        """The first time strictly later than `after`."""

    async def attach(self, env: TriggerEnv) -> Detach:
        """Run the schedule in a task of the engine."""
        location = env.services.location
        self.next_after(location, env.now())  # fail here, at load, if it cannot be computed
        task = env.spawn_task(self._loop(env))

        def detach() -> None:
            task.cancel()

        return detach

    async def _loop(self, env: TriggerEnv) -> None:
        location = env.services.location
        key = key_of(env.rule_id, f"at:{self.index}") if env.rule_id is not None and self.persistent else None
        upcoming = self.next_after(location, env.now())
        saved = env.saved(key, self.fingerprint) if key is not None else None
        if saved is not None and saved.deadline < upcoming:
            upcoming = saved.deadline  # a time saved before a restart: missed (late) or still to come
        while True:
            if key is not None:
                env.save(key, upcoming, {"fp": self.fingerprint})
            await env.sleep_until(upcoming)
            data = self.data(scheduled=location.local(upcoming).isoformat(timespec="seconds"))
            if env.now() - upcoming < 1.0 or env.late(upcoming, data):
                env.fire(data, NO_CHAIN)
            upcoming = self.next_after(location, max(env.now(), upcoming))


class TimeTrigger(ScheduleTrigger):
    """`trigger: time` — times of day in the hub's time zone, optionally on some weekdays."""

    kind = "time"

    def __init__(self, model: schema.TimeTriggerModel, index: int, path: str, fingerprint: str) -> None:
        super().__init__(model, index, path, fingerprint)
        self.times = sorted(model.at)
        self.weekdays = model.weekday

    def next_after(self, location: Location, after: float) -> float:
        """The next listed time of day (on an allowed weekday)."""
        day = location.local(after).date()
        for _ in range(9):
            if self.weekdays is None or day.weekday() in self.weekdays:
                for clock_time in self.times:
                    found = location.at(day, clock_time)
                    if found > after:
                        return found
            day += timedelta(days=1)
        raise ValueError("no time to fire at")  # unreachable: some weekday always comes within 8 days

    def describe(self) -> str:
        """e.g. `time 19:00 on mon, tue`."""
        days = f" on {', '.join(WEEKDAYS[d] for d in sorted(self.weekdays))}" if self.weekdays is not None else ""
        return f"time {', '.join(t.strftime('%H:%M:%S' if t.second else '%H:%M') for t in self.times)}{days}"


class CronTrigger(ScheduleTrigger):
    """`trigger: cron` — a cron expression in the hub's time zone."""

    kind = "cron"

    def __init__(self, model: schema.CronTriggerModel, index: int, path: str, fingerprint: str) -> None:
        super().__init__(model, index, path, fingerprint)
        self.expression = model.expression

    def next_after(self, location: Location, after: float) -> float:
        """The next time the expression matches (croniter's next is strictly later)."""
        return float(croniter(self.expression, location.local(after)).get_next(float))

    def describe(self) -> str:
        """e.g. `cron 0 19 * * 1-5`."""
        return f"cron {self.expression}"


class IntervalTrigger(ScheduleTrigger):
    """`trigger: interval` — every N seconds, at multiples of N (so restarts keep the rhythm)."""

    kind = "interval"
    persistent = False

    def __init__(self, model: schema.IntervalTriggerModel, index: int, path: str, fingerprint: str) -> None:
        super().__init__(model, index, path, fingerprint)
        self.every = model.every

    def next_after(self, location: Location, after: float) -> float:
        """The next multiple of the interval."""
        return (math.floor(after / self.every) + 1) * self.every

    def describe(self) -> str:
        """e.g. `every 5 min`."""
        return f"every {format_duration(self.every)}"


class SunTrigger(ScheduleTrigger):
    """`trigger: sun` — sunrise or sunset at the hub's location, plus an offset."""

    kind = "sun"

    def __init__(self, model: schema.SunTriggerModel, index: int, path: str, fingerprint: str) -> None:
        super().__init__(model, index, path, fingerprint)
        self.event = model.event
        self.offset = model.offset

    def next_after(self, location: Location, after: float) -> float:
        """The next sunrise / sunset plus the offset."""
        return location.next_sun(self.event, self.offset, after)

    def describe(self) -> str:
        """e.g. `sunset -15 min`."""
        return self.event + format_offset(self.offset)
