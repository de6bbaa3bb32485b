"""The `zigbee2mqtt` driver: entities from `bridge/devices`, states from each device's JSON, `/set` commands.

Topics (Zigbee2MQTT docs, usage/mqtt_topics_and_messages.md), under the base topic:

    bridge/state                   {"state":"online"} | {"state":"offline"} (retained; plain text before 2.0)
    bridge/devices                 retained list of devices with definition.exposes
    <friendly_name>                the device's state as one JSON object
    <friendly_name>/availability   {"state":"online"} | {"state":"offline"} (retained; plain text before 2.0)
    <friendly_name>/set            commands, e.g. {"state":"ON"}
    <friendly_name>/get            {"state":""} asks a device for its state

An entity is available while the bridge is online and its device is not reported offline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from devices import payload as decode
from devices.base import Driver
from devices.mqtt.connection import MqttConnection
from devices.mqtt.topics import Message
from devices.naming import object_id
from devices.payload import BadPayload, preview
from devices.zigbee2mqtt.config import Zigbee2MqttConfig
from devices.zigbee2mqtt.exposes import GET, Device, Exposed, read_devices
from hub.commands import Command
from hub.entity import EntitySpec
from hub.errors import CommandError, DriverError

log = logging.getLogger(__name__)

_ATTRIBUTES = ("linkquality", "last_seen")


@dataclass
class _Joined:
    """A device the driver follows: its entities by property and its subscriptions."""

    device: Device
    entities: dict[str, tuple[str, Exposed]]  # property → (entity id, expose)
    removers: list[Callable[[], None]] = field(default_factory=list)
    online: bool | None = None  # what <name>/availability said last (None: never said)


def online_word(payload: bytes) -> bool:
    """`{"state":"online"}` (Zigbee2MQTT 2.x) or plain `online` (1.x) → True; the offline forms → False."""
    text = decode.text(payload).strip()
    word: Any = text
    if text.startswith("{"):
        word = decode.json_object(payload).get("state")
    if word in ("online", "offline"):
        return bool(word == "online")
    raise BadPayload(f'{preview(text)} is neither {{"state":"online"}} nor {{"state":"offline"}}')


class Zigbee2MqttDriver(Driver[Zigbee2MqttConfig]):
    """Follows a Zigbee2MQTT bridge: devices come and go with `bridge/devices`."""

    config_model = Zigbee2MqttConfig

    async def __aenter__(self) -> Self:
        self._mqtt: MqttConnection = self.context.require_mqtt()
        self._base = self.config.base_topic
        self._bridge_online: bool | None = None
        self._joined: dict[str, _Joined] = {}  # friendly name → device
        self._owner: dict[str, tuple[str, Exposed]] = {}  # entity id → (friendly name, expose)
        self._updates: asyncio.Queue[list[Device]] = asyncio.Queue()
        self._removers = [
            await self._mqtt.subscribe(f"{self._base}/bridge/state", self._on_bridge_state, qos=self.config.qos),
            await self._mqtt.subscribe(f"{self._base}/bridge/devices", self._on_devices, qos=self.config.qos),
        ]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for remove in self._removers:
            remove()
        for joined in self._joined.values():
            for remove in joined.removers:
                remove()

    async def run(self) -> None:
        """Apply each new device list in turn (subscribing to new devices needs the broker)."""
        while True:
            await self._sync(await self._updates.get())

    # --- bridge ---------------------------------------------------------------------------------
    def _on_bridge_state(self, message: Message) -> None:
        self._bridge_online = online_word(message.payload)
        log.info("The Zigbee2MQTT bridge '%s' is %s", self._base, "online" if self._bridge_online else "offline")
        for joined in self._joined.values():
            self._mark(joined)

    def _on_devices(self, message: Message) -> None:
        devices, problems = read_devices(message.payload)
        wanted = self.config.include
        self._updates.put_nowait([d for d in devices if wanted is None or d.friendly_name in wanted])
        if problems:
            raise BadPayload("has devices that were skipped: " + "; ".join(problems))

    def _mark(self, joined: _Joined) -> None:
        available = self._bridge_online is True and joined.online is not False
        self.context.set_available(available, {entity_id for entity_id, _ in joined.entities.values()})

    # --- devices joining and leaving ------------------------------------------------------------
    async def _sync(self, devices: list[Device]) -> None:
        current = {device.friendly_name: device for device in devices}
        for name in [n for n in self._joined if current.get(n) != self._joined[n].device]:
            self._leave(self._joined.pop(name))
        for name, device in current.items():
            if name not in self._joined:
                await self._join(device)

    def _leave(self, joined: _Joined) -> None:
        for remove in joined.removers:
            remove()
        for entity_id, _ in joined.entities.values():
            self._owner.pop(entity_id, None)
            self.context.remove_entity(entity_id)
        log.info("Zigbee device '%s' is gone from the bridge: its entities were removed", joined.device.friendly_name)

    async def _join(self, device: Device) -> None:
        joined = _Joined(device, {})
        for exposed in device.exposed:
            entity_id = self._entity_id(device, exposed)
            if entity_id is None:
                continue
            spec = EntitySpec(
                entity_id,
                _name(device, exposed),
                exposed.unit,
                exposed.device_class,
                self.config.command_timeout,
            )
            try:
                self.context.add_entity(spec, self.execute if exposed.kind == "switch" else None)
            except DriverError as exc:
                self.context.counters.inc("zigbee2mqtt.entity_conflict")
                log.warning("Skipped '%s' of Zigbee device '%s': %s", exposed.property, device.friendly_name, exc)
                continue
            joined.entities[exposed.property] = (entity_id, exposed)
            self._owner[entity_id] = (device.friendly_name, exposed)
        self._joined[device.friendly_name] = joined
        self._mark(joined)
        topic = f"{self._base}/{device.friendly_name}"
        joined.removers.append(await self._mqtt.subscribe(f"{topic}/availability", self._on_availability(joined)))
        joined.removers.append(await self._mqtt.subscribe(topic, self._on_state(joined), qos=self.config.qos))
        readable = {e.property: "" for _, e in joined.entities.values() if e.kind == "switch" and e.access & GET}
        if readable:
            await self._publish(f"{topic}/get", readable)

    def _entity_id(self, device: Device, exposed: Exposed) -> str | None:
        table = self.config.entity_id_for
        named = table.get(device.friendly_name, table.get(device.ieee_address, {})).get(exposed.property)
        if named is not None:
            if named.partition(".")[0] != exposed.kind:
                log.warning("'%s' (entity_id_for) is not a %s: using a derived id", named, exposed.kind)
            else:
                return named
        suffix = () if exposed.property == "state" else (exposed.property,)
        entity_id = f"{exposed.kind}.{object_id(device.friendly_name, *suffix)}"
        owner = self._owner.get(entity_id)
        if owner is not None and owner[0] != device.friendly_name:
            entity_id = f"{exposed.kind}.{object_id(device.friendly_name, device.ieee_address, *suffix)}"
        return entity_id

    # --- messages from devices ------------------------------------------------------------------
    def _on_availability(self, joined: _Joined) -> Callable[[Message], None]:
        def handle(message: Message) -> None:
            if not message.payload:
                return  # cleared when the device was renamed or removed
            joined.online = online_word(message.payload)
            self._mark(joined)

        return handle

    def _on_state(self, joined: _Joined) -> Callable[[Message], None]:
        def handle(message: Message) -> None:
            body = decode.json_object(message.payload)
            extras = {key: body[key] for key in _ATTRIBUTES if key in body}
            problems = []
            for prop, (entity_id, exposed) in joined.entities.items():
                if prop not in body:
                    continue
                try:
                    self.context.set_state(entity_id, _value(exposed, body[prop]), attributes=extras or None)
                except BadPayload as exc:
                    problems.append(f"'{prop}' {exc}")
            if problems:
                raise BadPayload("; ".join(problems))

        return handle

    # --- commands -------------------------------------------------------------------------------
    async def execute(self, command: Command) -> None:
        """Publish `{"<property>": value_on|value_off|value_toggle}` to `<friendly_name>/set`."""
        owner = self._owner.get(command.entity_id)
        if owner is None:
            raise CommandError(f"'{command.entity_id}' is no longer on the Zigbee network")
        name, exposed = owner
        state = self.context.state(command.entity_id)
        if command.action == "toggle" and exposed.value_toggle is not None:
            word = exposed.value_toggle
        elif command.action == "turn_on" or (command.action == "toggle" and (state is None or state.value != "on")):
            word = exposed.value_on
        else:
            word = exposed.value_off
        await self._publish(f"{self._base}/{name}/set", {exposed.property: word})

    async def _publish(self, topic: str, body: dict[str, Any]) -> None:
        await self._mqtt.publish(topic, json.dumps(body), qos=self.config.qos)


def _name(device: Device, exposed: Exposed) -> str:
    base = device.friendly_name.replace("/", " ").replace("_", " ")
    return base if exposed.property == "state" else f"{base} {exposed.label}"


def _value(exposed: Exposed, raw: Any) -> Any:
    """The entity value for a state property, or BadPayload when it does not fit the expose."""
    if raw is None:
        return None
    if exposed.kind == "sensor":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise BadPayload(f"is {preview(json.dumps(raw))}, not a number")
        return raw
    if _same(raw, exposed.value_on):
        return "on"
    if _same(raw, exposed.value_off):
        return "off"
    raise BadPayload(
        f"is {preview(json.dumps(raw))}, neither {json.dumps(exposed.value_on)} nor {json.dumps(exposed.value_off)}"
    )


def _same(raw: Any, expected: Any) -> bool:
    # JSON true is not 1 and "ON" is not "on": a device that sends another type is wrong, not on.
    return type(raw) is type(expected) and bool(raw == expected)
