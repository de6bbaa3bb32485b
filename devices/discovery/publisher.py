"""Announcing the hub's own entities to Home Assistant through MQTT discovery.

Every entity in the state store is announced retained on
`<prefix>/<component>/<node_id>/<object_id>/config`, pointing at the hub's own MQTT API:
`<base>/state/<entity_id>` (retained JSON, read with value templates) and
`<base>/command/<entity_id>` (the action name as payload). The announcements are refreshed when
entities come or go (checked every `publish_interval` seconds), after every reconnect, and at once
when Home Assistant says `online` on `<prefix>/status` (its birth message, sent when it starts).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices.mqtt.connection import MqttConnection
from devices.mqtt.topics import Message
from devices.payload import BadPayload, preview, text
from hub.clock import Clock
from hub.counters import Counters
from hub.entity import EntitySpec
from hub.errors import DriverError
from hub.store import StateStore

log = logging.getLogger(__name__)

# Device classes Home Assistant accepts; any other would make it reject the whole announcement.
SENSOR_CLASSES = frozenset(
    [
        "apparent_power",
        "aqi",
        "area",
        "atmospheric_pressure",
        "battery",
        "blood_glucose_concentration",
        "carbon_dioxide",
        "carbon_monoxide",
        "conductivity",
        "current",
        "data_rate",
        "data_size",
        "date",
        "distance",
        "duration",
        "energy",
        "energy_distance",
        "energy_storage",
        "enum",
        "frequency",
        "gas",
        "humidity",
        "illuminance",
        "irradiance",
        "moisture",
        "monetary",
        "nitrogen_dioxide",
        "nitrogen_monoxide",
        "nitrous_oxide",
        "ozone",
        "ph",
        "pm1",
        "pm10",
        "pm25",
        "power",
        "power_factor",
        "precipitation",
        "precipitation_intensity",
        "pressure",
        "reactive_energy",
        "reactive_power",
        "signal_strength",
        "sound_pressure",
        "speed",
        "sulphur_dioxide",
        "temperature",
        "timestamp",
        "volatile_organic_compounds",
        "volatile_organic_compounds_parts",
        "voltage",
        "volume",
        "volume_flow_rate",
        "volume_storage",
        "water",
        "weight",
        "wind_direction",
        "wind_speed",
    ]
)
BINARY_SENSOR_CLASSES = frozenset(
    [
        "battery",
        "battery_charging",
        "carbon_monoxide",
        "cold",
        "connectivity",
        "door",
        "garage_door",
        "gas",
        "heat",
        "light",
        "lock",
        "moisture",
        "motion",
        "moving",
        "occupancy",
        "opening",
        "plug",
        "power",
        "presence",
        "problem",
        "running",
        "safety",
        "smoke",
        "sound",
        "tamper",
        "update",
        "vibration",
        "window",
    ]
)
VALVE_CLASSES = frozenset({"water", "gas"})

_STATE = "{{ value_json.state }}"
_AVAILABLE = "{{ 'online' if value_json.available else 'offline' }}"


@dataclass(frozen=True)
class Announcing:
    """Where and as what the hub announces itself."""

    prefix: str
    node_id: str
    device_name: str
    base_topic: str
    hub_status_topic: str


def config_for(spec: EntitySpec, attributes: dict[str, Any], where: Announcing) -> tuple[str, dict[str, Any]] | None:
    """The discovery component and config for one entity, or None when Home Assistant cannot show it."""
    kind = spec.kind
    state_topic = f"{where.base_topic}/state/{spec.entity_id}"
    command_topic = f"{where.base_topic}/command/{spec.entity_id}"
    body: dict[str, Any] = {
        "name": spec.display_name,
        "unique_id": f"{where.node_id}_{spec.entity_id.replace('.', '_')}",
        "default_entity_id": spec.entity_id,
        "device": {
            "identifiers": [where.node_id],
            "name": where.device_name,
            "manufacturer": "Hausmeister",
            "model": "Hausmeister hub",
        },
        "origin": {"name": "Hausmeister"},
        "availability": [
            {"topic": where.hub_status_topic},
            {"topic": state_topic, "value_template": _AVAILABLE},
        ],
        "availability_mode": "all",
    }
    specific = _KINDS.get(kind)
    extra = specific(spec, attributes, state_topic, command_topic) if specific else None
    if extra is None:
        return None
    body.update(extra)
    return kind, body


def _device_class(spec: EntitySpec, allowed: frozenset[str]) -> dict[str, Any]:
    return {"device_class": spec.device_class} if spec.device_class in allowed else {}


def _switch(spec: EntitySpec, _a: dict[str, Any], state: str, command: str) -> dict[str, Any]:
    return {
        "state_topic": state,
        "value_template": _STATE,
        "state_on": "on",
        "state_off": "off",
        "command_topic": command,
        "payload_on": "turn_on",
        "payload_off": "turn_off",
    }


def _light(spec: EntitySpec, _a: dict[str, Any], state: str, command: str) -> dict[str, Any]:
    # A basic light compares its state with the command payloads, so the template maps on → turn_on.
    return {
        "state_topic": state,
        "state_value_template": "{{ {'on': 'turn_on', 'off': 'turn_off'}.get(value_json.state, 'None') }}",
        "command_topic": command,
        "payload_on": "turn_on",
        "payload_off": "turn_off",
    }


def _sensor(spec: EntitySpec, _a: dict[str, Any], state: str, _c: str) -> dict[str, Any]:
    unit = {"unit_of_measurement": spec.unit} if spec.unit else {}
    return {"state_topic": state, "value_template": _STATE, **unit, **_device_class(spec, SENSOR_CLASSES)}


def _binary_sensor(spec: EntitySpec, _a: dict[str, Any], state: str, _c: str) -> dict[str, Any]:
    return {
        "state_topic": state,
        "value_template": _STATE,
        "payload_on": "on",
        "payload_off": "off",
        **_device_class(spec, BINARY_SENSOR_CLASSES),
    }


def _valve(spec: EntitySpec, _a: dict[str, Any], state: str, command: str) -> dict[str, Any]:
    return {
        "state_topic": state,
        "value_template": _STATE,
        "command_topic": command,
        "payload_open": "open",
        "payload_close": "close",
        **_device_class(spec, VALVE_CLASSES),
    }


def _lawn_mower(spec: EntitySpec, _a: dict[str, Any], state: str, command: str) -> dict[str, Any]:
    return {
        "activity_state_topic": state,
        "activity_value_template": "{{ value_json.state if value_json.state else 'none' }}",
        "start_mowing_command_topic": command,
        "pause_command_topic": command,
        "dock_command_topic": command,
    }


def _button(spec: EntitySpec, _a: dict[str, Any], _s: str, command: str) -> dict[str, Any]:
    return {"command_topic": command, "payload_press": "press"}


def _number(spec: EntitySpec, attributes: dict[str, Any], state: str, command: str) -> dict[str, Any]:
    limits = {key: attributes[key] for key in ("min", "max", "step") if isinstance(attributes.get(key), int | float)}
    return {
        "state_topic": state,
        "value_template": _STATE,
        "command_topic": command,
        "command_template": '{"action": "set_value", "value": {{ value }}}',
        "min": limits.get("min", -1_000_000),
        "max": limits.get("max", 1_000_000),
        **({"step": limits["step"]} if "step" in limits else {}),
        **({"unit_of_measurement": spec.unit} if spec.unit else {}),
    }


def _select(spec: EntitySpec, attributes: dict[str, Any], state: str, command: str) -> dict[str, Any] | None:
    options = attributes.get("options")
    if not isinstance(options, list) or not options:
        return None  # Home Assistant needs the list of options
    return {
        "state_topic": state,
        "value_template": _STATE,
        "command_topic": command,
        "command_template": '{"action": "select_option", "option": {{ value | to_json }}}',
        "options": [str(option) for option in options],
    }


_KINDS: dict[str, Callable[[EntitySpec, dict[str, Any], str, str], dict[str, Any] | None]] = {
    "switch": _switch,
    "light": _light,
    "sensor": _sensor,
    "binary_sensor": _binary_sensor,
    "valve": _valve,
    "lawn_mower": _lawn_mower,
    "button": _button,
    "number": _number,
    "select": _select,
}


class Announcer:
    """Keeps the retained discovery configs on the broker in step with the hub's entities."""

    def __init__(
        self,
        mqtt: MqttConnection,
        store: StateStore,
        clock: Clock,
        counters: Counters,
        where: Announcing,
        *,
        interval: float,
        skip: Callable[[EntitySpec], bool],
    ) -> None:
        self._mqtt = mqtt
        self._store = store
        self._clock = clock
        self._counters = counters
        self._where = where
        self._interval = interval
        self._skip = skip
        self._sent: dict[str, bytes] = {}
        self._wake = asyncio.Event()
        self._force = True

    def on_status(self, message: Message) -> None:
        """Home Assistant's birth (`online`) or will (`offline`) on `<prefix>/status`."""
        said = text(message.payload).strip()
        if said == "online":
            log.info("Home Assistant is online: announcing the hub's entities again")
            self.refresh(force=True)
        elif said != "offline":
            raise BadPayload(f"{preview(said)} is neither 'online' nor 'offline'")

    def refresh(self, *, force: bool = False) -> None:
        """Check the announcements now (and send all of them again if `force`)."""
        self._force = self._force or force
        self._wake.set()

    async def _reconnected(self) -> None:
        # The broker may have been restarted without persistence: its retained configs are gone.
        self.refresh(force=True)

    async def run(self) -> None:
        """Announce, then keep the announcements current until cancelled."""
        self._mqtt.on_connect(self._reconnected)
        while True:
            if self._mqtt.connected:
                force, self._force = self._force, False
                await self.sync(force=force)
            await self._sleep()

    async def _sleep(self) -> None:
        self._wake.clear()
        woken = asyncio.ensure_future(self._wake.wait())
        timer = asyncio.ensure_future(self._clock.sleep(self._interval))
        try:
            await asyncio.wait({woken, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            timer.cancel()

    def wanted(self) -> dict[str, bytes]:
        """Every config topic the hub should have on the broker now, with its payload."""
        configs: dict[str, bytes] = {}
        for spec in list(self._store.specs.values()):
            if self._skip(spec):
                continue
            state = self._store.get(spec.entity_id)
            made = config_for(spec, dict(state.attributes) if state else {}, self._where)
            if made is None:
                continue
            component, body = made
            object_id = spec.entity_id.partition(".")[2]
            topic = f"{self._where.prefix}/{component}/{self._where.node_id}/{object_id}/config"
            configs[topic] = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return configs

    async def sync(self, *, force: bool = False) -> None:
        """Publish new and changed configs (all if `force`) and clear the configs of removed entities."""
        wanted = self.wanted()
        try:
            for topic, body in wanted.items():
                if force or self._sent.get(topic) != body:
                    await self._mqtt.publish(topic, body, qos=1, retain=True)
                    self._sent[topic] = body
                    self._counters.inc("ha_discovery.announced")
            for topic in [topic for topic in self._sent if topic not in wanted]:
                await self._mqtt.publish(topic, b"", qos=1, retain=True)
                del self._sent[topic]
        except DriverError as exc:
            # Disconnected midway: the reconnect announces everything again.
            log.debug("Announcing paused: %s", exc)
