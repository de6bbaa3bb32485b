"""The OpenSprinkler driver: zones as valves, kept up to date from MQTT and the HTTP API, commanded over HTTP.

State comes from two places, because each covers the other's gaps: MQTT events arrive the moment
a station opens or closes, and a poll of `/jc` every `poll_interval` (and at start, and when the
controller comes back online) catches whatever MQTT missed and works with MQTT turned off.

The entities are available while the controller answers HTTP (the path every command takes); its
MQTT last will (`offline`) makes them unavailable at once, until a poll finds it answering again.
Every zone that opens gets a deadline from the watchdog (see `watchdog.py`), whoever opened it:
the hub, the controller's own programs, or someone at the controller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any, Self, TypeVar

from devices.base import Driver
from devices.mqtt.topics import Message
from devices.opensprinkler import messages
from devices.opensprinkler.api import ControllerError, ControllerState, OpenSprinklerApi
from devices.opensprinkler.commands import ZoneCommands
from devices.opensprinkler.config import OpenSprinklerConfig, ZoneConfig
from devices.opensprinkler.watchdog import GRACE, Watchdog
from hub.commands import Command
from hub.entity import EntitySpec

log = logging.getLogger(__name__)

T = TypeVar("T")
REQUEST_VALID = 120.0  # seconds a run the hub asked for may wait in the controller's queue and still count
Handler = Callable[[Command], Awaitable[None]]


class OpenSprinklerDriver(Driver[OpenSprinklerConfig]):
    """One OpenSprinkler controller."""

    config_model = OpenSprinklerConfig

    async def __aenter__(self) -> Self:
        self._stack = AsyncExitStack()
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _open(self) -> None:
        config = self.config
        self.api = await self._stack.enter_async_context(
            OpenSprinklerApi(config.url, config.password.get_secret_value(), timeout=config.request_timeout)
        )
        self.zones = {zone.station: zone for zone in config.zones}
        self._requested: dict[int, tuple[int, float]] = {}  # station → (seconds, when) of runs the hub started
        self.nstations: int | None = None
        self._http_ok: bool | None = None
        self._poll_now = asyncio.Event()
        self._warned_stations: set[int] = set()
        self._removers: list[Callable[[], None]] = []
        self.watchdog = Watchdog(
            self.context.require_timers(), f"opensprinkler.{config.name}", self.context.clock, self.context.counters,
            self._enforce_max_run,
        )  # fmt: skip
        self._commands = ZoneCommands(self)
        self._handlers: dict[str, Handler] = {}
        self._add_entities()
        self.context.set_available(False)
        for deadline in await self.watchdog.restore():
            log.info("Re-armed the run limit of '%s' (ends %s)", deadline.entity_id, iso(deadline.deadline))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for remove in self._removers:
            remove()
        try:
            await self.watchdog.flush()  # a deadline armed a moment ago must survive the shutdown
        finally:
            await self._stack.aclose()

    def _add_entities(self) -> None:
        config, commands = self.config, self._commands
        timeout = config.command_timeout
        for zone in config.zones:
            self._entity(EntitySpec(zone.id, zone.name, device_class="water", command_timeout=timeout),
                         partial(commands.zone, zone))  # fmt: skip
        if config.master is not None:
            spec = EntitySpec(config.master.id, config.master.name or "Master valve", device_class="water")
            self._entity(spec, commands.master)
        self._entity(EntitySpec(config.stop_all_id, "Stop all zones"), commands.stop_all)
        self._entity(EntitySpec(config.rain_delay_id, "Rain delay", unit="h", command_timeout=timeout),
                     commands.rain_delay)  # fmt: skip
        for sequence in config.sequences:
            spec = EntitySpec(config.sequence_id(sequence), sequence.title or f"Run {sequence.name.replace('_', ' ')}")
            self._entity(spec, partial(commands.sequence, sequence))
        self._entity(EntitySpec(config.rain_delay_active_id, "Rain delay active"))
        self._entity(EntitySpec(config.water_level_id, "Water level", unit="%"))
        for index, kind in ((1, config.sensor1), (2, config.sensor2)):
            if kind is not None:
                self._entity(EntitySpec(config.sensor_id(index), f"Sensor {index}", device_class=kind))
        if config.flow_unit is not None:
            self._entity(EntitySpec(config.flow_id, "Water used", unit=config.flow_unit, device_class="water"))

    def _entity(self, spec: EntitySpec, handler: Handler | None = None) -> None:
        if handler is not None:
            self._handlers[spec.entity_id] = handler
        self.context.add_entity(spec, self.execute if handler is not None else None)

    async def execute(self, command: Command) -> None:
        """Carry out a command through the controller's HTTP API."""
        await self._handlers[command.entity_id](command)

    # --- MQTT --------------------------------------------------------------------------------------
    async def _subscribe(self) -> None:
        mqtt = self.context.mqtt
        if mqtt is None:
            return
        # Subscribing once the connection is up (it restores subscriptions after every reconnect) avoids
        # a window during connect in which a new subscription reaches the router but not the broker.
        await mqtt.wait_connected()
        base = self.config.topic
        handlers: dict[str, Callable[[Message], None]] = {
            f"{base}/availability": self._on_availability,
            f"{base}/station/+": self._on_station,
            f"{base}/raindelay": self._on_rain_delay,
        }
        for index, kind in ((1, self.config.sensor1), (2, self.config.sensor2)):
            if kind is not None:
                handlers[f"{base}/sensor{index}"] = partial(self._on_sensor, index)
        if self.config.flow_unit is not None:
            handlers[f"{base}/sensor/flow"] = self._on_flow
        handlers[f"{base}/weather"] = self._on_weather  # last: once it works, every topic does (tests rely on it)
        for topic, handler in handlers.items():
            self._removers.append(await mqtt.subscribe(topic, handler, qos=1))

    def _on_availability(self, message: Message) -> None:
        if messages.availability(message.payload):
            self._poll_now.set()  # it may have been away for a while: read its whole state now
        else:
            log.debug("OpenSprinkler '%s' is offline on MQTT", self.config.name)
            self._http_ok = None  # gone, most likely: only a poll that it answers shows it again
            self._refresh_availability()

    def _on_station(self, message: Message) -> None:
        event = messages.station_event(message.topic.rsplit("/", 1)[1], message.payload)
        zone = self.zones.get(event.station)
        if zone is None:
            return  # a station the configuration does not use (or the master valve)
        if event.on:
            self.zone_opened(zone, event.duration)
        else:
            self.zone_closed(zone, ran=event.duration, flow=event.flow)

    def _on_rain_delay(self, message: Message) -> None:
        active = messages.binary_state(message.payload)
        self.context.set_state(self.config.rain_delay_active_id, "on" if active else "off")
        if active:
            self._poll_now.set()  # the event does not say how long: the poll reads the end time
        else:
            self.context.set_state(self.config.rain_delay_id, 0, attributes={"until": None})

    def _on_sensor(self, index: int, message: Message) -> None:
        active = messages.binary_state(message.payload)
        self.context.set_state(self.config.sensor_id(index), "on" if active else "off")

    def _on_flow(self, message: Message) -> None:
        reading = messages.flow_reading(message.payload)
        self.context.set_state(self.config.flow_id, reading.volume, attributes={"count": reading.count})

    def _on_weather(self, message: Message) -> None:
        self.context.set_state(self.config.water_level_id, messages.water_level(message.payload))

    # --- zone states ---------------------------------------------------------------------------------
    def request_run(self, station: int, seconds: int) -> None:
        """Remember how long a run the hub asks for will last, to tighten its run limit when it opens."""
        self._requested[station] = (seconds, self.context.clock.time())

    def _planned(self, station: int, reported: int | None) -> int | None:
        requested = self._requested.pop(station, None)
        if reported:
            return reported
        # A run that waited long in the controller's queue may have been dropped there; an old
        # request must not cut short a later run of the same zone.
        if requested is not None and self.context.clock.time() - requested[1] <= REQUEST_VALID:
            return requested[0]
        return None

    def zone_opened(self, zone: ZoneConfig, reported: int | None) -> None:
        """A zone reported open: show it, arm its run limit, open the master valve."""
        planned = self._planned(zone.station, reported)
        limit = self.config.zone_max_run(zone)
        if planned:
            limit = min(limit, planned + GRACE)
        deadline = self.watchdog.arm(zone.station, zone.id, limit)
        attributes: dict[str, Any] = {"station": zone.station, "closes_by": iso(deadline.deadline)}
        state = self.context.state(zone.id)
        if state is None or state.value != "open":
            attributes |= {"started": self.now_iso(), "planned_duration": planned}
        self.context.set_state(zone.id, "open", attributes=attributes)
        self._update_master()

    def zone_closed(self, zone: ZoneConfig, *, ran: int | None = None, flow: float | None = None) -> None:
        """A zone reported closed: drop its run limit, record the run, close the master if it was the last."""
        self.watchdog.disarm(zone.station)
        attributes: dict[str, Any] = {"station": zone.station, "closes_by": None}
        if ran is not None:
            attributes["last_run"] = {"duration": ran, "ended": self.now_iso(), "flow": flow}
        self.context.set_state(zone.id, "closed", attributes=attributes)
        self._update_master()

    def zone_queued(self, zone: ZoneConfig) -> None:
        """The controller accepted a run for a zone that waits for its turn."""
        state = self.context.state(zone.id)
        if state is None or state.value != "open":
            self.context.set_state(zone.id, "opening", attributes={"station": zone.station})

    def _update_master(self) -> None:
        master = self.config.master
        if master is None:
            return
        running = any(
            (state := self.context.state(zone.id)) is not None and state.value == "open"
            for zone in self.config.zones
            if zone.use_master
        )
        self.context.set_state(master.id, "open" if running else "closed", attributes={"station": master.station})

    # --- polling and reachability ----------------------------------------------------------------
    async def run(self) -> None:
        """Read the controller's state, then keep polling and enforcing run limits until cancelled."""
        await self.poll()  # before the watchdog acts: a zone that closed while the hub was down is not closed again
        async with asyncio.TaskGroup() as group:
            group.create_task(self._subscribe(), name=f"opensprinkler-mqtt:{self.config.name}")
            group.create_task(self._poll_loop(), name=f"opensprinkler-poll:{self.config.name}")
            group.create_task(self.watchdog.run(), name=f"opensprinkler-watchdog:{self.config.name}")

    async def _poll_loop(self) -> None:
        while True:
            sleeper = asyncio.ensure_future(self.context.clock.sleep(self.config.poll_interval))
            woken = asyncio.ensure_future(self._poll_now.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()
            self._poll_now.clear()
            await self.poll()

    async def poll(self) -> ControllerState | None:
        """Read `/jc` and bring every entity in line with it (None if the controller did not answer)."""
        try:
            state = await self.call(self.api.controller_state())
        except ControllerError:
            return None
        self.nstations = state.nstations
        for zone in self.config.zones:
            self._apply(zone, state)
        self.show_rain_delay(state)
        for index, active in ((1, state.sensor1), (2, state.sensor2)):
            if (self.config.sensor1, self.config.sensor2)[index - 1] is not None:
                self.context.set_state(self.config.sensor_id(index), "on" if active else "off")
        return state

    def show_rain_delay(self, state: ControllerState) -> None:
        """Rain delay as the controller reports it: on/off, and hours left (rounded up)."""
        self.context.set_state(self.config.rain_delay_active_id, "on" if state.rain_delay else "off")
        # The controller's clock runs in its own time zone: only the difference of its two times is usable.
        until = self.context.clock.time() + state.rain_delay_end - state.device_time if state.rain_delay else None
        attributes = {"until": iso(until) if until is not None else None}
        self.context.set_state(self.config.rain_delay_id, state.rain_delay_hours, attributes=attributes)

    def _apply(self, zone: ZoneConfig, state: ControllerState) -> None:
        if zone.station >= state.nstations:
            if zone.station not in self._warned_stations:
                self._warned_stations.add(zone.station)
                log.warning(
                    "OpenSprinkler '%s' has %d stations; zone '%s' uses station %d, which it does not have",
                    self.config.name, state.nstations, zone.id, zone.station,
                )  # fmt: skip
            return
        current = self.context.state(zone.id)
        value = current.value if current is not None else None
        if state.on[zone.station]:
            if value != "open":
                self.zone_opened(zone, None)
        elif zone.station in state.queued:
            self.zone_queued(zone)
        elif value != "closed":
            self.zone_closed(zone)

    async def call(self, request: Awaitable[T]) -> T:
        """Await an API request, keeping track of whether the controller answers."""
        try:
            result = await request
        except ControllerError as exc:
            self._contact_failed(exc)
            raise
        self._contact_ok()
        return result

    def _contact_failed(self, exc: ControllerError) -> None:
        self.context.counters.inc("opensprinkler.unreachable" if not exc.reached else "opensprinkler.refused")
        if self._http_ok is not False:
            log.warning("OpenSprinkler '%s': %s; its zones show unavailable until it answers", self.config.name, exc)
        self._http_ok = False
        self._refresh_availability()

    def _contact_ok(self) -> None:
        if self._http_ok is False:
            log.info("OpenSprinkler '%s' answers again", self.config.name)
        self._http_ok = True
        self._refresh_availability()

    def _refresh_availability(self) -> None:
        self.context.set_available(bool(self._http_ok))

    # --- the watchdog's hand ---------------------------------------------------------------------
    async def _enforce_max_run(self, station: int, attempt: int) -> bool:
        zone = self.zones[station]
        state = self.context.state(zone.id)
        if state is not None and state.value == "closed":
            return True
        await self.call(self.api.stop_station(station) if attempt == 0 else self.api.stop_all())
        if (await self.call(self.api.station_states())).is_on(station):
            return False
        self.zone_closed(zone)
        self.context.set_state(zone.id, attributes={"closed_by_hub": self.now_iso()})
        return True

    def now_iso(self) -> str:
        """The hub's time now, as ISO 8601 text."""
        return iso(self.context.clock.time())

    def iso(self, timestamp: float) -> str:
        """A timestamp as ISO 8601 text."""
        return iso(timestamp)


def iso(timestamp: float) -> str:
    """A timestamp as ISO 8601 text (UTC) for attributes."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
