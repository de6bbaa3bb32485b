"""Zigbee2MQTT (`type: zigbee2mqtt`): devices from the bridge's `bridge/devices` exposes, JSON states, `/set`."""

from devices.zigbee2mqtt.config import Zigbee2MqttConfig
from devices.zigbee2mqtt.driver import Zigbee2MqttDriver

__all__ = ["Zigbee2MqttConfig", "Zigbee2MqttDriver"]
