"""The hub-enforced maximum run time of irrigation zones: it closes a valve the controller's timer left
open, it cuts runs longer than `max_run` whoever started them, and it survives a restart of the hub
(the deadline is in the TimerStore on disk), all with a fake clock and the simulated controller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from devices.opensprinkler.api import password_hash
from devices.sim.opensprinkler import OpenSprinklerSim
from hub.clock import FakeClock
from tests.broker import Mosquitto
from tests.conftest import eventually
from tests.sims import running

# The fixtures `clock` and `garden` (a hub on the same data directory each time) are shared with the
# OpenSprinkler tests.
from tests.test_opensprinkler import Garden, attributes, clock, command, garden, value

__all__ = ["clock", "garden"]


@pytest.fixture
async def hung(mosquitto: Mosquitto, prefix: str, clock: FakeClock) -> AsyncIterator[OpenSprinklerSim]:
    """A controller whose run timers never fire."""
    controller = OpenSprinklerSim(mosquitto.host, mosquitto.port, clock=clock, topic=f"{prefix}os", broken_timer=True)
    async with running(controller):
        yield controller


@pytest.fixture
async def healthy(mosquitto: Mosquitto, prefix: str, clock: FakeClock) -> AsyncIterator[OpenSprinklerSim]:
    """A controller whose timers work."""
    async with running(OpenSprinklerSim(mosquitto.host, mosquitto.port, clock=clock, topic=f"{prefix}os")) as sim:
        yield sim


def closed_by_the_hub(sim: OpenSprinklerSim, station: int) -> bool:
    """Whether the hub sent the controller the command to close `station` (or to stop everything)."""
    return ("/cm", {"sid": str(station), "en": "0"}) in sim.requests or ("/cv", {"rsn": "1"}) in sim.requests


async def test_hub_closes_a_zone_the_controller_left_open(
    garden: Garden, hung: OpenSprinklerSim, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with garden(hung) as hub:
        await command(hub, "valve.front_beds", "open", duration=600)
        await clock.advance(600)  # the run should end here, but the controller's timer hangs
        assert hung.on[0] is True
        with caplog.at_level(logging.WARNING):
            await clock.advance(60)  # planned length plus a minute of grace: the hub steps in
            await eventually(lambda: "closed_by_hub" in attributes(hub, "valve.front_beds"))
        assert value(hub, "valve.front_beds") == "closed"
        assert hung.on[0] is False
        assert closed_by_the_hub(hung, 0)
        assert hub.counters.get("opensprinkler.watchdog_closed") == 1
        assert "Zone 'valve.front_beds' has run past its limit of 11 min; the hub is closing it" in caplog.text


async def test_max_run_cuts_a_long_run_started_at_the_controller(
    garden: Garden, healthy: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(healthy) as hub:
        # Someone starts the front beds for an hour in the OpenSprinkler app; the controller allows 18 h.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{healthy.http_port}") as app:
            answer = await app.get("/cm", params={"pw": password_hash("opendoor"), "sid": 0, "en": 1, "t": 3600})
            assert answer.json() == {"result": 1}
        await eventually(lambda: value(hub, "valve.front_beds") == "open")
        await clock.advance(30 * 60)  # the zone's max_run
        await eventually(lambda: value(hub, "valve.front_beds") == "closed")
        assert closed_by_the_hub(healthy, 0)


async def test_a_deadline_that_passed_while_the_hub_was_down_closes_the_valve_at_start(
    garden: Garden, hung: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(hung) as hub:
        await command(hub, "valve.lawn", "open", duration=1200)
        assert value(hub, "valve.lawn") == "open"
    # The hub is down; the controller's timer hangs and two hours pass.
    await clock.advance(2 * 3600)
    assert hung.on[1] is True and not closed_by_the_hub(hung, 1)

    async with garden(hung) as hub:  # a new hub on the same data directory
        await eventually(lambda: value(hub, "valve.lawn") == "closed")
        assert hung.on[1] is False
        assert closed_by_the_hub(hung, 1)
        assert hub.counters.get("opensprinkler.watchdog_closed") == 1
        await command(hub, "button.garden_stop_all", "press")  # a round trip: pending timer writes are done
        assert hub.timers is not None and await hub.timers.load() == []


async def test_a_deadline_still_ahead_is_rearmed_after_a_restart(
    garden: Garden, hung: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(hung) as hub:
        await command(hub, "valve.lawn", "open", duration=1200)
        closes_by = attributes(hub, "valve.lawn")["closes_by"]
    await clock.advance(600)

    async with garden(hung) as hub:
        assert value(hub, "valve.lawn") == "open"
        assert attributes(hub, "valve.lawn")["closes_by"] == closes_by  # the same deadline, read back from disk
        await clock.advance(600)  # 1200 s since it opened: the controller should have closed it
        assert hung.on[1] is True and not closed_by_the_hub(hung, 1)
        await clock.advance(60)  # and the grace minute is up
        await eventually(lambda: value(hub, "valve.lawn") == "closed")
        assert closed_by_the_hub(hung, 1)


async def test_a_zone_that_closed_while_the_hub_was_down_is_left_alone(
    garden: Garden, healthy: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(healthy) as hub:
        await command(hub, "valve.lawn", "open", duration=300)
    await clock.advance(3600)  # the controller's own timer closed it meanwhile
    assert healthy.on[1] is False

    async with garden(healthy) as hub:
        assert value(hub, "valve.lawn") == "closed"
        await command(hub, "button.garden_stop_all", "press")  # let any watchdog action happen first
        assert not any(path == "/cm" and params.get("en") == "0" for path, params in healthy.requests)
        assert hub.counters.get("opensprinkler.watchdog_closed") == 0
        assert hub.timers is not None and await hub.timers.load() == []


async def test_watchdog_keeps_trying_until_the_controller_answers(
    garden: Garden, hung: OpenSprinklerSim, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with garden(hung) as hub:
        await command(hub, "valve.front_beds", "open", duration=600)
        hung.fault = "http500"  # the controller's web server fails just when it matters
        with caplog.at_level(logging.ERROR):
            await clock.advance(660)
            await eventually(lambda: hub.counters.get("opensprinkler.watchdog_failed") == 1)
        assert "Could not close zone 'valve.front_beds'" in caplog.text and "trying again in 30 s" in caplog.text
        assert hung.on[0] is True
        hung.fault = None
        await clock.advance(30)
        await eventually(lambda: hung.on[0] is False)
        assert ("/cv", {"rsn": "1"}) in hung.requests  # the second attempt stops every station
        await eventually(lambda: value(hub, "valve.front_beds") == "closed")
