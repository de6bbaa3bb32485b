"""The state of one entity at one moment: a value, attributes and whether the device is reachable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class State:
    """One entity's state; `value` None means unknown, `available` False means the device is unreachable."""

    entity_id: str
    value: Any
    attributes: Mapping[str, Any] = field(default_factory=dict)
    available: bool = True
    last_changed: float = 0.0
    last_updated: float = 0.0

    @property
    def display(self) -> str:
        """How a person would read this state: 'unavailable', 'unknown' or the value."""
        if not self.available:
            return "unavailable"
        return "unknown" if self.value is None else str(self.value)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form mirrored on MQTT and served by the web API."""
        changed = _iso(self.last_changed)  # a new value changes both times: format once (hot path)
        return {
            "entity_id": self.entity_id,
            "state": self.value,
            "attributes": dict(self.attributes),
            "available": self.available,
            "last_changed": changed,
            "last_updated": changed if self.last_updated == self.last_changed else _iso(self.last_updated),
        }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
