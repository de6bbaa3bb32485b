"""The `type: openmower` config: the robot's topics, its entities and the start interlocks.

- type: openmower
  name: mower
  topic_prefix: ""                        # "openmower/" when it publishes to your broker with a prefix
  refuse_start_while: [binary_sensor.rain]
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hub.config import DeviceConfig, entity_id_field


class OpenMowerConfig(DeviceConfig):
    """`type: openmower` — an OpenMower robot on MQTT (xbot_monitoring's topics)."""

    type: Literal["openmower"]
    id: str | None = None
    title: str | None = None
    topic_prefix: str = ""
    refuse_start_while: list[str] = Field(default_factory=list)
    refuse_start_when_unknown: bool = True
    offline_after: float = Field(default=30.0, gt=0)
    command_timeout: float = Field(default=30.0, gt=0)

    @field_validator("id")
    @classmethod
    def _mower_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        entity_id = entity_id_field(value)
        if not entity_id.startswith("lawn_mower."):
            raise ValueError(f"an OpenMower is a lawn mower: write its id as lawn_mower.<name>, not '{value}'")
        return entity_id

    @field_validator("refuse_start_while")
    @classmethod
    def _entities(cls, values: list[str]) -> list[str]:
        return [entity_id_field(value) for value in values]

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if any(c in value for c in "+#"):
            raise ValueError("the topic prefix cannot contain the wildcards + or #")
        # xbot_monitoring adds the '/' itself when the prefix lacks one; so do we.
        return value if not value or value.endswith("/") else value + "/"

    @property
    def mower_id(self) -> str:
        """The lawn_mower entity."""
        return self.id or f"lawn_mower.{self.name}"

    @property
    def battery_id(self) -> str:
        """The battery sensor (percent)."""
        return f"sensor.{self.name}_battery"

    @property
    def state_topic(self) -> str:
        """Where the robot publishes its state as JSON."""
        return f"{self.topic_prefix}robot_state/json"

    @property
    def action_topic(self) -> str:
        """Where the robot takes actions (plain strings)."""
        return f"{self.topic_prefix}action"

    def entity_ids(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """The entities this device creates."""
        return [(self.mower_id, ("id",) if self.id else ("name",)), (self.battery_id, ("name",))]
