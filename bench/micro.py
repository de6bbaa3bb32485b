"""The event bus / rule engine micro-benchmark: state changes per second, in process, no I/O.

Two figures:
- `bus_events_per_s`: `StateStore.set()` → `StateChanged` on the bus → one quick listener; the cost
  of the state store and the bus alone.
- `rules_events_per_s`: the same state changes, with the rule engine listening and 100 rules on
  the changing sensors (when the engine is part of this hub).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.features import missing
from hub.bus import EventBus
from hub.clock import SystemClock
from hub.entity import EntitySpec
from hub.events import Event, StateChanged
from hub.store import StateStore

SENSORS = 200


def _store() -> tuple[EventBus, StateStore]:
    bus = EventBus()
    store = StateStore(bus, SystemClock())
    for k in range(SENSORS):
        store.add(EntitySpec(f"sensor.bench_{k}"))
    return bus, store


def _drive(store: StateStore, count: int) -> float:
    """Set `count` changing values round robin over the sensors; returns the seconds it took."""
    ids = [f"sensor.bench_{k}" for k in range(SENSORS)]
    began = time.perf_counter()
    for n in range(count):
        store.set(ids[n % SENSORS], float(n))
    return time.perf_counter() - began


def bus_only(count: int) -> float:
    """State changes per second through the store and the bus to one listener."""
    bus, store = _store()
    seen = 0

    def listener(_event: Event) -> None:
        nonlocal seen
        seen += 1

    bus.listen(StateChanged, callback=listener)
    seconds = _drive(store, count)
    assert seen == count, (seen, count)
    return count / seconds


def run(count: int) -> dict[str, Any]:
    """Both figures (the rule engine's as 'not available' when there is none)."""
    result: dict[str, Any] = {"events": count, "bus_events_per_s": bus_only(count)}
    reason = missing("rules")
    if reason:
        result["rules_not_available"] = reason
    else:
        from bench.microrules import with_rules

        result.update(asyncio.run(with_rules(count)))
    return result
