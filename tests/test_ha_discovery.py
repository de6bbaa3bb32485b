"""Home Assistant MQTT discovery, consumed: entities appear, follow their topics, take commands and go.

Every test runs a hub against the real Mosquitto; the configs are the examples of Home Assistant's
own documentation (tests/protocol_payloads.py), published the way devices publish them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest

from hub.errors import CommandError
from hub.supervisor import Hub
from tests import protocol_payloads as doc
from tests.broker import Mosquitto
from tests.conftest import eventually
from tests.mqtt_hub import running_hub

ROOTS = ("homeassistant", "sensorBedroom", "lawn_mower_plus", "heater")


def _driver(prefix: str, extra: str = "") -> str:
    return f"""
    - type: ha_discovery
      name: discovered
      prefix: {prefix}/homeassistant
    {extra}"""


@asynccontextmanager
async def discovery_hub(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, extra: str = "", devices: str = ""
) -> AsyncIterator[Hub]:
    async with running_hub(mosquitto, tmp_path, prefix, _driver(prefix, extra) + devices) as hub:
        yield hub


async def publish(
    client: aiomqtt.Client, prefix: str, topic: str, payload: str | bytes, *, retain: bool = True
) -> None:
    """Publish as a device would, with topic and payload moved under this test's prefix."""
    if isinstance(payload, str):
        payload = doc.localize(payload, prefix, *ROOTS)
    await client.publish(doc.localize(f'"{topic}', prefix, *ROOTS)[1:], payload, qos=1, retain=retain)


async def discovered(hub: Hub, entity_id: str) -> None:
    """Wait until the entity exists and every announcement so far is applied (its topics subscribed)."""
    counters = hub.counters
    await eventually(
        lambda: (
            hub.store.spec(entity_id) is not None
            and counters.get("ha_discovery.applied") == counters.get("ha_discovery.queued")
        )
    )


def value(hub: Hub, entity_id: str) -> object:
    state = hub.store.get(entity_id)
    return None if state is None else state.value


@asynccontextmanager
async def answering(
    mosquitto: Mosquitto, command_topic: str, answer: Callable[[bytes], tuple[str, bytes] | None]
) -> AsyncIterator[list[bytes]]:
    """A device that answers each command on `command_topic` with `answer(payload)` → (topic, payload)."""
    received: list[bytes] = []
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"dev-{command_topic}") as client:
        await client.subscribe(command_topic, qos=1)

        async def serve() -> None:
            async for message in client.messages:
                payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
                received.append(payload)
                reply = answer(payload)
                if reply is not None:
                    await client.publish(reply[0], reply[1], qos=1)

        task = asyncio.create_task(serve())
        try:
            yield received
        finally:
            task.cancel()


async def test_documented_switch_appears_reports_and_obeys(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, doc.HA_SWITCH_IRRIGATION_TOPIC, doc.HA_SWITCH_IRRIGATION)
        await discovered(hub, "switch.garden_irrigation")
        assert hub.store.spec("switch.garden_irrigation").display_name == "Garden Irrigation"  # type: ignore[union-attr]

        state_topic = f"{prefix}/homeassistant/switch/irrigation/state"
        await probe.publish(state_topic, "ON")
        await eventually(lambda: value(hub, "switch.garden_irrigation") == "on")

        set_topic = f"{prefix}/homeassistant/switch/irrigation/set"
        async with answering(mosquitto, set_topic, lambda p: (state_topic, p)) as received:
            state = await hub.command("switch.garden_irrigation", "turn_off")
            assert state.value == "off"
            assert received == [b"OFF"]


async def test_abbreviations_and_topic_base_are_expanded(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, doc.HA_SWITCH_IRRIGATION_TOPIC, doc.HA_SWITCH_ABBREVIATED)
        await discovered(hub, "switch.garden")
        base = f"{prefix}/homeassistant/switch/irrigation"
        async with answering(mosquitto, f"{base}/set", lambda p: (f"{base}/state", p)) as received:
            assert (await hub.command("switch.garden", "turn_on")).value == "on"
            assert (await hub.command("switch.garden", "toggle")).value == "off"
        assert received == [b"ON", b"OFF"]


