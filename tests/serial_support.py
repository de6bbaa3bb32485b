"""Helpers for the serial tests: run one driver against the real store, bus and commands, and move
a fake clock forward while real bytes travel through a pty."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from devices.base import Driver, DriverContext
from hub.bus import EventBus
from hub.clock import FakeClock
from hub.commands import Commands
from hub.counters import Counters
from hub.state import State
from hub.store import StateStore


@dataclass
class Harness:
    """The parts of a hub one driver talks to, real ones, with a fake clock."""

    clock: FakeClock
    counters: Counters
    store: StateStore
    commands: Commands
    context: DriverContext
    driver: Any

    @property
    def port_open(self) -> bool:
        """Whether the driver's serial port is open now."""
        return bool(self.driver.port.connected)

    async def wait_open(self) -> None:
        """Wait until the driver has opened its port (bytes written before that are flushed away)."""
        await asyncio.wait_for(self.driver.port.wait_connected(), 5.0)

    def state(self, entity_id: str) -> State:
        """The entity's current state (it must exist)."""
        state = self.store.get(entity_id)
        assert state is not None, f"no entity {entity_id}"
        return state

    def value(self, entity_id: str) -> Any:
        """The entity's current value."""
        return self.state(entity_id).value

    def available(self, entity_id: str) -> bool:
        """Whether the entity is available."""
        return self.state(entity_id).available

    async def command(self, entity_id: str, action: str, **params: Any) -> State:
        """Run a command the way the hub does and return the confirming state."""
        return await self.commands.run(entity_id, action, params, source="test")


@asynccontextmanager
async def run_driver(
    driver_class: type[Driver[Any]], config: dict[str, Any], clock: FakeClock | None = None
) -> AsyncIterator[Harness]:
    """Validate `config` with the driver's model, open the driver and run it until the block ends."""
    clock = clock or FakeClock()
    counters = Counters()
    bus = EventBus(counters)
    store = StateStore(bus, clock)
    commands = Commands(store, bus, clock, counters)
    context = DriverContext(config["name"], clock, counters, store, commands)
    model = driver_class.config_model.model_validate(config)
    async with driver_class(model, context) as driver, asyncio.TaskGroup() as group:
        harness = Harness(clock, counters, store, commands, context, driver)
        task = group.create_task(driver.run())
        await harness.wait_open()
        try:
            yield harness
        finally:
            task.cancel()


async def advance_until(
    clock: FakeClock, predicate: Callable[[], bool], step: float = 1.0, timeout: float = 5.0
) -> None:
    """Advance fake time in steps, letting real I/O happen between them, until `predicate()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await clock.advance(step)
        await asyncio.sleep(0.01)


def warnings_from(caplog: pytest.LogCaptureFixture, prefix: str = "devices.serial") -> list[str]:
    """The warning lines our serial code logged (the ones a person would read)."""
    return [r.getMessage() for r in caplog.records if r.name.startswith(prefix) and r.levelno >= logging.WARNING]
