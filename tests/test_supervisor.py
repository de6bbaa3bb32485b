"""A failing driver is restarted with backoff while its entities show unavailable; the hub stays up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar, Literal

from devices.base import Driver
from hub.clock import FakeClock
from hub.commands import Command
from hub.config import DeviceConfig
from hub.entity import EntitySpec
from hub.supervisor import Hub
from tests.broker import Mosquitto
from tests.hubs import make_config


class FlakyConfig(DeviceConfig):
    type: Literal["flaky"]


class FlakyDriver(Driver[FlakyConfig]):
    """A device whose connection breaks whenever the test says so."""

    config_model = FlakyConfig
    starts: ClassVar[int] = 0
    breaks: ClassVar[asyncio.Queue[str]]

    async def run(self) -> None:
        FlakyDriver.starts += 1
        self.context.add_entity(EntitySpec("sensor.flaky_temperature"))
        self.context.set_state("sensor.flaky_temperature", 20 + FlakyDriver.starts, available=True)
        reason = await FlakyDriver.breaks.get()
        raise OSError(reason)

    async def execute(self, command: Command) -> None:
        raise NotImplementedError


async def test_failing_driver_restarts_with_backoff_and_entities_go_unavailable(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    FlakyDriver.starts = 0
    FlakyDriver.breaks = asyncio.Queue()
    clock = FakeClock()
    config = make_config(
        tmp_path, mosquitto, "devices:\n  - {type: flaky, name: shed}\n", extra_models={"flaky": FlakyConfig}
    )
    async with Hub(config, clock=clock, drivers={"flaky": FlakyDriver}) as hub:
        await asyncio.sleep(0.01)
        assert hub.state("sensor.flaky_temperature").value == 21  # type: ignore[union-attr]

        await FlakyDriver.breaks.put("serial port vanished")
        await asyncio.sleep(0.01)
        assert hub.state("sensor.flaky_temperature").available is False  # type: ignore[union-attr]
        assert hub.counters.get("driver.restarts.shed") == 1
        await clock.advance(1.0)  # first backoff: 1 s
        assert FlakyDriver.starts == 2
        assert hub.state("sensor.flaky_temperature").available is True  # type: ignore[union-attr]

        await FlakyDriver.breaks.put("again")
        await asyncio.sleep(0.01)
        await clock.advance(1.0)
        assert FlakyDriver.starts == 2, "the second backoff must be longer than the first"
        await clock.advance(1.0)  # second backoff: 2 s
        assert FlakyDriver.starts == 3
        assert hub.state("sensor.flaky_temperature").value == 23  # type: ignore[union-attr]
