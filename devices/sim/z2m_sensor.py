"""Zigbee devices as Zigbee2MQTT presents them: identity and exposes for `bridge/devices`, JSON states.

Each device can run inside a `Z2mBridge` (devices/sim/z2m_bridge.py), which publishes them all as
Zigbee2MQTT does. `Z2mSensor` can also run on its own (`run()`), publishing its state on
`zigbee2mqtt/<friendly_name>` and its availability `{"state":"online"}` (retained), as
Zigbee2MQTT 2.x sends them.

Exposes follow zigbee-herdsman-converters' presets (lib/exposes.ts): temperature (°C), humidity (%),
soil_moisture (%), battery (%), rain and water_leak (binary true/false), a switch's state (ON/OFF/TOGGLE).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, ClassVar, Literal

import aiomqtt

from devices.sim.client import SimClient
from hub.clock import Clock, SystemClock

STATE, SET, GET = 1, 2, 4


def numeric(name: str, unit: str | None = None, access: int = STATE, **extra: Any) -> dict[str, Any]:
    """A `numeric` expose."""
    body: dict[str, Any] = {"type": "numeric", "name": name, "property": name, "access": access, **extra}
    if unit is not None:
        body["unit"] = unit
    return body


def binary(
    name: str, value_on: Any = True, value_off: Any = False, access: int = STATE, **extra: Any
) -> dict[str, Any]:
    """A `binary` expose."""
    return {
        "type": "binary",
        "name": name,
        "property": name,
        "value_on": value_on,
        "value_off": value_off,
        "access": access,
        **extra,
    }


LINKQUALITY = numeric("linkquality", "lqi", value_min=0, value_max=255, category="diagnostic")
BATTERY = numeric("battery", "%", value_min=0, value_max=100, category="diagnostic")


class Z2mDevice:
    """A Zigbee device: what Zigbee2MQTT knows about it and the state it publishes."""

    model: ClassVar[str] = "generic"
    vendor: ClassVar[str] = "Generic"
    description: ClassVar[str] = "Zigbee device"
    device_type: ClassVar[str] = "EndDevice"
    power_source: ClassVar[str] = "Battery"

    def __init__(self, friendly_name: str, *, clock: Clock | None = None, interval: float = 60.0) -> None:
        self.friendly_name = friendly_name
        self.clock = clock or SystemClock()
        self.interval = interval
        digest = hashlib.sha1(friendly_name.encode()).hexdigest()[:16]
        self.ieee_address = f"0x{digest}"
        self.linkquality = 120
        self.received: list[dict[str, Any]] = []

    def exposes(self) -> list[dict[str, Any]]:
        """The device's capabilities, in Zigbee2MQTT's exposes format."""
        return [LINKQUALITY]

    def reading(self) -> dict[str, Any]:
        """The JSON object Zigbee2MQTT publishes on `<base>/<friendly_name>` now."""
        return {"linkquality": self.linkquality}

    def apply(self, body: dict[str, Any]) -> bool:
        """Carry out a `/set` request; whether anything in it was understood."""
        self.received.append(body)
        return False

    def entry(self) -> dict[str, Any]:
        """This device's entry in `bridge/devices`."""
        return {
            "ieee_address": self.ieee_address,
            "type": self.device_type,
            "network_address": int(self.ieee_address[-4:], 16),
            "supported": True,
            "friendly_name": self.friendly_name,
            "disabled": False,
            "definition": {
                "model": self.model,
                "vendor": self.vendor,
                "description": self.description,
                "source": "native",
                "supports_ota": False,
                "options": [],
                "exposes": self.exposes(),
            },
            "power_source": self.power_source,
            "interviewing": False,
            "interview_completed": True,
            "interview_state": "SUCCESSFUL",
        }


class Z2mSensor(Z2mDevice):
    """A battery sensor reporting temperature and humidity (and soil moisture if given) periodically."""

    model = "WSDCGQ11LM"
    vendor = "Aqara"
    description = "Temperature, humidity and pressure sensor"

    def __init__(
        self,
        friendly_name: str,
        host: str | None = None,
        port: int | None = None,
        *,
        clock: Clock | None = None,
        interval: float = 60.0,
        temperature: float = 18.0,
        humidity: float | None = 55.0,
        soil_moisture: float | None = None,
        base_topic: str = "zigbee2mqtt",
    ) -> None:
        super().__init__(friendly_name, clock=clock, interval=interval)
        self.host = host
        self.port = port
        self.temperature = temperature
        self.humidity = humidity
        self.soil_moisture = soil_moisture
        self.base_topic = base_topic
        self.battery = 87

    def exposes(self) -> list[dict[str, Any]]:
        """Temperature, humidity and soil moisture as present, battery and link quality."""
        found = [numeric("temperature", "°C", description="Measured temperature value")]
        if self.humidity is not None:
            found.append(numeric("humidity", "%", description="Measured relative humidity"))
        if self.soil_moisture is not None:
            found.append(numeric("soil_moisture", "%", description="Measured soil moisture value"))
        return [*found, BATTERY, LINKQUALITY]

    def reading(self) -> dict[str, Any]:
        """The JSON object Zigbee2MQTT publishes for this device now (a gentle daily swing)."""
        swing = math.sin(self.clock.time() / 86_400 * 2 * math.pi)
        body: dict[str, Any] = {"temperature": round(self.temperature + 3 * swing, 2)}
        if self.humidity is not None:
            body["humidity"] = round(self.humidity - 5 * swing, 2)
        if self.soil_moisture is not None:
            body["soil_moisture"] = round(self.soil_moisture, 1)
        body["battery"] = self.battery
        body["linkquality"] = self.linkquality
        return body

    async def run(self) -> None:
        """On its own: announce online and publish a reading every `interval` seconds until cancelled."""
        if self.host is None or self.port is None:
            raise RuntimeError("a Z2mSensor runs on its own only with host and port; otherwise put it in a Z2mBridge")
        base = f"{self.base_topic}/{self.friendly_name}"
        will = aiomqtt.Will(f"{base}/availability", b'{"state":"offline"}', qos=1, retain=True)
        async with SimClient(self.host, self.port, identifier=f"sim-z2m-{self.friendly_name}", will=will) as client:
            await client.publish(f"{base}/availability", b'{"state":"online"}', qos=1, retain=True)
            while True:
                await client.publish(base, json.dumps(self.reading()))
                await self.clock.sleep(self.interval)


