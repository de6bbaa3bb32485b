"""The robot's state as xbot_monitoring publishes it on `robot_state/json`, and what it means as a lawn mower.

    {"battery_percentage":0.87,"gps_percentage":0.95,"current_action_progress":0.4,
     "current_state":"MOWING","current_sub_state":"","current_area":0,"current_path":3,
     "current_path_index":120,"emergency":false,"is_charging":false,"rain_detected":false,
     "pose":{"x":1.2,"y":-3.4,"heading":0.5,"pos_accuracy":0.02,"heading_accuracy":0.1,"heading_valid":1}}

Percentages are fractions from 0 to 1 (mower_logic clamps the battery to that range); older
firmware sends fewer fields. `current_state` is the name of mower_logic's behaviour: IDLE,
UNDOCKING, MOWING, PAUSED (newer firmware), DOCKING, AREA_RECORDING.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devices import payload as decode
from devices.payload import BadPayload

# mower_logic behaviour → lawn_mower activity. Undocking is the start of a mowing run; area
# recording means a person drives the robot, so it is not mowing on its own: paused.
ACTIVITIES = {
    "IDLE": "docked",
    "UNDOCKING": "mowing",
    "MOWING": "mowing",
    "PAUSED": "paused",
    "DOCKING": "returning",
    "AREA_RECORDING": "paused",
}


@dataclass(frozen=True)
class RobotState:
    """One `robot_state/json` message, checked."""

    state: str
    sub_state: str | None
    battery: float
    charging: bool
    emergency: bool
    gps: float | None = None
    rain_detected: bool | None = None
    area: int | None = None
    progress: float | None = None
    pose: dict[str, float] | None = None

    @property
    def behaviour(self) -> str:
        """The behaviour name without decorations (some builds send e.g. 'IDLE (Docked)')."""
        return self.state.split(" ", 1)[0].upper()

    @property
    def activity(self) -> str | None:
        """The lawn_mower state, or None for a behaviour this hub does not know."""
        if self.emergency:
            return "error"
        return ACTIVITIES.get(self.behaviour)

    def attributes(self) -> dict[str, Any]:
        """What the lawn_mower entity shows besides its state."""
        return {
            "battery": percent(self.battery),
            "charging": self.charging,
            "emergency": self.emergency,
            "error_code": "emergency" if self.emergency else None,
            "vendor_state": self.state,
            "vendor_sub_state": self.sub_state,
            "gps": percent(self.gps) if self.gps is not None and self.gps >= 0 else None,
            "rain_detected": self.rain_detected,
            "area": self.area,
            "progress": percent(self.progress) if self.progress is not None else None,
            "pose": self.pose,
        }


def percent(fraction: float) -> int:
    """A 0–1 fraction as a whole percentage."""
    return round(fraction * 100)


def parse_robot_state(raw: bytes) -> RobotState:
    """Check and decode a `robot_state/json` payload; `BadPayload` says what is wrong."""
    body = decode.json_object(raw)
    battery = _number(body, "battery_percentage", required=True)
    assert battery is not None
    if not -0.001 <= battery <= 1.001:
        raise BadPayload(f"has battery_percentage {battery!r}; OpenMower sends a fraction from 0 to 1")
    sub_state = _typed(body, "current_sub_state", str)
    return RobotState(
        state=_required(body, "current_state", str),
        sub_state=sub_state or None,
        battery=min(1.0, max(0.0, battery)),
        charging=_required(body, "is_charging", bool),
        emergency=_required(body, "emergency", bool),
        gps=_number(body, "gps_percentage"),
        rain_detected=_typed(body, "rain_detected", bool),
        area=_typed(body, "current_area", int),
        progress=_number(body, "current_action_progress"),
        pose=_pose(body.get("pose")),
    )


def _required(body: dict[str, Any], key: str, kind: type) -> Any:
    value = _typed(body, key, kind)
    if value is None:
        raise BadPayload(f"has no '{key}'")
    return value


def _typed(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadPayload(f"has {key} = {decode.preview(repr(value))}, which is not {_WORDS[kind]}")
    return value


def _number(body: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadPayload(f"has {key} = {decode.preview(repr(value))}, which is not a number")
    return float(value)


def _pose(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadPayload("has a pose that is not an object")
    pose: dict[str, float] = {}
    for key in ("x", "y", "heading"):
        number = _number(value, key)
        if number is not None:
            pose[key] = number
    return pose


_WORDS: dict[type, str] = {str: "text", bool: "true or false", int: "a whole number"}
