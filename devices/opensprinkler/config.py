"""The `type: opensprinkler` config: the controller, its zones, master valve, sequences and safety limits.

- type: opensprinkler
  name: garden
  url: http://192.168.1.40
  password: !secret opensprinkler_password
  max_run: 45min
  zones:
    - {station: 0, id: valve.front_beds, name: Front beds, max_run: 30min}
    - {station: 1, id: valve.lawn, name: Lawn}
  master: {station: 7, id: valve.irrigation_main}
  sequences:
    - name: morning
      steps: [{zone: valve.front_beds, duration: 10min}, {zone: valve.lawn, duration: 20min}]
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from devices.opensprinkler.durations import Duration, format_duration
from hub.config import DeviceConfig, Strict, entity_id_field

MAX_RUN_SECONDS = 64_800  # the controller refuses manual runs longer than 18 h (/cm t ≤ 64800)
MAX_STATIONS = 200  # OpenSprinkler with the most expansion boards


def _valve_id(value: str) -> str:
    entity_id = entity_id_field(value)
    if not entity_id.startswith("valve."):
        raise ValueError(f"an OpenSprinkler zone is a valve: write its id as valve.<name>, not '{value}'")
    return entity_id


def _positive_limit(value: float | None) -> float | None:
    if value is not None and not 0 < value <= MAX_RUN_SECONDS:
        raise ValueError(f"must be more than 0 and at most 18 h (the controller's limit), not {format_duration(value)}")
    return value


class ZoneConfig(Strict):
    """One zone: the controller's station number (counted from 0, as its HTTP API does) and its valve."""

    station: int = Field(ge=0, lt=MAX_STATIONS)
    id: str
    name: str | None = None
    max_run: Duration | None = None
    default_duration: Duration | None = None
    use_master: bool = True

    @field_validator("id")
    @classmethod
    def _entity(cls, value: str) -> str:
        return _valve_id(value)

    @field_validator("max_run", "default_duration")
    @classmethod
    def _limits(cls, value: float | None) -> float | None:
        return _positive_limit(value)


class MasterConfig(Strict):
    """The station the controller uses as master valve (it opens by itself with any zone)."""

    station: int = Field(ge=0, lt=MAX_STATIONS)
    id: str
    name: str | None = None

    @field_validator("id")
    @classmethod
    def _entity(cls, value: str) -> str:
        return _valve_id(value)


class StepConfig(Strict):
    """One step of a sequence: a configured zone and how long it runs."""

    zone: str
    duration: Duration

    @field_validator("zone")
    @classmethod
    def _entity(cls, value: str) -> str:
        return _valve_id(value)

    @field_validator("duration")
    @classmethod
    def _limit(cls, value: float) -> float:
        _positive_limit(value)
        return value


