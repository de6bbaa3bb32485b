"""The driver registry: `type:` in the config → driver class. Third parties add drivers through the
`hausmeister.drivers` entry-point group (name = the `type:` value, object = the driver class)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from devices.base import Driver
from devices.discovery.driver import HaDiscoveryDriver
from devices.mqtt.generic import MqttDriver
from devices.openmower import OpenMowerDriver
from devices.opensprinkler import OpenSprinklerDriver
from devices.serial.dsmr import DsmrDriver
from devices.serial.line import SerialLineDriver
from devices.tasmota.driver import TasmotaDriver
from devices.zigbee2mqtt.driver import Zigbee2MqttDriver
from hub.config import DeviceConfig

log = logging.getLogger(__name__)

DriverClass = type[Driver[Any]]

BUILTIN: Mapping[str, DriverClass] = {
    "mqtt": MqttDriver,
    "dsmr": DsmrDriver,
    "serial_line": SerialLineDriver,
    "ha_discovery": HaDiscoveryDriver,
    "tasmota": TasmotaDriver,
    "zigbee2mqtt": Zigbee2MqttDriver,
    "opensprinkler": OpenSprinklerDriver,
    "openmower": OpenMowerDriver,
}


def load_registry(
    extra: Mapping[str, DriverClass] | None = None,
) -> dict[str, DriverClass]:
    """Built-in drivers, then installed plug-ins, then `extra` (later ones win on a name clash)."""
    registry: dict[str, DriverClass] = dict(BUILTIN)
    for entry in entry_points(group="hausmeister.drivers"):
        try:
            registry[entry.name] = entry.load()
        except Exception:
            # A broken plug-in must not stop the hub from starting with the drivers that work.
            log.exception("Could not load the driver plug-in '%s' (%s)", entry.name, entry.value)
    registry.update(extra or {})
    return registry


def config_models(registry: Mapping[str, DriverClass]) -> dict[str, type[DeviceConfig]]:
    """The config model of each registered driver, for `load_config`."""
    return {name: driver.config_model for name, driver in registry.items()}
