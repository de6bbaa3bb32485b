"""`hausmeister demo`: an embedded broker, a simulated garden and workshop speaking their real
protocols (Tasmota, Zigbee2MQTT, OpenSprinkler over MQTT and HTTP, OpenMower, a DSMR meter on a
virtual serial port) and the hub itself, in one process — the whole system on a laptop."""

from __future__ import annotations

import asyncio
import logging
import socket
from contextlib import AsyncExitStack
from importlib.resources import files
from pathlib import Path
from typing import Protocol

from devices.mqtt.broker import EmbeddedBroker
from devices.registry import config_models, load_registry
from devices.serial.pty import VirtualSerialDevice
from devices.sim.dsmr_meter import DsmrMeter
from devices.sim.openmower import OpenMowerSim
from devices.sim.opensprinkler import OpenSprinklerSim
from devices.sim.tasmota_plug import TasmotaPlug
from devices.sim.z2m_bridge import Z2mBridge
from devices.sim.z2m_sensor import Z2mRainSensor, Z2mSensor, Z2mSoilSensor, Z2mSwitch
from hub.config import Config, parse_config
from hub.supervisor import Hub
from hub.yamlfile import load_text

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class _Simulator(Protocol):
    async def run(self) -> None: ...


def demo_config(mqtt_port: int, data_dir: Path, sprinkler_port: int, meter_port: str) -> Config:
    """The demo configuration, validated like any user's file."""
    text = files("hub").joinpath("demo.yaml").read_text(encoding="utf-8")
    for placeholder, value in (
        ("MQTT_PORT", str(mqtt_port)),
        ("DATA_DIR", str(data_dir.resolve())),
        ("SPRINKLER_PORT", str(sprinkler_port)),
        ("METER_PORT", meter_port),
    ):
        text = text.replace(placeholder, value)
    return parse_config(load_text(text, "demo.yaml"), "demo.yaml", config_models(load_registry()))


def copy_example_rules(folder: Path) -> None:
    """Put the shipped example rules and their scenarios in the demo's rules folder (once)."""
    if folder.exists():
        return  # the user's edits stay
    folder.mkdir(parents=True)
    for item in files("rules").joinpath("examples").iterdir():
        if item.name.endswith(".yaml"):
            (folder / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def run_demo(mqtt_port: int, data_dir: Path, stop: asyncio.Event) -> None:
    """Run broker, simulators and hub until `stop` is set (`data_dir` absolute and existing)."""
    await asyncio.to_thread(copy_example_rules, data_dir / "rules")
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(EmbeddedBroker(HOST, mqtt_port))
        meter_port = await stack.enter_async_context(VirtualSerialDevice(data_dir / "p1-meter"))
        sprinkler = OpenSprinklerSim(HOST, mqtt_port, http_port=_free_port())  # 8 stations, 3 in use
        simulators: list[_Simulator] = [
            sprinkler,
            OpenMowerSim(HOST, mqtt_port),
            Z2mBridge(
                HOST,
                mqtt_port,
                [
                    Z2mSoilSensor("bed1_soil", soil_moisture=34.0, interval=30),
                    Z2mRainSensor("rain_gauge", interval=30),
                    Z2mSwitch("garden_light", load_watts=12),
                    Z2mSensor("workshop_climate", interval=10),
                ],
            ),
            TasmotaPlug("compressor", HOST, mqtt_port, tele_period=10),
            TasmotaPlug("workshop_light", HOST, mqtt_port, tele_period=60, load_watts=36),
            DsmrMeter(meter_port, interval=10),
        ]
        config = demo_config(mqtt_port, data_dir, sprinkler.http_port, meter_port.path)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(simulator.run()) for simulator in simulators]
            async with Hub(config) as hub:
                _print_welcome(mqtt_port, config, len(hub.store.specs))
                await stop.wait()
            for task in tasks:
                task.cancel()


def _print_welcome(port: int, config: Config, entities: int) -> None:
    base = config.settings.mqtt.base_topic
    print(  # the demo talks to the person who started it
        f"""
Hausmeister demo is running.
  MQTT broker     mqtt://127.0.0.1:{port}  (embedded)
  Garden          OpenSprinkler with 3 zones, an OpenMower robot, Zigbee soil and rain sensors, a garden light
  Workshop        compressor on a Tasmota metering plug, a Tasmota light switch, a DSMR smart meter on a
                  virtual serial port, a Zigbee climate sensor
  Entities        {entities} so far (more appear as devices announce themselves),
                  mirrored as retained JSON on {base}/state/<entity_id>
  Follow them     mosquitto_sub -p {port} -t '{base}/#' -v
  Switch a device mosquitto_pub -p {port} -t {base}/command/switch.workshop_compressor -m '{{"action":"toggle"}}'
  Water bed 1     mosquitto_pub -p {port} -t {base}/command/valve.bed1_zone -m '{{"action":"open","duration":60}}'
  Data directory  {config.data_dir}
Stop with Ctrl+C.""",
        flush=True,
    )
