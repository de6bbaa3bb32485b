"""What each OpenSprinkler entity does when commanded, in terms of the controller's HTTP API.

- a zone (`valve`): `open` runs its station for `duration` seconds (default: the zone's
  `default_duration`), refused if that is longer than its `max_run`; a zone that already runs
  keeps its run; `close` stops it (or takes it out of the queue).
- the master valve: it opens by itself with any zone, so `open` is refused; `close` stops all zones.
- `button.<name>_stop_all`: stops every zone and empties the controller's queue.
- `number.<name>_rain_delay`: `set_value` hours of rain delay (0 ends it).
- `button.<name>_run_<sequence>`: starts the sequence as a run-once program on the controller.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from devices.opensprinkler.api import ControllerError
from devices.opensprinkler.config import MAX_RUN_SECONDS, SequenceConfig, ZoneConfig
from devices.opensprinkler.durations import format_duration
from hub.commands import Command
from hub.errors import CommandError

if TYPE_CHECKING:
    from devices.opensprinkler.driver import OpenSprinklerDriver

MAX_RAIN_DELAY_HOURS = 32_767  # the controller keeps the hours in a signed 16-bit number


class ZoneCommands:
    """The command handlers of one OpenSprinkler driver."""

    def __init__(self, driver: OpenSprinklerDriver) -> None:
        self._driver = driver

    async def zone(self, zone: ZoneConfig, command: Command) -> None:
        """`open` (with optional `duration` in seconds) or `close` one zone."""
        driver = self._driver
        if command.action == "open":
            seconds = run_seconds(driver, zone, command.params.get("duration"))
            state = driver.context.state(zone.id)
            if state is None or state.value != "open":  # a zone that runs keeps its run (as the firmware does)
                driver.request_run(zone.station, seconds)
            await driver.call(driver.api.run_station(zone.station, seconds))
        else:
            await driver.call(driver.api.stop_station(zone.station))
        self._mark(zone.id, command)
        await self._confirm(zone, opening=command.action == "open")

    async def _confirm(self, zone: ZoneConfig, *, opening: bool) -> None:
        driver = self._driver
        try:
            states = await driver.call(driver.api.station_states())
        except ControllerError:
            return  # the controller took the command; MQTT or the next poll will tell what it did
        on = states.is_on(zone.station)
        if opening and on:
            driver.zone_opened(zone, None)
        elif opening:
            driver.zone_queued(zone)  # it waits behind another zone of its sequential group
        elif not on:
            driver.zone_closed(zone)

    async def master(self, command: Command) -> None:
        """The master valve follows the zones: closing it stops them all."""
        if command.action == "open":
            raise CommandError("The master valve opens by itself whenever a zone runs: open a zone instead")
        await self.stop_all(command)

    async def stop_all(self, command: Command) -> None:
        """Stop every zone now."""
        driver = self._driver
        await driver.call(driver.api.stop_all())
        driver.context.set_state(driver.config.stop_all_id, driver.now_iso())
        await driver.poll()

    async def rain_delay(self, command: Command) -> None:
        """Delay the controller's programs for a number of hours (0 ends the delay)."""
        driver = self._driver
        value = command.params["value"]
        if not float(value).is_integer() or not 0 <= value <= MAX_RAIN_DELAY_HOURS:
            raise CommandError(
                f"The rain delay is a whole number of hours from 0 to {MAX_RAIN_DELAY_HOURS}, not {value:g}"
            )
        hours = int(value)
        await driver.call(driver.api.rain_delay(hours))
        until = driver.context.clock.time() + hours * 3600 if hours else None
        self._mark(driver.config.rain_delay_id, command)
        driver.context.set_state(driver.config.rain_delay_active_id, "on" if hours else "off")
        driver.context.set_state(driver.config.rain_delay_id, hours, attributes={"until": _iso_or_none(driver, until)})

    async def sequence(self, sequence: SequenceConfig, command: Command) -> None:
        """Start a sequence as a run-once program (the controller stops whatever runs first)."""
        driver = self._driver
        nstations = driver.nstations or len((await driver.call(driver.api.station_states())).on)
        durations = [0] * nstations
        zones = {zone.id: zone for zone in driver.config.zones}
        for step in sequence.steps:
            station = zones[step.zone].station
            if station >= nstations:
                raise CommandError(f"The controller has {nstations} stations; '{step.zone}' uses station {station}")
            durations[station] = math.ceil(step.duration)
        await driver.call(driver.api.run_once(durations))
        steps = [{"zone": step.zone, "duration": step.duration} for step in sequence.steps]
        driver.context.set_state(driver.config.sequence_id(sequence), driver.now_iso(), attributes={"steps": steps})
        await driver.poll()

    def _mark(self, entity_id: str, command: Command) -> None:
        # Recording the command is also what lets a command confirm when the entity already is in the
        # state it asks for (the store only wakes waiters when something changes).
        driver = self._driver
        driver.context.set_state(
            entity_id, attributes={"last_command": {"action": command.action, "at": driver.now_iso()}}
        )


def run_seconds(driver: OpenSprinklerDriver, zone: ZoneConfig, duration: Any) -> int:
    """The whole seconds a zone should run, checked against its max_run."""
    config = driver.config
    wanted = float(duration) if duration is not None else config.zone_default_duration(zone)
    limit = config.zone_max_run(zone)
    label = zone.name or zone.id
    if wanted <= 0:
        raise CommandError(f"Zone '{label}' needs a duration of more than 0 seconds, not {wanted:g}")
    if wanted > limit:
        raise CommandError(
            f"Zone '{label}' may run at most {format_duration(limit)} (its max_run), not {format_duration(wanted)}"
        )
    return max(1, min(math.ceil(wanted), int(limit), MAX_RUN_SECONDS))


def _iso_or_none(driver: OpenSprinklerDriver, timestamp: float | None) -> str | None:
    return driver.iso(timestamp) if timestamp is not None else None
