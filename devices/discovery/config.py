"""`type: ha_discovery` — entities announced through Home Assistant MQTT discovery, and announcing ours.

- type: ha_discovery
  name: discovered
  prefix: homeassistant          # Home Assistant's discovery prefix
  entity_id_for:                 # optional: unique_id or discovery id → the entity id to use
    irr01ad: switch.garden_irrigation
  publish: true                  # optional: announce every hub entity to Home Assistant
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hub.config import DeviceConfig, entity_id_field


def _plain_topic(value: str) -> str:
    if not value or value.endswith("/") or value.startswith("/") or any(c in value for c in "+#"):
        raise ValueError("must be a plain topic such as 'homeassistant' (no +, #, or leading/trailing /)")
    return value


class HaDiscoveryConfig(DeviceConfig):
    """Consume (and optionally publish) Home Assistant MQTT discovery."""

    type: Literal["ha_discovery"]
    prefix: str = "homeassistant"
    consume: bool = True
    entity_id_for: dict[str, str] = Field(default_factory=dict)
    light_kind: Literal["switch", "light"] = "switch"
    command_timeout: float = Field(default=10.0, gt=0)
    publish: bool = False
    node_id: str = "hausmeister"
    device_name: str = "Hausmeister"
    publish_discovered: bool = False
    publish_interval: float = Field(default=10.0, gt=0)

    _prefix = field_validator("prefix")(_plain_topic)

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str) -> str:
        if not value or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
            raise ValueError("the node id may only use letters, digits, '_' and '-'")
        return value

    @field_validator("entity_id_for")
    @classmethod
    def _entity_ids(cls, value: dict[str, str]) -> dict[str, str]:
        return {key: entity_id_field(entity_id) for key, entity_id in value.items()}

    def entity_ids(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """The entity ids this config names explicitly, with their paths (for duplicate checks)."""
        return [(entity_id, ("entity_id_for", key)) for key, entity_id in self.entity_id_for.items()]