async def test_sensors_share_a_state_topic_and_a_device_named_once(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, doc.HA_BEDROOM_T_TOPIC, doc.HA_BEDROOM_T)
        await publish(probe, prefix, doc.HA_BEDROOM_H_TOPIC, doc.HA_BEDROOM_H)
        await discovered(hub, "sensor.bedroom_humidity")
        temperature = hub.store.spec("sensor.bedroom_temperature")
        assert temperature is not None
        assert (temperature.unit, temperature.device_class) == ("°C", "temperature")

        await publish(probe, prefix, "homeassistant/sensor/sensorBedroom/state", doc.HA_BEDROOM_STATE, retain=False)
        await eventually(lambda: value(hub, "sensor.bedroom_humidity") == 43.7)
        assert value(hub, "sensor.bedroom_temperature") == 23.2


async def test_device_based_config_adds_updates_and_removes_components(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, doc.HA_DEVICE_TOPIC, doc.HA_DEVICE)
        await discovered(hub, "sensor.kitchen_humidity")
        await publish(probe, prefix, "sensorBedroom/state", doc.HA_BEDROOM_STATE, retain=False)
        await eventually(lambda: value(hub, "sensor.kitchen_temperature") == 23.2)
        assert value(hub, "sensor.kitchen_humidity") == 43.7

        # Home Assistant's documented way to remove one component: send it with only its platform.
        await publish(probe, prefix, doc.HA_DEVICE_TOPIC, doc.HA_DEVICE_REMOVE_HUMIDITY)
        await eventually(lambda: hub.store.spec("sensor.kitchen_humidity") is None)
        assert hub.store.spec("sensor.kitchen_temperature") is not None

        # An empty retained payload removes the whole device, without a restart.
        await publish(probe, prefix, doc.HA_DEVICE_TOPIC, b"")
        await eventually(lambda: hub.store.spec("sensor.kitchen_temperature") is None)


async def test_json_light_is_a_switch(mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, doc.HA_KITCHEN_LIGHT_TOPIC, doc.HA_KITCHEN_LIGHT)
        await discovered(hub, "switch.kitchen")
        base = f"{prefix}/homeassistant/light/kitchen"
        await probe.publish(f"{base}/state", doc.HA_KITCHEN_LIGHT_STATE)
        await eventually(lambda: value(hub, "switch.kitchen") == "on")

        def device(payload: bytes) -> tuple[str, bytes]:
            return f"{base}/state", json.dumps({"state": json.loads(payload)["state"], "brightness": 0}).encode()

        async with answering(mosquitto, f"{base}/set", device) as received:
            assert (await hub.command("switch.kitchen", "turn_off")).value == "off"
        assert json.loads(received[0]) == {"state": "OFF"}


