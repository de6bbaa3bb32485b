"""The `tasmota` driver: relays as switches, SENSOR values as sensors, LWT as availability.

Topics (Tasmota docs, MQTT.md), shown with the default FullTopic `%prefix%/%topic%/`:

    cmnd/<topic>/POWER<n>   ON | OFF | TOGGLE; an empty payload asks for the state
    stat/<topic>/RESULT     {"POWER":"ON"} (one relay) or {"POWER2":"OFF"}: the reply to a command
    stat/<topic>/POWER<n>   ON | OFF, alongside RESULT
    tele/<topic>/STATE      every TelePeriod: {"Time":…,"Uptime":…,"POWER1":"ON",…,"Wifi":{…}}
    tele/<topic>/SENSOR     every TelePeriod: {"ENERGY":{"Power":…,"Total":…},"DS18B20":{…},…}
    tele/<topic>/LWT        Online | Offline (retained; the broker sends Offline as the last will)

After the device says Online the driver asks each relay for its state (stat/ is not retained).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from devices import payload as decode
from devices.base import Driver
from devices.mqtt.connection import MqttConnection
from devices.mqtt.topics import Message
from devices.payload import BadPayload, preview
from devices.tasmota.config import SensorEntity, TasmotaConfig
from hub.commands import Command
from hub.entity import EntitySpec
from hub.errors import DriverError

log = logging.getLogger(__name__)

_POWER_KEY = re.compile(r"^POWER(\d*)$")
_SUMMED = {"power", "current", "total", "today", "yesterday", "apparentpower", "reactivepower"}
_WORDS = {"turn_on": "ON", "turn_off": "OFF", "toggle": "TOGGLE"}


class TasmotaDriver(Driver[TasmotaConfig]):
    """Keeps a Tasmota device's relays and sensors in the store and switches its relays."""

    config_model = TasmotaConfig

    async def __aenter__(self) -> Self:
        self._mqtt: MqttConnection = self.context.require_mqtt()
        self._relays = {number: entity_id for number, entity_id, _ in self.config.relay_entities()}
        self._relay_of = {entity_id: number for number, entity_id in self._relays.items()}
        self._sensors = self.config.sensor_entities()
        self._missing: set[str] = set()
        self._ask = asyncio.Event()
        self._removers: list[Callable[[], None]] = []
        self._add_entities()
        c = self.config
        handlers: dict[str, Callable[[Message], None]] = {c.topic_for("telemetry", "LWT"): self._on_lwt}
        if self._relays:
            handlers[c.topic_for("status", "RESULT")] = self._on_result
            handlers[c.topic_for("telemetry", "STATE")] = self._on_state
            for number in self._relays:
                handlers[c.topic_for("status", self._power(number))] = self._on_power(number)
            if len(self._relays) == 1:
                handlers[c.topic_for("status", "POWER1")] = self._on_power(1)
        if self._sensors:
            handlers[c.topic_for("telemetry", "SENSOR")] = self._on_sensor
        for topic, handler in handlers.items():
            self._removers.append(await self._mqtt.subscribe(topic, handler, qos=c.qos))
        return self

    def _add_entities(self) -> None:
        c = self.config
        for number, entity_id, name in c.relay_entities():
            label = name or (c.name.replace("_", " ").capitalize() + (f" {number}" if len(self._relays) > 1 else ""))
            self.context.add_entity(EntitySpec(entity_id, label, command_timeout=c.command_timeout), self.execute)
        for sensor in self._sensors:
            self.context.add_entity(EntitySpec(sensor.entity_id, sensor.name, sensor.unit, sensor.device_class))
        # Unknown until the retained LWT says Online.
        self.context.set_available(False)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for remove in self._removers:
            remove()
        self._removers.clear()

    async def run(self) -> None:
        """Ask the relays for their state whenever the device (re)appears."""
        while True:
            await self._ask.wait()
            self._ask.clear()
            for number in self._relays:
                try:
                    await self._mqtt.publish(
                        self.config.topic_for("command", self._power(number)), b"", qos=self.config.qos
                    )
                except DriverError as exc:
                    log.debug("Could not ask '%s' for its relay state: %s", self.config.topic, exc)

    def _power(self, number: int) -> str:
        # One relay answers as POWER; several as POWER1, POWER2, … (Tasmota's own naming).
        return "POWER" if len(self._relays) == 1 else f"POWER{number}"

    async def execute(self, command: Command) -> None:
        """Send ON, OFF or TOGGLE to the relay's POWER<n> command topic."""
        number = self._relay_of[command.entity_id]
        topic = self.config.topic_for("command", self._power(number))
        await self._mqtt.publish(topic, _WORDS[command.action], qos=self.config.qos)

    # --- messages -------------------------------------------------------------------------------
    def _on_lwt(self, message: Message) -> None:
        said = decode.text(message.payload).strip()
        if said not in ("Online", "Offline"):
            raise BadPayload(f"{preview(said)} is neither 'Online' nor 'Offline'")
        self.context.set_available(said == "Online")
        if said == "Online":
            self._ask.set()

    def _relay_value(self, word: Any, where: str) -> str:
        if word == self.config.state_on:
            return "on"
        if word == self.config.state_off:
            return "off"
        raise BadPayload(
            f"has {where} = {preview(str(word))}, neither '{self.config.state_on}' nor '{self.config.state_off}'"
        )

    def _on_power(self, number: int) -> Callable[[Message], None]:
        def handle(message: Message) -> None:
            word = decode.text(message.payload).strip()
            self.context.set_state(self._relays[number], self._relay_value(word, "POWER"))

        return handle

    def _apply_power_keys(self, body: dict[str, Any]) -> None:
        for key, word in body.items():
            match = _POWER_KEY.match(key)
            if match is None:
                continue
            number = int(match[1] or 1)
            if number in self._relays:
                self.context.set_state(self._relays[number], self._relay_value(word, key))

    def _on_result(self, message: Message) -> None:
        # Replies to other commands ({"Dimmer":…}, {"Command":"Unknown"}) carry no POWER: nothing to do.
        self._apply_power_keys(decode.json_object(message.payload))

    def _on_state(self, message: Message) -> None:
        body = decode.json_object(message.payload)
        self._apply_power_keys(body)
        wifi = body.get("Wifi")
        details = {"uptime": body.get("Uptime"), "wifi_signal": wifi.get("Signal") if isinstance(wifi, dict) else None}
        details = {key: value for key, value in details.items() if value is not None}
        if details:
            for entity_id in self._relays.values():
                self.context.set_state(entity_id, attributes=details)

    def _on_sensor(self, message: Message) -> None:
        body = decode.json_object(message.payload)
        problems = []
        for sensor in self._sensors:
            try:
                value = self._reading(body, sensor)
            except BadPayload as exc:
                problems.append(f"{sensor.path} {exc}")
                continue
            if value is not None:
                self.context.set_state(sensor.entity_id, value)
        if problems:
            raise BadPayload("; ".join(problems))

    def _reading(self, body: dict[str, Any], sensor: SensorEntity) -> float | int | None:
        if sensor.path.split(".", 1)[0] not in body:
            if sensor.path not in self._missing:
                # A SENSOR message without this sensor at all: the path is probably misspelt. Say so once.
                self._missing.add(sensor.path)
                self.context.counters.inc("tasmota.missing_sensor")
                log.warning(
                    "The SENSOR message of '%s' has no '%s' (it has: %s)",
                    self.config.topic,
                    sensor.path,
                    ", ".join(key for key in body if key != "Time"),
                )
            return None
        raw = decode.dig(body, sensor.path)
        if isinstance(raw, list) and raw and all(_is_number(item) for item in raw):
            # Devices with several metered channels report a list, one value per channel.
            measure = sensor.path.rsplit(".", 1)[-1].lower()
            return round(sum(raw), 3) if measure in _SUMMED else raw[0]
        if not _is_number(raw):
            raise BadPayload(f"is {preview(str(raw))}, not a number")
        return raw  # type: ignore[no-any-return]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
