"""Generic MQTT entities, configured in YAML in the manner of Home Assistant's MQTT integration.

- type: mqtt
  name: workshop
  entities:
    - id: switch.compressor
      state_topic: stat/compressor/POWER
      command_topic: cmnd/compressor/POWER
      availability_topic: tele/compressor/LWT
      payload_available: Online
      payload_not_available: Offline
    - id: sensor.compressor_power
      state_topic: tele/compressor/SENSOR
      json_path: ENERGY.Power
      unit: W
      device_class: power
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from devices import payload as decode
from devices.base import Driver
from devices.mqtt.topics import Message, validate_filter
from devices.payload import BadPayload
from hub.commands import Command
from hub.config import DeviceConfig, Strict, entity_id_field
from hub.entity import EntitySpec
from hub.template import Template, TemplateFailure, check_template

_KINDS = ("switch", "light", "sensor", "binary_sensor")
_COMMANDABLE = ("switch", "light")


class MqttEntityConfig(Strict):
    """One entity on MQTT topics."""

    id: str
    name: str | None = None
    state_topic: str | None = None
    command_topic: str | None = None
    value_template: str | None = None
    json_path: str | None = None
    command_template: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"
    state_on: str | None = None
    state_off: str | None = None
    availability_topic: str | None = None
    availability_template: str | None = None
    payload_available: str = "online"
    payload_not_available: str = "offline"
    json_attributes_topic: str | None = None
    qos: Literal[0, 1, 2] = 0
    retain: bool = False
    optimistic: bool | None = None
    unit: str | None = None
    device_class: str | None = None
    command_timeout: float = Field(default=10.0, gt=0)

    @field_validator("id")
    @classmethod
    def _entity_id(cls, value: str) -> str:
        entity_id = entity_id_field(value)
        if entity_id.partition(".")[0] not in _KINDS:
            raise ValueError(f"the mqtt device type offers {', '.join(_KINDS)} entities, not '{value}'")
        return entity_id

    @field_validator("state_topic", "availability_topic", "json_attributes_topic")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        return validate_filter(value) if value is not None else None

    @field_validator("command_topic")
    @classmethod
    def _plain_topic(cls, value: str | None) -> str | None:
        if value is not None and ("+" in value or "#" in value):
            raise ValueError("a command topic cannot contain the wildcards + or #")
        return value

    @field_validator("value_template", "command_template", "availability_template")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return check_template(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        kind = self.id.partition(".")[0]
        if self.value_template and self.json_path:
            raise ValueError("give either value_template or json_path, not both")
        if kind in _COMMANDABLE and not self.command_topic:
            raise ValueError(f"a {kind} needs a command_topic")
        if kind not in _COMMANDABLE and self.command_topic:
            raise ValueError(f"a {kind} only reports values; it cannot have a command_topic")
        if kind not in _COMMANDABLE and not self.state_topic:
            raise ValueError(f"a {kind} needs a state_topic")
        return self


class MqttDeviceConfig(DeviceConfig):
    """`type: mqtt` — a group of generic MQTT entities."""

    type: Literal["mqtt"]
    entities: list[MqttEntityConfig] = Field(min_length=1)

    def entity_ids(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """The entity ids declared here with their paths."""
        return [(e.id, ("entities", i, "id")) for i, e in enumerate(self.entities)]


class _Entity:
    """Runtime state of one configured entity: its compiled templates and decoding rules."""

    def __init__(self, config: MqttEntityConfig) -> None:
        self.config = config
        self.kind = config.id.partition(".")[0]
        self.value_template = Template(config.value_template) if config.value_template else None
        self.command_template = Template(config.command_template) if config.command_template else None
        self.availability_template = Template(config.availability_template) if config.availability_template else None
        self.optimistic = config.optimistic if config.optimistic is not None else config.state_topic is None

    def extract(self, message: Message, template: Template | None = None, json_path: str | None = None) -> str:
        """The text of interest in a payload: the whole payload, a JSON path or a template's result."""
        content = decode.text(message.payload)
        if json_path:
            return _as_text(decode.dig(decode.json_value(message.payload), json_path))
        if template is None:
            return content.strip()
        variables: dict[str, Any] = {"value": content, "topic": message.topic}
        # Templates that use value_json on a non-JSON payload fail below with a clear message.
        with contextlib.suppress(json.JSONDecodeError):
            variables["value_json"] = json.loads(content)
        try:
            return template.render(variables).strip()
        except TemplateFailure as exc:
            raise BadPayload(f"did not fit the value template ({exc})") from None

    def value(self, message: Message) -> Any:
        """The entity value a state message carries."""
        text = self.extract(message, self.value_template, self.config.json_path)
        if self.kind == "sensor":
            return _number_or_text(text)
        on = self.config.state_on or self.config.payload_on
        off = self.config.state_off or self.config.payload_off
        if text == on:
            return "on"
        if text == off:
            return "off"
        raise BadPayload(f"{decode.preview(text)} is neither '{on}' nor '{off}'")

    def available(self, message: Message) -> bool:
        """Whether an availability message says online."""
        text = self.extract(message, self.availability_template)
        if text == self.config.payload_available:
            return True
        if text == self.config.payload_not_available:
            return False
        raise BadPayload(
            f"{decode.preview(text)} is neither '{self.config.payload_available}' "
            f"nor '{self.config.payload_not_available}'"
        )


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _number_or_text(text: str) -> Any:
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


