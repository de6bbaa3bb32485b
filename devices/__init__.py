"""Device drivers, the shared MQTT connection, transports and simulators.

Public API: `Driver`, `DriverContext` (the contract), `load_registry` (type → driver class),
`MqttConnection`, `Message`, and the simulators under `devices.sim`.
"""

from devices.base import Driver, DriverContext
from devices.mqtt.connection import MqttConnection
from devices.mqtt.topics import Message
from devices.registry import load_registry

__all__ = ["Driver", "DriverContext", "Message", "MqttConnection", "load_registry"]
