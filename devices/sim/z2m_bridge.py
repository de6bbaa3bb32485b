"""A Zigbee2MQTT bridge with simulated devices, speaking Zigbee2MQTT's MQTT API over a real broker.

Under the base topic (default `zigbee2mqtt`), as Zigbee2MQTT 2.x publishes them:

    bridge/state                  {"state":"online"} retained; {"state":"offline"} as the last will
    bridge/info                   retained: version, coordinator, permit_join
    bridge/devices                retained list: the coordinator and every device with its exposes
    <friendly_name>/availability  {"state":"online"} retained
    <friendly_name>               the device's state JSON, every `interval` seconds and after each change
    <friendly_name>/set           {"state":"ON"} → carried out, then the new state is published
    <friendly_name>/set/<prop>    the same without JSON: `…/set/state` with payload `ON`
    <friendly_name>/get           {"state":""} → the state is published

`legacy=True` speaks Zigbee2MQTT 1.x availability instead: plain `online`/`offline` payloads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import aiomqtt

from devices.sim.client import SimClient
from devices.sim.link import pull_plug
from devices.sim.z2m_sensor import Z2mDevice
from hub.clock import Clock, SystemClock

_COORDINATOR = {
    "ieee_address": "0x00124b00120144ae",
    "type": "Coordinator",
    "network_address": 0,
    "supported": True,
    "friendly_name": "Coordinator",
    "disabled": False,
    "definition": None,
    "power_source": None,
    "interviewing": False,
    "interview_completed": True,
}


class Z2mBridge:
    """The bridge and its devices; `devices` can be added and removed while it runs."""

    def __init__(
        self,
        host: str,
        port: int,
        devices: Iterable[Z2mDevice] = (),
        *,
        base_topic: str = "zigbee2mqtt",
        clock: Clock | None = None,
        legacy: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.devices = {device.friendly_name: device for device in devices}
        self.base = base_topic
        self.clock = clock or SystemClock()
        self.legacy = legacy
        self.unknown: list[str] = []  # /set and /get requests for devices the bridge does not know
        self._client: aiomqtt.Client | None = None
        self._unplugged = False

    def _word(self, online: bool) -> bytes:
        word = "online" if online else "offline"
        return word.encode() if self.legacy else json.dumps({"state": word}).encode()

    # --- running --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Come online, publish the network, answer requests and report states until cancelled."""
        will = aiomqtt.Will(f"{self.base}/bridge/state", self._word(False), qos=1, retain=True)
        self._unplugged = False
        try:
            async with SimClient(self.host, self.port, identifier=f"sim-z2m-{self.base}", will=will) as client:
                self._client = client
                await client.subscribe(f"{self.base}/#", qos=1)
                await client.publish(f"{self.base}/bridge/state", self._word(True), qos=1, retain=True)
                await client.publish(f"{self.base}/bridge/info", json.dumps(self.info()), qos=1, retain=True)
                await self.publish_devices()
                async with asyncio.TaskGroup() as group:
                    for device in self.devices.values():
                        group.create_task(self._report(device))
                    async for message in client.messages:
                        await self._on_message(message)
        except* aiomqtt.MqttError:
            if not self._unplugged:
                raise
        finally:
            self._client = None

    def info(self) -> dict[str, Any]:
        """The `bridge/info` payload (the fields a client looks at)."""
        return {
            "version": "2.1.3",
            "commit": "sim",
            "coordinator": {"ieee_address": _COORDINATOR["ieee_address"], "type": "zStack3x0", "meta": {}},
            "network": {"channel": 11, "pan_id": 6754, "extended_pan_id": "0xdddddddddddddddd"},
            "log_level": "info",
            "permit_join": False,
            "restart_required": False,
        }

    def pull_plug(self) -> None:
        """The bridge's computer loses power: the broker publishes the bridge's last will (offline)."""
        if self._client is not None:
            self._unplugged = True
            pull_plug(self._client)

    async def _report(self, device: Z2mDevice) -> None:
        await self._publish(f"{device.friendly_name}/availability", self._word(True), retain=True)
        while True:
            await self.publish_state(device.friendly_name)
            await device.clock.sleep(device.interval)

    # --- changes from outside (what happens on the Zigbee side) -----------------------------------
    async def publish_devices(self) -> None:
        """Publish `bridge/devices` (retained) as it is now."""
        entries = [_COORDINATOR, *(device.entry() for device in self.devices.values())]
        await self._publish("bridge/devices", json.dumps(entries).encode(), retain=True)

    async def publish_state(self, friendly_name: str) -> None:
        """Publish a device's state now."""
        await self._publish(friendly_name, json.dumps(self.devices[friendly_name].reading()).encode())

    async def set_online(self, friendly_name: str, online: bool) -> None:
        """A device stops (or starts again) answering: its availability changes."""
        await self._publish(f"{friendly_name}/availability", self._word(online), retain=True)

    async def join(self, device: Z2mDevice) -> None:
        """A new device joins the network."""
        self.devices[device.friendly_name] = device
        await self.publish_devices()
        await self._publish(f"{device.friendly_name}/availability", self._word(True), retain=True)
        await self.publish_state(device.friendly_name)

    async def leave(self, friendly_name: str) -> None:
        """A device leaves the network (removed, or reset)."""
        del self.devices[friendly_name]
        await self._publish(f"{friendly_name}/availability", b"", retain=True)
        await self.publish_devices()

    async def _publish(self, subtopic: str, payload: bytes, *, retain: bool = False) -> None:
        if self._client is not None:
            await self._client.publish(f"{self.base}/{subtopic}", payload, qos=1, retain=retain)

    # --- requests -------------------------------------------------------------------------------
    async def _on_message(self, message: aiomqtt.Message) -> None:
        path = message.topic.value.removeprefix(self.base + "/")
        raw = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
        name, _, rest = path.rpartition("/set") if "/set" in path else ("", "", "")
        if name and (rest == "" or rest.startswith("/")):
            body = _body(raw) if rest == "" else {rest[1:]: raw.decode(errors="replace")}
            await self._on_set(name, body)
        elif path.endswith("/get"):
            await self._on_get(path.removesuffix("/get"))

    async def _on_set(self, name: str, body: dict[str, Any] | None) -> None:
        device = self.devices.get(name)
        if device is None:
            self.unknown.append(name)
            return
        if body is not None and device.apply(body):
            await self.publish_state(name)

    async def _on_get(self, name: str) -> None:
        if name in self.devices:
            await self.publish_state(name)
        else:
            self.unknown.append(name)


def _body(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # Zigbee2MQTT logs "Invalid JSON" and does nothing
    return body if isinstance(body, dict) else None