class MqttDriver(Driver[MqttDeviceConfig]):
    """Keeps generic MQTT entities in sync with their topics and publishes their commands."""

    config_model = MqttDeviceConfig

    async def __aenter__(self) -> Self:
        mqtt = self.context.require_mqtt()
        self._removers: list[Callable[[], None]] = []
        self._entities: dict[str, _Entity] = {}
        for config in self.config.entities:
            entity = _Entity(config)
            self._entities[config.id] = entity
            spec = EntitySpec(config.id, config.name, config.unit, config.device_class, config.command_timeout)
            self.context.add_entity(spec, self.execute if entity.kind in _COMMANDABLE else None)
            if config.availability_topic:
                self.context.set_available(False, {config.id})
                self._removers.append(
                    await mqtt.subscribe(config.availability_topic, self._on_availability(entity), qos=config.qos)
                )
            if config.state_topic:
                self._removers.append(await mqtt.subscribe(config.state_topic, self._on_state(entity), qos=config.qos))
            if config.json_attributes_topic:
                self._removers.append(
                    await mqtt.subscribe(config.json_attributes_topic, self._on_attributes(entity), qos=config.qos)
                )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for remove in self._removers:
            remove()
        self._removers.clear()

    async def run(self) -> None:
        """Everything happens in the message handlers; wait until cancelled."""
        await asyncio.Event().wait()

    def _on_state(self, entity: _Entity) -> Callable[[Message], None]:
        def handle(message: Message) -> None:
            self.context.set_state(entity.config.id, entity.value(message))

        return handle

    def _on_availability(self, entity: _Entity) -> Callable[[Message], None]:
        def handle(message: Message) -> None:
            self.context.set_state(entity.config.id, available=entity.available(message))

        return handle

    def _on_attributes(self, entity: _Entity) -> Callable[[Message], None]:
        def handle(message: Message) -> None:
            self.context.set_state(entity.config.id, attributes=decode.json_object(message.payload))

        return handle

    async def execute(self, command: Command) -> None:
        """Publish the command payload; optimistic entities take the new state at once."""
        entity = self._entities[command.entity_id]
        config = entity.config
        state = self.context.state(command.entity_id)
        turn_on = command.action == "turn_on" or (command.action == "toggle" and (state is None or state.value != "on"))
        payload = config.payload_on if turn_on else config.payload_off
        if entity.command_template:
            payload = entity.command_template.render({"value": payload, "action": command.action})
        assert config.command_topic is not None  # checked by the config model for commandable kinds
        await self.context.require_mqtt().publish(config.command_topic, payload, qos=config.qos, retain=config.retain)
        if entity.optimistic:
            self.context.set_state(command.entity_id, "on" if turn_on else "off")
