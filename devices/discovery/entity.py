"""One discovered entity at run time: its id, its MQTT subscriptions, its availability and commands.

Entity ids follow Home Assistant's naming where it is sensible: an explicit `default_entity_id` or
`object_id` wins, otherwise the device name and the entity name (`Garden` + `Irrigation` →
`switch.garden_irrigation`), and a `entity_id_for` entry in the config overrides all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from devices import payload as decode
from devices.base import DriverContext
from devices.discovery.availability import Availability
from devices.discovery.components import Component
from devices.discovery.schema import Common
from devices.discovery.values import IGNORE, render_value
from devices.mqtt.connection import MqttConnection
from devices.mqtt.topics import Message
from devices.naming import object_id, slug
from hub.commands import Command
from hub.entity import EntitySpec

log = logging.getLogger(__name__)


def device_identifiers(config: Common) -> list[str]:
    """The device's identifiers (a string or a list of them in the payload)."""
    ids = config.device.get("identifiers") if config.device else None
    return [str(i) for i in ids] if isinstance(ids, list) else [str(ids)] if ids else []


def display_name(config: Common, fallback: str, device: str = "") -> str:
    """The name a person sees: device name and entity name, as Home Assistant composes them.

    `device` is the device's name when this config does not repeat it (configs may share a device by
    its identifiers and name it only once).
    """
    device = str(config.device.get("name") or device) if config.device else device
    if "name" in config.model_fields_set:
        if config.name is None:
            return device or fallback
        if device and not config.name.lower().startswith(device.lower()):
            return f"{device} {config.name}"
        return config.name
    if config.device_class:
        label = config.device_class.replace("_", " ")
        return f"{device} {label}" if device else label.capitalize()
    return device or fallback


def derive_object_id(config: Common, fallback: str, device: str = "") -> str:
    """The object id part of the entity id (before any override or collision suffix)."""
    if config.default_entity_id:
        wanted = slug(config.default_entity_id.partition(".")[2] or config.default_entity_id)
        if wanted:
            return wanted
    if config.object_id and slug(config.object_id):
        return slug(config.object_id)
    return object_id(display_name(config, fallback, device), fallback=fallback)


def override(config: Common, keys: tuple[str, ...], table: Mapping[str, str]) -> str | None:
    """The entity id the hub config names for this entity (by unique_id or discovery id), if any."""
    for key in (config.unique_id, *keys):
        if key and key in table:
            return table[key]
    return None


class DiscoveredEntity:
    """Keeps one entity's state in the store from its topics and sends its commands."""

    def __init__(
        self,
        entity_id: str,
        component: Component,
        context: DriverContext,
        mqtt: MqttConnection,
        *,
        command_timeout: float,
        device_name: str = "",
    ) -> None:
        self.entity_id = entity_id
        self.component = component
        self.config = component.config
        self._context = context
        self._mqtt = mqtt
        self._timeout = command_timeout
        self._device_name = device_name
        self._availability = Availability(component.config)
        self._removers: list[Callable[[], None]] = []

    def spec(self, fallback_name: str) -> EntitySpec:
        """What the store should know about this entity."""
        return EntitySpec(
            self.entity_id,
            display_name(self.config, fallback_name, self._device_name),
            self.component.unit,
            self.config.device_class,
            self._timeout,
        )

    async def start(self) -> None:
        """Mark availability and subscribe to availability, attribute and state topics."""
        self._context.set_state(self.entity_id, available=self._availability.available)
        for index, source in enumerate(self._availability.sources):
            await self._subscribe(source.topic, self._on_availability(index))
        if self.config.json_attributes_topic:
            await self._subscribe(self.config.json_attributes_topic, self._on_attributes)
        for topic in dict.fromkeys(self.component.state_topics):
            await self._subscribe(topic, self._on_state)

    def stop(self) -> None:
        """Stop listening (the entity itself stays in the store unless the driver removes it)."""
        for remove in self._removers:
            remove()
        self._removers.clear()

    async def _subscribe(self, topic: str, handler: Callable[[Message], None]) -> None:
        self._removers.append(await self._mqtt.subscribe(topic, handler, qos=self.config.qos))

    def _on_state(self, message: Message) -> None:
        reading = self.component.read(message.topic, message.payload)
        if reading is not None:
            self._context.set_state(self.entity_id, reading.value, attributes=reading.attributes)

    def _on_availability(self, index: int) -> Callable[[Message], None]:
        def handle(message: Message) -> None:
            available = self._availability.update(index, message.payload)
            if available is not None:
                self._context.set_state(self.entity_id, available=available)

        return handle

    def _on_attributes(self, message: Message) -> None:
        text = render_value(self.config.json_attributes_template, decode.text(message.payload))
        if text is IGNORE:
            return
        attributes = decode.json_object(text.encode())
        self._context.set_state(self.entity_id, attributes=attributes)

    async def execute(self, command: Command) -> None:
        """Publish the command's messages; an optimistic entity takes the new state at once."""
        state = self._context.state(self.entity_id)
        current: Any = state.value if state is not None else None
        for outgoing in self.component.send(command, current):
            await self._mqtt.publish(outgoing.topic, outgoing.payload, qos=self.config.qos, retain=self.config.retain)
        if self.component.optimistic:
            self._context.set_state(self.entity_id, self.component.assumed(command, current))