class Z2mSoilSensor(Z2mSensor):
    """A Tuya soil sensor: soil moisture, soil temperature and battery (no air humidity)."""

    model = "TS0601_soil"
    vendor = "Tuya"
    description = "Soil sensor"

    def __init__(
        self, friendly_name: str, *, soil_moisture: float = 38.0, temperature: float = 14.0, **kwargs: Any
    ) -> None:
        super().__init__(friendly_name, soil_moisture=soil_moisture, temperature=temperature, humidity=None, **kwargs)


class Z2mRainSensor(Z2mDevice):
    """A Tuya solar rain sensor: reports rain (or, as some models do, water_leak), light and battery."""

    model = "RB-SRAIN01"
    vendor = "Tuya"
    description = "Solar rain sensor"

    def __init__(
        self,
        friendly_name: str,
        *,
        detector: Literal["rain", "water_leak"] = "rain",
        raining: bool = False,
        clock: Clock | None = None,
        interval: float = 300.0,
    ) -> None:
        super().__init__(friendly_name, clock=clock, interval=interval)
        self.detector = detector
        self.raining = raining
        self.illuminance = 4200
        self.battery = 100

    def exposes(self) -> list[dict[str, Any]]:
        """The rain (or water_leak) detector, illuminance, battery and link quality."""
        label = "rainfall" if self.detector == "rain" else "a water leak"
        return [
            binary(self.detector, description=f"Indicates whether the device detected {label}"),
            numeric("illuminance", "lx", description="Measured illuminance"),
            BATTERY,
            LINKQUALITY,
        ]

    def reading(self) -> dict[str, Any]:
        """`{"rain": true, …}` while it rains."""
        return {
            self.detector: self.raining,
            "illuminance": self.illuminance,
            "battery": self.battery,
            "linkquality": self.linkquality,
        }


class Z2mSwitch(Z2mDevice):
    """A mains-powered smart plug: a switch with power metering, answering `/set`."""

    model = "ZNCZ02LM"
    vendor = "Xiaomi"
    description = "Mi power plug ZigBee"
    device_type = "Router"
    power_source = "Mains (single phase)"

    def __init__(
        self,
        friendly_name: str,
        *,
        on: bool = False,
        load_watts: float = 60.0,
        clock: Clock | None = None,
        interval: float = 60.0,
    ) -> None:
        super().__init__(friendly_name, clock=clock, interval=interval)
        self.on = on
        self.load_watts = load_watts
        self.energy = 1.234

    def exposes(self) -> list[dict[str, Any]]:
        """A switch (state ON/OFF/TOGGLE, access 7), power and energy."""
        state = binary(
            "state", "ON", "OFF", STATE | SET | GET, value_toggle="TOGGLE", description="On/off state of the switch"
        )
        return [
            {"type": "switch", "features": [state]},
            numeric("power", "W", STATE | GET, description="Instantaneous measured power"),
            numeric("energy", "kWh", STATE, description="Sum of consumed energy"),
            LINKQUALITY,
        ]

    def reading(self) -> dict[str, Any]:
        """`{"state": "ON", "power": …, "energy": …}`."""
        return {
            "state": "ON" if self.on else "OFF",
            "power": round(self.load_watts if self.on else 0.0, 1),
            "energy": round(self.energy, 3),
            "linkquality": self.linkquality,
        }

    def apply(self, body: dict[str, Any]) -> bool:
        """`{"state": "ON" | "OFF" | "TOGGLE"}` (case does not matter to Zigbee2MQTT)."""
        self.received.append(body)
        word = body.get("state")
        if not isinstance(word, str) or word.upper() not in ("ON", "OFF", "TOGGLE"):
            return False
        self.on = not self.on if word.upper() == "TOGGLE" else word.upper() == "ON"
        return True