class SequenceConfig(Strict):
    """Zones run one after another by the controller itself (an OpenSprinkler run-once program)."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str | None = None
    steps: list[StepConfig] = Field(min_length=1)


class OpenSprinklerConfig(DeviceConfig):
    """`type: opensprinkler` — an OpenSprinkler controller: MQTT for events, its HTTP API for commands."""

    type: Literal["opensprinkler"]
    url: str
    password: SecretStr = SecretStr("opendoor")  # the factory default; the hub sends its MD5, as the API wants
    topic: str = "opensprinkler"
    zones: list[ZoneConfig] = Field(min_length=1)
    master: MasterConfig | None = None
    sequences: list[SequenceConfig] = Field(default_factory=list)
    max_run: Duration = 3600.0
    default_duration: Duration = 600.0
    poll_interval: Duration = 30.0
    request_timeout: Duration = 10.0
    command_timeout: Duration = 15.0
    sensor1: str | None = None
    sensor2: str | None = None
    flow_unit: str | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not a web address: write it like http://192.168.1.40")
        return value.rstrip("/")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not value or any(c in value for c in "+#") or value.endswith("/"):
            raise ValueError(
                "the topic is the controller's MQTT publish topic, e.g. 'opensprinkler' (no +, # or trailing /)"
            )
        return value

    @field_validator("max_run", "default_duration")
    @classmethod
    def _limits(cls, value: float) -> float:
        _positive_limit(value)
        return value

    @field_validator("poll_interval", "request_timeout", "command_timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0 seconds")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self._check_stations()
        self._check_zone_limits()
        self._check_sequences()
        return self

    def _check_stations(self) -> None:
        stations = [zone.station for zone in self.zones]
        duplicates = sorted({s for s in stations if stations.count(s) > 1})
        if duplicates:
            raise ValueError(f"station {duplicates[0]} is used by more than one zone")
        if self.master is not None and self.master.station in stations:
            raise ValueError(f"station {self.master.station} is the master valve; it cannot also be a zone")

    def _check_zone_limits(self) -> None:
        for zone in self.zones:
            if self.zone_default_duration(zone) > self.zone_max_run(zone):
                raise ValueError(
                    f"zone '{zone.id}' would run {format_duration(self.zone_default_duration(zone))} by default, "
                    f"longer than its max_run of {format_duration(self.zone_max_run(zone))}"
                )

    def _check_sequences(self) -> None:
        zones = {zone.id: zone for zone in self.zones}
        names = [sequence.name for sequence in self.sequences]
        if len(set(names)) != len(names):
            raise ValueError("two sequences have the same name")
        for sequence in self.sequences:
            seen: set[str] = set()
            for step in sequence.steps:
                zone = zones.get(step.zone)
                if zone is None:
                    raise ValueError(
                        f"sequence '{sequence.name}' names '{step.zone}', which is not a zone of this device"
                    )
                if step.zone in seen:
                    raise ValueError(
                        f"sequence '{sequence.name}' runs '{step.zone}' twice; the controller runs a zone once"
                    )
                seen.add(step.zone)
                if step.duration > self.zone_max_run(zone):
                    raise ValueError(
                        f"sequence '{sequence.name}' runs '{step.zone}' for {format_duration(step.duration)}, "
                        f"longer than its max_run of {format_duration(self.zone_max_run(zone))}"
                    )

    def zone_max_run(self, zone: ZoneConfig) -> float:
        """The hub-enforced longest run of a zone (its own max_run, else the device's)."""
        return zone.max_run if zone.max_run is not None else self.max_run

    def zone_default_duration(self, zone: ZoneConfig) -> float:
        """How long a zone runs when opened without a duration."""
        return zone.default_duration if zone.default_duration is not None else self.default_duration

    # --- the entities this device creates besides its zones ---------------------------------------
    @property
    def stop_all_id(self) -> str:
        """The button that stops every zone."""
        return f"button.{self.name}_stop_all"

    @property
    def rain_delay_id(self) -> str:
        """The number of hours of rain delay (0 = none)."""
        return f"number.{self.name}_rain_delay"

    @property
    def rain_delay_active_id(self) -> str:
        """Whether the controller's rain delay is on."""
        return f"binary_sensor.{self.name}_rain_delay"

    @property
    def water_level_id(self) -> str:
        """The weather adjustment (water level, %)."""
        return f"sensor.{self.name}_water_level"

    @property
    def flow_id(self) -> str:
        """The water volume of the last run, from the flow sensor."""
        return f"sensor.{self.name}_flow_volume"

    def sensor_id(self, index: int) -> str:
        """The binary sensor for the controller's sensor input 1 or 2."""
        return f"binary_sensor.{self.name}_sensor{index}"

    def sequence_id(self, sequence: SequenceConfig) -> str:
        """The button that starts a sequence."""
        return f"button.{self.name}_run_{sequence.name}"

    def entity_ids(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """Every entity id this device creates, with where it comes from in the file."""
        found: list[tuple[str, tuple[str | int, ...]]] = [(z.id, ("zones", i, "id")) for i, z in enumerate(self.zones)]
        if self.master is not None:
            found.append((self.master.id, ("master", "id")))
        found += [(self.sequence_id(s), ("sequences", i, "name")) for i, s in enumerate(self.sequences)]
        derived = [self.stop_all_id, self.rain_delay_id, self.rain_delay_active_id, self.water_level_id]
        derived += [self.sensor_id(i) for i, kind in ((1, self.sensor1), (2, self.sensor2)) if kind is not None]
        derived += [self.flow_id] if self.flow_unit is not None else []
        found += [(entity_id, ("name",)) for entity_id in derived]
        return found
