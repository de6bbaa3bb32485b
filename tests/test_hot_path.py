"""What the benchmark's optimisations of the hot path must keep true: a flood of messages in and
out of the shared MQTT connection arrives whole and in order (the connection reads many packets
per wake-up and sends what one loop turn queued in one corked flush), and templates still see the
environment's globals (they are flattened once per template)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt

from devices.mqtt.connection import MqttConnection
from hub.clock import SystemClock
from hub.config import MqttSettings
from hub.counters import Counters
from hub.template import Template
from tests.broker import Mosquitto
from tests.conftest import eventually

FLOOD = 2000


async def test_a_flood_in_and_out_arrives_whole_and_in_order(
    mosquitto: Mosquitto, probe: aiomqtt.Client, prefix: str, tmp_path: Path
) -> None:
    settings = MqttSettings(host=mosquitto.host, port=mosquitto.port, client_id=f"{prefix}-flood", base_topic=prefix)
    received: list[bytes] = []
    async with MqttConnection(settings, clock=SystemClock(), counters=Counters()) as mqtt, asyncio.TaskGroup() as tg:
        runner = tg.create_task(mqtt.run())
        await mqtt.subscribe(f"{prefix}/in", lambda message: received.append(message.payload), qos=0)
        await asyncio.wait_for(mqtt.wait_connected(), 5)
        await probe.subscribe(f"{prefix}/out")
        # In: the probe sends the flood as fast as it can; the hub must see every message, in order.
        for n in range(FLOOD):
            await probe.publish(f"{prefix}/in", str(n).encode())
        await eventually(lambda: len(received) == FLOOD)
        assert received == [str(n).encode() for n in range(FLOOD)]
        # Out: the hub queues the whole flood in one loop turn; the probe must get all of it, in order.
        for n in range(FLOOD):
            await mqtt.publish(f"{prefix}/out", str(n).encode())
        got: list[bytes] = []

        async def collect() -> None:
            async for message in probe.messages:
                got.append(bytes(message.payload))  # type: ignore[arg-type]
                if len(got) == FLOOD:
                    return

        await asyncio.wait_for(collect(), 10)
        assert got == [str(n).encode() for n in range(FLOOD)]
        runner.cancel()


def test_templates_see_the_environment_globals_and_their_variables() -> None:
    template = Template("{{ float(x) + int('2') }} {{ range(3) | list }} {{ [1, 2] | to_json }}")
    assert template.render({"x": "1.5"}) == "3.5 [0, 1, 2] [1,2]"
    assert template.render({"x": "2"}) == "4.0 [0, 1, 2] [1,2]"
