"""Zigbee2MQTT: entities from `bridge/devices`, JSON states, `/set` commands, availability, through the broker.

Most tests run the simulated bridge (devices/sim/z2m_bridge.py) with a soil sensor, rain sensors and
a plug; the documented payloads (tests/protocol_payloads.py) are also published as Zigbee2MQTT would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from devices.sim.z2m_bridge import Z2mBridge
from devices.sim.z2m_sensor import Z2mRainSensor, Z2mSensor, Z2mSoilSensor, Z2mSwitch
from hub.supervisor import Hub
from tests import protocol_payloads as doc
from tests.broker import Mosquitto
from tests.conftest import eventually, next_message
from tests.mqtt_hub import running_hub


def value(hub: Hub, entity_id: str) -> object:
    state = hub.store.get(entity_id)
    return None if state is None else state.value


def available(hub: Hub, entity_id: str) -> bool:
    state = hub.store.get(entity_id)
    return state is not None and state.available


def _driver(prefix: str, extra: str = "") -> str:
    return f"""
    - type: zigbee2mqtt
      name: zigbee
      base_topic: {prefix}/z2m
      entity_id_for:
        rain_gauge: {{rain: binary_sensor.rain}}
    {extra}"""


@asynccontextmanager
async def bridge_running(bridge: Z2mBridge) -> AsyncIterator[Z2mBridge]:
    task = asyncio.create_task(bridge.run())
    try:
        yield bridge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def reported(bridge: Z2mBridge, friendly_name: str, check: Callable[[], bool]) -> None:
    """Wait until `check()` holds, the device reporting again meanwhile: its state messages are not
    retained, and the hub subscribes to a device only once `bridge/devices` has named it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not check():
        assert loop.time() < deadline, f"the hub never followed '{friendly_name}'"
        await bridge.publish_state(friendly_name)
        await asyncio.sleep(0.02)


def garden(mosquitto: Mosquitto, prefix: str, *, legacy: bool = False) -> Z2mBridge:
    devices = [
        Z2mSoilSensor("bed1_soil", soil_moisture=31.5),
        Z2mRainSensor("rain_gauge"),
        Z2mRainSensor("shed/leak", detector="water_leak"),
        Z2mSwitch("pond_pump", load_watts=45),
        Z2mSensor("workshop_climate", temperature=20.0),
    ]
    return Z2mBridge(mosquitto.host, mosquitto.port, devices, base_topic=f"{prefix}/z2m", legacy=legacy)


async def test_bridge_devices_become_entities_that_follow_their_state(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str
) -> None:
    bridge = garden(mosquitto, prefix)
    async with running_hub(mosquitto, tmp_path, prefix, _driver(prefix)) as hub, bridge_running(bridge):
        await reported(bridge, "bed1_soil", lambda: value(hub, "sensor.bed1_soil_soil_moisture") == 31.5)
        soil = hub.store.spec("sensor.bed1_soil_soil_moisture")
        assert soil is not None and (soil.unit, soil.device_class) == ("%", "moisture")
        assert soil.display_name == "bed1 soil soil moisture"
        await reported(bridge, "workshop_climate", lambda: value(hub, "sensor.workshop_climate_humidity") is not None)
        assert value(hub, "sensor.bed1_soil_battery") == 87
        assert hub.store.spec("sensor.bed1_soil_humidity") is None  # a soil sensor has no air humidity
        await reported(
            bridge, "rain_gauge", lambda: value(hub, "binary_sensor.rain") == "off"
        )  # named in entity_id_for
        await reported(bridge, "shed/leak", lambda: value(hub, "binary_sensor.shed_leak_water_leak") == "off")
        assert hub.store.get("sensor.bed1_soil_temperature").attributes["linkquality"] == 120  # type: ignore[union-attr]

        rain = bridge.devices["rain_gauge"]
        assert isinstance(rain, Z2mRainSensor)
        rain.raining = True
        await bridge.publish_state("rain_gauge")
        await eventually(lambda: value(hub, "binary_sensor.rain") == "on")


