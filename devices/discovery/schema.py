"""What a discovery payload may say, per component, checked the way Home Assistant checks it.

Keys Home Assistant knows but Hausmeister does not use (icons, categories, display precision) are
accepted and ignored, as Home Assistant ignores unknown keys for forward compatibility; keys
nobody knows are reported once. Numbers given where text is expected become text, as Home
Assistant's `cv.string` does (`"payload_on": 1` is the payload "1").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from devices.discovery.abbreviations import KNOWN_KEYS
from devices.mqtt.topics import validate_filter
from hub.template import check_template


class Lenient(BaseModel):
    """Unknown keys allowed (kept in `model_extra`), numbers accepted as text."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, frozen=True)


_template = check_template


def _state_topic(value: str | None) -> str | None:
    return validate_filter(value) if value else None


def _command_topic(value: str | None) -> str | None:
    if value is not None and ("+" in value or "#" in value or not value):
        raise ValueError("a command topic must be a plain topic, without + or #")
    return value


class AvailabilityEntry(Lenient):
    """One entry of the `availability` list."""

    topic: str
    payload_available: str = "online"
    payload_not_available: str = "offline"
    value_template: str | None = None

    _topic = field_validator("topic")(validate_filter)
    _tpl = field_validator("value_template")(_template)


class Common(Lenient):
    """Options every component shares: naming, device, availability, attributes, QoS."""

    platform: str
    name: str | None = None
    unique_id: str | None = None
    object_id: str | None = None
    default_entity_id: str | None = None
    device: Mapping[str, Any] | None = None
    origin: Mapping[str, Any] | None = None
    device_class: str | None = None
    availability: list[AvailabilityEntry] | None = None
    availability_mode: Literal["all", "any", "latest"] = "latest"
    availability_topic: str | None = None
    availability_template: str | None = None
    payload_available: str = "online"
    payload_not_available: str = "offline"
    json_attributes_topic: str | None = None
    json_attributes_template: str | None = None
    qos: int = Field(default=0, ge=0, le=2)
    retain: bool = False
    encoding: str = "utf-8"
    optimistic: bool | None = None

    _topics = field_validator("availability_topic", "json_attributes_topic")(_state_topic)
    _templates = field_validator("availability_template", "json_attributes_template")(_template)

    @field_validator("availability", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_availability_form(self) -> Self:
        if self.availability and self.availability_topic:
            raise ValueError("give either availability_topic or availability, not both")
        return self

    def unknown_keys(self) -> list[str]:
        """Keys that neither Home Assistant nor this component knows (probably a typo)."""
        return sorted(key for key in (self.model_extra or {}) if key not in KNOWN_KEYS)


class SwitchSchema(Common):
    """`switch` (switch.mqtt)."""

    command_topic: str
    state_topic: str | None = None
    value_template: str | None = None
    command_template: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"
    state_on: str | None = None
    state_off: str | None = None

    _cmd = field_validator("command_topic")(_command_topic)
    _stat = field_validator("state_topic")(_state_topic)
    _tpl = field_validator("value_template", "command_template")(_template)


class LightSchema(Common):
    """`light` (light.mqtt), on/off only, in its three schemas: basic (`default`), `json`, `template`."""

    schema_: Literal["default", "basic", "json", "template"] = Field(default="default", alias="schema")
    command_topic: str
    state_topic: str | None = None
    state_value_template: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"
    command_on_template: str | None = None
    command_off_template: str | None = None
    state_template: str | None = None

    _cmd = field_validator("command_topic")(_command_topic)
    _stat = field_validator("state_topic")(_state_topic)
    _tpl = field_validator("state_value_template", "command_on_template", "command_off_template", "state_template")(
        _template
    )

    @model_validator(mode="after")
    def _template_schema(self) -> Self:
        if self.schema_ == "template" and not (self.command_on_template and self.command_off_template):
            raise ValueError("a light with schema 'template' needs command_on_template and command_off_template")
        return self


class SensorSchema(Common):
    """`sensor` (sensor.mqtt)."""

    state_topic: str
    value_template: str | None = None
    unit_of_measurement: str | None = None

    _stat = field_validator("state_topic")(_state_topic)
    _tpl = field_validator("value_template")(_template)


class BinarySensorSchema(Common):
    """`binary_sensor` (binary_sensor.mqtt)."""

    state_topic: str
    value_template: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"

    _stat = field_validator("state_topic")(_state_topic)
    _tpl = field_validator("value_template")(_template)


class ValveSchema(Common):
    """`valve` (valve.mqtt): by state words, or by position when `reports_position` is true."""

    command_topic: str | None = None
    command_template: str | None = None
    state_topic: str | None = None
    value_template: str | None = None
    payload_open: str | None = "OPEN"
    payload_close: str | None = "CLOSE"
    payload_stop: str | None = None
    state_open: str = "open"
    state_opening: str = "opening"
    state_closed: str = "closed"
    state_closing: str = "closing"
    reports_position: bool = False
    position_open: int = 100
    position_closed: int = 0

    _cmd = field_validator("command_topic")(_command_topic)
    _stat = field_validator("state_topic")(_state_topic)
    _tpl = field_validator("value_template", "command_template")(_template)


class LawnMowerSchema(Common):
    """`lawn_mower` (lawn_mower.mqtt)."""

    activity_state_topic: str | None = None
    activity_value_template: str | None = None
    start_mowing_command_topic: str | None = None
    start_mowing_command_template: str | None = None
    pause_command_topic: str | None = None
    pause_command_template: str | None = None
    dock_command_topic: str | None = None
    dock_command_template: str | None = None

    _cmd = field_validator("start_mowing_command_topic", "pause_command_topic", "dock_command_topic")(_command_topic)
    _stat = field_validator("activity_state_topic")(_state_topic)
    _tpl = field_validator(
        "activity_value_template",
        "start_mowing_command_template",
        "pause_command_template",
        "dock_command_template",
    )(_template)


SCHEMAS: Mapping[str, type[Common]] = {
    "switch": SwitchSchema,
    "light": LightSchema,
    "sensor": SensorSchema,
    "binary_sensor": BinarySensorSchema,
    "valve": ValveSchema,
    "lawn_mower": LawnMowerSchema,
}

# Components Home Assistant supports that Hausmeister does not (yet): announced, but not an error.
OTHER_COMPONENTS = frozenset(
    {
        "alarm_control_panel",
        "button",
        "camera",
        "climate",
        "cover",
        "device_automation",
        "device_tracker",
        "event",
        "fan",
        "humidifier",
        "image",
        "lock",
        "notify",
        "number",
        "scene",
        "select",
        "siren",
        "tag",
        "text",
        "update",
        "vacuum",
        "water_heater",
    }
)


def validate(component: str, payload: Mapping[str, Any]) -> Common:
    """Check one expanded component config; raise `ValueError` with every problem in plain words."""
    try:
        return SCHEMAS[component].model_validate({**payload, "platform": component})
    except ValidationError as exc:
        raise ValueError("; ".join(_describe(error) for error in exc.errors(include_url=False))) from None


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"'{where}' is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"'{where}': {message}" if where else message
