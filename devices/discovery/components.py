"""How each discovered component reads its state topic and turns hub commands into MQTT payloads.

Semantics follow Home Assistant's MQTT platforms: default payloads `ON`/`OFF`, `OPEN`/`CLOSE`,
`start_mowing`/`pause`/`dock`; the text `None` resets a state to unknown; an empty payload is
ignored; `optimistic` (the default without a state topic) takes a command's result as the state.
A `light` is handled as a switch (on/off only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from devices.discovery.schema import (
    BinarySensorSchema,
    Common,
    LawnMowerSchema,
    LightSchema,
    SensorSchema,
    SwitchSchema,
    ValveSchema,
)
from devices.discovery.values import IGNORE, decode, number_or_text, render_command, render_value
from devices.payload import BadPayload, preview
from hub.commands import Command
from hub.errors import CommandError
from hub.store import UNSET

NONE_PAYLOAD = "None"  # Home Assistant's word for "reset to unknown"


@dataclass(frozen=True)
class Reading:
    """What a state message says: a value (UNSET: unchanged) and attributes to merge."""

    value: Any = UNSET
    attributes: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Outgoing:
    """One MQTT message a command sends."""

    topic: str
    payload: str


class Component:
    """Base: a validated config, the hub kind it maps to, its state topics."""

    kind: ClassVar[str]

    def __init__(self, config: Common) -> None:
        self.config = config

    @property
    def state_topics(self) -> tuple[str, ...]:
        """Topics whose messages carry this entity's state (the `state_topic`, if the component has one)."""
        topic: str | None = getattr(self.config, "state_topic", None)
        return (topic,) if topic else ()

    def _text(self, payload: bytes, template: str | None) -> str | None:
        """The payload as text through `template`; None when the template rendered HA's 'ignore' value."""
        text = render_value(template, decode(payload, self.config.encoding))
        return None if text is IGNORE else text

    @property
    def optimistic(self) -> bool:
        """Whether a command's result is taken as the new state without waiting for the device."""
        return self.config.optimistic if self.config.optimistic is not None else not self.state_topics

    @property
    def unit(self) -> str | None:
        """The unit of a sensor's value."""
        return None

    def read(self, topic: str, payload: bytes) -> Reading | None:
        """The state a message carries; None when it says nothing for this entity."""
        return None

    def send(self, command: Command, current: Any) -> list[Outgoing]:
        """The messages that carry out `command` (the kind has validated action and parameters)."""
        raise CommandError(f"this {self.kind} only reports values")

    def assumed(self, command: Command, current: Any) -> Any:
        """The state an optimistic entity takes after `command`."""
        return UNSET


def _on_off(text: str, on: str, off: str) -> Any:
    if text == on:
        return "on"
    if text == off:
        return "off"
    if text == NONE_PAYLOAD:
        return None
    raise BadPayload(f"{preview(text)} is neither '{on}' nor '{off}'")


def _turns_on(command: Command, current: Any) -> bool:
    return command.action == "turn_on" or (command.action == "toggle" and current != "on")


class Switch(Component):
    """`switch`: on/off with payloads on a command topic."""

    kind = "switch"
    config: SwitchSchema

    def read(self, topic: str, payload: bytes) -> Reading | None:
        text = self._text(payload, self.config.value_template)
        if text is None:
            return None
        c = self.config
        return Reading(_on_off(text, c.state_on or c.payload_on, c.state_off or c.payload_off))

    def send(self, command: Command, current: Any) -> list[Outgoing]:
        c = self.config
        value = c.payload_on if _turns_on(command, current) else c.payload_off
        return [Outgoing(c.command_topic, render_command(c.command_template, value))]

    def assumed(self, command: Command, current: Any) -> Any:
        return "on" if _turns_on(command, current) else "off"


class Light(Component):
    """`light` handled as a switch, in the basic, `json` and `template` schemas."""

    kind = "switch"
    config: LightSchema

    def read(self, topic: str, payload: bytes) -> Reading | None:
        c = self.config
        text = decode(payload, c.encoding)
        if c.schema_ == "json":
            return self._read_json(text)
        template = c.state_template if c.schema_ == "template" else c.state_value_template
        value = render_value(template, text)
        if value is IGNORE:
            return None
        if c.schema_ == "template":
            return Reading(_on_off(value.lower(), "on", "off"))
        return Reading(_on_off(value, c.payload_on, c.payload_off))

    def _read_json(self, text: str) -> Reading | None:
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            raise BadPayload(f"is not the JSON a light reports: {preview(text)}") from None
        if not isinstance(body, dict):
            raise BadPayload(f'should be a JSON object like {{"state": "ON"}}: {preview(text)}')
        if "state" not in body:
            return None
        state = body["state"]
        if state is None:
            return Reading(None)
        if not isinstance(state, str):
            raise BadPayload(f"has a state that is not text: {preview(text)}")
        return Reading(_on_off(state, "ON", "OFF"))

    def send(self, command: Command, current: Any) -> list[Outgoing]:
        c = self.config
        on = _turns_on(command, current)
        if c.schema_ == "json":
            payload = json.dumps({"state": "ON" if on else "OFF"})
        elif c.schema_ == "template":
            payload = render_command(c.command_on_template if on else c.command_off_template, "")
        else:
            payload = c.payload_on if on else c.payload_off
        return [Outgoing(c.command_topic, payload)]

    def assumed(self, command: Command, current: Any) -> Any:
        return "on" if _turns_on(command, current) else "off"