async def test_switch_commands_are_confirmed_by_the_device(mosquitto: Mosquitto, tmp_path: Path, prefix: str) -> None:
    bridge = garden(mosquitto, prefix)
    async with running_hub(mosquitto, tmp_path, prefix, _driver(prefix)) as hub, bridge_running(bridge):
        await eventually(lambda: value(hub, "switch.pond_pump") == "off")
        assert (await hub.command("switch.pond_pump", "turn_on")).value == "on"
        await eventually(lambda: value(hub, "sensor.pond_pump_power") == 45)
        assert (await hub.command("switch.pond_pump", "toggle")).value == "off"
        pump = bridge.devices["pond_pump"]
        assert pump.received[-2:] == [{"state": "ON"}, {"state": "TOGGLE"}]


@pytest.mark.parametrize("legacy", [False, True], ids=["json-availability", "legacy-plain-availability"])
async def test_availability_follows_device_and_bridge(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, legacy: bool
) -> None:
    bridge = garden(mosquitto, prefix, legacy=legacy)
    async with running_hub(mosquitto, tmp_path, prefix, _driver(prefix)) as hub:
        async with bridge_running(bridge):
            await eventually(lambda: available(hub, "binary_sensor.rain") and available(hub, "switch.pond_pump"))
            await bridge.set_online("rain_gauge", False)
            await eventually(lambda: not available(hub, "binary_sensor.rain"))
            assert available(hub, "switch.pond_pump")
            await bridge.set_online("rain_gauge", True)
            await eventually(lambda: available(hub, "binary_sensor.rain"))

            bridge.pull_plug()  # the bridge's computer loses power: the broker sends its will
            await eventually(
                lambda: not available(hub, "switch.pond_pump") and not available(hub, "binary_sensor.rain")
            )
        async with bridge_running(bridge):
            await eventually(lambda: available(hub, "switch.pond_pump"))


async def test_devices_join_and_leave_without_a_restart(mosquitto: Mosquitto, tmp_path: Path, prefix: str) -> None:
    bridge = garden(mosquitto, prefix)
    async with running_hub(mosquitto, tmp_path, prefix, _driver(prefix)) as hub, bridge_running(bridge):
        await eventually(lambda: hub.store.spec("switch.pond_pump") is not None)
        await bridge.join(Z2mSoilSensor("bed2_soil", soil_moisture=44.0))
        await reported(bridge, "bed2_soil", lambda: value(hub, "sensor.bed2_soil_soil_moisture") == 44.0)
        await bridge.leave("pond_pump")
        await eventually(lambda: hub.store.spec("switch.pond_pump") is None)
        assert hub.store.spec("sensor.pond_pump_power") is None
        assert value(hub, "sensor.bed2_soil_soil_moisture") == 44.0


def _documented_network() -> list[dict[str, Any]]:
    sensor = {
        **doc.Z2M_UNSUPPORTED_DEVICE,
        "ieee_address": "0x00158d0001dc126a",
        "friendly_name": "garden/bed1",
        "supported": True,
        "definition": {
            "model": "TS0601_soil",
            "vendor": "Tuya",
            "description": "Soil sensor",
            "options": [],
            "exposes": [
                doc.Z2M_TEMPERATURE_EXPOSE,
                doc.Z2M_SOIL_MOISTURE_EXPOSE,
                doc.Z2M_BATTERY_EXPOSE,
                doc.Z2M_CONTACT_EXPOSE,
                doc.Z2M_WATER_LEAK_EXPOSE,
                doc.Z2M_RAIN_EXPOSE,
            ],
        },
    }
    return [doc.Z2M_PLUG_DEVICE, doc.Z2M_UNSUPPORTED_DEVICE, doc.Z2M_COORDINATOR, sensor]


