"""A Tasmota smart plug with energy metering, speaking Tasmota's MQTT topics over a real broker.

Topics (Tasmota docs, MQTT.md): `cmnd/<topic>/POWER` in (ON/OFF/TOGGLE, 1/0/2, empty = query);
`stat/<topic>/RESULT {"POWER":"ON"}` and `stat/<topic>/POWER ON` out; `tele/<topic>/LWT`
Online/Offline (retained, the last will); `tele/<topic>/STATE` and `tele/<topic>/SENSOR` every
TelePeriod.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import aiomqtt

from hub.clock import Clock, SystemClock

_WORDS = {"ON": True, "1": True, "OFF": False, "0": False}


class TasmotaPlug:
    """A simulated plug; `load_watts` is what the connected machine draws while switched on."""

    def __init__(
        self,
        topic: str,
        host: str,
        port: int,
        *,
        clock: Clock | None = None,
        tele_period: float = 300.0,
        load_watts: float = 1150.0,
        confirm: bool = True,
        power: bool = False,
    ) -> None:
        self.topic = topic
        self.host = host
        self.port = port
        self.clock = clock or SystemClock()
        self.tele_period = tele_period
        self.load_watts = load_watts
        self.confirm = confirm  # False simulates a broken relay board that never reports back
        self.power = power
        self.energy_total = 514.153
        self.received: list[str] = []

    def _power_word(self) -> str:
        return "ON" if self.power else "OFF"

    def _time(self) -> str:
        return datetime.fromtimestamp(self.clock.time()).strftime("%Y-%m-%dT%H:%M:%S")

    async def run(self) -> None:
        """Connect, announce Online, answer commands and send telemetry until cancelled."""
        will = aiomqtt.Will(f"tele/{self.topic}/LWT", b"Offline", qos=1, retain=True)
        async with aiomqtt.Client(self.host, self.port, identifier=f"sim-tasmota-{self.topic}", will=will) as client:
            await client.publish(f"tele/{self.topic}/LWT", b"Online", qos=1, retain=True)
            await client.subscribe(f"cmnd/{self.topic}/POWER")
            await self._report(client)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._telemetry(client))
                async for message in client.messages:
                    await self._on_command(client, message)

    async def _on_command(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        word = (
            bytes(message.payload).decode(errors="replace").strip().upper()
            if isinstance(message.payload, bytes | bytearray)
            else ""
        )
        self.received.append(word)
        if word in ("TOGGLE", "2"):
            self.power = not self.power
        elif word in _WORDS:
            self.power = _WORDS[word]
        elif word:
            await client.publish(f"stat/{self.topic}/RESULT", b'{"Command":"Error"}')
            return
        if self.confirm:
            await self._report(client)

    async def _report(self, client: aiomqtt.Client) -> None:
        await client.publish(f"stat/{self.topic}/RESULT", json.dumps({"POWER": self._power_word()}))
        await client.publish(f"stat/{self.topic}/POWER", self._power_word())

    async def _telemetry(self, client: aiomqtt.Client) -> None:
        while True:
            watts = self.load_watts if self.power else 0.0
            self.energy_total += watts * self.tele_period / 3_600_000
            await client.publish(
                f"tele/{self.topic}/STATE",
                json.dumps(
                    {
                        "Time": self._time(),
                        "Uptime": "0T01:00:00",
                        "POWER": self._power_word(),
                        "Wifi": {"AP": 1, "SSId": "garden", "RSSI": 78, "Signal": -61},
                    }
                ),
            )
            await client.publish(
                f"tele/{self.topic}/SENSOR",
                json.dumps(
                    {
                        "Time": self._time(),
                        "ENERGY": {
                            "TotalStartTime": "2026-01-01T00:00:00",
                            "Total": round(self.energy_total, 3),
                            "Yesterday": 0.9,
                            "Today": 0.4,
                            "Power": round(watts),
                            "ApparentPower": round(watts * 1.05),
                            "ReactivePower": round(watts * 0.3),
                            "Factor": 0.95 if watts else 0.0,
                            "Voltage": 234,
                            "Current": round(watts / 234, 3),
                        },
                    }
                ),
            )
            await self.clock.sleep(self.tele_period)
