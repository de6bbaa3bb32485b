"""`type: zigbee2mqtt` — every device of a Zigbee2MQTT bridge, from its retained `bridge/devices`.

- type: zigbee2mqtt
  name: zigbee
  base_topic: zigbee2mqtt          # Zigbee2MQTT's mqtt.base_topic
  include: [bed1_soil, rain_gauge] # optional: only these friendly names
  entity_id_for:                   # optional: friendly name (or IEEE address) → property → entity id
    rain_gauge: {rain: binary_sensor.rain}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hub.config import DeviceConfig, entity_id_field


class Zigbee2MqttConfig(DeviceConfig):
    """A Zigbee2MQTT bridge and the devices it reports."""

    type: Literal["zigbee2mqtt"]
    base_topic: str = "zigbee2mqtt"
    include: list[str] | None = None
    entity_id_for: dict[str, dict[str, str]] = Field(default_factory=dict)
    command_timeout: float = Field(default=10.0, gt=0)
    qos: Literal[0, 1, 2] = 1

    @field_validator("base_topic")
    @classmethod
    def _base(cls, value: str) -> str:
        if not value or value.endswith("/") or any(c in value for c in "+#"):
            raise ValueError("the base topic must be a plain topic such as 'zigbee2mqtt' (no +, # or trailing /)")
        return value

    @field_validator("entity_id_for")
    @classmethod
    def _entity_ids(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return {device: {p: entity_id_field(e) for p, e in props.items()} for device, props in value.items()}

    def entity_ids(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """The entity ids named explicitly, with their paths (for duplicate checks)."""
        return [
            (entity_id, ("entity_id_for", device, prop))
            for device, props in self.entity_id_for.items()
            for prop, entity_id in props.items()
        ]
