"""Home Assistant MQTT discovery, published: the hub announces its entities and Home Assistant can use them.

"Home Assistant" is played by an MQTT client (reading the announcements, sending birth messages and
commands) and, for the round trip, by a second hub that consumes the first hub's announcements.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt

from hub.clock import FakeClock
from hub.template import Template
from tests.broker import Mosquitto
from tests.conftest import eventually, next_message
from tests.mqtt_hub import running_hub


def _hub_a(prefix: str, *, extra: str = "") -> str:
    """A workshop pump (generic MQTT switch) and a thermometer, announced to Home Assistant."""
    return f"""
    - type: mqtt
      name: workshop
      entities:
        - id: switch.pump
          name: Pump
          state_topic: {prefix}/pump/state
          command_topic: {prefix}/pump/set
        - id: sensor.workshop_temperature
          state_topic: {prefix}/thermo
          unit: °C
          device_class: temperature
    - type: ha_discovery
      name: homeassistant
      prefix: {prefix}/homeassistant
      publish: true
      {extra}"""


async def _pump_device(mosquitto: Mosquitto, prefix: str) -> None:
    """The pump: echoes every command payload as its state."""
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"pump-{prefix}") as client:
        await client.subscribe(f"{prefix}/pump/set", qos=1)
        async for message in client.messages:
            await client.publish(f"{prefix}/pump/state", message.payload, qos=1)


async def _configs(client: aiomqtt.Client, wanted: set[str], timeout: float = 5.0) -> dict[str, dict[str, object]]:
    """Read announcements until every topic in `wanted` was seen; topic → parsed config."""
    seen: dict[str, dict[str, object]] = {}

    async def read() -> None:
        async for message in client.messages:
            topic = message.topic.value
            if topic in wanted and isinstance(message.payload, bytes) and message.payload:
                seen[topic] = json.loads(message.payload)
                if wanted <= set(seen):
                    return

    await asyncio.wait_for(read(), timeout)
    return seen


async def test_entities_are_announced_with_the_hub_api_topics(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    root = f"{prefix}/homeassistant"
    switch_topic, sensor_topic = (
        f"{root}/switch/hausmeister/pump/config",
        f"{root}/sensor/hausmeister/workshop_temperature/config",
    )
    await probe.subscribe(f"{root}/+/hausmeister/+/config", qos=1)
    async with running_hub(mosquitto, tmp_path, prefix, _hub_a(prefix)) as hub, asyncio.TaskGroup() as group:
        pump = group.create_task(_pump_device(mosquitto, prefix))
        configs = await _configs(probe, {switch_topic, sensor_topic})
        switch, sensor = configs[switch_topic], configs[sensor_topic]
        base = f"{prefix}/hub"
        assert switch["state_topic"] == f"{base}/state/switch.pump"
        assert switch["command_topic"] == f"{base}/command/switch.pump"
        assert (switch["payload_on"], switch["state_on"]) == ("turn_on", "on")
        assert switch["default_entity_id"] == "switch.pump"
        assert {"topic": f"{base}/status"} in switch["availability"]  # type: ignore[operator]
        assert (sensor["unit_of_measurement"], sensor["device_class"]) == ("°C", "temperature")

        # Home Assistant switches the pump on with the announced payload on the announced topic.
        await probe.subscribe(f"{base}/state/switch.pump", qos=1)
        await probe.publish(str(switch["command_topic"]), str(switch["payload_on"]), qos=1)
        await eventually(lambda: hub.store.get("switch.pump").value == "on")  # type: ignore[union-attr]

        # What Home Assistant reads from the state topic with the announced templates.
        message = await next_message(probe, f"{base}/state/switch.pump")
        while json.loads(message.payload)["state"] != "on":  # type: ignore[arg-type]
            message = await next_message(probe, f"{base}/state/switch.pump")
        text = bytes(message.payload).decode()  # type: ignore[arg-type]
        variables = {"value": text, "value_json": json.loads(text)}
        assert Template(str(switch["value_template"])).render(variables) == switch["state_on"]
        availability = switch["availability"][1]  # type: ignore[index]
        assert Template(availability["value_template"]).render(variables) == "online"
        pump.cancel()


async def test_birth_message_makes_the_hub_announce_again(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    root = f"{prefix}/homeassistant"
    topic = f"{root}/switch/hausmeister/pump/config"
    async with running_hub(mosquitto, tmp_path, prefix, _hub_a(prefix)) as hub:
        await eventually(lambda: hub.counters.get("ha_discovery.announced") >= 2)
        # Home Assistant restarted: it lost the configs it had (here: its subscription sees none yet).
        await probe.subscribe(topic, qos=1)
        await _configs(probe, {topic})  # the retained one
        await probe.publish(f"{root}/status", "online", qos=1)
        assert (await _configs(probe, {topic}))[topic]["name"] == "Pump"
        await eventually(lambda: hub.counters.get("ha_discovery.announced") == 4)  # both entities, twice

        await probe.publish(f"{root}/status", "garbage", qos=1)
        await eventually(lambda: hub.counters.get("mqtt.bad_payload") == 1)


async def test_a_second_hub_uses_the_announced_entities(mosquitto: Mosquitto, tmp_path: Path, prefix: str) -> None:
    consumer = f"""
    - type: ha_discovery
      name: other_hub
      prefix: {prefix}/homeassistant
      node_id: other_hub
    """
    async with (
        running_hub(mosquitto, tmp_path / "a", prefix, _hub_a(prefix)) as hub_a,
        running_hub(mosquitto, tmp_path / "b", f"{prefix}b", consumer) as hub_b,
        asyncio.TaskGroup() as group,
    ):
        pump = group.create_task(_pump_device(mosquitto, prefix))
        await eventually(lambda: hub_b.store.spec("switch.pump") is not None)
        await eventually(lambda: hub_b.store.get("switch.pump").available)  # type: ignore[union-attr]
        state = await hub_b.command("switch.pump", "turn_on")
        assert state.value == "on"
        assert hub_a.store.get("switch.pump").value == "on"  # type: ignore[union-attr]
        await hub_a.command("switch.pump", "turn_off")
        await eventually(lambda: hub_b.store.get("switch.pump").value == "off")  # type: ignore[union-attr]

        spec = hub_b.store.spec("sensor.workshop_temperature")
        assert spec is not None and (spec.unit, spec.device_class) == ("°C", "temperature")
        pump.cancel()


async def test_announcements_follow_entities_that_come_and_go(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    clock = FakeClock()
    root = f"{prefix}/homeassistant"
    extra = "publish_discovered: true\n      node_id: shed"
    device = f"{root}/sensor/rain/config"
    announced = f"{root}/sensor/shed/rain_gauge/config"
    async with running_hub(mosquitto, tmp_path, prefix, _hub_a(prefix, extra=extra), clock=clock) as hub:
        await probe.subscribe(announced, qos=1)
        await probe.publish(
            device, '{"name": "Rain gauge", "stat_t": "x/rain", "unit_of_meas": "mm"}', qos=1, retain=True
        )
        await eventually(lambda: hub.store.spec("sensor.rain_gauge") is not None)
        # Announced at once, without waiting for the periodic check (the fake clock does not move).
        assert (await _configs(probe, {announced}))[announced]["unit_of_measurement"] == "mm"

        await probe.publish(device, b"", qos=1, retain=True)
        await eventually(lambda: hub.store.spec("sensor.rain_gauge") is None)
        message = await next_message(probe, announced)
        assert message.payload == b""
        assert hub.store.spec("sensor.shed_rain_gauge") is None  # its own announcement is never consumed
