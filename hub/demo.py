"""`hausmeister demo`: an embedded broker, simulated devices speaking their real protocols to it,
and the hub itself, in one process — the whole system on a laptop with nothing else installed."""

from __future__ import annotations

import asyncio
import logging
from importlib.resources import files
from pathlib import Path

from devices.mqtt.broker import EmbeddedBroker
from devices.sim.tasmota_plug import TasmotaPlug
from devices.sim.z2m_sensor import Z2mSensor
from hub.config import Config, parse_config
from hub.supervisor import Hub
from hub.yamlfile import load_text

log = logging.getLogger(__name__)


def demo_config(mqtt_port: int, data_dir: Path) -> Config:
    """The demo configuration, validated like any user's file."""
    from devices.registry import config_models, load_registry

    text = files("hub").joinpath("demo.yaml").read_text(encoding="utf-8")
    text = text.replace("MQTT_PORT", str(mqtt_port)).replace("DATA_DIR", str(data_dir.resolve()))
    return parse_config(load_text(text, "demo.yaml"), "demo.yaml", config_models(load_registry()))


def copy_example_rules(folder: Path) -> None:
    """Put the shipped example rules and their scenarios in the demo's rules folder (once)."""
    if folder.exists():
        return  # the user's edits stay
    folder.mkdir(parents=True)
    for item in files("rules").joinpath("examples").iterdir():
        if item.name.endswith(".yaml"):
            (folder / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")


async def run_demo(mqtt_port: int, data_dir: Path, stop: asyncio.Event) -> None:
    """Run broker, simulators and hub until `stop` is set."""
    config = demo_config(mqtt_port, data_dir)
    copy_example_rules(config.rules_dir)
    async with EmbeddedBroker("127.0.0.1", mqtt_port):
        plug = TasmotaPlug("compressor", "127.0.0.1", mqtt_port, tele_period=10)
        climate = Z2mSensor("workshop_climate", "127.0.0.1", mqtt_port, interval=10)
        async with asyncio.TaskGroup() as group:
            sims = [group.create_task(plug.run()), group.create_task(climate.run())]
            async with Hub(config) as hub:
                _print_welcome(mqtt_port, config, len(hub.store.specs))
                await stop.wait()
            for sim in sims:
                sim.cancel()


def _print_welcome(port: int, config: Config, entities: int) -> None:
    base = config.settings.mqtt.base_topic
    print(
        f"""
Hausmeister demo is running.
  MQTT broker     mqtt://127.0.0.1:{port}  (embedded; simulated Tasmota plug and Zigbee2MQTT sensor on it)
  Entities        {entities}, mirrored as retained JSON on {base}/state/<entity_id>
  Follow them     mosquitto_sub -p {port} -t '{base}/#' -v
  Switch a device mosquitto_pub -p {port} -t {base}/command/switch.workshop_compressor -m '{{"action":"toggle"}}'
  Data directory  {config.data_dir}
Stop with Ctrl+C.""",
        flush=True,
    )
