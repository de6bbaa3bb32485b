"""Which entities a Zigbee2MQTT device offers, read from the `exposes` in the retained `bridge/devices`.

Exposes (Zigbee2MQTT docs, usage/exposes.md): generic `numeric`/`binary`/`enum` features with a
`property` (the key in the device's state JSON) and an `access` bitmask (1: in the state, 2: can be
set, 4: can be read with /get); specific `switch`/`light` exposes group such features, the on/off
one being the binary named `state`. Hausmeister takes:

- the `state` binary of a switch or light (settable) → a `switch`;
- measurements it knows (temperature, humidity, soil moisture, battery, power, …) → a `sensor`;
- detectors it knows (contact, water leak, rain, occupancy, smoke, …) → a `binary_sensor`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from devices.payload import BadPayload, preview

STATE, SET, GET = 1, 2, 4

# Measurement name → device class (the unit comes from the expose itself).
SENSORS: Mapping[str, str] = {
    "temperature": "temperature",
    "device_temperature": "temperature",
    "humidity": "humidity",
    "soil_moisture": "moisture",
    "battery": "battery",
    "pressure": "pressure",
    "illuminance": "illuminance",
    "illuminance_lux": "illuminance",
    "power": "power",
    "energy": "energy",
    "voltage": "voltage",
    "current": "current",
    "co2": "carbon_dioxide",
    "pm25": "pm25",
}

# Detector name → device class (Home Assistant's binary_sensor classes).
DETECTORS: Mapping[str, str] = {
    "contact": "door",
    "water_leak": "moisture",
    "rain": "moisture",
    "occupancy": "occupancy",
    "presence": "presence",
    "smoke": "smoke",
    "gas": "gas",
    "carbon_monoxide": "carbon_monoxide",
    "battery_low": "battery",
    "tamper": "tamper",
    "vibration": "vibration",
    "moving": "moving",
}


@dataclass(frozen=True)
class Exposed:
    """One property of a device's state that becomes an entity."""

    property: str
    kind: str  # switch | sensor | binary_sensor
    label: str
    unit: str | None = None
    device_class: str | None = None
    value_on: Any = None
    value_off: Any = None
    value_toggle: Any = None
    access: int = STATE


@dataclass(frozen=True)
class Device:
    """A device on the Zigbee network, as `bridge/devices` describes it."""

    ieee_address: str
    friendly_name: str
    model: str | None
    vendor: str | None
    exposed: tuple[Exposed, ...]


def read_devices(payload: bytes) -> tuple[list[Device], list[str]]:
    """The devices in a `bridge/devices` payload, and a problem line for each entry that was unusable."""
    try:
        entries = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadPayload(f"is not the JSON list of devices: {preview(payload)}") from None
    if not isinstance(entries, list):
        raise BadPayload(f"should be a JSON list of devices, got {type(entries).__name__}")
    devices, problems = [], []
    for index, entry in enumerate(entries):
        try:
            device = _device(entry)
        except ValueError as exc:
            problems.append(f"device #{index + 1}: {exc}")
            continue
        if device is not None:
            devices.append(device)
    return devices, problems


def _device(entry: Any) -> Device | None:
    if not isinstance(entry, dict):
        raise ValueError("is not a JSON object")
    name, ieee = entry.get("friendly_name"), entry.get("ieee_address")
    if not isinstance(name, str) or not name or not isinstance(ieee, str):
        raise ValueError("has no friendly_name or ieee_address")
    definition = entry.get("definition")
    if entry.get("type") == "Coordinator" or definition is None:
        return None  # the coordinator, or a device Zigbee2MQTT does not support: nothing to show
    if not isinstance(definition, dict) or not isinstance(definition.get("exposes", []), list):
        raise ValueError(f"'{name}' has a definition without an exposes list")
    exposed = tuple(_unique(_from_exposes(definition.get("exposes", []))))
    model, vendor = definition.get("model"), definition.get("vendor")
    return Device(
        ieee, name, model if isinstance(model, str) else None, vendor if isinstance(vendor, str) else None, exposed
    )


def _unique(found: Iterator[Exposed]) -> Iterator[Exposed]:
    seen: set[str] = set()
    for item in found:
        if item.property not in seen:
            seen.add(item.property)
            yield item


def _from_exposes(exposes: list[Any], parent: str | None = None) -> Iterator[Exposed]:
    for expose in exposes:
        if not isinstance(expose, dict):
            continue
        kind = expose.get("type")
        if kind in ("switch", "light") and isinstance(expose.get("features"), list):
            yield from _from_exposes(expose["features"], parent=kind)
        elif kind in ("numeric", "binary"):
            item = _feature(expose, parent)
            if item is not None:
                yield item


def _feature(expose: dict[str, Any], parent: str | None) -> Exposed | None:
    name, prop, access = expose.get("name"), expose.get("property"), expose.get("access", STATE)
    if not isinstance(name, str) or not isinstance(prop, str) or not isinstance(access, int):
        return None
    endpoint = expose.get("endpoint")
    label = name.replace("_", " ") + (f" {endpoint}" if isinstance(endpoint, str) else "")
    unit = expose.get("unit") if isinstance(expose.get("unit"), str) else None
    if expose["type"] == "binary" and name == "state" and access & SET and (parent or access & STATE):
        return Exposed(
            prop,
            "switch",
            label,
            value_on=expose.get("value_on", "ON"),
            value_off=expose.get("value_off", "OFF"),
            value_toggle=expose.get("value_toggle"),
            access=access,
        )
    if not access & STATE:
        return None
    if expose["type"] == "numeric" and name in SENSORS:
        return Exposed(prop, "sensor", label, unit, SENSORS[name], access=access)
    if expose["type"] == "binary" and name in DETECTORS:
        return Exposed(
            prop,
            "binary_sensor",
            label,
            device_class=DETECTORS[name],
            value_on=expose.get("value_on", True),
            value_off=expose.get("value_off", False),
            access=access,
        )
    return None
