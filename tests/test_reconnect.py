"""The broker goes away and comes back: the hub reconnects, resubscribes and keeps working."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt

from hub.supervisor import Hub
from tests.broker import Mosquitto
from tests.conftest import eventually, next_message
from tests.hubs import make_config

DEVICES = """devices:
  - type: mqtt
    name: workshop
    entities:
      - id: switch.light
        state_topic: stat/light/POWER
        command_topic: cmnd/light/POWER
"""


async def test_hub_reconnects_and_resubscribes_after_broker_restart(tmp_path: Path, own_mosquitto: Mosquitto) -> None:
    broker = own_mosquitto
    async with Hub(make_config(tmp_path, broker, DEVICES)) as hub:
        assert hub.mqtt is not None
        await asyncio.wait_for(hub.mqtt.wait_connected(), 5)

        broker.restart()  # SIGKILL, then a fresh broker on the same port with no memory of us
        await eventually(lambda: hub.counters.get("mqtt.disconnects") >= 1)
        await asyncio.wait_for(hub.mqtt.wait_connected(), 10)

        async with aiomqtt.Client(broker.host, broker.port) as device:
            # Subscriptions were restored: a state update reaches the entity.
            await device.publish("stat/light/POWER", "ON")
            await eventually(lambda: hub.state("switch.light").value == "on")  # type: ignore[union-attr]
            # Commands flow out again and are confirmed.
            await device.subscribe("cmnd/light/POWER")
            command = asyncio.create_task(hub.command("switch.light", "turn_off"))
            assert (await next_message(device, "cmnd/light/POWER")).payload == b"OFF"
            await device.publish("stat/light/POWER", "OFF")
            assert (await asyncio.wait_for(command, 5)).value == "off"
            # The birth message and the retained states were published again on the new broker.
            await device.subscribe("hausmeister/status")
            assert (await next_message(device, "hausmeister/status")).payload == b"online"
            await device.subscribe("hausmeister/state/switch.light")
            assert b'"state":"off"' in (await next_message(device, "hausmeister/state/switch.light")).payload  # type: ignore[operator]
