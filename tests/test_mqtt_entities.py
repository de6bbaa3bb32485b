"""Generic MQTT entities end to end through a real Mosquitto: state in, commands out and confirmed,
availability, the hub's own MQTT API, and bad input that must not hurt the hub."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from devices.sim.tasmota_plug import TasmotaPlug
from hub.clock import FakeClock
from hub.errors import CommandError, CommandTimeout
from hub.supervisor import Hub
from tests.broker import Mosquitto
from tests.conftest import eventually, next_message
from tests.hubs import make_config


def devices_yaml(p: str) -> str:
    return f"""devices:
  - type: mqtt
    name: workshop
    entities:
      - id: switch.compressor
        state_topic: stat/{p}/POWER
        command_topic: cmnd/{p}/POWER
        availability_topic: tele/{p}/LWT
        payload_available: Online
        payload_not_available: Offline
        command_timeout: 5
      - id: sensor.power
        state_topic: tele/{p}/SENSOR
        json_path: ENERGY.Power
        unit: W
      - id: sensor.temperature
        state_topic: zigbee2mqtt/{p}_climate
        value_template: "{{{{ value_json.temperature | round(1) }}}}"
"""


@pytest.fixture
async def hub(tmp_path: Path, mosquitto: Mosquitto, prefix: str) -> AsyncIterator[Hub]:
    config = make_config(tmp_path, mosquitto, devices_yaml(prefix), base_topic=f"{prefix}hm")
    async with Hub(config) as running:
        assert running.mqtt is not None
        await asyncio.wait_for(running.mqtt.wait_connected(), 5)
        yield running


async def test_device_publishing_state_updates_the_entity(hub: Hub, probe: aiomqtt.Client, prefix: str) -> None:
    await probe.publish(f"stat/{prefix}/POWER", "ON")
    await probe.publish(f"tele/{prefix}/SENSOR", json.dumps({"Time": "2026-11-24T10:00:00", "ENERGY": {"Power": 1150}}))
    await probe.publish(f"zigbee2mqtt/{prefix}_climate", json.dumps({"temperature": 21.37, "humidity": 40}))
    await eventually(lambda: hub.state("sensor.temperature").value is not None)  # type: ignore[union-attr]
    await eventually(lambda: hub.state("sensor.power").value == 1150)  # type: ignore[union-attr]
    assert hub.state("switch.compressor").value == "on"  # type: ignore[union-attr]
    assert hub.state("sensor.temperature").value == 21.4  # type: ignore[union-attr]


async def test_command_resolves_only_when_the_device_confirms(hub: Hub, probe: aiomqtt.Client, prefix: str) -> None:
    await probe.publish(f"tele/{prefix}/LWT", "Online")
    await eventually(lambda: hub.state("switch.compressor").available)  # type: ignore[union-attr]
    await probe.subscribe(f"cmnd/{prefix}/POWER")
    command = asyncio.create_task(hub.command("switch.compressor", "turn_on"))
    received = await next_message(probe, f"cmnd/{prefix}/POWER")
    assert received.payload == b"ON"
    await asyncio.sleep(0.05)  # give a wrong implementation the chance to resolve early
    assert not command.done(), "the command resolved before the device confirmed"
    await probe.publish(f"stat/{prefix}/POWER", "ON")
    state = await asyncio.wait_for(command, 5)
    assert state.value == "on"


async def test_command_confirmed_by_a_simulated_tasmota_plug(hub: Hub, mosquitto: Mosquitto, prefix: str) -> None:
    plug = TasmotaPlug(prefix, mosquitto.host, mosquitto.port)
    async with asyncio.TaskGroup() as group:
        sim = group.create_task(plug.run())
        await eventually(lambda: hub.state("switch.compressor").available)  # type: ignore[union-attr]
        assert (await hub.command("switch.compressor", "toggle")).value == "on"
        assert plug.power is True
        assert (await hub.command("switch.compressor", "turn_off")).value == "off"
        assert plug.received == ["ON", "OFF"]  # a generic entity turns toggle into the payload it needs
        sim.cancel()


async def test_device_that_never_confirms_times_out(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str, probe: aiomqtt.Client
) -> None:
    clock = FakeClock()
    config = make_config(tmp_path, mosquitto, devices_yaml(prefix), base_topic=f"{prefix}hm")
    async with Hub(config, clock=clock) as hub:
        assert hub.mqtt is not None
        await asyncio.wait_for(hub.mqtt.wait_connected(), 5)
        await probe.publish(f"tele/{prefix}/LWT", "Online")
        await eventually(lambda: hub.state("switch.compressor").available)  # type: ignore[union-attr]
        await probe.subscribe(f"cmnd/{prefix}/POWER")
        command = asyncio.create_task(hub.command("switch.compressor", "turn_on"))
        await next_message(probe, f"cmnd/{prefix}/POWER")
        await clock.advance(4.9)
        assert not command.done()
        await clock.advance(0.2)
        with pytest.raises(CommandTimeout, match=r"'switch.compressor' did not confirm 'turn_on' within 5 s"):
            await asyncio.wait_for(command, 1)
    assert hub.counters.get("commands.failed") == 1


async def test_availability_follows_the_availability_topic(hub: Hub, probe: aiomqtt.Client, prefix: str) -> None:
    assert hub.state("switch.compressor").available is False  # type: ignore[union-attr]  # until the device says so
    await probe.publish(f"tele/{prefix}/LWT", "Online")
    await eventually(lambda: hub.state("switch.compressor").available)  # type: ignore[union-attr]
    await probe.publish(f"tele/{prefix}/LWT", "Offline")
    await eventually(lambda: not hub.state("switch.compressor").available)  # type: ignore[union-attr]
    with pytest.raises(CommandError, match="is unavailable"):
        await hub.command("switch.compressor", "turn_on")


async def test_states_are_mirrored_and_commands_accepted_over_mqtt(
    hub: Hub, probe: aiomqtt.Client, mosquitto: Mosquitto, prefix: str
) -> None:
    base = f"{prefix}hm"
    plug = TasmotaPlug(prefix, mosquitto.host, mosquitto.port)
    async with asyncio.TaskGroup() as group:
        sim = group.create_task(plug.run())
        await eventually(lambda: hub.state("switch.compressor").available)  # type: ignore[union-attr]
        await probe.subscribe(f"{base}/#")
        await probe.publish(f"{base}/command/switch.compressor", json.dumps({"action": "turn_on", "id": 42}))
        result = json.loads((await next_message(probe, f"{base}/result/switch.compressor")).payload)  # type: ignore[arg-type]
        assert result == {"id": 42, "action": "turn_on", "ok": True, "state": "on"}
        assert plug.power is True
        sim.cancel()
    # A newcomer sees the retained state at once.
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as late:
        await late.subscribe(f"{base}/state/switch.compressor")
        mirrored = json.loads((await next_message(late, f"{base}/state/switch.compressor")).payload)  # type: ignore[arg-type]
    assert mirrored["state"] == "on"
    assert mirrored["entity_id"] == "switch.compressor"
    assert set(mirrored) == {"entity_id", "state", "attributes", "available", "last_changed", "last_updated"}
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as late:
        await late.subscribe(f"{base}/status")
        assert (await next_message(late, f"{base}/status")).payload == b"online"


async def test_bad_input_is_logged_counted_and_survived(
    hub: Hub, probe: aiomqtt.Client, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    base = f"{prefix}hm"
    caplog.set_level(logging.WARNING)
    await probe.subscribe(f"{base}/result/#")
    await probe.publish(f"tele/{prefix}/SENSOR", "this is not json")
    await probe.publish(f"tele/{prefix}/SENSOR", b"\xff\xfe\x00 broken")
    await probe.publish(f"tele/{prefix}/SENSOR", b"{" + b"x" * 1_048_576 + b"}")
    await probe.publish(f"stat/{prefix}/POWER", "MAYBE")
    await eventually(lambda: hub.counters.get("mqtt.bad_payload") == 3 and hub.counters.get("mqtt.oversized") == 1)

    await probe.publish(f"{base}/command/switch.nothing", json.dumps({"action": "turn_on"}))
    reply = json.loads((await next_message(probe, f"{base}/result/switch.nothing")).payload)  # type: ignore[arg-type]
    assert reply == {"action": "turn_on", "ok": False, "error": "there is no entity 'switch.nothing'"}
    await probe.publish(f"{base}/command/sensor.power", json.dumps({"action": "turn_on"}))
    reply = json.loads((await next_message(probe, f"{base}/result/sensor.power")).payload)  # type: ignore[arg-type]
    assert reply["error"] == "a sensor has no command 'turn_on' (it offers: no commands at all)"
    await probe.publish(f"{base}/command/switch.compressor", json.dumps({"action": "explode"}))
    reply = json.loads((await next_message(probe, f"{base}/result/switch.compressor")).payload)  # type: ignore[arg-type]
    assert reply["error"] == "a switch has no command 'explode' (it offers: toggle, turn_off, turn_on)"
    await probe.publish(f"{base}/command/switch.compressor", "{not json")
    await eventually(lambda: hub.counters.get("mqtt.bad_payload") == 4)
    assert hub.counters.get("commands.rejected") == 3

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"Ignored a message on 'tele/{prefix}/SENSOR': the payload is not JSON (Expecting value at character 0):"
        " 'this is not json'",
        f"Ignored a message on 'tele/{prefix}/SENSOR': the payload is not valid UTF-8 text (bad byte at position 0)",
        f"Ignored a message on 'tele/{prefix}/SENSOR': 1048578 bytes is more than the limit of 262144"
        " (mqtt.max_payload_bytes)",
        f"Ignored a message on 'stat/{prefix}/POWER': the payload 'MAYBE' is neither 'ON' nor 'OFF'",
        "Command 'turn_on' for 'switch.nothing' from MQTT failed: there is no entity 'switch.nothing'",
        "Command 'turn_on' for 'sensor.power' from MQTT failed: a sensor has no command 'turn_on' "
        "(it offers: no commands at all)",
        "Command 'explode' for 'switch.compressor' from MQTT failed: a switch has no command 'explode' "
        "(it offers: toggle, turn_off, turn_on)",
        f"Ignored a message on '{base}/command/switch.compressor': the payload is not JSON (Expecting property"
        " name enclosed in double quotes at character 1): '{not json'",
    ]
    # Still working after all that.
    await probe.publish(f"tele/{prefix}/SENSOR", json.dumps({"ENERGY": {"Power": 7}}))
    await eventually(lambda: hub.state("sensor.power").value == 7)  # type: ignore[union-attr]


async def test_command_for_the_state_it_already_has_is_confirmed_by_the_echo(
    hub: Hub, probe: aiomqtt.Client, prefix: str
) -> None:
    await probe.publish(f"tele/{prefix}/LWT", "Online")
    await probe.publish(f"stat/{prefix}/POWER", "ON")
    await eventually(lambda: hub.state("switch.compressor").value == "on")  # type: ignore[union-attr]
    await probe.subscribe(f"cmnd/{prefix}/POWER")
    command = asyncio.create_task(hub.command("switch.compressor", "turn_on"))
    await next_message(probe, f"cmnd/{prefix}/POWER")
    await probe.publish(f"stat/{prefix}/POWER", "ON")  # the plug repeats: yes, on
    assert (await asyncio.wait_for(command, 5)).value == "on"