async def _documented_bridge(probe: aiomqtt.Client, base: str) -> None:
    await probe.publish(f"{base}/bridge/state", doc.Z2M_AVAILABILITY_ONLINE, qos=1, retain=True)
    await probe.publish(f"{base}/bridge/devices", json.dumps(_documented_network()), qos=1, retain=True)


async def test_documented_payloads(mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client) -> None:
    base = f"{prefix}/z2m"
    async with running_hub(mosquitto, tmp_path, prefix, _driver(prefix)) as hub:
        await _documented_bridge(probe, base)
        await eventually(lambda: hub.store.spec("binary_sensor.garden_bed1_rain") is not None)
        assert hub.store.spec("switch.my_plug") is not None
        assert not any(e.startswith(("sensor.my_sensor", "sensor.coordinator")) for e in hub.store.specs)

        await probe.publish(f"{base}/garden/bed1", json.dumps({"temperature": 27.34, "contact": False, "rain": True}))
        await eventually(lambda: value(hub, "sensor.garden_bed1_temperature") == 27.34)
        assert value(hub, "binary_sensor.garden_bed1_contact") == "on"  # contact false = open = on
        assert value(hub, "binary_sensor.garden_bed1_rain") == "on"
        door = hub.store.spec("binary_sensor.garden_bed1_contact")
        assert door is not None and door.device_class == "door"

        # The plug has no state yet; the hub sends the documented /set payload and waits for the state.
        await probe.subscribe(f"{base}/my_plug/set", qos=1)
        command = asyncio.create_task(hub.command("switch.my_plug", "turn_on"))
        message = await next_message(probe, f"{base}/my_plug/set")
        assert json.loads(message.payload) == json.loads(doc.Z2M_SET_ON)  # type: ignore[arg-type]
        await probe.publish(f"{base}/my_plug", '{"state":"ON","linkquality":120}')
        assert (await command).value == "on"


async def test_bad_input_on_every_topic_is_counted_and_harmless(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client, caplog: pytest.LogCaptureFixture
) -> None:
    base = f"{prefix}/z2m"
    network = _documented_network()
    bad = [
        (f"{base}/bridge/state", "maybe"),
        (f"{base}/bridge/state", '{"state": 1}'),
        (f"{base}/bridge/devices", "[{oops"),
        (f"{base}/bridge/devices", '{"devices": []}'),
        (f"{base}/bridge/devices", json.dumps([*network, "not a device", {"type": "EndDevice"}])),
        (f"{base}/garden/bed1", "temperature=12"),
        (f"{base}/garden/bed1", "[12]"),
        (f"{base}/garden/bed1", '{"temperature": "hot", "soil_moisture": 41}'),
        (f"{base}/garden/bed1", '{"rain": 1}'),
        (f"{base}/garden/bed1/availability", '{"state": "sleepy"}'),
    ]
    async with running_hub(mosquitto, tmp_path, prefix, _driver(prefix)) as hub:
        await _documented_bridge(probe, base)
        await eventually(lambda: hub.store.spec("sensor.garden_bed1_soil_moisture") is not None)
        for topic, payload in bad:
            await probe.publish(topic, payload, qos=1)
        await eventually(lambda: hub.counters.get("mqtt.bad_payload") == len(bad))
        ignored = [r for r in caplog.records if r.levelno == logging.WARNING and "Ignored a message" in r.getMessage()]
        assert len(ignored) == len(bad)
        assert "'temperature' is '\"hot\"', not a number" in caplog.text
        # The good half of a half-bad message was taken; the devices are all still there.
        assert value(hub, "sensor.garden_bed1_soil_moisture") == 41
        assert available(hub, "switch.my_plug")

        await probe.publish(f"{base}/garden/bed1", '{"temperature": 12.5}')
        await eventually(lambda: value(hub, "sensor.garden_bed1_temperature") == 12.5)
