"""`type: tasmota` — a Tasmota device on its native MQTT topics (no discovery needed).

- type: tasmota
  name: compressor_plug
  topic: compressor                # the device's Topic (Tasmota: Configuration → MQTT → Topic)
  full_topic: "%prefix%/%topic%/"  # the device's FullTopic, if changed
  relays: 1                        # or a list: [{id: switch.pump, name: Pump}, {id: switch.light}]
  energy: true                     # ENERGY power, total, voltage, current from tele/<topic>/SENSOR
  sensors:                         # any other SENSOR value, by its JSON path
    - DS18B20.Temperature
    - {path: AM2301.Humidity, id: sensor.shed_humidity}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from devices.naming import slug
from hub.config import DeviceConfig, Strict, entity_id_field

# What a SENSOR value measures, by the last part of its JSON path: unit and device class.
_MEASURES: dict[str, tuple[str | None, str | None]] = {
    "temperature": ("°C", "temperature"),
    "dewpoint": ("°C", "temperature"),
    "humidity": ("%", "humidity"),
    "pressure": ("hPa", "pressure"),
    "illuminance": ("lx", "illuminance"),
    "carbondioxide": ("ppm", "carbon_dioxide"),
    "eco2": ("ppm", "carbon_dioxide"),
    "power": ("W", "power"),
    "apparentpower": ("VA", "apparent_power"),
    "reactivepower": ("var", "reactive_power"),
    "total": ("kWh", "energy"),
    "today": ("kWh", "energy"),
    "yesterday": ("kWh", "energy"),
    "voltage": ("V", "voltage"),
    "current": ("A", "current"),
    "factor": (None, "power_factor"),
}

_ENERGY = (
    ("ENERGY.Power", "power"),
    ("ENERGY.Total", "energy"),
    ("ENERGY.Voltage", "voltage"),
    ("ENERGY.Current", "current"),
)


class Relay(Strict):
    """One relay (POWER<n>) and the switch entity for it."""

    id: str | None = None
    name: str | None = None

    @field_validator("id")
    @classmethod
    def _switch(cls, value: str | None) -> str | None:
        if value is not None and not entity_id_field(value).startswith(("switch.", "light.")):
            raise ValueError(f"a relay is a switch or a light, not '{value}'")
        return value


class Reading(Strict):
    """One value of tele/<topic>/SENSOR, by its JSON path, as a sensor entity."""

    path: str
    id: str | None = None
    name: str | None = None
    unit: str | None = None
    device_class: str | None = None

    @field_validator("id")
    @classmethod
    def _sensor(cls, value: str | None) -> str | None:
        if value is not None and not entity_id_field(value).startswith("sensor."):
            raise ValueError(f"a SENSOR value is a sensor, not '{value}'")
        return value


class Prefixes(Strict):
    """Tasmota's Prefix1/2/3: commands, status replies, telemetry."""

    command: str = "cmnd"
    status: str = "stat"
    telemetry: str = "tele"


@dataclass(frozen=True)
class SensorEntity:
    """A resolved SENSOR reading: JSON path, entity id, name, unit, device class."""

    path: str
    entity_id: str
    name: str
    unit: str | None
    device_class: str | None


class TasmotaConfig(DeviceConfig):
    """A Tasmota relay board, plug or sensor node."""

    type: Literal["tasmota"]
    topic: str
    full_topic: str = "%prefix%/%topic%/"
    prefixes: Prefixes = Prefixes()
    hostname: str | None = None
    mac: str | None = None
    object_id: str | None = None
    relays: int | list[Relay] = 1
    energy: bool = False
    sensors: list[Reading] = Field(default_factory=list)
    state_on: str = "ON"
    state_off: str = "OFF"
    command_timeout: float = Field(default=10.0, gt=0)
    qos: Literal[0, 1, 2] = 1

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not value or any(c in value for c in "+#"):
            raise ValueError("the Tasmota topic must be plain text such as 'tasmota_3D5E26' (no + or #)")
        return value

    @field_validator("sensors", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        # A bare path is short for {path: ...}.
        return (
            [{"path": item} if isinstance(item, str) else item for item in value] if isinstance(value, list) else value
        )

    @field_validator("relays")
    @classmethod
    def _relays(cls, value: int | list[Relay]) -> int | list[Relay]:
        if isinstance(value, int) and not 0 <= value <= 32:
            raise ValueError("Tasmota drives 0 to 32 relays")
        return value

    @model_validator(mode="after")
    def _full_topic(self) -> Self:
        if "%prefix%" not in self.full_topic:
            raise ValueError("full_topic must contain %prefix%, or commands and replies share one topic")
        for token, given in (("%hostname%", self.hostname), ("%id%", self.mac)):
            if token in self.full_topic and not given:
                raise ValueError(f"full_topic uses {token}: give {'hostname' if token == '%hostname%' else 'mac'} too")
        return self

    # --- derived --------------------------------------------------------------------------------
    def topic_for(self, kind: Literal["command", "status", "telemetry"], command: str) -> str:
        """`<FullTopic with its tokens filled in><command>`, e.g. `cmnd/compressor/POWER`."""
        full = self.full_topic if self.full_topic.endswith("/") else self.full_topic + "/"
        prefix = getattr(self.prefixes, kind)
        filled = full.replace("%prefix%", prefix).replace("%topic%", self.topic)
        filled = filled.replace("%hostname%", self.hostname or "").replace("%id%", (self.mac or "").replace(":", ""))
        return filled + command

    @property
    def base(self) -> str:
        """The object id entity ids are derived from."""
        return slug(self.object_id or self.name) or self.name

    def relay_entities(self) -> list[tuple[int, str, str | None]]:
        """(relay number from 1, entity id, name) for every relay."""
        relays = [Relay() for _ in range(self.relays)] if isinstance(self.relays, int) else self.relays
        single = len(relays) == 1
        return [
            (number, relay.id or (f"switch.{self.base}" if single else f"switch.{self.base}_{number}"), relay.name)
            for number, relay in enumerate(relays, start=1)
        ]

    def sensor_entities(self) -> list[SensorEntity]:
        """Every SENSOR reading to follow, ENERGY ones first when `energy` is on."""
        readings = (
            [Reading(path=path, id=f"sensor.{self.base}_{suffix}") for path, suffix in _ENERGY] if self.energy else []
        )
        readings += self.sensors
        return [self._resolve(reading) for reading in readings]

    def _resolve(self, reading: Reading) -> SensorEntity:
        measure = reading.path.rsplit(".", 1)[-1].lower()
        unit, device_class = _MEASURES.get(measure, (None, None))
        entity_id = reading.id or f"sensor.{self.base}_{slug(reading.path)}"
        name = reading.name or reading.path.replace(".", " ")
        return SensorEntity(reading.path, entity_id, name, reading.unit or unit, reading.device_class or device_class)

    def entity_ids(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """Every entity id this device will have, with where it comes from in the file."""
        found: list[tuple[str, tuple[str | int, ...]]] = [
            (entity_id, ("relays",)) for _, entity_id, _ in self.relay_entities()
        ]
        found += [(sensor.entity_id, ("sensors",)) for sensor in self.sensor_entities()]
        return found
