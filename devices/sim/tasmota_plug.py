"""A Tasmota plug or relay board with energy metering, speaking Tasmota's MQTT topics over a real broker.

Topics (Tasmota docs, MQTT.md), with the default FullTopic `%prefix%/%topic%/`:
`cmnd/<topic>/POWER<n>` in (ON/OFF/TOGGLE, 1/0/2, empty or `?` = query; command names are not
case-sensitive); `stat/<topic>/RESULT {"POWER":"ON"}` (`{"POWER2":"ON"}` with several relays) and
`stat/<topic>/POWER<n> ON` out; `tele/<topic>/LWT` Online/Offline (retained, Offline is the last
will); `tele/<topic>/STATE` and `tele/<topic>/SENSOR` every TelePeriod. Also answers `State`,
`Status 8`/`Status 10` and `TelePeriod <s>`; anything else gets `{"Command":"Unknown"}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiomqtt

from devices.sim.client import SimClient
from devices.sim.link import pull_plug
from hub.clock import Clock, SystemClock

_WORDS = {"ON": True, "1": True, "OFF": False, "0": False}


class TasmotaPlug:
    """A simulated Tasmota device; `load_watts` is what each connected machine draws while switched on."""

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
        relays: int = 1,
        loads: Sequence[float] | None = None,
        full_topic: str = "%prefix%/%topic%/",
        energy: bool = True,
        temperature: float | None = None,
        temperature_sensor: str = "DS18B20",
        humidity: float | None = None,
    ) -> None:
        self.topic = topic
        self.host = host
        self.port = port
        self.clock = clock or SystemClock()
        self.tele_period = tele_period
        self.confirm = confirm  # False simulates a broken relay board that never reports back
        self.powers = [power] + [False] * (relays - 1)
        self.loads = list(loads) if loads is not None else [load_watts] * relays
        self.full_topic = full_topic if full_topic.endswith("/") else full_topic + "/"
        self.energy = energy
        self.temperature = temperature
        self.temperature_sensor = temperature_sensor
        self.humidity = humidity
        self.energy_total = 514.153
        self.received: list[str] = []
        self._client: aiomqtt.Client | None = None
        self._unplugged = False

    # --- what the device is ---------------------------------------------------------------------
    @property
    def power(self) -> bool:
        """Relay 1 (kept for single-relay plugs)."""
        return self.powers[0]

    @power.setter
    def power(self, on: bool) -> None:
        self.powers[0] = on

    @property
    def load_watts(self) -> float:
        """The load on relay 1."""
        return self.loads[0]

    @load_watts.setter
    def load_watts(self, watts: float) -> None:
        self.loads[0] = watts

    def topic_for(self, prefix: str, command: str) -> str:
        """The device's FullTopic with its tokens filled in, plus `command`."""
        return self.full_topic.replace("%prefix%", prefix).replace("%topic%", self.topic) + command

    def _key(self, number: int) -> str:
        return "POWER" if len(self.powers) == 1 else f"POWER{number}"

    def _word(self, number: int) -> str:
        return "ON" if self.powers[number - 1] else "OFF"

    def _time(self) -> str:
        return datetime.fromtimestamp(self.clock.time(), UTC).strftime("%Y-%m-%dT%H:%M:%S")

    def watts(self) -> float:
        """What the metered relays draw now."""
        return sum(load for load, on in zip(self.loads, self.powers, strict=True) if on)

    def state(self) -> dict[str, Any]:
        """The tele/STATE (and `State` command) JSON."""
        body: dict[str, Any] = {"Time": self._time(), "Uptime": "0T01:00:00", "UptimeSec": 3600}
        body.update({self._key(n): self._word(n) for n in range(1, len(self.powers) + 1)})
        body["Wifi"] = {"AP": 1, "SSId": "garden", "RSSI": 78, "Signal": -61, "LinkCount": 1}
        return body

    def sensor(self) -> dict[str, Any]:
        """The tele/SENSOR JSON: ENERGY (if metered) and the temperature sensor (if any)."""
        body: dict[str, Any] = {"Time": self._time()}
        if self.energy:
            watts = self.watts()
            body["ENERGY"] = {
                "TotalStartTime": "2026-01-01T00:00:00",
                "Total": round(self.energy_total, 3),
                "Yesterday": 0.9,
                "Today": 0.4,
                "Period": round(watts * self.tele_period / 3600),
                "Power": round(watts),
                "ApparentPower": round(watts * 1.05),
                "ReactivePower": round(watts * 0.3),
                "Factor": 0.95 if watts else 0.0,
                "Voltage": 234,
                "Current": round(watts / 234, 3),
            }
        if self.temperature is not None:
            reading: dict[str, Any] = {"Temperature": round(self.temperature, 1)}
            if self.temperature_sensor.startswith("DS18"):
                reading = {"Id": "000008BD38BF", **reading}
            if self.humidity is not None:
                reading["Humidity"] = round(self.humidity, 1)
                reading["DewPoint"] = round(self.temperature - (100 - self.humidity) / 5, 1)
            body[self.temperature_sensor] = reading
            body["TempUnit"] = "C"
        return body

    # --- running --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, announce Online, answer commands and send telemetry until cancelled or unplugged."""
        lwt = self.topic_for("tele", "LWT")
        will = aiomqtt.Will(lwt, b"Offline", qos=1, retain=True)
        self._unplugged = False
        try:
            async with SimClient(
                self.host, self.port, identifier=f"sim-tasmota-{self.topic}", will=will, keepalive=30
            ) as client:
                self._client = client
                await client.publish(lwt, b"Online", qos=1, retain=True)
                await client.subscribe(self.topic_for("cmnd", "+"))
                for number in range(1, len(self.powers) + 1):
                    await self._report(client, number)
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._telemetry(client))
                    async for message in client.messages:
                        await self._on_command(client, message)
        except* aiomqtt.MqttError:
            # After pull_plug the lost connection is the point; any other loss is an error.
            if not self._unplugged:
                raise
        finally:
            self._client = None

    def pull_plug(self) -> None:
        """Lose power: the connection dies without a goodbye and the broker publishes LWT Offline."""
        if self._client is not None:
            self._unplugged = True
            pull_plug(self._client)

    async def press_button(self, number: int = 1) -> None:
        """Someone pressed the device's button: the relay toggles and Tasmota reports it."""
        self.powers[number - 1] = not self.powers[number - 1]
        if self._client is not None:
            await self._report(self._client, number)

    async def publish_telemetry(self) -> None:
        """Send STATE and SENSOR now (as at the end of a TelePeriod)."""
        if self._client is not None:
            await self._send_telemetry(self._client)

    async def _on_command(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        command = message.topic.value.rsplit("/", 1)[-1].upper()
        raw = message.payload if isinstance(message.payload, bytes | bytearray) else b""
        word = bytes(raw).decode(errors="replace").strip()
        self.received.append(word if command.startswith("POWER") else f"{command} {word}".strip())
        if command.startswith("POWER") and (command[5:] == "" or command[5:].isdigit()):
            await self._power_command(client, int(command[5:] or 1), word.upper())
        elif command == "STATE":
            await client.publish(self.topic_for("stat", "RESULT"), json.dumps(self.state()))
        elif command == "STATUS" and word in ("8", "10"):
            await client.publish(self.topic_for("stat", f"STATUS{word}"), json.dumps({"StatusSNS": self.sensor()}))
        elif command == "TELEPERIOD" and word.isdigit():
            self.tele_period = max(10.0, float(word))
            await client.publish(self.topic_for("stat", "RESULT"), json.dumps({"TelePeriod": int(self.tele_period)}))
        else:
            await client.publish(self.topic_for("stat", "RESULT"), b'{"Command":"Unknown"}')

    async def _power_command(self, client: aiomqtt.Client, number: int, word: str) -> None:
        if not 1 <= number <= len(self.powers):
            await client.publish(self.topic_for("stat", "RESULT"), b'{"Command":"Unknown"}')
            return
        if word in ("TOGGLE", "2"):
            self.powers[number - 1] = not self.powers[number - 1]
        elif word in _WORDS:
            self.powers[number - 1] = _WORDS[word]
        elif word not in ("", "?"):
            await client.publish(self.topic_for("stat", "RESULT"), b'{"Command":"Error"}')
            return
        if self.confirm:
            await self._report(client, number)

    async def _report(self, client: aiomqtt.Client, number: int) -> None:
        key = self._key(number)
        await client.publish(self.topic_for("stat", "RESULT"), json.dumps({key: self._word(number)}))
        await client.publish(self.topic_for("stat", key), self._word(number))

    async def _send_telemetry(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topic_for("tele", "STATE"), json.dumps(self.state()))
        if self.energy or self.temperature is not None:
            await client.publish(self.topic_for("tele", "SENSOR"), json.dumps(self.sensor()))

    async def _telemetry(self, client: aiomqtt.Client) -> None:
        while True:
            await self._send_telemetry(client)
            await self.clock.sleep(self.tele_period)
            self.energy_total += self.watts() * self.tele_period / 3_600_000
