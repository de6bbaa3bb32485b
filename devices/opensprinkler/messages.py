"""What the controller publishes on MQTT (firmware `mqtt.cpp` and its notification code), decoded.

Under its publish topic (default `opensprinkler`):

    availability      online / offline (retained; offline is its last will)
    station/<n>       {"state":1} or {"state":1,"duration":600} when a station opens,
                      {"state":0,"duration":598} or {"state":0,"duration":598,"flow":3.21} when it closes
    sensor1, sensor2  {"state":0|1}
    raindelay         {"state":0|1}
    sensor/flow       {"count":1234,"volume":56.78}
    weather           {"water level":87}

Each decoder raises `BadPayload` with a sentence for the log when a message is not what the
firmware sends; the MQTT router logs it once and counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devices import payload as decode
from devices.payload import BadPayload


@dataclass(frozen=True)
class StationEvent:
    """A station opened or closed; `duration` is planned (on) or actual (off) seconds when given."""

    station: int
    on: bool
    duration: int | None = None
    flow: float | None = None


@dataclass(frozen=True)
class FlowReading:
    """The flow sensor's pulse count and volume of the last run."""

    count: int
    volume: float


def station_event(station_level: str, raw: bytes) -> StationEvent:
    """Decode `station/<n>`; `station_level` is the `<n>` of the topic."""
    if not station_level.isdigit():
        raise BadPayload(f"comes from station '{station_level}', which is not a station number")
    body = decode.json_object(raw)
    on = _state(body)
    duration = body.get("duration")
    if duration is not None and not _is_number(duration):
        raise BadPayload(f"has duration {duration!r}, which is not a number of seconds")
    flow = body.get("flow")
    if flow is not None and not _is_number(flow):
        raise BadPayload(f"has flow {flow!r}, which is not a number")
    return StationEvent(
        int(station_level),
        on,
        int(duration) if duration is not None else None,
        float(flow) if flow is not None else None,
    )


def binary_state(raw: bytes) -> bool:
    """Decode `{"state":0|1}` (sensor1, sensor2, raindelay)."""
    return _state(decode.json_object(raw))


def flow_reading(raw: bytes) -> FlowReading:
    """Decode `sensor/flow`."""
    body = decode.json_object(raw)
    count, volume = body.get("count"), body.get("volume")
    if not isinstance(count, int) or isinstance(count, bool):
        raise BadPayload(f"has count {count!r}, which is not a whole number")
    if not isinstance(volume, int | float) or isinstance(volume, bool):
        raise BadPayload(f"has volume {volume!r}, which is not a number")
    return FlowReading(count, float(volume))


def water_level(raw: bytes) -> int:
    """Decode `weather`: the watering percentage the weather adjustment chose."""
    level = decode.json_object(raw).get("water level")
    if not isinstance(level, int | float) or isinstance(level, bool):
        raise BadPayload(f"has water level {level!r}, which is not a number")
    return round(level)


def availability(raw: bytes) -> bool:
    """Decode `availability`: online or offline."""
    word = decode.text(raw).strip()
    if word not in ("online", "offline"):
        raise BadPayload(f"{decode.preview(word)} is neither 'online' nor 'offline'")
    return word == "online"


def _state(body: dict[str, Any]) -> bool:
    state = body.get("state")
    if isinstance(state, bool) or state not in (0, 1):
        raise BadPayload(f"has state {state!r}; the controller sends 0 or 1")
    return bool(state == 1)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
