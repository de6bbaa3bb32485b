"""Tasmota on its native topics: relays, energy metering, sensors and LWT, through the real broker.

The simulated plug (devices/sim/tasmota_plug.py) speaks Tasmota's protocol; the documented payloads
(tests/protocol_payloads.py) are also published as a device would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest

from devices.sim.tasmota_plug import TasmotaPlug
from hub.clock import FakeClock
from hub.errors import CommandTimeout, ConfigError
from hub.supervisor import Hub
from tests import protocol_payloads as doc
from tests.broker import Mosquitto
from tests.conftest import eventually
from tests.mqtt_hub import hub_config, running_hub


def value(hub: Hub, entity_id: str) -> object:
    state = hub.store.get(entity_id)
    return None if state is None else state.value


def available(hub: Hub, entity_id: str) -> bool:
    state = hub.store.get(entity_id)
    return state is not None and state.available


@asynccontextmanager
async def simulated(plug: TasmotaPlug) -> AsyncIterator[TasmotaPlug]:
    task = asyncio.create_task(plug.run())
    try:
        yield plug
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_documented_payloads_become_states(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client
) -> None:
    device = f"""
    - type: tasmota
      name: pow1
      topic: {prefix}_pow1
      energy: true
      sensors: [DS18B20.Temperature, AM2301.Temperature, {{path: AM2301.Humidity, id: sensor.shed_humidity}}]
    """
    t = f"{prefix}_pow1"
    async with running_hub(mosquitto, tmp_path, prefix, device) as hub:
        assert not available(hub, "switch.pow1")  # nothing heard yet
        await probe.publish(f"tele/{t}/LWT", "Online", qos=1, retain=True)
        await eventually(lambda: available(hub, "switch.pow1") and available(hub, "sensor.pow1_power"))
        await probe.publish(f"stat/{t}/RESULT", doc.TASMOTA_RESULT_ON)
        await eventually(lambda: value(hub, "switch.pow1") == "on")
        await probe.publish(f"stat/{t}/POWER", "OFF")
        await eventually(lambda: value(hub, "switch.pow1") == "off")

        await probe.publish(f"tele/{t}/SENSOR", doc.TASMOTA_POW_SENSOR)
        await eventually(lambda: value(hub, "sensor.pow1_current") == 0.731)
        assert [value(hub, f"sensor.pow1_{m}") for m in ("power", "energy", "voltage")] == [145, 0.984, 220]
        spec = hub.store.spec("sensor.pow1_energy")
        assert spec is not None and (spec.unit, spec.device_class) == ("kWh", "energy")

        await probe.publish(f"tele/{t}/SENSOR", doc.TASMOTA_DS18B20_SENSOR)
        await probe.publish(f"tele/{t}/SENSOR", doc.TASMOTA_AM2301_SENSOR)
        await eventually(lambda: value(hub, "sensor.shed_humidity") == 93.7)
        assert value(hub, "sensor.pow1_ds18b20_temperature") == 20.6
        assert value(hub, "sensor.pow1_am2301_temperature") == 4.7
        await probe.publish(f"tele/{t}/STATE", doc.TASMOTA_STATE_DEEPSLEEP)
        await eventually(lambda: hub.store.get("switch.pow1").attributes.get("uptime") == "0T00:00:14")  # type: ignore[union-attr]
        assert hub.counters.get("mqtt.bad_payload") == 0

        await probe.publish(f"tele/{t}/LWT", "Offline", qos=1, retain=True)
        await eventually(lambda: not available(hub, "switch.pow1") and not available(hub, "sensor.shed_humidity"))


async def test_simulated_plug_switches_meters_and_goes_offline(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str
) -> None:
    clock = FakeClock()
    device = f"""
    - type: tasmota
      name: compressor
      topic: {prefix}_compressor
      energy: true
    """
    plug = TasmotaPlug(f"{prefix}_compressor", mosquitto.host, mosquitto.port, clock=clock, load_watts=1150, power=True)
    async with running_hub(mosquitto, tmp_path, prefix, device, clock=clock) as hub, simulated(plug):
        # Online, then the driver asks the relay for its state (stat/ is not retained).
        await eventually(
            lambda: value(hub, "switch.compressor") == "on" and value(hub, "sensor.compressor_power") == 1150
        )
        assert (await hub.command("switch.compressor", "turn_off")).value == "off"
        assert plug.power is False
        await plug.publish_telemetry()
        await eventually(lambda: value(hub, "sensor.compressor_power") == 0)
        assert (await hub.command("switch.compressor", "toggle")).value == "on"
        assert plug.received[-2:] == ["OFF", "TOGGLE"]

        await plug.press_button()  # someone switches it off at the plug itself
        await eventually(lambda: value(hub, "switch.compressor") == "off")

        plug.pull_plug()  # power cut: the broker publishes the last will
        await eventually(lambda: not available(hub, "switch.compressor"))
        assert not available(hub, "sensor.compressor_energy")

    plug.power = True  # it comes back on after the power cut
    async with running_hub(mosquitto, tmp_path, prefix + "x", device, clock=clock) as hub2, simulated(plug):
        await eventually(lambda: available(hub2, "switch.compressor") and value(hub2, "switch.compressor") == "on")


async def test_multi_relay_board_with_custom_full_topic(mosquitto: Mosquitto, tmp_path: Path, prefix: str) -> None:
    device = f"""
    - type: tasmota
      name: irrigation_board
      topic: board
      full_topic: "{prefix}/%topic%/%prefix%/"
      energy: false
      relays:
        - {{id: switch.zone_front, name: Front beds}}
        - {{id: switch.zone_back}}
        - {{}}
    """
    board = TasmotaPlug(
        "board", mosquitto.host, mosquitto.port, relays=3, full_topic=f"{prefix}/%topic%/%prefix%/", energy=False
    )
    async with running_hub(mosquitto, tmp_path, prefix, device) as hub, simulated(board):
        await eventually(
            lambda: all(
                value(hub, e) == "off" for e in ("switch.zone_front", "switch.zone_back", "switch.irrigation_board_3")
            )
        )
        assert hub.store.spec("switch.zone_front").display_name == "Front beds"  # type: ignore[union-attr]
        assert (await hub.command("switch.zone_back", "turn_on")).value == "on"
        assert board.powers == [False, True, False]
        assert (await hub.command("switch.irrigation_board_3", "toggle")).value == "on"
        assert value(hub, "switch.zone_front") == "off"
        assert board.received[-2:] == ["ON", "TOGGLE"]


async def test_relay_that_never_reports_times_out(mosquitto: Mosquitto, tmp_path: Path, prefix: str) -> None:
    clock = FakeClock()
    device = f"""
    - type: tasmota
      name: broken
      topic: {prefix}_broken
      command_timeout: 5
    """
    plug = TasmotaPlug(f"{prefix}_broken", mosquitto.host, mosquitto.port, clock=clock, confirm=False)
    async with running_hub(mosquitto, tmp_path, prefix, device, clock=clock) as hub, simulated(plug):
        await eventually(lambda: value(hub, "switch.broken") == "off")
        command = asyncio.create_task(hub.command("switch.broken", "turn_on"))
        await eventually(lambda: plug.received[-1:] == ["ON"])
        await clock.advance(5)
        with pytest.raises(CommandTimeout, match="did not confirm"):
            await command


async def test_bad_input_on_every_topic_is_counted_and_harmless(
    mosquitto: Mosquitto, tmp_path: Path, prefix: str, probe: aiomqtt.Client, caplog: pytest.LogCaptureFixture
) -> None:
    t = f"{prefix}_plug"
    device = f"""
    - type: tasmota
      name: plug
      topic: {t}
      energy: true
      sensors: [DS18B20.Temperature]
    """
    bad = [
        (f"tele/{t}/LWT", "Maybe"),
        (f"stat/{t}/RESULT", "POWER ON"),  # not JSON
        (f"stat/{t}/RESULT", "[1, 2]"),  # JSON, but not an object
        (f"stat/{t}/RESULT", '{"POWER": 5}'),  # wrong type
        (f"stat/{t}/POWER", "DIMMED"),
        (f"tele/{t}/STATE", "\xff garbage"),
        (f"tele/{t}/SENSOR", '{"ENERGY": "lots"}'),
        (f"tele/{t}/SENSOR", '{"ENERGY": {"Power": "high", "Total": 1.5, "Voltage": 230, "Current": 0.1}}'),
    ]
    plug = TasmotaPlug(t, mosquitto.host, mosquitto.port, temperature=19.5)
    async with running_hub(mosquitto, tmp_path, prefix, device) as hub, simulated(plug):
        await eventually(lambda: value(hub, "switch.plug") == "off")
        for topic, payload in bad:
            await probe.publish(topic, payload)
        await eventually(lambda: hub.counters.get("mqtt.bad_payload") == len(bad))
        ignored = [r for r in caplog.records if r.levelno == logging.WARNING and "Ignored a message" in r.getMessage()]
        assert len(ignored) == len(bad)  # one line each
        assert "'Maybe' is neither 'Online' nor 'Offline'" in caplog.text
        assert "ENERGY.Power is 'high', not a number" in caplog.text
        # The good part of a half-bad SENSOR message was still taken.
        await eventually(lambda: value(hub, "sensor.plug_energy") == 1.5)
        assert available(hub, "switch.plug")  # 'Maybe' changed nothing

        assert (await hub.command("switch.plug", "turn_on")).value == "on"
        await plug.publish_telemetry()
        await eventually(
            lambda: value(hub, "sensor.plug_power") == 1150 and value(hub, "sensor.plug_ds18b20_temperature") == 19.5
        )
        assert hub.counters.get("mqtt.bad_payload") == len(bad)


def test_full_topic_must_keep_prefixes_apart(mosquitto: Mosquitto, tmp_path: Path) -> None:
    device = """
    - type: tasmota
      name: plug
      topic: plug
      full_topic: "home/%topic%/"
    - type: tasmota
      name: plug2
      topic: plug2
      full_topic: "%prefix%/%hostname%/"
    """
    with pytest.raises(ConfigError) as caught:
        hub_config(mosquitto, tmp_path, "cfg", device)
    message = str(caught.value)
    assert "must contain %prefix%" in message
    assert "give hostname too" in message
