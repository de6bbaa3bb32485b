"""Tasmota devices on their native MQTT topics (`type: tasmota`): relays, energy metering, sensors."""

from devices.tasmota.config import TasmotaConfig
from devices.tasmota.driver import TasmotaDriver

__all__ = ["TasmotaConfig", "TasmotaDriver"]
