"""A Zigbee2MQTT climate/soil sensor: JSON state on `zigbee2mqtt/<friendly_name>`, JSON availability
on `zigbee2mqtt/<friendly_name>/availability` (`{"state":"online"}`, retained), as Zigbee2MQTT 2.x sends."""

from __future__ import annotations

import json
import math

import aiomqtt

from hub.clock import Clock, SystemClock


class Z2mSensor:
    """A battery sensor reporting temperature and humidity (and soil moisture if given) periodically."""

    def __init__(
        self,
        friendly_name: str,
        host: str,
        port: int,
        *,
        clock: Clock | None = None,
        interval: float = 60.0,
        temperature: float = 18.0,
        humidity: float = 55.0,
        soil_moisture: float | None = None,
    ) -> None:
        self.friendly_name = friendly_name
        self.host = host
        self.port = port
        self.clock = clock or SystemClock()
        self.interval = interval
        self.temperature = temperature
        self.humidity = humidity
        self.soil_moisture = soil_moisture
        self.battery = 87

    def reading(self) -> dict[str, float | int]:
        """The JSON object Zigbee2MQTT publishes for this device now (a gentle daily swing)."""
        swing = math.sin(self.clock.time() / 86_400 * 2 * math.pi)
        body: dict[str, float | int] = {
            "temperature": round(self.temperature + 3 * swing, 2),
            "humidity": round(self.humidity - 5 * swing, 2),
            "battery": self.battery,
            "linkquality": 120,
        }
        if self.soil_moisture is not None:
            body["soil_moisture"] = round(self.soil_moisture, 1)
        return body

    async def run(self) -> None:
        """Announce online and publish a reading every `interval` seconds until cancelled."""
        base = f"zigbee2mqtt/{self.friendly_name}"
        will = aiomqtt.Will(f"{base}/availability", b'{"state":"offline"}', qos=1, retain=True)
        async with aiomqtt.Client(
            self.host, self.port, identifier=f"sim-z2m-{self.friendly_name}", will=will
        ) as client:
            await client.publish(f"{base}/availability", b'{"state":"online"}', qos=1, retain=True)
            while True:
                await client.publish(base, json.dumps(self.reading()))
                await self.clock.sleep(self.interval)