class Sensor(Component):
    """`sensor`: a number (or text) with a unit."""

    kind = "sensor"
    config: SensorSchema

    @property
    def unit(self) -> str | None:
        return self.config.unit_of_measurement

    def read(self, topic: str, payload: bytes) -> Reading | None:
        text = self._text(payload, self.config.value_template)
        if text is None:
            return None
        if text == NONE_PAYLOAD:
            return Reading(None)
        value = number_or_text(text)
        if isinstance(value, str) and self.config.unit_of_measurement:
            raise BadPayload(f"{preview(text)} is not a number (the sensor measures {self.config.unit_of_measurement})")
        return Reading(value)


class BinarySensor(Component):
    """`binary_sensor`: on/off from payloads."""

    kind = "binary_sensor"
    config: BinarySensorSchema

    def read(self, topic: str, payload: bytes) -> Reading | None:
        text = self._text(payload, self.config.value_template)
        if text is None:
            return None
        return Reading(_on_off(text, self.config.payload_on, self.config.payload_off))


class Valve(Component):
    """`valve`: open/closed (and opening/closing) by state words or by position."""

    kind = "valve"
    config: ValveSchema

    def read(self, topic: str, payload: bytes) -> Reading | None:
        text = self._text(payload, self.config.value_template)
        if text is None:
            return None
        state, position = self._state_and_position(text)
        if state == NONE_PAYLOAD:
            return Reading(None)
        if state is not None:
            return Reading(self._word(state), {"position": position} if position is not None else None)
        if position is not None and self.config.reports_position:
            return Reading("open" if position > 0 else "closed", {"position": position})
        raise BadPayload(f"{preview(text)} is not a valve state")

    def _state_and_position(self, text: str) -> tuple[str | None, float | None]:
        if text.startswith("{"):
            try:
                body = json.loads(text)
            except json.JSONDecodeError:
                raise BadPayload(f"is not JSON: {preview(text)}") from None
            if not isinstance(body, dict):
                raise BadPayload(f"should be a JSON object with 'state' or 'position': {preview(text)}")
            state, raw_position = body.get("state"), body.get("position")
            if state is not None and not isinstance(state, str):
                raise BadPayload(f"has a state that is not text: {preview(text)}")
            return state, self._scaled(raw_position, text) if raw_position is not None else None
        value = number_or_text(text)
        if self.config.reports_position and isinstance(value, int | float):
            return None, self._scaled(value, text)
        return text, None

    def _scaled(self, raw: Any, text: str) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise BadPayload(f"has a position that is not a number: {preview(text)}")
        c = self.config
        span = c.position_open - c.position_closed
        return round((raw - c.position_closed) * 100 / span, 1) if span else float(raw)

    def _word(self, state: str) -> str:
        c = self.config
        words = {c.state_open: "open", c.state_opening: "opening", c.state_closed: "closed", c.state_closing: "closing"}
        if state not in words:
            raise BadPayload(f"{preview(state)} is none of {', '.join(repr(w) for w in words)}")
        return words[state]

    def send(self, command: Command, current: Any) -> list[Outgoing]:
        c = self.config
        if "duration" in command.params:
            raise CommandError("this valve cannot run for a set time: open it and close it with a rule")
        if c.command_topic is None:
            raise CommandError("this valve was announced without a command topic: it only reports its state")
        opening = command.action == "open"
        if c.reports_position:
            value = str(c.position_open if opening else c.position_closed)
        else:
            value = (c.payload_open if opening else c.payload_close) or ""
            if not value:
                raise CommandError(f"this valve cannot be told to {command.action}")
        return [Outgoing(c.command_topic, render_command(c.command_template, value))]

    def assumed(self, command: Command, current: Any) -> Any:
        return "open" if command.action == "open" else "closed"


_ACTIVITIES = {"mowing": "mowing", "paused": "paused", "docked": "docked", "returning": "returning", "error": "error"}


class LawnMower(Component):
    """`lawn_mower`: activity in, one command topic per action out."""

    kind = "lawn_mower"
    config: LawnMowerSchema

    @property
    def state_topics(self) -> tuple[str, ...]:
        return (self.config.activity_state_topic,) if self.config.activity_state_topic else ()

    def read(self, topic: str, payload: bytes) -> Reading | None:
        text = self._text(payload, self.config.activity_value_template)
        if text is None:
            return None
        if text.lower() == "none":
            return Reading(None)
        if text == "idle":
            # The hub's mower kind has no 'idle' (out on the lawn, not mowing): shown as paused.
            return Reading("paused", {"activity": "idle"})
        if text not in _ACTIVITIES:
            raise BadPayload(
                f"{preview(text)} is not a mower activity (mowing, paused, idle, docked, returning, error)"
            )
        return Reading(_ACTIVITIES[text], {"activity": text})

    def send(self, command: Command, current: Any) -> list[Outgoing]:
        c = self.config
        topic, template = {
            "start_mowing": (c.start_mowing_command_topic, c.start_mowing_command_template),
            "pause": (c.pause_command_topic, c.pause_command_template),
            "dock": (c.dock_command_topic, c.dock_command_template),
        }[command.action]
        if topic is None:
            raise CommandError(f"this mower was announced without a command topic for '{command.action}'")
        return [Outgoing(topic, render_command(template, command.action))]

    def assumed(self, command: Command, current: Any) -> Any:
        return {"start_mowing": "mowing", "pause": "paused", "dock": "docked"}[command.action]


_CLASSES: Mapping[str, type[Component]] = {
    "switch": Switch,
    "light": Light,
    "sensor": Sensor,
    "binary_sensor": BinarySensor,
    "valve": Valve,
    "lawn_mower": LawnMower,
}


def build(config: Common) -> Component:
    """The component for a validated config."""
    return _CLASSES[config.platform](config)