async def test_object_id_and_config_override_choose_the_entity_id(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    extra = "  entity_id_for:\n        irr01ad: switch.beds_water"
    async with discovery_hub(mosquitto, tmp_path, prefix, extra) as hub:
        await publish(probe, prefix, doc.HA_OBJECT_ID_TOPIC, doc.HA_OBJECT_ID)
        await publish(probe, prefix, doc.HA_SWITCH_IRRIGATION_TOPIC, doc.HA_SWITCH_IRRIGATION)
        await publish(probe, prefix, doc.HA_MOTION_TOPIC, doc.HA_MOTION)
        await discovered(hub, "switch.beds_water")
        await discovered(hub, "sensor.my_super_device")
        # "name": null means "the device's name": the motion sensor is just "Garden".
        await discovered(hub, "binary_sensor.garden")
        await probe.publish(f"{prefix}/homeassistant/binary_sensor/garden/state", "ON")
        await eventually(lambda: value(hub, "binary_sensor.garden") == "on")


async def test_same_derived_id_gets_a_number(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, "homeassistant/sensor/a/config", '{"name": "Soil", "state_topic": "x/a"}')
        await publish(probe, prefix, "homeassistant/sensor/b/config", '{"name": "Soil", "state_topic": "x/b"}')
        await discovered(hub, "sensor.soil_2")
        assert hub.store.spec("sensor.soil") is not None


async def test_documented_lawn_mower_reports_activity_and_docks(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, doc.HA_MOWER_TOPIC, doc.HA_MOWER)
        await discovered(hub, "lawn_mower.lawn_mower_plus")
        base = f"{prefix}/lawn_mower_plus"
        await probe.publish(f"{base}/state", '{"activity": "mowing"}')
        await eventually(lambda: value(hub, "lawn_mower.lawn_mower_plus") == "mowing")

        def mower(payload: bytes) -> tuple[str, bytes]:
            wanted = json.loads(payload)["activity"]
            return f"{base}/state", json.dumps({"activity": {"dock": "returning"}.get(wanted, wanted)}).encode()

        async with answering(mosquitto, f"{base}/set", mower) as received:
            assert (await hub.command("lawn_mower.lawn_mower_plus", "dock")).value == "returning"
        assert json.loads(received[0]) == {"activity": "dock"}


async def test_documented_valve_by_state_and_by_position(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, doc.HA_VALVE_TOPIC, doc.HA_VALVE)
        await discovered(hub, "valve.heater")
        state_topic, set_topic = f"{prefix}/heater/valve/state", f"{prefix}/heater/valve/set"
        await probe.publish(state_topic, doc.HA_VALVE_POSITION_STATE)
        await eventually(lambda: value(hub, "valve.heater") == "opening")
        assert hub.store.get("valve.heater").attributes["position"] == 10  # type: ignore[union-attr]

        async with answering(mosquitto, set_topic, lambda p: (state_topic, b"open" if p == b"OPEN" else b"closed")):
            assert (await hub.command("valve.heater", "close")).value == "closed"
            assert (await hub.command("valve.heater", "open")).value == "open"
            with pytest.raises(CommandError, match="set time"):
                await hub.command("valve.heater", "open", duration=60)


async def test_availability_topic_and_list_modes(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    single = {
        "name": "Plug",
        "state_topic": "x/plug",
        "avty_t": "x/plug/LWT",
        "pl_avail": "Online",
        "pl_not_avail": "Offline",
    }
    every = {
        "name": "Both",
        "state_topic": "x/both",
        "availability": [{"topic": "x/bridge"}, {"t": "x/dev", "val_tpl": "{{ value_json.state }}"}],
        "availability_mode": "all",
    }
    either = {**every, "name": "Either", "availability_mode": "any"}
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        for key, config in (("plug", single), ("both", every), ("either", either)):
            await publish(
                probe,
                prefix,
                f"homeassistant/sensor/{key}/config",
                json.dumps(config).replace('"x/', '"homeassistant/x/'),
            )
        await eventually(lambda: all(hub.store.spec(f"sensor.{n}") for n in ("plug", "both", "either")))
        assert not any(hub.store.get(f"sensor.{n}").available for n in ("plug", "both", "either"))  # type: ignore[union-attr]

        def available(name: str) -> bool:
            state = hub.store.get(f"sensor.{name}")
            return state is not None and state.available

        x = f"{prefix}/homeassistant/x"
        await probe.publish(f"{x}/plug/LWT", "Online")
        await probe.publish(f"{x}/dev", '{"state":"online"}')
        await eventually(lambda: available("plug") and available("either"))
        assert not available("both")  # 'all' still waits for the bridge
        await probe.publish(f"{x}/bridge", "online")
        await eventually(lambda: available("both"))
        await probe.publish(f"{x}/bridge", "offline")
        await probe.publish(f"{x}/plug/LWT", "Offline")
        await eventually(lambda: not available("both") and not available("plug"))
        assert available("either")  # 'any': the device topic still says online


async def test_unavailable_switch_refuses_commands(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    config = '{"name": "Pump", "cmd_t": "homeassistant/x/set", "avty_t": "homeassistant/x/avail"}'
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, "homeassistant/switch/pump/config", config)
        await discovered(hub, "switch.pump")
        with pytest.raises(CommandError, match="unavailable"):
            await hub.command("switch.pump", "turn_on")
        await probe.publish(f"{prefix}/homeassistant/x/avail", "online")
        await eventually(lambda: hub.store.get("switch.pump").available)  # type: ignore[union-attr]
        # Without a state topic the switch is optimistic: the command's result is its state.
        assert (await hub.command("switch.pump", "turn_on")).value == "on"


async def test_config_update_moves_the_entity_to_its_new_topic(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        topic = "homeassistant/sensor/soil/config"
        await publish(probe, prefix, topic, '{"name": "Soil", "state_topic": "homeassistant/old", "unit_of_meas": "%"}')
        await discovered(hub, "sensor.soil")
        await probe.publish(f"{prefix}/homeassistant/old", "40")
        await eventually(lambda: value(hub, "sensor.soil") == 40)

        await publish(probe, prefix, topic, '{"name": "Soil", "state_topic": "homeassistant/new", "unit_of_meas": "%"}')
        # Retained, as the subscription to the new topic starts only once the update is applied.
        await probe.publish(f"{prefix}/homeassistant/new", "35", retain=True)
        await eventually(lambda: value(hub, "sensor.soil") == 35)
        await probe.publish(f"{prefix}/homeassistant/old", "99")
        await probe.publish(f"{prefix}/homeassistant/new", "33")
        await eventually(lambda: value(hub, "sensor.soil") == 33)  # the old topic was not listened to


async def test_bad_configs_and_payloads_are_counted_and_the_hub_carries_on(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client, caplog: pytest.LogCaptureFixture
) -> None:
    bad_configs = {
        "homeassistant/sensor/notjson/config": "{nope",
        "homeassistant/sensor/array/config": "[1, 2]",
        "homeassistant/switch/nocommand/config": '{"name": "No command", "state_topic": "a/b"}',
        "homeassistant/sensor/wrongtype/config": '{"state_topic": "a/b", "qos": "high"}',
        "homeassistant/frobnicator/thing/config": '{"state_topic": "a/b"}',
        "homeassistant/device/nocmps/config": '{"dev": {"ids": "x"}, "o": {"name": "y"}}',
    }
    caplog.set_level(logging.INFO)
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        for topic, payload in bad_configs.items():
            await publish(probe, prefix, topic, payload)
        await publish(probe, prefix, "homeassistant/climate/thermostat/config", '{"mode_cmd_t": "a/b"}')
        await publish(
            probe,
            prefix,
            "homeassistant/sensor/typo/config",
            '{"stat_t": "homeassistant/t", "unit_of_meas": "°C", "colour": "red"}',
        )
        await discovered(hub, "sensor.typo")
        await eventually(lambda: hub.counters.get("ha_discovery.bad_config") == len(bad_configs))
        assert hub.counters.get("ha_discovery.unsupported") == 1
        assert hub.counters.get("ha_discovery.unknown_keys") == 1
        warnings = [r for r in caplog.records if r.name == "devices.discovery.driver" and r.levelno == logging.WARNING]
        assert len(warnings) == len(bad_configs)  # one line per bad config
        assert "'command_topic' is missing" in caplog.text
        assert "'frobnicator' is not a Home Assistant component" in caplog.text

        # Bad payloads on the entity's own topics: counted, logged once each, nothing else changes.
        before = hub.counters.get("mqtt.bad_payload")
        await probe.publish(f"{prefix}/homeassistant/t", "hot")
        await probe.publish(f"{prefix}/homeassistant/t", "21.5")
        await eventually(lambda: value(hub, "sensor.typo") == 21.5)
        assert hub.counters.get("mqtt.bad_payload") == before + 1

        # The hub still discovers and serves what is good.
        await publish(probe, prefix, doc.HA_SWITCH_IRRIGATION_TOPIC, doc.HA_SWITCH_IRRIGATION)
        await discovered(hub, "switch.garden_irrigation")


async def test_a_bad_update_keeps_the_entity_as_it_was(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        await publish(probe, prefix, doc.HA_SWITCH_IRRIGATION_TOPIC, doc.HA_SWITCH_IRRIGATION)
        await discovered(hub, "switch.garden_irrigation")
        await publish(probe, prefix, doc.HA_SWITCH_IRRIGATION_TOPIC, '{"name": "Irrigation"}')
        await eventually(lambda: hub.counters.get("ha_discovery.bad_config") == 1)
        await probe.publish(f"{prefix}/homeassistant/switch/irrigation/state", "ON")
        await eventually(lambda: value(hub, "switch.garden_irrigation") == "on")


async def test_bad_payloads_on_every_entity_topic_are_counted(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    h = "homeassistant/x"
    configs = {
        "switch/s": {"name": "S", "cmd_t": f"{h}/s/set", "stat_t": f"{h}/s"},
        "binary_sensor/b": {"name": "B", "stat_t": f"{h}/b"},
        "light/l": {"name": "L", "schema": "json", "cmd_t": f"{h}/l/set", "stat_t": f"{h}/l"},
        "valve/v": {"name": "V", "cmd_t": f"{h}/v/set", "stat_t": f"{h}/v"},
        "lawn_mower/m": {"name": "M", "activity_state_topic": f"{h}/m"},
        "sensor/t": {
            "name": "T",
            "stat_t": f"{h}/t",
            "val_tpl": "{{ value_json.t }}",
            "json_attr_t": f"{h}/t/attr",
            "avty_t": f"{h}/t/avail",
        },
    }
    bad = [
        ("s", "MAYBE"),
        ("b", "1"),
        ("l", "not json"),
        ("l", "[1]"),
        ("l", '{"state": 1}'),
        ("v", "ajar"),
        ("v", '{"position": "half"}'),
        ("m", "sleeping"),
        ("t", "21"),  # not JSON, but the template reads value_json
        ("t", '{"temp": 21}'),  # JSON without the key the template reads
        ("t/attr", "not json"),
        ("t/attr", "[1, 2]"),
        ("t/avail", "dunno"),
    ]
    async with discovery_hub(mosquitto, tmp_path, prefix) as hub:
        for key, config in configs.items():
            await publish(probe, prefix, f"homeassistant/{key}/config", json.dumps(config))
        names = ("switch.s", "binary_sensor.b", "switch.l", "valve.v", "lawn_mower.m", "sensor.t")
        await eventually(lambda: all(hub.store.spec(n) is not None for n in names))
        for topic, payload in bad:
            await probe.publish(f"{prefix}/{h}/{topic}", payload, qos=1)
        await eventually(lambda: hub.counters.get("mqtt.bad_payload") == len(bad))

        good = [("s", "ON"), ("b", "OFF"), ("l", '{"state": "OFF"}'), ("v", "closed"), ("m", "docked")]
        good += [("t", '{"t": 7}'), ("t/attr", '{"battery": 90}'), ("t/avail", "online")]
        for topic, payload in good:
            await probe.publish(f"{prefix}/{h}/{topic}", payload, qos=1)
        await eventually(lambda: hub.store.get("sensor.t").available)  # type: ignore[union-attr]
        assert [value(hub, n) for n in names] == ["on", "off", "off", "closed", "docked", 7]
        assert hub.store.get("sensor.t").attributes == {"battery": 90}  # type: ignore[union-attr]
        assert hub.counters.get("mqtt.bad_payload") == len(bad)
